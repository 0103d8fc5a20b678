"""Prompt editing and alternation: A1111's documented schedules (its
get_learned_conditioning_prompt_schedules examples, 10 steps)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from difflab.diffusion.generate import GenerateParams, run
from difflab.diffusion.img2img import ImageInput, generate_from_image
from difflab.diffusion.pipeline import generate
from difflab.diffusion.prompt_schedule import active, is_scheduled, schedule
from difflab.diffusion.schedulers import make_scheduler
from difflab.runtime import MemorySink, RunContext

PLAIN = "(emphasis) [lower] (w:1.2) \\[literal\\]"  # weights only: nothing scheduled


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("test", [(10, "test")]),
        ("a [b:3]", [(3, "a "), (10, "a b")]),
        ("a [b: 3]", [(3, "a "), (10, "a b")]),
        ("a [[[b]]:2]", [(2, "a "), (10, "a [[b]]")]),
        ("[(a:2):3]", [(3, ""), (10, "(a:2)")]),
        ("a [b : c : 1] d", [(1, "a b  d"), (10, "a  c  d")]),
        ("a[b:[c:d:2]:1]e", [(1, "abe"), (2, "ace"), (10, "ade")]),
        ("a [unbalanced", [(10, "a [unbalanced")]),
        ("a [b:.5] c", [(5, "a  c"), (10, "a b c")]),
        ("((a][:b:c [d:3]", [(3, "((a][:b:c "), (10, "((a][:b:c d")]),
        ("[a|(b:1.1)]", [(k, "a" if k % 2 else "(b:1.1)") for k in range(1, 11)]),
        ("[fe|]male", [(k, "female" if k % 2 else "male") for k in range(1, 11)]),
        ("[fe|||]male", [(k, "female" if k % 4 == 1 else "male") for k in range(1, 11)]),
        ("[from::2] x", [(2, "from x"), (10, " x")]),
        (PLAIN, [(10, PLAIN)]),
    ],
)  # fmt: skip
def test_schedules_as_a1111_documents(text: str, expected: list[tuple[int, str]]) -> None:
    assert schedule(text, 10) == expected


def test_which_entry_conditions_each_step() -> None:
    entries = schedule("a [b:3]", 10)  # steps 0..3 without b, then with it
    assert [active(entries, i) for i in range(10)] == [0, 0, 0, 0, 1, 1, 1, 1, 1, 1]
    alt = schedule("[x|y]", 4)
    assert [alt[active(alt, i)][1] for i in range(4)] == ["x", "x", "y", "x"]


def test_is_scheduled() -> None:
    assert is_scheduled("a [b:c:0.3]") and is_scheduled("(a [x|y])")
    assert not is_scheduled("(a:1.2) [b] c") and not is_scheduled("a [b:c:d]")


# --- in sampling ---------------------------------------------------------------------------


def _px(pipe: Any, prompt: str, init: Any = None) -> np.ndarray:
    scheduler = make_scheduler("DDIM", pipe.scheduler.config)
    kw: dict[str, Any] = {"prompt": prompt, "steps": 4, "guidance_scale": 5.0, "seeds": [1],
                          "width": 32, "height": 32}  # fmt: skip
    if init is None:
        out = generate(pipe, scheduler, **kw)
    else:
        out = generate_from_image(pipe, scheduler, ImageInput(init, strength=1.0), **kw)
    return np.asarray(out.images[0]).astype(np.int16)


def test_editing_switches_the_conditioning_during_sampling(tiny_pipe: Any) -> None:
    red, blue = _px(tiny_pipe, "a red circle"), _px(tiny_pipe, "a blue circle")
    assert np.array_equal(_px(tiny_pipe, "a [red:blue:9] circle"), red)  # never switches
    assert np.array_equal(_px(tiny_pipe, "a [red:blue:0] circle"), blue)  # switched at once
    edited = _px(tiny_pipe, "a [red:blue:2] circle")
    alternated = _px(tiny_pipe, "a [red|blue] circle")
    for other in (red, blue):
        assert not np.array_equal(edited, other) and not np.array_equal(alternated, other)


def test_editing_in_img2img_too(tiny_pipe: Any) -> None:
    init = Image.new("RGB", (32, 32), (200, 30, 30))
    red = _px(tiny_pipe, "a red circle", init)
    assert np.array_equal(_px(tiny_pipe, "a [red:blue:9] circle", init), red)
    assert not np.array_equal(_px(tiny_pipe, "a [red:blue:2] circle", init), red)


def test_the_live_view_marks_the_switch(models_dir: Path, tmp_path: Path) -> None:
    sink = MemorySink()
    prompt = "((emphasis)), (emphasis1:1.1), [to:1], [from::2], [from:to:0.3], [alt|alt1]"
    params = GenerateParams(
        prompt=prompt, model="tiny", steps=4, seed=1, width=32, height=32, sampler="DDIM"
    )
    run(params, sink, RunContext("t", models_dir=models_dir, data_dir=tmp_path, work_dir=tmp_path))
    marks = [(f["step"], f.get("prompt")) for f in sink.of_type("denoise")]
    assert marks[0][1] is not None and "[" not in marks[0][1]  # the text in effect, rendered
    assert sum(p is not None for _, p in marks) >= 2
    assert "text/tokens.json" in sink.artifacts

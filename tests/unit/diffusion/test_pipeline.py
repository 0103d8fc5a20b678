from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from diffusers import StableDiffusionPipeline

from difflab.diffusion.pipeline import (
    StepOutput,
    alpha_bar,
    generate,
    prompt_tokens,
    split_prediction,
)
from difflab.diffusion.prompts import PromptSyntaxError
from difflab.diffusion.schedulers import make_scheduler


def _run(pipe: Any, sampler: str = "Euler a", seeds: tuple[int, ...] = (1,), **kw: Any) -> Any:
    args: dict[str, Any] = {"prompt": "a red circle on the left", "steps": 3,
                            "guidance_scale": 5.0, "width": 32, "height": 32, **kw}  # fmt: skip
    scheduler = make_scheduler(sampler, pipe.scheduler.config, seeds=list(seeds))
    return generate(pipe, scheduler, seeds=list(seeds), **args)


def _pixels(out: Any, i: int = 0) -> np.ndarray:
    return np.asarray(out.images[i]).astype(np.int16)


@pytest.fixture(scope="module")
def bare(tiny_dir: Path) -> Any:
    pipe = StableDiffusionPipeline.from_pretrained(tiny_dir, use_safetensors=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.mark.parametrize(
    ("sampler", "guidance"), [("DDIM", 5.0), ("Euler a", 7.5), ("DPM++ 2M", 1.0)]
)
def test_same_pixels_as_diffusers_stable_diffusion_pipeline(
    tiny_pipe: Any, bare: Any, sampler: str, guidance: float
) -> None:
    bare.scheduler = make_scheduler(sampler, bare.scheduler.config)
    ref = bare("a red circle", num_inference_steps=3, guidance_scale=guidance, height=32,
               width=32, generator=torch.Generator().manual_seed(11)).images[0]  # fmt: skip
    out = _run(tiny_pipe, sampler, (11,), prompt="a red circle", guidance_scale=guidance)
    assert np.array_equal(np.asarray(ref), np.asarray(out.images[0]))


def test_deterministic_across_runs_and_seed_sensitive(tiny_pipe: Any) -> None:
    a, b, c = _run(tiny_pipe), _run(tiny_pipe), _run(tiny_pipe, seeds=(2,))
    assert np.array_equal(_pixels(a), _pixels(b))
    assert not np.array_equal(_pixels(a), _pixels(c))


def test_concurrent_runs_match_serial_runs(tiny_pipe: Any) -> None:
    jobs = [("Euler a", (1,)), ("DPM++ SDE", (2,)), ("DDIM", (3,)), ("Euler a", (4, 5))]
    serial = [_run(tiny_pipe, s, seeds, attention=(i % 2 == 0), on_step=lambda _: None)
              for i, (s, seeds) in enumerate(jobs)]  # fmt: skip
    results: dict[int, Any] = {}

    def work(i: int) -> None:
        s, seeds = jobs[i]
        results[i] = _run(tiny_pipe, s, seeds, attention=(i % 2 == 0), on_step=lambda _: None)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, ref in enumerate(serial):
        for k in range(len(jobs[i][1])):
            assert np.array_equal(_pixels(ref, k), _pixels(results[i], k)), jobs[i]


def test_batch_image_i_is_the_image_of_seed_plus_i(tiny_pipe: Any) -> None:
    batch = _run(tiny_pipe, "Euler a", (5, 6))
    single = _run(tiny_pipe, "Euler a", (6,))
    assert batch.seeds == [5, 6]
    # Each image has its own generator; batched float arithmetic may differ in the last bit.
    assert np.abs(_pixels(batch, 1) - _pixels(single)).max() <= 2


def test_steps_report_xt_x0_eps_in_order(tiny_pipe: Any) -> None:
    steps: list[StepOutput] = []
    out = _run(tiny_pipe, "DPM++ 2M", steps=4, on_step=steps.append, watch=lambda i, n: i != 1)
    assert [s.index for s in steps] == [0, 2, 3] and out.steps == 4
    assert all(s.total == 4 for s in steps)
    timesteps = [s.timestep for s in steps]
    assert timesteps == sorted(timesteps, reverse=True)
    for s in steps:
        assert s.xt.shape == s.x0.shape == s.eps.shape == (1, 4, 4, 4)
        assert s.attention is None


@pytest.mark.parametrize("sampler", ["DDIM", "Euler", "LMS Karras"])
def test_x0_formula_matches_the_schedulers_own_prediction(tiny_pipe: Any, sampler: str) -> None:
    """x̂0 = (x_t - sqrt(1-ᾱ) ε) / sqrt(ᾱ) against pred_original_sample (Karras: fractional t)."""
    steps: list[StepOutput] = []
    scheduler = make_scheduler(sampler, tiny_pipe.scheduler.config)
    generate(tiny_pipe, scheduler, prompt="a red circle", steps=3, seeds=[1], width=32,
             height=32, on_step=steps.append)  # fmt: skip
    for s in steps:
        ab = alpha_bar(scheduler.alphas_cumprod, s.timestep)
        x0, _ = split_prediction(s.eps, s.xt, ab, "epsilon")
        torch.testing.assert_close(x0, s.x0, rtol=1e-3, atol=1e-3)


def test_alpha_bar_and_prediction_types() -> None:
    ac = torch.linspace(0.999, 0.01, 1000)
    assert alpha_bar(ac, 10) == pytest.approx(float(ac[10]), rel=1e-6)
    assert float(ac[11]) < alpha_bar(ac, 10.5) < float(ac[10])
    x0, eps, ab = torch.randn(2, 4, 3, 3), torch.randn(2, 4, 3, 3), 0.3
    xt = math.sqrt(ab) * x0 + math.sqrt(1 - ab) * eps
    v = math.sqrt(ab) * eps - math.sqrt(1 - ab) * x0
    for kind, out in (("epsilon", eps), ("v_prediction", v), ("sample", x0)):
        got_x0, got_eps = split_prediction(out, xt, ab, kind)
        torch.testing.assert_close(got_x0, x0, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(got_eps, eps, rtol=1e-4, atol=1e-4)


def test_prompt_longer_than_the_context_is_encoded_in_chunks(tiny_pipe: Any) -> None:
    long = " ".join(["red"] * 15)  # 15 words: two chunks of 14 tokens on the tiny model
    out = _run(tiny_pipe, prompt=long)
    assert out.tokens == ["red"] * 15
    _run(tiny_pipe, negative_prompt=long)  # padded with empty chunks to the prompt's length
    with pytest.raises(PromptSyntaxError, match="at most 8") as e:
        _run(tiny_pipe, negative_prompt="red " * 200)
    assert e.value.field == "negative_prompt"
    assert prompt_tokens(tiny_pipe.tokenizer, "a red circle") == ["a", "red", "circle"]


def test_check_is_called_before_every_step(tiny_pipe: Any) -> None:
    calls: list[int] = []

    class Stop(Exception):
        pass

    def check() -> None:
        calls.append(1)
        if len(calls) == 3:
            raise Stop

    seen: list[int] = []
    with pytest.raises(Stop):
        _run(tiny_pipe, steps=5, check=check, on_step=lambda s: seen.append(s.index))
    assert seen == [0, 1]

"""X/Y/Z plot: cell order, prompt S/R, the checks at submit, the grid."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from pydantic import ValidationError

from difflab.diffusion.loras import LoraWeight
from difflab.diffusion.xyz import Axis, XYZParams, axis_label, cells, draw_grid, prepare_xyz
from difflab.runtime import ParamError, SubmitContext

BASE = {"prompt": "a red circle", "model": "tiny", "steps": 2, "width": 32, "height": 32}


def _plot(**kw: Any) -> XYZParams:
    return XYZParams.model_validate({"base": BASE, **kw})


def test_cells_run_z_then_y_then_x_and_prompt_sr_replaces() -> None:
    plot = _plot(x={"field": "steps", "values": [2, 3]},
                 y={"field": "prompt_sr", "values": ["red", "blue"]},
                 z={"field": "seed", "values": [1, 2]})  # fmt: skip
    got = [(c, f["steps"], f["prompt"], f["seed"]) for c, f in cells(plot)]
    assert got[:4] == [
        ((0, 0, 0), 2, "a red circle", 1), ((1, 0, 0), 3, "a red circle", 1),
        ((0, 1, 0), 2, "a blue circle", 1), ((1, 1, 0), 3, "a blue circle", 1),
    ]  # fmt: skip
    assert got[4][0] == (0, 0, 1) and got[4][3] == 2 and len(got) == 8


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"x": {"field": "seed", "values": list(range(11))},
          "y": {"field": "steps", "values": list(range(1, 11))}}, "110 cells"),
        ({"x": {"field": "seed", "values": [1]}, "y": {"field": "seed", "values": [2]}},
         "different field"),
        ({"x": {"field": "width", "values": [32]}}, "field"),
        ({"x": {"field": "seed", "values": []}}, "at least 1"),
    ],
)  # fmt: skip
def test_bad_plots_are_refused(kw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _plot(**kw)


def test_every_cell_is_checked_at_submit_naming_its_axis(models_dir: Path, tmp_path: Path) -> None:
    ctx = SubmitContext(models_dir=models_dir, data_dir=tmp_path)
    ready = prepare_xyz(_plot(x={"field": "sampler", "values": ["Euler a", "DDIM"]}), ctx)
    assert ready.base.seed >= 0  # one seed drawn for every cell
    for axis, field, values in (("x", "sampler", ["Euler a", "Nope"]),
                                ("y", "model", ["tiny", "missing"]),
                                ("x", "strength", [0.5]),
                                ("y", "lora_weight", [0.5]),  # no LoRA in base.loras
                                ("x", "lora", ["missing"])):  # fmt: skip
        plot = _plot(**{axis: {"field": field, "values": values}})
        with pytest.raises(ParamError) as e:
            prepare_xyz(plot, ctx)
        assert e.value.field == axis, e.value


def test_the_grid_has_a_block_per_z_and_marks_failed_cells() -> None:
    plot = _plot(x={"field": "steps", "values": [2, 3]}, y={"field": "seed", "values": [1, 2]},
                 z={"field": "guidance_scale", "values": [1, 5]})  # fmt: skip
    red = Image.new("RGB", (32, 32), (255, 0, 0))
    images: list[Image.Image | None] = [red] * 8
    images[5] = None
    grid = draw_grid(plot, images)
    assert grid.width > 2 * 2 * 32 and grid.height > 2 * 32
    unlabelled = draw_grid(plot.model_copy(update={"draw_legend": False}), images)
    assert unlabelled.size == (2 * 2 * 32 + 8, 2 * 32)
    assert unlabelled.getpixel((5, 5)) == (255, 0, 0)
    # cell 5 = (x 1, y 0, z 1): grey
    assert unlabelled.getpixel((2 * 32 + 8 + 32 + 2, 2)) == (128, 128, 128)


def test_lora_axes_vary_the_first_lora_of_the_base() -> None:
    plot = _plot(
        x={"field": "lora_weight", "values": [0, 0.5, 1]},
        y={"field": "lora", "values": ["ink", "ink-v2"]},
    )
    plot.base.loras = [LoraWeight(name="ink"), LoraWeight(name="paper", weight=0.3)]
    got = [(f["loras"][0]["name"], f["loras"][0]["weight"], f["loras"][1]["name"])
           for _, f in cells(plot)]  # fmt: skip
    assert got == [(name, w, "paper") for name in ("ink", "ink-v2") for w in (0, 0.5, 1)]


@pytest.mark.parametrize(
    ("field", "value", "label"),
    [
        ("seed", 7, "Seed: 7"),
        ("steps", 20, "Steps: 20"),
        ("guidance_scale", 4.5, "CFG Scale: 4.5"),
        ("scheduler", "karras", "Schedule type: karras"),
        ("strength", 0.5, "Denoising: 0.5"),
        ("sampler", "Euler a", "Euler a"),
        ("model", "house", "house"),
        ("prompt_sr", "blue", "blue"),
    ],
)
def test_grid_labels_are_written_as_a1111_writes_them(
    field: str, value: object, label: str
) -> None:
    """A1111 labels seed, steps, CFG... as "Label: value" and shows a sampler, a checkpoint
    and a Prompt S/R value alone."""
    assert axis_label(Axis(field=field, values=[value]), 0) == label

"""AUTOMATIC1111's X/Y/Z plot: one request, a grid of generations (the cells, the checks, the
grid picture; the `xyz` job kind in difflab.jobs.kinds.xyz runs it).

Up to three axes, each a generation field and its values (seed, steps, guidance, sampler,
schedule, strength, model, Clip skip, variation strength, hires strength, the first LoRA of
`base.loras` (another LoRA by name, or its weight), or "Prompt S/R": replace the first value in
the prompts by each value in turn; a `<lora:name:w>` tag's weight varies that way too). The
cells are the product of the axes, in a fixed order (z, then y, then x, x fastest); each is an
ordinary `generate` job with its own gallery entry, live view, images and infotext. A cell that
fails is drawn as failed and the rest still run. The result is a labelled grid PNG (one block
per z value) and an index naming every cell's job and image.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any, Literal

from PIL import Image, ImageDraw, ImageFont
from pydantic import BaseModel, ConfigDict, Field, model_validator

from difflab.diffusion.generate import GenerateParams, prepare
from difflab.runtime import ParamError, SubmitContext

MAX_CELLS = 100
AxisField = Literal[
    "seed", "steps", "guidance_scale", "sampler", "scheduler", "strength", "model", "prompt_sr",
    "clip_skip", "subseed_strength", "hr_strength", "eta", "lora", "lora_weight",
]  # fmt: skip
LABELS = {
    "seed": "Seed", "steps": "Steps", "guidance_scale": "CFG Scale", "sampler": "Sampler",
    "scheduler": "Schedule type", "strength": "Denoising", "model": "Checkpoint name",
    "prompt_sr": "Prompt S/R", "clip_skip": "Clip skip", "subseed_strength": "Var. strength",
    "hr_strength": "Hires denoising", "eta": "Eta", "lora": "LoRA", "lora_weight": "LoRA weight",
}  # fmt: skip
# axes whose grid labels are the value alone, as A1111 draws them (its format_value, and the
# checkpoint's file name); the others read "Label: value"
VALUE_ONLY = frozenset({"prompt_sr", "sampler", "model"})


class Axis(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: AxisField = Field(description="The generation field the axis varies.")
    values: list[str | float | int] = Field(
        min_length=1, max_length=MAX_CELLS, description="Its values, in order."
    )


class XYZParams(BaseModel):
    """A base generation and up to three axes over its fields."""

    model_config = ConfigDict(extra="forbid")

    base: GenerateParams = Field(
        default_factory=lambda: GenerateParams.model_validate({}),
        description="The generation every cell starts from.",
    )
    x: Axis = Field(
        default_factory=lambda: Axis(field="guidance_scale", values=[1.0, 4.0, 7.5]),
        description="Columns.",
    )
    y: Axis | None = Field(None, description="Rows.")
    z: Axis | None = Field(None, description="Blocks, side by side.")
    draw_legend: bool = Field(True, description="Label the rows, columns and blocks.")

    @model_validator(mode="after")
    def _cap(self) -> XYZParams:
        n = 1
        for axis in self.axes():
            n *= len(axis.values)
        if n > MAX_CELLS:
            raise ValueError(f"{n} cells: an X/Y/Z plot has at most {MAX_CELLS}")
        fields = [a.field for a in self.axes()]
        if len(set(fields)) != len(fields):
            raise ValueError("each axis must vary a different field")
        if self.base.guidance_sweep:
            raise ValueError("base.guidance_sweep: use a guidance_scale axis instead")
        return self

    def axes(self) -> list[Axis]:
        return [a for a in (self.x, self.y, self.z) if a is not None]


def cells(params: XYZParams) -> Iterator[tuple[tuple[int, int, int], dict[str, Any]]]:
    """((ix, iy, iz), the cell's generation fields) in plot order: z, then y, x fastest."""
    base = params.base.model_dump()  # resolved at submit: one seed and size for every cell
    xs = range(len(params.x.values))
    ys = range(len(params.y.values)) if params.y else range(1)
    zs = range(len(params.z.values)) if params.z else range(1)
    for iz, iy, ix in itertools.product(zs, ys, xs):
        fields = dict(base)
        for axis, i in ((params.x, ix), (params.y, iy), (params.z, iz)):
            if axis is None:
                continue
            value = axis.values[i]
            if axis.field == "prompt_sr":
                search = str(axis.values[0])
                for name in ("prompt", "negative_prompt"):
                    fields[name] = str(fields.get(name, "")).replace(search, str(value))
            elif axis.field in ("lora", "lora_weight"):
                loras = [dict(x) for x in fields.get("loras") or []]
                if not loras:
                    raise ParamError(axis.field, "needs a LoRA in base.loras to vary")
                key = "name" if axis.field == "lora" else "weight"
                loras[0][key] = value
                fields["loras"] = loras
            else:
                fields[axis.field] = value
        yield (ix, iy, iz), fields


def cell_params(params: XYZParams, ctx: SubmitContext) -> list[GenerateParams]:
    """Every cell validated and prepared as the generate kind would be (ParamError naming the
    axis that made it invalid)."""
    out = []
    for (ix, iy, iz), fields in _checked(cells(params), params):
        try:
            cell = GenerateParams.model_validate(fields)
            out.append(prepare(cell, ctx))
        except ParamError as e:
            raise ParamError(
                _axis_of(params, e.field), f"cell {ix},{iy},{iz}: {e.message}"
            ) from None
        except ValueError as e:  # pydantic's ValidationError
            raise ParamError(_axis_of(params, _first_loc(e)), f"cell {ix},{iy},{iz}: {e}") from None
    return out


def _checked(
    it: Iterator[tuple[tuple[int, int, int], dict[str, Any]]], params: XYZParams
) -> Iterator[tuple[tuple[int, int, int], dict[str, Any]]]:
    """The cells, with a ParamError naming the axis for one that cannot be made."""
    try:
        yield from it
    except ParamError as e:
        raise ParamError(_axis_of(params, e.field), e.message) from None


def _first_loc(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        locs = [e.get("loc", ()) for e in errors()]
        if locs and locs[0]:
            return str(locs[0][0])
    return "base"


def _axis_of(params: XYZParams, field: str) -> str:
    for name, axis in (("x", params.x), ("y", params.y), ("z", params.z)):
        if axis is not None and (
            axis.field == field
            or axis.field == "prompt_sr"
            and "prompt" in field
            or axis.field.startswith("lora")
            and field == "loras"
        ):
            return name
    return "base"


def prepare_xyz(params: XYZParams, ctx: SubmitContext) -> XYZParams:
    """The base resolved once (a random seed drawn now, so every cell shares it), then every
    cell checked: a plot is refused at submit when any cell would be."""
    base = prepare(params.base, ctx)
    params = params.model_copy(update={"base": base})
    cell_params(params, ctx)
    return params


# --- the grid ------------------------------------------------------------------------------


def axis_label(axis: Axis, i: int) -> str:
    """The grid label of the axis's i-th value: "Steps: 20", or the value alone ("Euler a")."""
    value = axis.values[i]
    if axis.field in VALUE_ONLY:
        return str(value)
    return f"{LABELS[axis.field]}: {value}"


def draw_width(font: Any, text: str) -> float:
    return float(font.getlength(text))


def draw_grid(params: XYZParams, images: list[Image.Image | None]) -> Image.Image:
    """One block per z value, side by side; in each, rows are y values and columns x values,
    labelled above and on the left. A failed cell is a grey tile saying so."""
    nx = len(params.x.values)
    ny = len(params.y.values) if params.y else 1
    nz = len(params.z.values) if params.z else 1
    sizes = [im.size for im in images if im is not None]
    w, h = max(sizes, default=(64, 64))
    font = ImageFont.load_default()
    legend = params.draw_legend
    # a column label that does not fit its cell is shown as the value alone, under a line
    # naming the axis once
    fits = all(draw_width(font, axis_label(params.x, i)) <= w - 4 for i in range(nx))
    top = (18 if fits else 32) if legend else 0
    left = 0
    if legend and params.y:
        left = min(200, 8 + 6 * max(len(axis_label(params.y, i)) for i in range(ny)))
    ztop = 18 if legend and params.z else 0
    block_w, block_h = left + nx * w, ztop + top + ny * h
    grid = Image.new("RGB", (nz * block_w + (nz - 1) * 8, block_h), "white")
    draw = ImageDraw.Draw(grid)
    for k, image in enumerate(images):
        ix, iy, iz = k % nx, (k // nx) % ny, k // (nx * ny)
        x0, y0 = iz * (block_w + 8) + left + ix * w, ztop + top + iy * h
        if image is None:
            draw.rectangle((x0, y0, x0 + w - 1, y0 + h - 1), fill=(128, 128, 128))
            draw.text((x0 + 4, y0 + h // 2 - 6), "failed", fill="white", font=font)
        else:
            grid.paste(image.resize((w, h)) if image.size != (w, h) else image, (x0, y0))
    if legend:
        for iz in range(nz):
            bx = iz * (block_w + 8)
            if params.z:
                draw.text((bx + left, 2), axis_label(params.z, iz), fill="black", font=font)
            line = ztop + 2
            if not fits and params.x.field not in VALUE_ONLY:
                draw.text((bx + left + 2, line), f"{LABELS[params.x.field]}:", fill="black",
                          font=font)  # fmt: skip
                line += 14
            for ix in range(nx):
                text = axis_label(params.x, ix) if fits else str(params.x.values[ix])
                draw.text((bx + left + ix * w + 2, line), text, fill="black", font=font)
            if params.y:
                for iy in range(ny):
                    draw.text((bx + 2, ztop + top + iy * h + h // 2 - 6), axis_label(params.y, iy),
                              fill="black", font=font)  # fmt: skip
    return grid


__all__ = [
    "LABELS",
    "VALUE_ONLY",
    "axis_label",
    "MAX_CELLS",
    "Axis",
    "XYZParams",
    "cell_params",
    "cells",
    "draw_grid",
    "prepare_xyz",
]

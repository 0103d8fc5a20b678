"""AUTOMATIC1111's X/Y/Z plot script on its txt2img and img2img routes: `script_name:
"x/y/z plot"` (older clients: "X/Y plot") with positional `script_args`, read as A1111's
scripts/xyz_grid.py reads them and carried out as one `xyz` job.

script_args, by layout (A1111 fills what a client leaves off with the UI's defaults):
  1.6 and later  x_type, x_values, x_values_dropdown, y_type, y_values, y_values_dropdown,
                 z_type, z_values, z_values_dropdown, draw_legend, include_lone_images,
                 include_sub_grids, no_fixed_seeds, vary_seeds_x, vary_seeds_y, vary_seeds_z,
                 margin_size, csv_mode
  1.1 to 1.5     the same without vary_seeds_x/y/z (told apart by the 14th value: a number is
                 margin_size, a flag is vary_seeds_x)
  the first one  x_type, x_values, y_type, y_values, z_type, z_values, draw_legend,
                 include_lone_images, include_sub_grids, no_fixed_seeds, margin_size (no
                 dropdowns: the third value is an axis type)
  X/Y plot       x_type, x_values, y_type, y_values, draw_legend, include_lone_images,
                 no_fixed_seeds

An axis type is an index into A1111 1.10's list of axes for that route (axes_of; the first ten
are the same in every A1111 version, later ones moved as axes were added) or the axis's label,
in any case (difflab's own Hires denoising, LoRA and LoRA weight by label only). Values
are one CSV line (quotes keep commas in a value); number axes take ranges: "1-5", "1-10 (+2)"
(a signed step), "1-10 [5]" (that many values, evenly spaced); the axes A1111 offers as a
dropdown (Sampler, Checkpoint name, Schedule type) read the dropdown list unless csv_mode.
Flags may be booleans or the strings "True"/"False" (the webuiapi client sends strings).

What difflab cannot do as asked is a 422 naming `script_args` and the value's position: an
axis it does not vary, a seed varied along an axis, grid margins, more than MAX_CELLS cells.
"""

from __future__ import annotations

import csv
import io
import math
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

import numpy as np
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from difflab.api.submit import field_error
from difflab.diffusion.generate import GenerateParams
from difflab.diffusion.xyz import LABELS, MAX_CELLS, Axis, AxisField, XYZParams

Route = Literal["txt2img", "img2img"]
ValueKind = Literal["int", "float", "str"]

XYZ_PLOT, XY_PLOT = "X/Y/Z plot", "X/Y plot"  # the scripts' titles (names match any case)


def checkpoint_name(title: str) -> str:
    """A model name from an A1111 checkpoint title ("name.safetensors [hash]")."""
    name = title.split(" [", 1)[0]
    for suffix in (".safetensors", ".ckpt"):
        name = name.removesuffix(suffix)
    return name


def plot_script(script_name: Any) -> str | None:
    """The plot script a request's script_name names (any case), else None."""
    if not isinstance(script_name, str):
        return None
    wanted = script_name.strip().casefold()
    return next((s for s in (XYZ_PLOT, XY_PLOT) if s.casefold() == wanted), None)


# --- A1111's axes -----------------------------------------------------------------------------

# (label, the one route it is offered on, or None for both), in the order of A1111 1.10's
# axis_options: an index counts the axes offered on its route
_XYZ_AXES: tuple[tuple[str, Route | None], ...] = (
    ("Nothing", None), ("Seed", None), ("Var. seed", None), ("Var. strength", None),
    ("Steps", None), ("Hires steps", "txt2img"), ("CFG Scale", None),
    ("Image CFG Scale", "img2img"), ("Prompt S/R", None), ("Prompt order", None),
    ("Sampler", "txt2img"), ("Hires sampler", "txt2img"), ("Sampler", "img2img"),
    ("Checkpoint name", None), ("Negative Guidance minimum sigma", None), ("Sigma Churn", None),
    ("Sigma min", None), ("Sigma max", None), ("Sigma noise", None), ("Schedule type", None),
    ("Schedule min sigma", None), ("Schedule max sigma", None), ("Schedule rho", None),
    ("Beta schedule alpha", None), ("Beta schedule beta", None), ("Eta", None),
    ("Clip skip", None), ("Denoising", None), ("Initial noise multiplier", None),
    ("Extra noise", None), ("Hires upscaler", "txt2img"), ("Cond. Image Mask Weight", "img2img"),
    ("VAE", None), ("Styles", None), ("UniPC Order", None), ("Face restore", None),
    ("Token merging ratio", None), ("Token merging ratio high-res", None),
    ("Always discard next-to-last sigma", None), ("SGM noise multiplier", None),
    ("Refiner checkpoint", None), ("Refiner switch at", None), ("RNG source", None),
    ("FP8 mode", None), ("Size", None),
)  # fmt: skip
# the X/Y plot's list, as it was when the X/Y/Z plot replaced it
_XY_AXES: tuple[tuple[str, Route | None], ...] = (
    ("Nothing", None), ("Seed", None), ("Var. seed", None), ("Var. strength", None),
    ("Steps", None), ("Hires steps", "txt2img"), ("CFG Scale", None), ("Prompt S/R", None),
    ("Prompt order", None), ("Sampler", "txt2img"), ("Sampler", "img2img"),
    ("Checkpoint name", None), ("Sigma Churn", None), ("Sigma min", None), ("Sigma max", None),
    ("Sigma noise", None), ("Eta", None), ("Clip skip", None), ("Denoising", None),
    ("Hires upscaler", "txt2img"), ("Cond. Image Mask Weight", "img2img"), ("VAE", None),
    ("Styles", None),
)  # fmt: skip


def axes_of(script: str, route: Route) -> tuple[str, ...]:
    """The axis labels a script offers on a route, in index order."""
    table = _XY_AXES if script == XY_PLOT else _XYZ_AXES
    return tuple(label for label, only in table if only in (None, route))


# the xyz kind's field for each A1111 axis difflab varies; "Denoising" is img2img's strength or,
# on txt2img, the hires fix's (what A1111's denoising_strength is there)
_FIELDS: dict[str, AxisField] = {label: cast(AxisField, name) for name, label in LABELS.items()}
_KINDS: dict[AxisField, ValueKind] = {
    "seed": "int", "steps": "int", "clip_skip": "int", "guidance_scale": "float",
    "strength": "float", "subseed_strength": "float", "hr_strength": "float", "eta": "float",
    "lora_weight": "float", "sampler": "str", "scheduler": "str", "model": "str",
    "prompt_sr": "str", "lora": "str",
}  # fmt: skip
_DROPDOWN = frozenset({"Sampler", "Checkpoint name", "Schedule type"})  # A1111 offers choices
_EXTRA_LABELS = tuple(sorted(set(_FIELDS) - {label for label, _ in _XYZ_AXES}))  # difflab's own


# --- values -----------------------------------------------------------------------------------

_INT = r"[+-]?\s*\d+"
_FLOAT = r"[+-]?\s*\d+(?:\.\d*)?"
_INT_STEP = re.compile(rf"\s*({_INT})\s*-\s*({_INT})(?:\s*\(([+-]\d+)\s*\))?\s*")
_INT_COUNT = re.compile(rf"\s*({_INT})\s*-\s*({_INT})(?:\s*\[(\d+)\s*\])?\s*")
_FLOAT_STEP = re.compile(rf"\s*({_FLOAT})\s*-\s*({_FLOAT})(?:\s*\(([+-]\d+(?:\.\d*)?)\s*\))?\s*")
_FLOAT_COUNT = re.compile(rf"\s*({_FLOAT})\s*-\s*({_FLOAT})(?:\s*\[(\d+)\s*\])?\s*")


def split_values(text: str) -> list[str]:
    """A CSV line (or lines) of values, each stripped, as A1111 splits an axis's values.
    Quotes keep a comma in a value only when they follow the comma directly."""
    return [v.strip() for row in csv.reader(io.StringIO(text)) for v in row]


def _number(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _expand_int(value: str, room: int) -> list[int | str]:
    if m := _INT_STEP.fullmatch(value):
        step = int(m.group(3)) if m.group(3) else 1
        if step == 0:
            raise ValueError(f"{value!r}: a step of 0")
        span = range(int(_number(m.group(1))), int(_number(m.group(2))) + 1, step)
        if len(span) > room:
            raise ValueError(f"{value!r} is {len(span)} values: a plot has at most {MAX_CELLS}")
        return list(span)
    if m := _INT_COUNT.fullmatch(value):
        count = int(m.group(3)) if m.group(3) else 1
        if count > room:
            raise ValueError(f"{value!r} is {count} values: a plot has at most {MAX_CELLS}")
        ends = float(_number(m.group(1))), float(_number(m.group(2)))
        return [int(x) for x in np.linspace(*ends, num=count).tolist()]
    return [value]


def _expand_float(value: str, room: int) -> list[float | str]:
    if m := _FLOAT_STEP.fullmatch(value):
        start, end = float(_number(m.group(1))), float(_number(m.group(2)))
        step = float(m.group(3)) if m.group(3) else 1.0
        if step == 0:
            raise ValueError(f"{value!r}: a step of 0")
        count = max(0, math.ceil((end + step - start) / step))
        if count > room:
            raise ValueError(f"{value!r} is {count} values: a plot has at most {MAX_CELLS}")
        # numpy's arange, as A1111: the end plus one step is left out (and float steps can
        # land one value past the end, there as here)
        return list(np.arange(start, end + step, step).tolist())
    if m := _FLOAT_COUNT.fullmatch(value):
        count = int(m.group(3)) if m.group(3) else 1
        if count > room:
            raise ValueError(f"{value!r} is {count} values: a plot has at most {MAX_CELLS}")
        ends = float(_number(m.group(1))), float(_number(m.group(2)))
        return list(np.linspace(*ends, num=count).tolist())
    return [value]


def parse_values(values: Sequence[str], kind: ValueKind) -> list[int | float | str]:
    """An axis's values as A1111 reads them: ranges expanded on number axes, then each one
    converted (ValueError saying which value is wrong)."""
    if len(values) > MAX_CELLS:
        raise ValueError(f"{len(values)} values: a plot has at most {MAX_CELLS}")
    out: list[int | float | str] = []
    for value in values:
        room = MAX_CELLS - len(out)
        if kind == "int":
            out += _expand_int(value, room)
        elif kind == "float":
            out += _expand_float(value, room)
        else:
            out.append(value)
        if len(out) > MAX_CELLS:
            raise ValueError(f"more than {MAX_CELLS} values: a plot has at most {MAX_CELLS}")
    return [_convert(v, kind) for v in out]


def _convert(value: int | float | str, kind: ValueKind) -> int | float | str:
    if kind == "str" or not isinstance(value, str):
        return value
    try:
        number = int(_number(value)) if kind == "int" else float(_number(value))
    except ValueError:
        raise ValueError(
            f"{value!r} is not {'an integer' if kind == 'int' else 'a number'} or a range"
        ) from None
    if not math.isfinite(number):
        raise ValueError(f"{value!r} is not a finite number")
    return number


# --- script_args ------------------------------------------------------------------------------

_XYZ_1_6 = (
    "x_type", "x_values", "x_values_dropdown", "y_type", "y_values", "y_values_dropdown",
    "z_type", "z_values", "z_values_dropdown", "draw_legend", "include_lone_images",
    "include_sub_grids", "no_fixed_seeds", "vary_seeds_x", "vary_seeds_y", "vary_seeds_z",
    "margin_size", "csv_mode",
)  # fmt: skip
_XYZ_1_1 = tuple(n for n in _XYZ_1_6 if not n.startswith("vary_seeds"))
_XYZ_FIRST = (
    "x_type", "x_values", "y_type", "y_values", "z_type", "z_values", "draw_legend",
    "include_lone_images", "include_sub_grids", "no_fixed_seeds", "margin_size",
)  # fmt: skip
_XY = ("x_type", "x_values", "y_type", "y_values", "draw_legend", "include_lone_images",
       "no_fixed_seeds")  # fmt: skip
_FLAG_DEFAULTS = {"draw_legend": True}  # every other flag defaults to false


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _layout(script: str, args: list[Any], labels: tuple[str, ...]) -> tuple[str, ...]:
    if script == XY_PLOT:
        return _XY
    if len(args) > 2:
        third = args[2]  # x_values_dropdown, or y_type in the first layout
        named = isinstance(third, str) and third.strip().casefold() in _casefolded(labels)
        if _is_number(third) or named:
            return _XYZ_FIRST
    if len(args) in (14, 15) and _is_number(args[13]):
        return _XYZ_1_1
    return _XYZ_1_6


def _casefolded(labels: Sequence[str]) -> set[str]:
    return {label.casefold() for label in labels}


def _bad(position: int | None, message: str) -> RequestValidationError:
    loc: tuple[str | int, ...] = ("body", "script_args")
    return field_error(loc if position is None else (*loc, position), message)


@dataclass(frozen=True)
class PlotAxis:
    label: str  # A1111's label: "Steps"
    field: AxisField  # the xyz kind's field it varies
    values: list[int | float | str]
    text: str  # the values as the client wrote them (the infotext's "X Values")
    position: int  # where its values are in script_args (error locations)


@dataclass(frozen=True)
class Plot:
    """A plot request read: the xyz job's parameters and what the answer holds."""

    script: str
    params: XYZParams
    axes: dict[str, PlotAxis]  # "x", "y", "z" -> its axis; "Nothing" axes absent
    include_lone_images: bool = False
    include_sub_grids: bool = False
    fixed_seeds: bool = True

    def error_position(self, axis: str) -> int | None:
        """Where an axis ("x", "y", "z") has its values in script_args."""
        found = self.axes.get(axis)
        return found.position if found is not None else None


class _Args:
    """script_args by name, with their positions (for error locations)."""

    def __init__(self, names: tuple[str, ...], args: list[Any]) -> None:
        self.names, self.args = names, args

    def pos(self, name: str) -> int:
        return self.names.index(name)

    def get(self, name: str) -> Any:
        i = self.names.index(name) if name in self.names else len(self.args)
        return self.args[i] if i < len(self.args) else None

    def flag(self, name: str) -> bool:
        value = self.get(name)
        if value is None or value == "":
            return _FLAG_DEFAULTS.get(name, False)
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().casefold() in ("true", "false"):
            return value.strip().casefold() == "true"
        raise _bad(self.pos(name), f"{name}: true or false (or the strings 'True', 'False')")


def _axis_label(args: _Args, axis: str, labels: tuple[str, ...], route: Route) -> str:
    name = f"{axis}_type"
    value = args.get(name)
    if value is None:
        return "Nothing"
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if _is_number(value):
        if not float(value).is_integer() or not 0 <= value < len(labels):
            raise _bad(
                args.pos(name),
                f"{name}: {value} is not an axis index of A1111's {route} plot (0 to "
                f"{len(labels) - 1}; or send the axis's label)",
            )
        return labels[int(value)]
    if isinstance(value, str):
        wanted = value.strip().casefold()
        for label in (*labels, *_EXTRA_LABELS):
            if label.casefold() == wanted:
                return label
        other: Route = "img2img" if route == "txt2img" else "txt2img"
        elsewhere = wanted in _casefolded(axes_of(XYZ_PLOT, other))
        raise _bad(
            args.pos(name),
            f"{name}: {value!r} is "
            + (f"an axis of {other} only" if elsewhere else "not an axis label of A1111's plot"),
        )
    raise _bad(args.pos(name), f"{name}: an axis index or label")


def _axis_text(args: _Args, axis: str, label: str, csv_mode: bool) -> tuple[list[str], str, int]:
    """The values as strings, their text for the infotext, and their position."""
    name, dropdown_name = f"{axis}_values", f"{axis}_values_dropdown"
    dropdown = args.get(dropdown_name) if dropdown_name in args.names else None
    if dropdown not in (None, "") and not isinstance(dropdown, list):
        raise _bad(args.pos(dropdown_name), f"{dropdown_name}: a list of values")
    if label in _DROPDOWN and not csv_mode and dropdown:
        items = [str(v).strip() for v in dropdown]
        out = io.StringIO()
        csv.writer(out).writerow(items)
        return items, out.getvalue().strip(), args.pos(dropdown_name)
    text = args.get(name)
    if text is None:
        text = ""
    if _is_number(text):
        text = str(text)
    if not isinstance(text, str):
        raise _bad(args.pos(name), f"{name}: the values as one comma-separated string")
    return split_values(text), text, args.pos(name)


def _axis_field(label: str, route: Route, base: GenerateParams, position: int) -> AxisField:
    if label == "Denoising" and route == "txt2img":
        if not base.enable_hr:
            raise _bad(
                position,
                "Denoising on txt2img varies the hires fix's denoising strength: send "
                "enable_hr: true too",
            )
        return "hr_strength"
    found = _FIELDS.get(label)
    if found is None:
        varied = ", ".join(_FIELDS)
        raise _bad(position, f"the axis {label!r} is not one difflab varies (it varies: {varied})")
    return found


def read_plot(script: str, script_args: Any, base: GenerateParams, route: Route) -> Plot:
    """The xyz job a plot request asks for (its base: the request's own generation), or a
    422 naming script_args. Seeds are fixed here as A1111 fixes them (the request's -1 is drawn
    by the job's prepare, once for every cell)."""
    if script_args is None:
        script_args = []
    if not isinstance(script_args, list):
        raise _bad(None, f"the {script} script's arguments, as a list")
    labels = axes_of(script, route)
    names = _layout(script, script_args, labels)
    if len(script_args) > len(names):
        raise _bad(
            len(names), f"the {script} script takes at most {len(names)} values: {', '.join(names)}"
        )
    args = _Args(names, script_args)
    csv_mode = args.flag("csv_mode") if "csv_mode" in names else False
    fixed_seeds = not args.flag("no_fixed_seeds")
    for name in ("vary_seeds_x", "vary_seeds_y", "vary_seeds_z"):
        if name in names and args.flag(name):
            raise _bad(
                args.pos(name),
                f"{name}: difflab's plot gives every cell its Seed axis value or the request's "
                "seed, not one that grows along an axis: send false",
            )
    if "margin_size" in names:
        margin = args.get("margin_size")
        if margin not in (None, "") and (not _is_number(margin) or margin != 0):
            raise _bad(
                args.pos("margin_size"), "margin_size: difflab's grid has no margins: send 0"
            )

    axes: dict[str, PlotAxis] = {}
    for axis in ("x", "y", "z"):
        if f"{axis}_type" not in names:
            continue
        label = _axis_label(args, axis, labels, route)
        if label == "Nothing":
            continue
        texts, text, position = _axis_text(args, axis, label, csv_mode)
        varied = _axis_field(label, route, base, args.pos(f"{axis}_type"))
        try:
            values = parse_values(texts, _KINDS[varied])
        except ValueError as e:
            raise _bad(position, f"{axis.upper()} values ({label}): {e}") from None
        if not values:
            raise _bad(position, f"{axis.upper()} values ({label}): no values")
        if varied == "model":
            values = [checkpoint_name(str(v)) for v in values]
        if varied == "seed" and fixed_seeds:  # A1111 draws a -1 on a Seed axis once, here
            values = [secrets.randbelow(4294967294) if v == -1 else v for v in values]
        if varied == "prompt_sr":
            search = str(values[0])
            if search not in base.prompt and search not in base.negative_prompt:
                raise _bad(
                    position,
                    f"{axis.upper()} values (Prompt S/R): {search!r} is not in the prompt or "
                    "the negative prompt",
                )
        axes[axis] = PlotAxis(label, varied, values, text, position)

    if not axes:
        raise _bad(0, "x_type: the plot needs an axis other than Nothing")
    if "x" not in axes:
        raise _bad(0, "x_type: Nothing on X with an axis on Y or Z is not supported: put the "
                   "first axis on X")  # fmt: skip
    fields = [a.field for a in axes.values()]
    if len(set(fields)) != len(fields):
        raise _bad(None, "each axis must vary something different")
    cells = math.prod(len(a.values) for a in axes.values())
    if cells > MAX_CELLS:
        raise _bad(None, f"{cells} cells: a plot has at most {MAX_CELLS}")
    seeded = any(a.field == "seed" for a in axes.values())
    if not fixed_seeds and base.seed == -1 and not seeded:
        raise _bad(
            args.pos("no_fixed_seeds"),
            "no_fixed_seeds: difflab's plot draws one random seed for all its cells; send a "
            "seed, a Seed axis (-1 values stay random), or false",
        )
    if (
        fixed_seeds
        and base.subseed == -1
        and any(a.field == "subseed_strength" for a in axes.values())
    ):  # A1111's fix_seed draws the variation seed too, once for every cell
        base = base.model_copy(update={"subseed": secrets.randbelow(4294967294)})

    def xyz_axis(name: str) -> Axis | None:
        a = axes.get(name)
        return None if a is None else Axis(field=a.field, values=a.values)

    x = xyz_axis("x")
    assert x is not None
    try:
        params = XYZParams(
            base=base, x=x, y=xyz_axis("y"), z=xyz_axis("z"), draw_legend=args.flag("draw_legend")
        )
    except ValidationError as e:
        raise _bad(None, "; ".join(err["msg"] for err in e.errors())) from None
    include_sub_grids = "include_sub_grids" in names and args.flag("include_sub_grids")
    return Plot(
        script=script, params=params, axes=axes,
        include_lone_images=args.flag("include_lone_images"),
        include_sub_grids=include_sub_grids, fixed_seeds=fixed_seeds,
    )  # fmt: skip


__all__ = [
    "XYZ_PLOT",
    "XY_PLOT",
    "Plot",
    "PlotAxis",
    "Route",
    "axes_of",
    "checkpoint_name",
    "parse_values",
    "plot_script",
    "read_plot",
    "split_values",
]

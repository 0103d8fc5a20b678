"""AUTOMATIC1111's "parameters" infotext, and PNG files that carry it.

The infotext is the prompt, an optional "Negative prompt: ..." line, and one line of
"Key: value" pairs:

    a red circle on the left
    Negative prompt: blurry
    Steps: 25, Sampler: DPM++ 2M, CFG scale: 7, Seed: 1, Size: 64x64, Model: house

A value holding a comma, colon or newline is written as a JSON string, as A1111's quote()
does. Tools that read A1111 images (its PNG Info tab, image browsers, civitai) read this text
from the PNG's "parameters" text chunk; difflab adds a "difflab" chunk with the same facts as
JSON, so nothing needs parsing to be read back exactly.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from PIL import Image
from PIL.PngImagePlugin import PngInfo

# A1111's re_param_code (modules/infotext_utils.py): key, then a quoted or comma-free value.
_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
_NEGATIVE = "Negative prompt:"


@dataclass
class Infotext:
    prompt: str
    negative_prompt: str = ""
    params: dict[str, str] = field(default_factory=dict)  # "Steps": "25", "Size": "64x64", ...


def _quote(value: str) -> str:
    if "," not in value and "\n" not in value and ":" not in value:
        return value
    return json.dumps(value, ensure_ascii=False)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        try:
            return str(json.loads(value))
        except json.JSONDecodeError:
            return value
    return value


def format_value(value: Any) -> str:
    """7.0 -> "7", 7.5 -> "7.5", True -> "True", text as it is."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def format_infotext(prompt: str, negative_prompt: str, params: Mapping[str, Any]) -> str:
    """The infotext for one image; params in display order, None values left out."""
    pairs = ", ".join(
        f"{key}: {_quote(format_value(v))}" for key, v in params.items() if v is not None
    )
    negative = f"\n{_NEGATIVE} {negative_prompt}" if negative_prompt else ""
    return f"{prompt}{negative}\n{pairs}".strip()


def parse_infotext(text: str) -> Infotext:
    """Parse an infotext as A1111's parse_generation_parameters does (lines are stripped)."""
    *lines, last = text.strip().split("\n")
    if len(_PARAM.findall(last)) < 3:  # no parameter line: all of it is prompt
        lines.append(last)
        last = ""
    prompt: list[str] = []
    negative: list[str] = []
    in_negative = False
    for line in lines:
        line = line.strip()
        if line.startswith(_NEGATIVE):
            in_negative = True
            line = line[len(_NEGATIVE) :].strip()
        (negative if in_negative else prompt).append(line)
    params = {key: _unquote(value) for key, value in _PARAM.findall(last)}
    return Infotext("\n".join(prompt), "\n".join(negative), params)


def generation_params(
    *,
    steps: int,
    sampler: str,
    schedule: str,
    cfg_scale: float,
    seed: int,
    width: int,
    height: int,
    model: str,
    eta: float | None = None,
    batch_size: int = 1,
    batch_pos: int = 0,
    version: str = "",
) -> dict[str, Any]:
    """The key/value line in A1111's order; optional keys only when they say something."""
    return {
        "Steps": steps,
        "Sampler": sampler,
        "Schedule type": schedule if schedule != "Automatic" else None,
        "CFG scale": float(cfg_scale),
        "Seed": seed,
        "Size": f"{width}x{height}",
        "Model": model,
        "Eta": eta if eta else None,
        "Batch size": batch_size if batch_size > 1 else None,
        "Batch pos": batch_pos if batch_size > 1 else None,
        "Version": version or None,
    }


def png_with_parameters(image: Image.Image, infotext: str, meta: Mapping[str, Any]) -> bytes:
    """PNG bytes with a "parameters" text chunk (the infotext) and a "difflab" JSON chunk.

    PIL writes a tEXt chunk for Latin-1 text and an iTXt (UTF-8) chunk otherwise, as A1111 does.
    """
    info = PngInfo()
    info.add_text("parameters", infotext)
    info.add_text("difflab", json.dumps(dict(meta), ensure_ascii=False, separators=(",", ":")))
    buf = io.BytesIO()
    image.save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def read_png_parameters(data: bytes) -> tuple[str | None, dict[str, Any] | None]:
    """(infotext, difflab JSON) from PNG bytes; None for a chunk that is absent."""
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        text: dict[str, str] = dict(getattr(img, "text", {}))
    raw = text.get("difflab")
    return text.get("parameters"), (json.loads(raw) if raw is not None else None)

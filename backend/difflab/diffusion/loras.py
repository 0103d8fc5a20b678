"""LoRAs at generation: low-rank adapters a request turns on by name, for that request only.

A LoRA is a safetensors file in `<models dir>/loras/<name>.safetensors`, in any form diffusers'
`load_lora_weights` reads (its own, as the `lora` kind writes it, or kohya's, as A1111 users
have them). Beside it may be `<name>.json`, its card (the base model it was trained on, the
dataset, steps, rank; the `lora` kind writes one) and `<name>.png`, its validation grid.

A request names LoRAs as A1111 does, `<lora:name:weight>` in the prompt (the tag is taken out
of the text that is encoded), or in a `loras: [{name, weight}]` field. They are loaded into
the cached pipeline as peft adapters, weighted with `set_adapters`, and unloaded when the
request ends, so the next request on the same pipeline runs the plain model (tested to the
pixel). A LoRA whose card names another base model, or whose shapes do not fit the model, is
refused before the job is queued, naming both.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from safetensors import safe_open

from difflab.runtime import ParamError

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
# A1111's extra-network tag: <lora:name> or <lora:name:multiplier>
TAG = re.compile(r"<lora:([^:>]*)(?::([^>]*))?>", re.IGNORECASE)
_lock = threading.RLock()


class LoraWeight(BaseModel):
    """One LoRA a generation uses, and how strongly."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, description="File name in models/loras/.")
    weight: float = Field(1.0, ge=-4, le=4, description="Multiplier of its update (1: full).")


@dataclass(frozen=True)
class LoraFile:
    name: str
    path: Path
    card: dict[str, Any] | None

    @property
    def base_model(self) -> str | None:
        base = (self.card or {}).get("base_model")
        return str(base) if base else None


def loras_dir(models_dir: Path) -> Path:
    return models_dir / "loras"


def extract(prompt: str) -> tuple[str, list[LoraWeight]]:
    """The prompt without its <lora:...> tags, and the LoRAs they name (ParamError on
    `prompt` for a tag that does not read)."""
    found: list[LoraWeight] = []

    def take(m: re.Match[str]) -> str:
        name, arg = m.group(1).strip(), m.group(2)
        weight = 1.0
        if arg is not None:
            try:
                weight = float(arg.strip())
            except ValueError:
                raise ParamError(
                    "prompt", f"{m.group(0)}: the weight must be a number (<lora:name:0.8>)"
                ) from None
        if not NAME.match(name):
            raise ParamError("prompt", f"{m.group(0)}: {name!r} is not a LoRA name")
        if not -4 <= weight <= 4:
            raise ParamError("prompt", f"{m.group(0)}: the weight must be within -4 and 4")
        found.append(LoraWeight(name=name, weight=weight))
        return ""

    text = TAG.sub(take, prompt)
    return re.sub(r"\s*,(\s*,)+", ",", " ".join(text.split())).strip(" ,"), found


def merged(field: Sequence[LoraWeight], tags: Sequence[LoraWeight]) -> list[LoraWeight]:
    """The `loras` field's LoRAs and the prompt's, each name once."""
    out: dict[str, LoraWeight] = {}
    for where, refs in (("loras", field), ("prompt", tags)):
        for r in refs:
            if r.name in out:
                raise ParamError(where, f"LoRA {r.name!r} is named twice")
            out[r.name] = r
    return list(out.values())


def find(models_dir: Path, name: str, field: str = "loras") -> LoraFile:
    """A LoRA file by name (a plain file inside loras/), with its card if it has one."""
    root = loras_dir(models_dir)
    path = root / f"{name}.safetensors"
    if not NAME.match(name) or not path.is_file() or path.is_symlink():
        known = ", ".join(f.name for f in found(models_dir)) or "none installed"
        raise ParamError(field, f"no LoRA {name!r} in models/loras/ (known: {known})")
    return LoraFile(name, path, _card(path))


def _card(path: Path) -> dict[str, Any] | None:
    card = path.with_suffix(".json")
    if not card.is_file():
        return None
    try:
        data = json.loads(card.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def found(models_dir: Path) -> list[LoraFile]:
    root = loras_dir(models_dir)
    if not root.is_dir():
        return []
    return [
        LoraFile(p.stem, p, _card(p))
        for p in sorted(root.glob("*.safetensors"))
        if NAME.match(p.stem) and p.is_file() and not p.is_symlink()
    ]


def _cross_attention_in(path: Path) -> int | None:
    """The text width a LoRA's cross-attention key projection takes (from its header)."""
    with safe_open(str(path), framework="pt") as f:
        for key in f.keys():  # noqa: SIM118 (safe_open is not a mapping)
            k = key.replace("_", ".")
            if "attn2.to.k" in k and ("lora.A" in k or "lora.down" in k):
                shape = f.get_slice(key).get_shape()
                return int(shape[1]) if len(shape) == 2 else None
    return None


def check(
    models_dir: Path, refs: Sequence[LoraWeight], model: str, cross_attention_dim: int
) -> list[LoraFile]:
    """The LoRAs exist and fit the model: the card's base model is this model (when the file
    has a card), and the cross-attention width matches."""
    out = []
    for r in refs:
        lora = find(models_dir, r.name)
        base = lora.base_model
        if base is not None and base != model:
            raise ParamError(
                "loras",
                f"LoRA {r.name!r} was trained on model {base!r}, not on {model!r}: generate "
                f"with model {base!r}, or train a LoRA on {model!r}",
            )
        try:
            width = _cross_attention_in(lora.path)
        except (OSError, ValueError, RuntimeError) as exc:
            raise ParamError("loras", f"LoRA {r.name!r} cannot be read ({exc})") from None
        if width is not None and width != cross_attention_dim:
            raise ParamError(
                "loras",
                f"LoRA {r.name!r} takes {width}-wide text states, model {model!r} has "
                f"{cross_attention_dim}: it was trained on another base model",
            )
        out.append(lora)
    return out


@functools.lru_cache(maxsize=64)
def _hash(path: str, stamp: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()[:12]


def short_hash(path: Path) -> str:
    """The first 12 hex digits of the file's SHA-256 (A1111's "Lora hashes")."""
    return _hash(str(path), path.stat().st_mtime_ns)


def infotext_hashes(files: Sequence[LoraFile]) -> str:
    return ", ".join(f"{f.name}: {short_hash(f.path)}" for f in files)


def _adapter(name: str) -> str:
    return "lora_" + re.sub(r"[^A-Za-z0-9_]", "_", name)


@contextlib.contextmanager
def applied(pipe: Any, files: Sequence[LoraFile], weights: Sequence[float]) -> Iterator[None]:
    """Inside: the pipeline's U-Net (and text encoder, if the LoRA has one) carry the LoRAs
    at their weights; after: they are unloaded, the pipeline is the plain model again."""
    if not files:
        yield
        return
    with _lock:  # one request's adapters at a time on a shared pipeline
        names = [_adapter(f.name) for f in files]
        try:
            for f, adapter in zip(files, names, strict=True):
                pipe.load_lora_weights(str(f.path.parent), weight_name=f.path.name,
                                       adapter_name=adapter)  # fmt: skip
            pipe.set_adapters(names, adapter_weights=list(weights))
            yield
        finally:
            pipe.unload_lora_weights()


def listing(models_dir: Path) -> list[dict[str, Any]]:
    """Every LoRA with its card's fields (base model, dataset, steps, rank...)."""
    out = []
    for f in found(models_dir):
        card = f.card or {}
        out.append({
            "name": f.name, "path": f.path, "base_model": f.base_model,
            "card": card, "size_bytes": f.path.stat().st_size,
            "preview": f.path.with_suffix(".png").is_file(),
        })  # fmt: skip
    return out


__all__ = [
    "TAG",
    "LoraFile",
    "LoraWeight",
    "applied",
    "check",
    "extract",
    "find",
    "found",
    "infotext_hashes",
    "listing",
    "loras_dir",
    "merged",
    "short_hash",
]

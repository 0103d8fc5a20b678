"""Textual-inversion embeddings (A1111's "embeddings"): learned token vectors a prompt uses by
name.

They live as safetensors files in `<models dir>/embeddings/<name>.safetensors`, one tensor of
shape (vectors, hidden size) — A1111's `emb_params` or any single-tensor file. A prompt that
names one gets it: the embedding is loaded into the pipeline's tokenizer and text encoder with
diffusers' `load_textual_inversion` (once per process: a file changed later is read after a
restart), and the name is
expanded to its vectors' tokens (`name name_1 ...`, diffusers' `maybe_convert_prompt`) when
the prompt is encoded. An embedding whose hidden size is not the model's is skipped, as A1111
skips it, and listed as skipped.
"""

from __future__ import annotations

import re
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_lock = threading.Lock()
# pipeline -> {name: file stamp} of the embeddings loaded into it
_loaded: weakref.WeakKeyDictionary[Any, dict[str, int]] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class Embedding:
    name: str
    path: Path
    vectors: int
    hidden_size: int


def embeddings_dir(models_dir: Path) -> Path:
    return models_dir / "embeddings"


def found(models_dir: Path, names: set[str] | None = None) -> list[Embedding]:
    """The embedding files of the models directory (only those in `names` when given), read
    from their headers (names that are not plain words, and files that are not one 2-D
    tensor, are passed over)."""
    root = embeddings_dir(models_dir)
    if not root.is_dir():
        return []
    out = []
    for path in sorted(root.glob("*.safetensors")):
        if names is not None and path.stem not in names:
            continue
        if not NAME.match(path.stem) or not path.is_file() or path.is_symlink():
            continue
        try:
            with safe_open(str(path), framework="pt") as f:
                keys = list(f.keys())
                if len(keys) != 1:
                    continue
                shape = f.get_slice(keys[0]).get_shape()
        except (OSError, ValueError, RuntimeError):
            continue
        if len(shape) == 1:
            shape = [1, shape[0]]
        if len(shape) == 2:
            out.append(Embedding(path.stem, path, int(shape[0]), int(shape[1])))
    return out


def hidden_size(pipe: Any) -> int:
    return int(pipe.text_encoder.get_input_embeddings().weight.shape[1])


def ensure(pipe: Any, models_dir: Path, texts: list[str]) -> list[str]:
    """Load into `pipe` the embeddings the texts name (by whole word) that fit the model;
    returns the names in use."""
    words = {w for text in texts for w in re.findall(r"[A-Za-z0-9_-]+", text)}
    wanted = found(models_dir, words)  # headers are read only for names the prompt uses
    if not wanted:
        return []
    size = hidden_size(pipe)
    used = []
    with _lock:
        loaded = _loaded.setdefault(pipe, {})
        for emb in wanted:
            if emb.hidden_size != size:
                continue
            stamp = emb.path.stat().st_mtime_ns
            if emb.name not in loaded:
                vectors = next(iter(load_file(str(emb.path)).values()))
                vectors = vectors.reshape(-1, size).to(torch.float32)
                pipe.load_textual_inversion({emb.name: vectors}, token=emb.name)
                loaded[emb.name] = stamp
            used.append(emb.name)
    return used


def convert(pipe: Any, text: str) -> str:
    """The prompt with each loaded embedding's name expanded to its vectors' tokens."""
    if not _loaded.get(pipe):
        return text
    converted: str = pipe.maybe_convert_prompt(text, pipe.tokenizer)
    return converted


def listing(models_dir: Path, model_hidden_size: int | None) -> dict[str, Any]:
    """A1111's GET /embeddings shape: loaded (usable with the default model) and skipped."""
    loaded: dict[str, Any] = {}
    skipped: dict[str, Any] = {}
    for e in found(models_dir):
        entry = {"step": None, "sd_checkpoint": None, "sd_checkpoint_name": None,
                 "shape": e.hidden_size, "vectors": e.vectors}  # fmt: skip
        fits = model_hidden_size is None or e.hidden_size == model_hidden_size
        (loaded if fits else skipped)[e.name] = entry
    return {"loaded": loaded, "skipped": skipped}


__all__ = ["Embedding", "convert", "embeddings_dir", "ensure", "found", "listing"]

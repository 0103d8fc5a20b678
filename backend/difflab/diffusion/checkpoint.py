"""Training checkpoints as one safetensors file, written atomically.

A checkpoint is a nested state (model and EMA weights, optimizer state, step, RNG state,
best metric, config) split into tensors, stored as safetensors tensors, and everything
else, stored as JSON in the file's metadata. No pickle anywhere. The write goes to a
temporary file in the same directory, is fsync'ed, then renamed over the old file, so a
crash leaves either the old checkpoint or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

_TENSOR = "__tensor__"
_DICT = "__dict__"  # a dict whose keys are not all strings (optimizer state: int keys)
_TUPLE = "__tuple__"


def pack(obj: Any, tensors: dict[str, torch.Tensor], prefix: str = "t") -> Any:
    """Replace every tensor in `obj` by a reference and collect it in `tensors`."""
    if isinstance(obj, torch.Tensor):
        key = f"{prefix}.{len(tensors)}"
        # safetensors refuses shared storage: store an independent contiguous copy
        tensors[key] = obj.detach().to("cpu").contiguous().clone()
        return {_TENSOR: key}
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj):
            return {k: pack(v, tensors, prefix) for k, v in obj.items()}
        return {_DICT: [[k, pack(v, tensors, prefix)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {_TUPLE: [pack(v, tensors, prefix) for v in obj]}
    if isinstance(obj, list):
        return [pack(v, tensors, prefix) for v in obj]
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    raise TypeError(f"cannot store a {type(obj).__name__} in a checkpoint")


def unpack(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Inverse of `pack`."""
    if isinstance(obj, dict):
        if set(obj) == {_TENSOR}:
            return tensors[obj[_TENSOR]]
        if set(obj) == {_DICT}:
            return {k: unpack(v, tensors) for k, v in obj[_DICT]}
        if set(obj) == {_TUPLE}:
            return tuple(unpack(v, tensors) for v in obj[_TUPLE])
        return {k: unpack(v, tensors) for k, v in obj.items()}
    if isinstance(obj, list):
        return [unpack(v, tensors) for v in obj]
    return obj


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # some platforms cannot open a directory
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write `state` to `path` atomically (temp file in the same dir, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    skeleton = pack(state, tensors)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        save_file(tensors, str(tmp), metadata={"state": json.dumps(skeleton)})
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint written by `save_checkpoint` (tensors on the CPU)."""
    tensors: dict[str, torch.Tensor] = {}
    with safe_open(str(path), framework="pt", device="cpu") as f:
        meta = f.metadata() or {}
        for key in f.keys():  # noqa: SIM118 - safe_open is not a mapping
            tensors[key] = f.get_tensor(key)
    if "state" not in meta:
        raise ValueError(f"{path} is not a difflab checkpoint (no state metadata)")
    state: dict[str, Any] = unpack(json.loads(meta["state"]), tensors)
    return state

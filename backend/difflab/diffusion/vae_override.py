"""A VAE other than the model's own (A1111's "SD VAE" setting).

VAEs live as diffusers AutoencoderKL directories (config.json and safetensors weights) in
`<models dir>/vae/<name>/`. A generation that names one decodes (and, for img2img, encodes)
with it: the run gets a pipeline made of the model's parts with that VAE in place of the
model's (no weights are copied; the VAE itself is loaded once per process and device). A VAE
is accepted only if it speaks the model's latent space: the same latent channels and the same
downsampling factor.
"""

from __future__ import annotations

import functools
import json
import threading
from pathlib import Path
from typing import Any

from diffusers import AutoencoderKL

from difflab.diffusion.models import (
    ModelError,
    check_model_name,
    check_safetensors_only,
    device_settings,
)
from difflab.runtime import ParamError

_lock = threading.Lock()


def vae_dir(models_dir: Path) -> Path:
    return models_dir / "vae"


def list_vaes(models_dir: Path) -> list[str]:
    root = vae_dir(models_dir)
    if not root.is_dir():
        return []
    return sorted(
        p.name for p in root.iterdir()
        if p.is_dir() and not p.is_symlink() and (p / "config.json").is_file()
    )  # fmt: skip


def _shape(config_path: Path) -> tuple[int, int]:
    config = json.loads(config_path.read_text())
    return int(config.get("latent_channels", 4)), len(config.get("block_out_channels", [1]))


def resolve_vae(models_dir: Path, name: str, model_dir: Path) -> Path:
    """The VAE's directory, checked: a plain name, inside vae/, safetensors only, the model's
    latent space. ParamError naming `vae` otherwise."""
    try:
        check_model_name(name)
    except ModelError:
        raise ParamError("vae", f"invalid VAE name {name!r}") from None
    if name not in list_vaes(models_dir):
        known = ", ".join(list_vaes(models_dir)) or "none installed"
        raise ParamError("vae", f"no VAE {name!r} in models/vae/ (there: {known})")
    path = (vae_dir(models_dir) / name).resolve()
    try:
        check_safetensors_only(path, parts=("",))  # weights in the VAE directory itself
    except Exception as exc:  # UnsafeWeightsError and kin
        raise ParamError("vae", str(exc)) from None
    if _shape(path / "config.json") != _shape(model_dir / "vae" / "config.json"):
        raise ParamError(
            "vae", f"VAE {name!r} does not fit the model's latent space (channels or scale)"
        )
    return path


@functools.lru_cache(maxsize=4)
def _load(path: str, stamp: int, device: str) -> Any:
    settings = device_settings(device)
    vae = AutoencoderKL.from_pretrained(path, use_safetensors=True, local_files_only=True)
    return vae.to(device, settings.dtype).eval().requires_grad_(False)


def with_vae(pipe: Any, path: Path, device: str) -> Any:
    """A pipeline of the same parts as `pipe` but this VAE (nothing of `pipe` changes)."""
    stamp = (path / "config.json").stat().st_mtime_ns
    with _lock:
        vae = _load(str(path), stamp, device)
    parts = {**pipe.components, "vae": vae}
    swapped = type(pipe)(**parts, requires_safety_checker=False)
    swapped.set_progress_bar_config(disable=True)
    return swapped


__all__ = ["list_vaes", "resolve_vae", "vae_dir", "with_vae"]

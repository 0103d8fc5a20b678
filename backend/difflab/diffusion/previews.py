"""Previews of latents as small images: `approx` (a linear latent->RGB map) and `full` (the VAE).

`approx`: an SD-1.x VAE is close to linear at the scale of one latent pixel, so
rgb(pixel) ~= W z(pixel) + b, with W a 3x4 matrix and b a bias. W and b are fitted per model by
least squares against real VAE decodes: decode latents z, average-pool each decode down to the
latent grid (one latent pixel = factor x factor image pixels), and solve
min ||[z, 1] [W b]^T - rgb||^2. The map is stored with the model as latent_rgb.json, fitted on
first use when absent. Applying it costs one 4x3 matrix product per latent pixel.

`full`: the VAE decoder itself, as for the final image.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import struct
import threading
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from difflab.runtime import write_atomic

log = logging.getLogger(__name__)

LATENT_RGB_FILE = "latent_rgb.json"


@dataclass(frozen=True)
class LatentRGB:
    """rgb = weight @ z + bias per latent pixel, rgb in [0, 1]; z in the diffusion's scale."""

    weight: tuple[tuple[float, ...], ...]  # (3, C)
    bias: tuple[float, float, float]
    stats: dict[str, Any] = field(default_factory=dict, compare=False)  # fit diagnostics
    _on_device: dict[Any, tuple[torch.Tensor, torch.Tensor]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def apply(self, latents: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) latents -> (B, 3, h, w) RGB in [0, 1]."""
        w, b = self._tensors(latents.dtype, latents.device)
        return (torch.einsum("rc,bchw->brhw", w, latents) + b).clamp(0, 1)

    def _tensors(self, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, ...]:
        """W (3, C) and b (1, 3, 1, 1) on the latents' device, made once per device and dtype."""
        key = (dtype, str(device))
        found = self._on_device.get(key)
        if found is None:
            w = torch.tensor(self.weight, dtype=dtype, device=device)
            b = torch.tensor(self.bias, dtype=dtype, device=device)[None, :, None, None]
            found = self._on_device[key] = (w, b)
        return found

    def to_json(self) -> dict[str, Any]:
        return {"version": 1, "weight": [list(r) for r in self.weight], "bias": list(self.bias),
                **self.stats}  # fmt: skip

    @classmethod
    def from_json(cls, data: Any, channels: int) -> LatentRGB:
        """Validate strictly: it is a file in a model directory, not trusted code."""
        if not isinstance(data, dict) or data.get("version") != 1:
            raise ValueError("latent_rgb.json: unknown format")
        weight, bias = data.get("weight"), data.get("bias")
        if (
            not isinstance(weight, list)
            or len(weight) != 3
            or any(not isinstance(r, list) or len(r) != channels for r in weight)
            or not isinstance(bias, list)
            or len(bias) != 3
        ):
            raise ValueError(f"latent_rgb.json: expected a 3x{channels} weight and 3 biases")
        values = [float(v) for r in weight for v in r] + [float(v) for v in bias]
        if not all(math.isfinite(v) for v in values):
            raise ValueError("latent_rgb.json: non-finite values")
        stats = {k: v for k, v in data.items() if k not in ("version", "weight", "bias")}
        return cls(
            weight=tuple(tuple(float(v) for v in r) for r in weight),
            bias=(float(bias[0]), float(bias[1]), float(bias[2])),
            stats=stats,
        )


def vae_factor(vae: Any) -> int:
    return int(2 ** (len(vae.config.block_out_channels) - 1))


@torch.no_grad()
def decode_full(vae: Any, latents: torch.Tensor) -> torch.Tensor:
    """(B, C, h, w) diffusion-scale latents -> (B, 3, H, W) in [0, 1] through the VAE decoder."""
    image = vae.decode(latents / vae.config.scaling_factor).sample
    return (image / 2 + 0.5).clamp(0, 1)


def _probe_latents(n: int, channels: int, size: int, seed: int) -> torch.Tensor:
    """Half white N(0, 1) latents, half smooth ones (N(0, 1) at 1/4 resolution, upsampled and
    renormalised): decodes of both kinds cover flat colour regions as well as texture."""
    g = torch.Generator().manual_seed(seed)
    white = torch.randn(n - n // 2, channels, size, size, generator=g)
    coarse = torch.randn(n // 2, channels, max(1, size // 4), max(1, size // 4), generator=g)
    smooth = F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
    smooth = smooth / smooth.std().clamp_min(1e-6)
    return torch.cat([white, smooth])


@torch.no_grad()
def _decode_pooled(vae: Any, z: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Decode in chunks and average-pool each decode to the latent grid: (N, 3, h, w)."""
    f = vae_factor(vae)
    out = []
    for chunk in z.split(4):
        rgb = decode_full(vae, chunk.to(device)).float().cpu()
        out.append(F.avg_pool2d(rgb, kernel_size=f))
    return torch.cat(out)


def _pixels(t: torch.Tensor) -> torch.Tensor:
    """(N, C, h, w) -> (N*h*w, C)"""
    return t.permute(0, 2, 3, 1).reshape(-1, t.shape[1]).double()


def fit_latent_rgb(vae: Any, *, samples: int = 12, size: int = 16, seed: int = 0) -> LatentRGB:
    """Least-squares fit of the linear map on `samples` decoded probe latents of size x size.

    Records the fit's mean squared error and that of the best constant colour (the baseline a
    useful map must beat) on a second, held-out set of probes.
    """
    device = next(vae.parameters()).device
    channels = int(vae.config.latent_channels)
    z = _probe_latents(samples, channels, size, seed)
    rgb = _decode_pooled(vae, z, device)
    x = torch.cat([_pixels(z), torch.ones(z.numel() // channels, 1, dtype=torch.float64)], 1)
    y = _pixels(rgb)  # (P, 3)
    solution = torch.linalg.lstsq(x, y).solution  # (C + 1, 3): [W^T; b]
    weight = solution[:channels].T.tolist()
    bias = solution[channels].tolist()
    fitted = LatentRGB(tuple(tuple(r) for r in weight), (bias[0], bias[1], bias[2]))

    z_test = _probe_latents(max(2, samples // 2), channels, size, seed + 1)
    rgb_test = _decode_pooled(vae, z_test, device)
    mse = float(((fitted.apply(z_test) - rgb_test) ** 2).mean())
    baseline = float(((y.mean(0).float()[None, :, None, None] - rgb_test) ** 2).mean())
    stats = {"mse": mse, "baseline_mse": baseline, "samples": samples, "size": size, "seed": seed}
    return LatentRGB(fitted.weight, fitted.bias, stats)


def vae_digest(model_dir: Path) -> str:
    """A cheap fingerprint of the VAE weights: size plus the first and last MiB of each file.

    Remembered per (name, size, mtime) of the files, so a run normally only stats them."""
    files = sorted((model_dir / "vae").glob("*.safetensors"))
    stamp = tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    found = _digests.get(stamp)
    if found is None:
        found = _digests[stamp] = _hash_files(files)
    return found


_digests: dict[tuple[tuple[str, int, int], ...], str] = {}


def _hash_files(files: list[Path]) -> str:
    h = hashlib.sha256()
    for f in files:
        size = f.stat().st_size
        h.update(f"{f.name}:{size}".encode())
        with f.open("rb") as fh:
            h.update(fh.read(1 << 20))
            fh.seek(max(0, size - (1 << 20)))
            h.update(fh.read(1 << 20))
    return h.hexdigest()[:16]


_maps: dict[tuple[str, str], LatentRGB] = {}
_maps_lock = threading.Lock()


def _read_map(path: Path, channels: int, digest: str) -> LatentRGB | None:
    """The map in `path` if it is there, valid and made for this VAE (digest); else None."""
    if not path.is_file():
        return None
    try:
        found = LatentRGB.from_json(json.loads(path.read_text("utf-8")), channels)
    except (ValueError, TypeError, OSError) as e:
        log.warning("ignoring %s: %s", path, e)
        return None
    return found if found.stats.get("vae") == digest else None


def fit_for_vae(vae: Any, digest: str) -> LatentRGB:
    latent = min(16, int(vae.config.sample_size) // vae_factor(vae) or 8)
    fitted = fit_latent_rgb(vae, size=max(4, latent))
    return LatentRGB(fitted.weight, fitted.bias, {**fitted.stats, "vae": digest})


def latent_rgb_for_model(model_dir: Path, vae: Any, cache_dir: Path | None = None) -> LatentRGB:
    """The model's map: from memory, else the one it ships (latent_rgb.json in its directory),
    else one fitted earlier in `cache_dir`, else fitted now and saved in `cache_dir`.

    A model directory is never written: a map that is missing there, or stale (made for other
    VAE weights), is fitted into the cache. Without a cache dir the map is kept in memory only.
    """
    model_dir = Path(model_dir).resolve()
    digest = vae_digest(model_dir)
    key = (str(model_dir), digest)
    with _maps_lock:
        if key in _maps:
            return _maps[key]
        channels = int(vae.config.latent_channels)
        cached = cache_dir / f"latent_rgb-{digest}.json" if cache_dir is not None else None
        found = _read_map(model_dir / LATENT_RGB_FILE, channels, digest)
        if found is None and cached is not None:
            found = _read_map(cached, channels, digest)
        if found is None:
            found = fit_for_vae(vae, digest)
            if cached is not None:
                _write_atomic(cached, found.to_json())
        _maps[key] = found
        return found


def write_latent_rgb(model_dir: Path, vae: Any) -> LatentRGB:
    """Fit the map for a model being written (a training job's own output) and ship it."""
    found = fit_for_vae(vae, vae_digest(model_dir))
    _write_atomic(model_dir / LATENT_RGB_FILE, found.to_json())
    return found


def _write_atomic(path: Path, data: dict[str, Any]) -> None:
    try:
        write_atomic(path, json.dumps(data, indent=1).encode())
    except OSError as e:
        log.warning("could not save %s (%s); keeping the map in memory", path, e)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(B, 3, H, W) in [0, 1] -> (H, B*W, 3) uint8: a batch side by side in one picture."""
    arr = (images.float().clamp(0, 1) * 255.0).round().to(torch.uint8).cpu()
    return arr.permute(2, 0, 3, 1).reshape(arr.shape[2], -1, 3).numpy()


def noise_rgb(eps: torch.Tensor) -> torch.Tensor:
    """Predicted noise ε as colour: channels 0-2, N(0, 1) values in [-3, 3] mapped to [0, 1]."""
    return (eps[:, :3] / 6.0 + 0.5).clamp(0, 1)


def png_bytes(array: np.ndarray, *, level: int = 1) -> bytes:
    """A PNG of a uint8 (H, W) grey or (H, W, 3) RGB array: signature, IHDR, one IDAT, IEND.

    Written out (PNG spec, sections 5 and 11) because previews are encoded three times per
    step and PIL's general-purpose writer costs about ten times more for an 8x8 image. Every
    row uses filter type 0 (none); zlib level 1.
    """
    if (
        array.dtype != np.uint8
        or array.ndim not in (2, 3)
        or (array.ndim == 3 and array.shape[2] != 3)
    ):
        raise ValueError(f"expected uint8 (H, W) or (H, W, 3), got {array.dtype} {array.shape}")
    h, w = array.shape[:2]
    color_type = 2 if array.ndim == 3 else 0  # truecolour or greyscale
    rows = np.empty((h, 1 + array[0].size), dtype=np.uint8)
    rows[:, 0] = 0  # filter byte of each scanline
    rows[:, 1:] = array.reshape(h, -1)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, color_type, 0, 0, 0)
    return b"".join((
        b"\x89PNG\r\n\x1a\n",
        _chunk(b"IHDR", ihdr),
        _chunk(b"IDAT", zlib.compress(rows.tobytes(), level)),
        _chunk(b"IEND", b""),
    ))  # fmt: skip


def _chunk(tag: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(tag + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

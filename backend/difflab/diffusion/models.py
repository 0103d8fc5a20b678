"""Model directories: name resolution, listing, the safetensors-only check and a pipeline cache.

A model is a Stable-Diffusion-1.x-style diffusers directory (model_index.json, text_encoder/,
tokenizer/, unet/, vae/, scheduler/) directly inside the models directory; its name is the
directory's name. Names come from requests, so they are resolved only inside the models
directory, after following symlinks. Weights are loaded only from safetensors files whose
header has been checked first: a pickle is never opened, whatever its file name says.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from diffusers import StableDiffusionPipeline

from difflab import heap
from difflab.diffusion.attention import keep_processor_signatures

DEFAULT_MODEL = "house"

# One plain path segment; letters, digits, "-", "_" and inner dots ("sd-1.5"), no leading dot.
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-.]{0,99}$")
# The SD-1.x parts a model directory must have, as named in model_index.json.
_REQUIRED_PARTS = ("text_encoder", "tokenizer", "unet", "vae", "scheduler")
_WEIGHT_PARTS = ("text_encoder", "unet", "vae")
# File types that hold weights. Everything but safetensors is (or may be) a pickle.
_PICKLE_SUFFIXES = {".bin", ".ckpt", ".pt", ".pth", ".pkl", ".pickle", ".joblib", ".npy", ".npz"}
_WEIGHT_SUFFIXES = _PICKLE_SUFFIXES | {".safetensors", ".msgpack", ".h5", ".onnx", ".gguf"}
_SAFETENSORS_DTYPES = {
    "BOOL", "U8", "I8", "I16", "U16", "I32", "U32", "I64", "U64",
    "F16", "BF16", "F32", "F64", "F8_E4M3", "F8_E5M2", "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2",
    "C64", "U1", "I1", "U2", "I2", "U3", "I3", "U4", "I4", "U5", "I5", "U6", "I6", "U7", "I7",
}  # fmt: skip
_MAX_HEADER = 100 * 1024 * 1024  # the safetensors format's own limit on the JSON header


class ModelError(ValueError):
    """A model name or directory that cannot be used; the message says why (API: 422)."""


class UnsafeWeightsError(ModelError):
    """A model directory whose weights are not all valid safetensors files."""


@dataclass(frozen=True)
class Resolution:
    """The image sizes a model is run at, in pixels: its native size and the allowed range."""

    native: int  # unet.sample_size * vae scale factor: the size the model was trained at
    min: int  # native / 2: below it the U-Net's smallest feature maps collapse
    max: int  # native * 2: above it SD-1.x models repeat objects; also bounds the memory used
    multiple: int  # width and height are multiples of the VAE's downsampling factor (8)

    def check(self, field: str, value: int) -> None:
        """Raise ValueError naming `field` when `value` is outside the range or off the grid."""
        if not (self.min <= value <= self.max) or value % self.multiple:
            raise ValueError(
                f"{field} must be a multiple of {self.multiple} between {self.min} and "
                f"{self.max} for this model (native {self.native}); got {value}"
            )


SD_GUIDANCE = 7.5  # StableDiffusionPipeline's default, for models that record no value


def default_guidance(path: Path) -> float:
    """The guidance scale a model is made for: `default_guidance_scale` in its difflab.json
    (a difflab-trained model records its best measured value there), else SD's usual 7.5.
    Every door (studio, /generations, A1111 routes, CLI, eval) uses it when a request leaves
    the scale out."""
    try:
        scale = float(_read_json(path / "difflab.json")["default_guidance_scale"])
    except (OSError, ValueError, KeyError, TypeError, ModelError):
        return SD_GUIDANCE
    return scale if 0 <= scale <= 30 else SD_GUIDANCE


def weights_digest(path: Path) -> dict[str, Any]:
    """sha256 of every weight file of a model directory, and of them all together (the
    sorted "<sha256>  <relative path>" lines), as `sha256sum` would print them."""
    files: dict[str, str] = {}
    for f in sorted(Path(path).rglob("*.safetensors")):
        h = hashlib.sha256()
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        files[f.relative_to(path).as_posix()] = h.hexdigest()
    lines = "".join(f"{d}  {name}\n" for name, d in files.items())
    return {"sha256": hashlib.sha256(lines.encode()).hexdigest(), "files": files}


def prompt_vocabulary(path: Path) -> tuple[list[str], list[str]]:
    """(words, example prompts) of the captions a model was trained on, for the studio's prompt
    box: the `shapes` grammar for a model whose training.json names that dataset (the house
    model), nothing for other models (any text is theirs to try)."""
    if not (path / "training.json").is_file():
        return [], []
    training = _read_json(path / "training.json")
    recipe = training.get("recipe")
    if (recipe if isinstance(recipe, dict) else training).get("dataset") != "shapes":
        return [], []
    from difflab.datasets.shapes import prompt_examples, prompt_words

    return prompt_words(), prompt_examples()


@dataclass(frozen=True)
class ModelInfo:
    """One usable model directory, as GET /models lists it."""

    name: str
    path: Path
    default: bool
    resolution: Resolution
    scheduler: str  # the scheduler class named by the model's scheduler config
    guidance: float  # default_guidance(path)
    prompt_words: tuple[str, ...] = ()  # prompt_vocabulary(path)
    prompt_examples: tuple[str, ...] = ()

    def to_public(self) -> dict[str, Any]:
        """What GET /models shows: no server paths."""
        r = self.resolution
        return {
            "name": self.name,
            "default": self.default,
            "resolution": {"native": r.native, "min": r.min, "max": r.max, "multiple": r.multiple},
            "scheduler": self.scheduler,
            "default_guidance": self.guidance,
            "prompt_words": list(self.prompt_words),
            "prompt_examples": list(self.prompt_examples),
        }


def check_model_name(name: str) -> str:
    """Refuse a model name that is not one plain directory name (before touching the disk)."""
    if (
        not isinstance(name, str)
        or not _MODEL_NAME.match(name)
        or ".." in name
        or "%" in name
        or "\\" in name
        or "\x00" in name
    ):
        raise ModelError(f"invalid model name {name!r}: use the name of a directory in models/")
    return name


def resolve_model(models_dir: Path, name: str) -> Path:
    """The directory of model `name`, strictly inside `models_dir` after resolving symlinks."""
    root = Path(models_dir).resolve()
    try:
        check_model_name(name)
    except ModelError as e:
        raise ModelError(f"{e}; available: {_available(root)}") from None
    try:
        path = (root / name).resolve(strict=True)
    except (FileNotFoundError, RuntimeError, OSError):
        raise ModelError(_not_found(root, name)) from None
    if path.parent != root or not path.is_dir():
        # A symlink out of the models directory, or into a nested folder of it.
        raise ModelError(_not_found(root, name))
    if not (path / "model_index.json").is_file():
        raise ModelError(_not_found(root, name))
    return path


def _available(root: Path) -> str:
    return ", ".join(m.name for m in list_models(root)) or "none"


def _not_found(root: Path, name: str) -> str:
    return f"unknown model {name!r}; available: {_available(root)}"


def _read_json(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ModelError(f"{path.name} is not a JSON object")
    return data


def model_resolution(path: Path) -> Resolution:
    """Native size = unet sample_size * 2 ** (len(vae block_out_channels) - 1)."""
    unet = _read_json(path / "unet" / "config.json")
    vae = _read_json(path / "vae" / "config.json")
    factor = 2 ** (len(vae.get("block_out_channels", [0])) - 1)
    sample = unet.get("sample_size", 64)
    sample = sample[0] if isinstance(sample, list | tuple) else sample
    native = int(sample) * factor
    low = max(factor, (native // 2) // factor * factor)
    return Resolution(native=native, min=low, max=native * 2, multiple=factor)


def _model_info(root: Path, entry: Path) -> ModelInfo | None:
    """ModelInfo of an SD-1.x-style directory inside root, or None for anything else."""
    try:
        path = entry.resolve(strict=True)
        if path.parent != root or not path.is_dir():
            return None
        index = _read_json(path / "model_index.json")
        if any(not isinstance(index.get(p), list) or index[p][0] is None for p in _REQUIRED_PARTS):
            return None
        sched = _read_json(path / "scheduler" / "scheduler_config.json").get("_class_name", "")
        words, examples = prompt_vocabulary(path)
        return ModelInfo(
            name=entry.name,
            path=path,
            default=entry.name == DEFAULT_MODEL,
            resolution=model_resolution(path),
            scheduler=str(sched),
            guidance=default_guidance(path),
            prompt_words=tuple(words),
            prompt_examples=tuple(examples),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def list_models(models_dir: Path) -> list[ModelInfo]:
    """Every SD-1.x-style diffusers directory in models_dir, the default model first."""
    root = Path(models_dir).resolve()
    if not root.is_dir():
        return []
    found = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith(".") or not _MODEL_NAME.match(entry.name):
            continue
        info = _model_info(root, entry)
        if info is not None:
            found.append(info)
    return sorted(found, key=lambda m: (not m.default, m.name))


def check_safetensors_header(path: Path) -> None:
    """Parse a safetensors header without loading tensors; raise UnsafeWeightsError if invalid.

    Layout: 8 bytes little-endian u64 N, then N bytes of JSON {name: {dtype, shape,
    data_offsets: [begin, end]}, "__metadata__"?: {str: str}}, then the tensor bytes. A pickle
    (b"\\x80\\x02...") or a torch zip (b"PK...") fails at the first or second check.
    """
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise UnsafeWeightsError("too short to be a safetensors file")
        (n,) = struct.unpack("<Q", head)
        if n < 2 or n > _MAX_HEADER or 8 + n > size:
            kind = " (it looks like a pickle)" if head[:1] == b"\x80" else ""
            kind = " (it looks like a zip/torch checkpoint)" if head[:2] == b"PK" else kind
            raise UnsafeWeightsError(f"not a safetensors file{kind}; refusing it")
        raw = f.read(n)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise UnsafeWeightsError("safetensors header is not valid JSON") from None
    if not isinstance(header, dict):
        raise UnsafeWeightsError("safetensors header is not a JSON object")
    data_len = size - 8 - n
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        ok = (
            isinstance(entry, dict)
            and entry.get("dtype") in _SAFETENSORS_DTYPES
            and isinstance(entry.get("shape"), list)
            and isinstance(entry.get("data_offsets"), list)
            and len(entry["data_offsets"]) == 2
            and all(isinstance(o, int) for o in entry["data_offsets"])
            and 0 <= entry["data_offsets"][0] <= entry["data_offsets"][1] <= data_len
        )
        if not ok:
            raise UnsafeWeightsError(f"bad safetensors entry for tensor {key!r}")


def check_safetensors_only(path: Path, parts: tuple[str, ...] | None = None) -> None:
    """Every weight file of the model is a valid .safetensors file; any pickle format refuses it.

    Runs before any load. A directory holding only .bin/.ckpt/.pt weights is refused, and so is
    one holding them next to safetensors files: what is in a model directory is what it ships.
    Files that resolve outside the model directory (symlinks) are refused as well.
    """
    root = Path(path).resolve()
    for f in sorted(root.rglob("*")):
        if not f.is_file():
            continue
        rel = f.relative_to(root).as_posix()
        if not f.resolve().is_relative_to(root):
            raise UnsafeWeightsError(f"{rel} points outside the model directory; refusing it")
        suffix = f.suffix.lower()
        if suffix in _PICKLE_SUFFIXES:
            raise UnsafeWeightsError(
                f"{rel} is a pickle-format weight file; only .safetensors weights are loaded "
                "(convert it with safetensors and remove it)"
            )
        if suffix in _WEIGHT_SUFFIXES and suffix != ".safetensors":
            raise UnsafeWeightsError(f"{rel}: only .safetensors weights are loaded")
        if suffix == ".safetensors":
            try:
                check_safetensors_header(f)
            except UnsafeWeightsError as e:
                raise UnsafeWeightsError(f"{rel}: {e}") from None
    for part in _WEIGHT_PARTS if parts is None else parts:  # "": the directory itself
        if not (root / part).is_dir():
            raise ModelError(f"model {root.name!r} has no {part}/ directory")
        if not any((root / part).glob("*.safetensors")):
            raise UnsafeWeightsError(f"model {root.name!r}: {part}/ has no .safetensors weights")


def _fingerprint(path: Path) -> tuple[int, ...]:
    """Changes when the model directory is rewritten (a retrained house model)."""
    stamps = [(path / "model_index.json").stat().st_mtime_ns]
    for part in _WEIGHT_PARTS:
        stamps += [f.stat().st_mtime_ns for f in sorted((path / part).glob("*.safetensors"))]
    return tuple(stamps)


_cache: dict[tuple[str, str], tuple[tuple[int, ...], Any]] = {}
_cache_lock = threading.Lock()
_load_locks: dict[tuple[str, str], threading.Lock] = {}


@dataclass(frozen=True)
class DeviceSettings:
    """How a pipeline runs on a device: the fastest settings that keep its outputs.

    CPU: float32, default memory layout (the outputs are the reference). CUDA: float16
    weights and activations, channels_last convolutions; attention is diffusers' default
    scaled_dot_product_attention on both. bench/gpu_check.py measures each on a GPU."""

    dtype: torch.dtype = torch.float32
    channels_last: bool = False


def device_settings(device: str) -> DeviceSettings:
    if torch.device(device).type == "cuda":
        return DeviceSettings(torch.float16, channels_last=True)
    return DeviceSettings()


def load_pipeline(path: Path, device: str = "cpu") -> Any:
    """The model's StableDiffusionPipeline on `device`, loaded once per process and cached.

    Thread-safe: concurrent callers for the same model and device wait for one load. The
    cached pipeline is shared, so callers never mutate its scheduler: they build their own
    (schedulers.make_scheduler). Eval mode, no safety checker, the device's settings
    (device_settings: float32 on CPU, float16 + channels_last on CUDA).
    """
    settings = device_settings(device)
    path = Path(path).resolve()
    key = (str(path), str(torch.device(device)))
    with _cache_lock:
        lock = _load_locks.setdefault(key, threading.Lock())
    with lock:
        stamp = _fingerprint(path)
        hit = _cache.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        check_safetensors_only(path)
        pipe = StableDiffusionPipeline.from_pretrained(
            path,
            use_safetensors=True,
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
            dtype=torch.float32,
            local_files_only=True,
        )
        pipe.set_progress_bar_config(disable=True)
        pipe = pipe.to(device, settings.dtype)
        for module in (pipe.unet, pipe.vae, pipe.text_encoder):
            module.eval().requires_grad_(False)
        if settings.channels_last:
            pipe.unet.to(memory_format=torch.channels_last)
            pipe.vae.to(memory_format=torch.channels_last)
        keep_processor_signatures(pipe.unet)
        with _cache_lock:
            _cache[key] = (stamp, pipe)
        heap.loaded()  # a worker's collector stops walking the model (difflab/heap.py)
        return pipe


def clear_pipeline_cache() -> None:
    """Forget every loaded pipeline (tests; a worker that must free memory)."""
    with _cache_lock:
        _cache.clear()

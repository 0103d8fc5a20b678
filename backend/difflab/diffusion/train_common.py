"""What the training stages share: dataset parameters, data batches, devices, LR schedule.

Every random choice of a training step (which samples, which noise, which timesteps) comes
from a generator seeded by (seed, step), so a run resumed from a checkpoint at step k draws
exactly what an uninterrupted run draws at step k + 1.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

import numpy as np
import torch
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from difflab.datasets import uploads
from difflab.datasets.imagefolder import DatasetError, ImageFolderDataset
from difflab.datasets.shapes import Holdout, ShapesDataset
from difflab.diffusion.checkpoint import load_checkpoint
from difflab.runtime import ParamError, RunContext, Sink, SubmitContext

_MODEL_NAME = re.compile(r"^[A-Za-z0-9_\-][A-Za-z0-9_.\-]{0,63}$")


class DataParams(BaseModel):
    """Dataset fields every stage takes."""

    model_config = ConfigDict(extra="forbid")

    dataset: str = Field(
        "shapes",
        pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$",
        description="Training data: 'shapes' (built in), the name of a dataset uploaded at "
        "POST /api/v1/datasets, or 'imagefolder' (a server directory, data_path).",
    )
    data_path: str = Field(
        "",
        max_length=500,
        description="imagefolder only: a directory on the server holding metadata.jsonl.",
    )
    train_samples: int = Field(
        20_000, ge=16, le=1_000_000, description="shapes only: size of the training split."
    )
    val_samples: int = Field(256, ge=8, le=10_000, description="Size of the validation split.")
    resolution: int = Field(64, ge=32, le=512, multiple_of=8, description="Image side in pixels.")
    crop: Literal["center", "random"] = Field(
        "center",
        description="Your images (imagefolder, uploaded): after the shorter side is resized "
        "to the resolution, the centre square or one at a random place (drawn per image from "
        "the seed).",
    )
    holdout: Holdout = Field(
        "none",
        description="shapes only: 'compositions' keeps every scene holding one of the 12 "
        "held-out color x shape x position triples (shapes.HELD_OUT_COMPOSITIONS) out of both "
        "splits, for eval to measure composition; 'none' trains on them all.",
    )
    seed: int = Field(0, ge=0, le=2**31 - 1, description="Seed of data order, init and noise.")
    cpu_threads: int = Field(
        0, ge=0, le=256, description="CPU only: torch threads; 0 uses every core."
    )


D = TypeVar("D", bound=DataParams)


class OutputParams(BaseModel):
    """The model a training kind writes (see diffusion/outputs.py)."""

    output: str = Field(
        "",
        max_length=64,
        description="Model directory to write; empty: a new name (<kind>-<date>-<n>).",
    )
    overwrite: bool = Field(
        False,
        description="Replace `output` if it exists; the old version stays until this job succeeds.",
    )


def dataset_root(p: DataParams, data_dir: Path) -> Path | None:
    """The directory of an imagefolder or uploaded dataset (None for shapes)."""
    if p.dataset == "shapes":
        return None
    if p.dataset == "imagefolder":
        return Path(p.data_path)
    return uploads.dataset_path(data_dir, p.dataset)


def check_data(p: D, ctx: SubmitContext) -> D:
    """The dataset can be opened: what open_dataset would refuse, refused at submit."""
    if p.dataset == "shapes":
        if p.crop != "center":
            raise ParamError("crop", "shapes are drawn at the resolution: nothing to crop")
        return p
    if p.holdout != "none":
        raise ParamError("holdout", "applies to dataset 'shapes' only")
    if p.dataset != "imagefolder":
        if p.data_path:
            raise ParamError("data_path", "applies to dataset 'imagefolder' only")
        root = dataset_root(p, ctx.data_dir)
        assert root is not None
        if not (root / uploads.METADATA).is_file():
            raise ParamError(
                "dataset",
                f"no dataset {p.dataset!r}: 'shapes', 'imagefolder' or an uploaded dataset's "
                "name (GET /api/v1/datasets)",
            )
        return p  # checked whole when it was uploaded
    if not p.data_path:
        raise ParamError("data_path", "required when dataset is 'imagefolder'")
    try:  # every image opened at submit, as open_dataset will (the worker's repeat skips it)
        ImageFolderDataset(p.data_path, resolution=p.resolution, verify_images=ctx.at_submit)
    except DatasetError as exc:
        raise ParamError("data_path", str(exc)) from None
    return p


class Captioned(Protocol):
    @property
    def image(self) -> Image.Image: ...
    @property
    def caption(self) -> str: ...


class CaptionedDataset(Protocol):
    def __len__(self) -> int: ...
    def __getitem__(self, index: int) -> Captioned: ...
    def captions(self) -> list[str]: ...


class _Subset:
    """Some items of an imagefolder, by index."""

    def __init__(self, base: ImageFolderDataset, indices: list[int]) -> None:
        self.base, self.indices = base, indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> Captioned:
        return self.base[self.indices[index]]

    def captions(self) -> list[str]:
        all_captions = self.base.captions()
        return [all_captions[i] for i in self.indices]


def open_dataset(p: DataParams, split: Literal["train", "val"], data_dir: Path) -> CaptionedDataset:
    """The train or val split. An imagefolder or an uploaded dataset is split by a seeded
    permutation (5% val)."""
    root = dataset_root(p, data_dir)
    if root is None:
        n = p.train_samples if split == "train" else p.val_samples
        return ShapesDataset(
            n, split=split, seed=p.seed, resolution=p.resolution, holdout=p.holdout
        )
    if not str(root):
        raise ValueError("data_path: required when dataset is 'imagefolder'")
    base = ImageFolderDataset(root, resolution=p.resolution, crop=p.crop, seed=p.seed)
    order = np.random.default_rng(p.seed).permutation(len(base)).tolist()
    n_val = max(1, min(p.val_samples, len(base) // 20)) if len(base) > 1 else 0
    val, train = order[:n_val], order[n_val:] or order
    return _Subset(base, train if split == "train" else (val or train))


def pil_to_tensor(images: list[Image.Image]) -> torch.Tensor:
    """PIL RGB images -> (B, 3, H, W) float32 in [-1, 1]."""
    arr = np.stack([np.asarray(im.convert("RGB"), dtype=np.uint8) for im in images])
    x = torch.from_numpy(arr).permute(0, 3, 1, 2).float()
    return x / 127.5 - 1.0


def tensor_to_pil(x: torch.Tensor) -> list[Image.Image]:
    """(B, 3, H, W) in [-1, 1] -> PIL images."""
    arr = ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return [Image.fromarray(a.permute(1, 2, 0).cpu().numpy()) for a in arr]


def batch(ds: CaptionedDataset, indices: list[int]) -> tuple[torch.Tensor, list[str]]:
    items = [ds[i] for i in indices]
    return pil_to_tensor([it.image for it in items]), [it.caption for it in items]


def image_grid(images: list[Image.Image], cols: int) -> Image.Image:
    w, h = images[0].size
    rows = math.ceil(len(images) / cols)
    grid = Image.new("RGB", (cols * w, rows * h), (255, 255, 255))
    for i, im in enumerate(images):
        grid.paste(im, ((i % cols) * w, (i // cols) * h))
    return grid


def step_generator(seed: int, step: int) -> torch.Generator:
    """The generator of all random draws of one step: a function of (seed, step) only."""
    return torch.Generator().manual_seed(seed * 1_000_003 + step)


def lr_at(step: int, base_lr: float, warmup: int, total: int, min_ratio: float = 0.1) -> float:
    """Linear warm-up over `warmup` steps, then cosine decay to `min_ratio * base_lr`."""
    if step < warmup:
        return base_lr * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return base_lr * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    for group in opt.param_groups:
        group["lr"] = lr


def setup_device(ctx: RunContext, cpu_threads: int = 0) -> torch.device:
    """The job's device; on the CPU, every core unless `cpu_threads` says how many."""
    device = torch.device(ctx.device)
    if device.type == "cpu":
        torch.set_num_threads(cpu_threads or os.cpu_count() or 1)
    return device


def setup_ranks(ctx: RunContext, cpu_threads: int, acc: Any) -> tuple[torch.device, int, int]:
    """The device, this process's rank and the process count: (setup_device, 0, 1) alone; one
    rank of several (distributed.py) takes the Accelerator's device and, on the CPU, its share
    of the cores unless `cpu_threads` says how many."""
    if acc is None:
        return setup_device(ctx, cpu_threads), 0, 1
    if acc.device.type == "cpu":
        torch.set_num_threads(cpu_threads or max(1, (os.cpu_count() or 1) // acc.num_processes))
    return acc.device, acc.process_index, acc.num_processes


def check_split(batch_size: int, processes: int) -> None:
    """The global batch splits evenly among the processes (ParamError naming batch_size)."""
    if batch_size % processes:
        raise ParamError("batch_size", f"{batch_size} does not split among {processes} processes")


def autocast(device: torch.device) -> contextlib.AbstractContextManager[None]:
    """bf16 autocast on CUDA, plain float32 elsewhere."""
    if device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def model_dir(ctx: RunContext | SubmitContext, name: str) -> Path:
    """A model directory inside ctx.models_dir; the name is one plain path segment."""
    if not _MODEL_NAME.match(name) or name in {".", ".."}:
        raise ValueError(f"invalid model name: {name!r}")
    return ctx.models_dir / name


def chunks(n: int, size: int) -> Iterator[list[int]]:
    for start in range(0, n, size):
        yield list(range(start, min(n, start + size)))


def grad_norm(params: list[torch.nn.Parameter]) -> float:
    grads = [p.grad.detach().norm() for p in params if p.grad is not None]
    return float(torch.stack(grads).norm()) if grads else 0.0


class TrainLog:
    """The training metrics of every stage: the loss averaged over a logging window, the
    last lr and grad norm, and the throughput of the window (samples per second)."""

    def __init__(self, sink: Sink, every: int, total: int) -> None:
        self.sink, self.every, self.total = sink, every, total
        self._new_window()

    def _new_window(self) -> None:
        self.t0, self.seen, self.loss_sum, self.loss_n = time.perf_counter(), 0, 0.0, 0

    def restart_clock(self) -> None:
        """After work that is not training (sampling, evaluation): it does not count as time."""
        self.t0 = time.perf_counter()

    def update(self, done: int, loss: float, lr: float, gnorm: float, samples: int) -> None:
        self.loss_sum, self.loss_n, self.seen = (
            self.loss_sum + loss,
            self.loss_n + 1,
            self.seen + samples,
        )
        if done % self.every == 0 or done == self.total:
            dt = time.perf_counter() - self.t0
            self.sink.metric(done, {
                "train/loss": self.loss_sum / self.loss_n,
                "lr": lr,
                "grad_norm": gnorm,
                "samples_per_s": self.seen / max(dt, 1e-9),
            })  # fmt: skip
            self._new_window()


def resume_stage(
    ckpt_path: Path, model: torch.nn.Module, opt: torch.optim.Optimizer, sink: Sink, stage: str
) -> tuple[int, float]:
    """Load a stage's last checkpoint (model, optimizer, RNG) if there is one: (step, best)."""
    if not ckpt_path.exists():
        return 0, float("inf")
    state = load_checkpoint(ckpt_path)
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["rng"])
    start, best = int(state["step"]), float(state["best"])
    sink.log(f"resumed {stage} stage at step {start}")
    return start, best

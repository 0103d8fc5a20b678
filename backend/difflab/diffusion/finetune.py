"""The `finetune` kind: continue a model's U-Net on a dataset, as diffusers' train_text_to_image
example does, and write the result as a new model.

Every weight of the U-Net trains (a LoRA, the `lora` kind, trains a low-rank update instead),
and with `train_text_encoder` every weight of the text encoder too; the VAE stays frozen. The
loss is the model's own: noise (or v) prediction in the frozen VAE's latent space, Min-SNR
weighted, with the source model's noise schedule; the weights saved are an exponential moving
average; latents (and, with a frozen encoder, text states) are computed once; gradient
checkpointing trades compute for memory; on CUDA the forward runs in bf16. It shares the `unet`
stage's loop (train_unet.train_loop): the same seeded draws, checkpoints and resume, validation
loss and probe samples, and `processes` for data-parallel training.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

from diffusers import UNet2DConditionModel
from pydantic import Field

from difflab.diffusion import distributed
from difflab.diffusion.models import default_guidance, model_resolution
from difflab.diffusion.outputs import WHOLE, output_kind
from difflab.diffusion.train_common import (
    DataParams,
    OutputParams,
    check_data,
    check_split,
    model_dir,
)
from difflab.diffusion.train_unet import Trainer, train_loop
from difflab.runtime import KindSpec, ParamError, RunContext, Sink, SubmitContext

PARTS = ("tokenizer", "text_encoder", "vae", "unet", "scheduler")


class Params(DataParams, OutputParams):
    """Parameters of the `finetune` kind."""

    model: str = Field("house", description="The model whose U-Net training continues.")
    resolution: int = Field(  # type: ignore[assignment]
        0,
        ge=0,
        le=1024,
        multiple_of=8,
        description="Image side in pixels; 0: the model's native size.",
    )
    train_samples: int = Field(
        2000, ge=16, le=1_000_000, description="shapes only: size of the training split."
    )
    val_samples: int = Field(64, ge=8, le=10_000, description="Size of the validation split.")
    steps: int = Field(500, ge=1, le=1_000_000, description="Optimizer steps.")
    batch_size: int = Field(16, ge=1, le=4096, description="Images per step (global).")
    lr: float = Field(1e-4, gt=0, le=1.0, description="Peak learning rate (AdamW).")
    warmup_steps: int = Field(50, ge=0, le=100_000, description="Linear LR warm-up steps.")
    weight_decay: float = Field(1e-2, ge=0, le=1.0, description="AdamW weight decay.")
    caption_dropout: float = Field(0.05, ge=0, le=0.5, description="P(caption replaced by '').")
    min_snr_gamma: float = Field(5.0, ge=0, le=100, description="Min-SNR weighting; 0 is off.")
    ema_decay: float = Field(0.999, ge=0, le=1, description="EMA decay (warm-up power 3/4).")
    train_text_encoder: bool = Field(
        False,
        description="Train the text encoder too (its states are then computed every step): "
        "teaches the model words its encoder does not place well yet.",
    )
    gradient_checkpointing: bool = Field(
        False, description="Recompute activations in the backward pass: less memory, slower."
    )
    sample_every: int = Field(100, ge=1, le=1_000_000, description="Probe samples every N.")
    probe_guidance: float = Field(
        0.0, ge=0, le=30, description="CFG scale of probe samples; 0: the model's own."
    )
    probe_steps: int = Field(20, ge=1, le=200, description="DDIM steps of probe samples.")
    probe_size: int = Field(
        16, ge=4, le=1024, description="shapes: probe prompts scored for adherence."
    )
    probe_adherence: bool = Field(
        True, description="shapes: score probe samples with the attribute classifier."
    )
    checkpoint_every: int = Field(100, ge=1, le=1_000_000, description="Checkpoint every N.")
    log_every: int = Field(10, ge=1, le=100_000, description="Emit train metrics every N.")
    resume: bool = Field(False, description="Continue from this job's last checkpoint.")
    processes: int = Field(
        1,
        ge=1,
        le=64,
        description="Data-parallel processes (torchrun + Accelerate over DDP); batch_size is "
        "the global batch, split among them.",
    )


class FinetuneTrainer(Trainer):
    """The unet stage's trainer, starting from the source model's U-Net and schedule."""

    stage = "finetune"

    def build(self, src: Path) -> tuple[UNet2DConditionModel, dict[str, Any]]:
        unet = UNet2DConditionModel.from_pretrained(src / "unet")
        unet.requires_grad_(True)
        if cast(Params, self.p).gradient_checkpointing:
            unet.enable_gradient_checkpointing()
        unet.train()
        sched = json.loads((src / "scheduler" / "scheduler_config.json").read_text())
        return unet, sched


def check(p: Params, ctx: SubmitContext) -> Params:
    """The source is a whole pipeline; what the request left open (the resolution, the probe
    guidance) is the model's own."""
    check_split(p.batch_size, p.processes)
    try:
        src = model_dir(ctx, p.model)
    except ValueError as exc:
        raise ParamError("model", str(exc)) from None
    missing = [part for part in PARTS if not (src / part).is_dir()]
    if not src.is_dir() or missing:
        why = "is not in the models directory" if not src.is_dir() else f"has no {missing}"
        raise ParamError("model", f"model {p.model!r} {why}")
    update: dict[str, Any] = {}
    if not p.resolution:
        update["resolution"] = model_resolution(src).native
    if not p.probe_guidance:
        update["probe_guidance"] = default_guidance(src)
    p = p.model_copy(update=update)
    check_data(p, ctx)
    return p


def train_into(p: Params, sink: Sink, ctx: RunContext, out_dir: Path) -> dict[str, Any]:
    if p.processes > 1:
        extra = {"out_dir": str(out_dir)}
        return distributed.launch("difflab.diffusion.finetune", p, sink, ctx, p.processes, extra)
    return train_loop(p, sink, ctx, out_dir, trainer=FinetuneTrainer)


def train_rank(p: Params, sink: Sink, ctx: RunContext, out_dir: str) -> dict[str, Any]:
    """One of several processes (distributed.main)."""
    acc = distributed.accelerator(ctx)
    return train_loop(p, sink, ctx, Path(out_dir), acc=acc, trainer=FinetuneTrainer)


run, prepare = output_kind("finetune", WHOLE, train_into, check)


SPEC = KindSpec(
    name="finetune",
    params=Params,
    run=run,
    prepare=prepare,
    writes_model=("output",),
    queue="gpu",
    admin_only=True,
    title="Fine-tune a model",
    description="Continue a model's U-Net on a dataset (EMA, Min-SNR, cached latents, "
    "optional gradient checkpointing, bf16 on CUDA); writes a new model directory.",
    category="training",
)

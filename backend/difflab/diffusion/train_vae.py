"""Stage 2 (`vae`): diffusers AutoencoderKL, factor 8, 4 latent channels (64x64x3 -> 8x8x4).

Loss (the KL-regularized autoencoder of Rombach et al., without the GAN term):
    L = |x - D(z)|_1 + lambda |x - D(z)|_2^2 + beta * KL(q(z|x) || N(0, I)),
    z ~ q(z|x) = N(mu(x), sigma(x)^2)
After training, the latent scaling factor is measured from data as SD's was: 1 / std of
latents of training images, so that scaled latents have unit variance for the diffusion
model. It is saved in the VAE config (`scaling_factor`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKL
from pydantic import Field

from difflab.diffusion.checkpoint import save_checkpoint
from difflab.diffusion.outputs import output_kind
from difflab.diffusion.train_common import (
    DataParams,
    OutputParams,
    TrainLog,
    autocast,
    batch,
    check_data,
    chunks,
    image_grid,
    lr_at,
    open_dataset,
    resume_stage,
    set_lr,
    setup_device,
    step_generator,
    tensor_to_pil,
)
from difflab.runtime import KindSpec, RunContext, Sink
from difflab.train_loop import run_loop


class Params(DataParams, OutputParams):
    """Parameters of the `vae` stage."""

    steps: int = Field(1500, ge=1, le=1_000_000, description="Joint encoder+decoder steps.")
    decoder_steps: int = Field(
        0,
        ge=0,
        le=1_000_000,
        description="Decoder-only steps after the joint ones (the latent space stays fixed).",
    )
    decoder_lr: float = Field(
        5e-4, gt=0, le=1.0, description="Peak LR of the decoder-only steps (cosine, no warm-up)."
    )
    batch_size: int = Field(32, ge=1, le=1024, description="Images (or crops) per joint step.")
    crop_size: int = Field(
        0,
        ge=0,
        le=1024,
        multiple_of=8,
        description="Joint steps train on crops of this size around objects (0: whole images).",
    )
    crop_focus: float = Field(
        0.8, ge=0, le=1, description="Share of crops centered on an object pixel; others random."
    )
    decoder_batch_size: int = Field(
        16, ge=1, le=1024, description="Whole images per decoder-only step."
    )
    lr: float = Field(1e-3, gt=0, le=1.0, description="Peak learning rate (AdamW).")
    warmup_steps: int = Field(50, ge=0, le=100_000, description="Linear LR warm-up steps.")
    base_channels: int = Field(
        16,
        ge=16,
        le=256,
        multiple_of=16,
        description="Channels of the first level; the four levels have 1x, 2x, 4x, 4x.",
    )
    layers_per_block: int = Field(1, ge=1, le=4, description="ResNet blocks per level.")
    norm_groups: int = Field(
        4, ge=1, le=64, description="GroupNorm groups; few groups keep absolute color levels."
    )
    kl_weight: float = Field(1e-6, ge=0, le=1.0, description="beta: weight of the KL term.")
    mse_weight: float = Field(1.0, ge=0, le=100, description="Weight of the added L2 term.")
    foreground_weight: float = Field(
        0.0,
        ge=0,
        le=100,
        description="Extra loss weight of pixels unlike the image's median color (0: off).",
    )
    init_logvar: float = Field(
        -8.0, ge=-20, le=0, description="Initial posterior log-variance (bias of quant_conv)."
    )
    scaling_samples: int = Field(
        1024, ge=8, le=100_000, description="Training images used to measure the scaling."
    )
    resume: bool = Field(False, description="Continue from this stage's last checkpoint.")
    eval_every: int = Field(250, ge=1, le=1_000_000, description="Validate every N steps.")
    checkpoint_every: int = Field(250, ge=1, le=1_000_000, description="Checkpoint every N.")
    log_every: int = Field(10, ge=1, le=100_000, description="Emit train metrics every N.")


def build_vae(p: Params) -> AutoencoderKL:
    c = p.base_channels
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,  # 3 downsamplings: factor 8
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(c, 2 * c, 4 * c, 4 * c),
        layers_per_block=p.layers_per_block,
        latent_channels=4,
        norm_num_groups=p.norm_groups,
        sample_size=p.resolution,
    )
    # quant_conv maps encoder features to (mu, log sigma^2), 4 channels each. Starting the
    # log-variance at init_logvar (sigma = 0.02 at -8) lets the decoder see the encoder's
    # signal from the first step instead of unit noise; the KL term is free to move it.
    with torch.no_grad():
        vae.quant_conv.bias[4:].fill_(p.init_logvar)
    return vae


def foreground_mask(x: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W), 1 where a pixel is unlike the image's median color: on flat-background
    data, the objects."""
    bg = x.flatten(2).median(dim=2).values[..., None, None]  # (B, 3, 1, 1)
    return ((x - bg).abs().amax(dim=1, keepdim=True) > 0.1).float()


def pixel_weights(x: torch.Tensor, foreground_weight: float) -> torch.Tensor:
    """(B, 1, H, W) loss weights, mean 1 per image: 1 + foreground_weight on the foreground
    mask. Objects cover a few percent of a shapes image; unweighted, their colors are
    learned last."""
    w = 1.0 + foreground_weight * foreground_mask(x)
    return w / w.mean(dim=(1, 2, 3), keepdim=True)


def object_crops(
    x: torch.Tensor, size: int, focus: float, generator: torch.Generator
) -> torch.Tensor:
    """(B, 3, size, size) crops of x, with origins on the 8-pixel grid of the latents.

    A share `focus` of the crops is centered (up to a quarter-crop jitter) on a random
    foreground pixel, the rest are uniform. The autoencoder is convolutional, so a crop on the
    latent grid trains nearly as that part of a whole image would (borders aside); on shapes, where
    the objects are a few percent of the pixels, a 32-pixel crop costs a quarter of a whole
    image and nearly always holds the object. Whole images come back in decoder-only steps."""
    b, _, h, w = x.shape
    if size <= 0 or size >= min(h, w):
        return x
    fg = foreground_mask(x)
    u = torch.rand(b, 4, generator=generator)
    out = []
    for i in range(b):
        ys, xs = torch.nonzero(fg[i, 0] > 0, as_tuple=True)
        if len(ys) and float(u[i, 0]) < focus:
            k = int(float(u[i, 1]) * len(ys))
            jy, jx = (float(u[i, 2]) - 0.5) * size / 2, (float(u[i, 3]) - 0.5) * size / 2
            cy, cx = float(ys[k]) - size / 2 + jy, float(xs[k]) - size / 2 + jx
        else:
            cy, cx = float(u[i, 2]) * (h - size), float(u[i, 3]) * (w - size)
        y0 = min(max(round(cy / 8) * 8, 0), (h - size) // 8 * 8)
        x0 = min(max(round(cx / 8) * 8, 0), (w - size) // 8 * 8)
        out.append(x[i, :, y0 : y0 + size, x0 : x0 + size])
    return torch.stack(out)


def vae_loss(
    vae: AutoencoderKL,
    x: torch.Tensor,
    kl_weight: float,
    generator: torch.Generator | None,
    mse_weight: float = 1.0,
    foreground_weight: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, reconstruction L1, kl) for a batch x in [-1, 1] of shape (B, 3, H, W).

    The L2 term weighs large errors (a missing object) above small ones (a slightly off
    background), which L1 alone does not: objects appear in far fewer steps."""
    posterior = vae.encode(x).latent_dist
    # reparameterized sample z = mu + sigma * eps, eps from the step's generator
    eps = torch.randn(posterior.mean.shape, generator=generator).to(x.device)
    z = posterior.mean + posterior.std * eps  # (B, 4, H/8, W/8)
    recon = vae.decode(z).sample
    err = recon.float() - x
    rec = err.abs().mean()
    w = pixel_weights(x, foreground_weight) if foreground_weight > 0 else 1.0
    kl = posterior.kl().mean() / posterior.mean[0].numel()  # per latent element
    weighted = (w * err.abs()).mean() + mse_weight * (w * err.pow(2)).mean()
    return weighted + kl_weight * kl, rec, kl


@torch.no_grad()
def measure_scaling_factor(
    vae: AutoencoderKL, images: list[torch.Tensor], device: torch.device, seed: int = 0
) -> float:
    """1 / std of posterior samples over the given batches (seeded: reproducible)."""
    g = torch.Generator().manual_seed(seed)
    zs = []
    for x in images:
        with autocast(device):
            post = vae.encode(x.to(device)).latent_dist
        eps = torch.randn(post.mean.shape, generator=g)
        zs.append(post.mean.float().cpu() + post.std.float().cpu() * eps)
    return float(1.0 / torch.cat(zs).std())


PARTS = ("vae",)


def train_into(params: Params, sink: Sink, ctx: RunContext, out_dir: Path) -> dict[str, Any]:
    """Train the stage and write vae/ into `out_dir`."""
    p = params
    device = setup_device(ctx, p.cpu_threads)
    torch.manual_seed(p.seed)
    train, val = open_dataset(p, "train", ctx.data_dir), open_dataset(p, "val", ctx.data_dir)
    vae = build_vae(p).to(device)
    opt = torch.optim.AdamW(vae.parameters(), lr=p.lr, weight_decay=0.0)
    ckpt_path = ctx.work_dir / "vae.ckpt.safetensors"
    start, best = 0, float("inf")
    if p.resume:
        start, best = resume_stage(ckpt_path, vae, opt, sink, "vae")
    n_val = min(len(val), 64)
    val_x, _ = batch(val, list(range(n_val)))

    metrics: dict[str, Any] = {}
    total = p.steps + p.decoder_steps
    log = TrainLog(sink, p.log_every, total)

    def train_step(done: int) -> None:
        step = done - 1
        decoder_only = step >= p.steps
        if decoder_only:  # freeze q(z|x): the latents the U-Net will see no longer move
            vae.encoder.requires_grad_(False)
            vae.quant_conv.requires_grad_(False)
        g = step_generator(p.seed, step)
        n = p.decoder_batch_size if decoder_only else p.batch_size
        idx = torch.randint(len(train), (n,), generator=g).tolist()
        x, _ = batch(train, idx)
        if not decoder_only:
            x = object_crops(x, p.crop_size, p.crop_focus, g)
        if decoder_only:
            lr = lr_at(step - p.steps, p.decoder_lr, 0, p.decoder_steps)
        else:
            lr = lr_at(step, p.lr, p.warmup_steps, p.steps)
        set_lr(opt, lr)
        with autocast(device):
            loss, _, _ = vae_loss(
                vae, x.to(device), p.kl_weight, g, p.mse_weight, p.foreground_weight
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = float(torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0))
        opt.step()
        log.update(done, float(loss.detach()), lr, gnorm, len(idx))

    def evaluate(done: int) -> None:
        nonlocal metrics, best
        metrics = validate(vae, val_x, p, device, sink, done)
        best = min(best, metrics["val/loss"])

    def checkpoint(done: int) -> None:
        save_checkpoint(
            ckpt_path,
            {
                "model": vae.state_dict(),
                "optimizer": opt.state_dict(),
                "step": done,
                "best": best,
                "rng": torch.get_rng_state(),
                "params": p.model_dump(),
            },
        )

    run_loop(
        sink,
        total,
        train_step,
        start=start,
        label="vae",
        evaluate=evaluate,
        evaluate_every=p.eval_every,
        checkpoint=checkpoint,
        checkpoint_every=p.checkpoint_every,
    )

    n_scale = min(p.scaling_samples, len(train))
    scale_batches = [batch(train, ix)[0] for ix in chunks(n_scale, 128)]
    scaling = measure_scaling_factor(vae.eval(), scale_batches, device, p.seed)
    sink.metric(total, {"latent/scaling_factor": scaling})
    save_vae(vae, scaling, out_dir / "vae")
    return {"scaling_factor": scaling, "best_val_loss": best, **metrics}


run, prepare = output_kind("vae", PARTS, train_into, check_data)


@torch.no_grad()
def validate(
    vae: AutoencoderKL,
    val_x: torch.Tensor,
    p: Params,
    device: torch.device,
    sink: Sink,
    step: int,
) -> dict[str, float]:
    """Val loss on the posterior mean (no sampling noise) and a reconstructions artifact."""
    vae.eval()
    with autocast(device):
        post = vae.encode(val_x.to(device)).latent_dist
        recon = vae.decode(post.mean).sample.float().cpu()
    vae.train()
    rec = float((recon - val_x).abs().mean())
    mse = float((recon - val_x).pow(2).mean())
    psnr = float(10 * torch.log10(torch.tensor(4.0 / max(mse, 1e-12))))  # peak-to-peak 2
    k = min(16, len(val_x))
    grid = image_grid(tensor_to_pil(val_x[:k]) + tensor_to_pil(recon[:k]), cols=k)
    sink.artifact(
        f"reconstructions/step_{step:06d}.png",
        grid,
        step=step,
        meta={"view": "image", "caption": "top: originals, bottom: reconstructions"},
    )
    values = {"val/loss": rec, "val/psnr": psnr}
    sink.metric(step, values)
    return values


def save_vae(vae: AutoencoderKL, scaling: float, path: Path) -> None:
    vae = vae.to("cpu").eval()
    vae.register_to_config(scaling_factor=scaling)
    vae.save_pretrained(path, safe_serialization=True)


SPEC = KindSpec(
    name="vae",
    params=Params,
    run=run,
    prepare=prepare,
    writes_model=("output",),
    queue="gpu",
    admin_only=True,
    title="Train the autoencoder (VAE)",
    description="AutoencoderKL, factor 8 with 4 latent channels, L1 + KL loss; measures the "
    "latent scaling factor and writes vae/ into the model directory.",
    category="training",
)

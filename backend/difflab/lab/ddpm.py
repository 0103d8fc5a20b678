"""`lab.ddpm`: a denoising diffusion model in pixel space, on the 8×8 digits.

Forward process (fixed, no learning): Gaussian noise is added over T steps,
q(x_t | x_{t-1}) = N(√(1-β_t)·x_{t-1}, β_t·I). With α_t = 1 - β_t and ᾱ_t = Π_{s≤t} α_s the
steps compose into one jump, so x_t is drawn straight from the clean image:

    x_t = √ᾱ_t · x_0 + √(1 - ᾱ_t) · ε,   ε ~ N(0, I)        (`forward_noise`)

and by t = T nearly all of x_0 is gone (ᾱ_T ≈ 0): x_T is standard normal noise.

Training (Algorithm 1 of DDPM): pick an image x_0, a step t and noise ε, form x_t, and train a
network ε_θ(x_t, t) to tell which noise was added: loss = ‖ε - ε_θ(x_t, t)‖².
Sampling (Algorithm 2): start from x_T ~ N(0, I) and step back, t = T..1,

    x_{t-1} = 1/√α_t · (x_t - β_t/√(1 - ᾱ_t) · ε_θ(x_t, t)) + σ_t·z,   z ~ N(0, I)

The network is told t through a sinusoidal embedding (like a transformer's positions). The
noise schedule, add_noise and the reverse step are diffusers' DDPMScheduler; the forward formula
above is also written out here (and tested against it) to draw the noising strip.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, cast

import numpy as np
import torch
from diffusers.schedulers.scheduling_ddpm import DDPMScheduler
from pydantic import ConfigDict, Field
from torch import nn
from torch.nn import functional as F

from difflab.datasets.toy import load_dataset
from difflab.lab.common import emit, image_grid, line_artifact, train_val_split
from difflab.lab.nn import NNCommon, epoch_tag, epoch_tag_zh, fit, make_optimizer
from difflab.runtime import KindSpec, RunContext, Sink


class Params(NNCommon):
    """A small DDPM on the 8×8 digits (optionally upsampled to 16×16)."""

    model_config = ConfigDict(extra="forbid")

    dataset: Literal["digits"] = Field(
        "digits", description="Image set: digits (scikit-learn's 8×8 handwritten digits)."
    )
    image_size: Literal[8, 16] = Field(
        8, description="Side of the images: 8 (as they ship) or 16 (bilinear upsampling)."
    )
    classes: list[Annotated[int, Field(ge=0, le=9)]] = Field(
        default_factory=lambda: list(range(10)),
        min_length=1,
        max_length=10,
        description="Digits to learn (fewer classes: recognizable samples sooner).",
    )
    val_fraction: float = Field(
        0.2, ge=0.05, le=0.5, description="Share of the images held out for validation."
    )
    num_train_timesteps: int = Field(
        100, ge=50, le=1000, description="T, the number of noising steps."
    )
    beta_schedule: Literal["linear", "squaredcos_cap_v2"] = Field(
        "squaredcos_cap_v2",
        description="Noise schedule β_t: linear (scaled so that ᾱ_T ≈ 0 for any T) or "
        "squaredcos_cap_v2 (the cosine schedule of improved DDPM).",
    )
    channels: int = Field(32, ge=8, le=256, description="Feature channels of the denoiser.")
    n_blocks: int = Field(2, ge=1, le=8, description="Residual blocks of the denoiser.")
    n_show: int = Field(16, ge=1, le=64, description="Samples drawn at each sample point.")
    sample_every: int = Field(
        10, ge=1, le=5000, description="Epochs between sample grids (each runs all T steps)."
    )
    lr: float = Field(2e-3, gt=0.0, le=10.0, description="Learning rate (step size).")
    batch_size: int = Field(64, ge=1, le=4096, description="Images per gradient step.")
    epochs: int = Field(30, ge=1, le=5000, description="Passes over the training set.")


def make_scheduler(p: Params) -> DDPMScheduler:
    if p.beta_schedule == "linear":
        # the DDPM paper's 1e-4..0.02 over 1000 steps, scaled to T steps: the same total noise
        k = 1000.0 / p.num_train_timesteps
        return DDPMScheduler(
            num_train_timesteps=p.num_train_timesteps,
            beta_schedule="linear",
            beta_start=1e-4 * k,
            beta_end=0.02 * k,
        )
    return DDPMScheduler(
        num_train_timesteps=p.num_train_timesteps, beta_schedule="squaredcos_cap_v2"
    )


def forward_noise(
    x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, alphas_cumprod: torch.Tensor
) -> torch.Tensor:
    """q(x_t | x_0): x_t = √ᾱ_t·x_0 + √(1 - ᾱ_t)·ε, for a batch (B, C, H, W) and steps t (B,)."""
    abar = alphas_cumprod.to(x0.device)[t].view(-1, 1, 1, 1)
    return abar.sqrt() * x0 + (1.0 - abar).sqrt() * noise


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of integer steps (B,) -> (B, dim): sin and cos of t·ω_k with
    ω_k = 10000^(-k/(dim/2)), the transformer's position code applied to the step."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


class ResBlock(nn.Module):
    """x + conv(act(norm(conv(act(norm(x))) + time)))."""

    def __init__(self, c: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(min(8, c), c)
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.time = nn.Linear(c, c)
        self.norm2 = nn.GroupNorm(min(8, c), c)
        self.drop = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time(temb)[:, :, None, None]  # the step, added to every pixel
        h = self.conv2(self.drop(F.silu(self.norm2(h))))
        return x + h


class Denoiser(nn.Module):
    """ε_θ(x_t, t): a stack of residual conv blocks told the step through its embedding."""

    def __init__(self, channels: int, n_blocks: int, dropout: float) -> None:
        super().__init__()
        self.channels = channels
        self.time_mlp = nn.Sequential(
            nn.Linear(channels, channels), nn.SiLU(), nn.Linear(channels, channels)
        )
        self.conv_in = nn.Conv2d(1, channels, 3, padding=1)
        self.blocks = nn.ModuleList(ResBlock(channels, dropout) for _ in range(n_blocks))
        self.norm_out = nn.GroupNorm(min(8, channels), channels)
        self.conv_out = nn.Conv2d(channels, 1, 3, padding=1)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:  # (B,1,H,W), (B,)
        temb = self.time_mlp(timestep_embedding(t, self.channels))
        h = self.conv_in(x)
        for block in self.blocks:
            h = block(h, temb)
        return self.conv_out(F.silu(self.norm_out(h)))  # predicted ε, (B, 1, H, W)


@torch.no_grad()
def sample(
    model: Denoiser,
    scheduler: DDPMScheduler,
    n: int,
    size: int,
    generator: torch.Generator,
    device: torch.device,
    snapshots: int = 0,
) -> tuple[torch.Tensor, list[tuple[int, torch.Tensor]]]:
    """Algorithm 2: x_T ~ N(0, I), then scheduler.step back to x_0. Returns x_0 (n, 1, H, W)
    and `snapshots` intermediate (t, x_t) pairs, evenly spaced over the chain."""
    scheduler.set_timesteps(scheduler.config["num_train_timesteps"])
    x = torch.randn(n, 1, size, size, generator=generator, device=device)
    timesteps = list(scheduler.timesteps)
    keep = set(np.linspace(0, len(timesteps) - 1, snapshots).round().astype(int).tolist())
    shots: list[tuple[int, torch.Tensor]] = []
    for i, t in enumerate(timesteps):
        if i in keep:
            shots.append((int(t), x.clone()))
        eps = model(x, torch.full((n,), int(t), device=device, dtype=torch.long))
        out = scheduler.step(eps, int(t), x, generator=generator)
        assert not isinstance(out, tuple)
        x = out.prev_sample
    return x, shots


def to_pixels(x: torch.Tensor) -> list[np.ndarray]:
    """(B, 1, H, W) in [-1, 1] -> B arrays (H, W) in [0, 1]."""
    return list(((x[:, 0].clamp(-1, 1) + 1) / 2).cpu().numpy())


def run(p: Params, sink: Sink, ctx: RunContext) -> dict[str, Any]:
    torch.manual_seed(p.seed)
    device = torch.device(ctx.device)
    data = load_dataset("digits")
    keep = np.isin(data.y, p.classes)
    images = torch.tensor(data.X[keep] / 8.0 - 1.0, dtype=torch.float32)  # 0..16 -> [-1, 1]
    images = images.reshape(-1, 1, 8, 8)
    if p.image_size != 8:
        images = F.interpolate(images, size=p.image_size, mode="bilinear", align_corners=False)
    X_tr, X_va, _, _ = train_val_split(images.numpy(), data.y[keep], p.val_fraction, p.seed)
    Xtr = torch.tensor(X_tr, device=device)
    Xva = torch.tensor(X_va[:256], device=device)  # 256 are enough for a steady val/loss

    scheduler = make_scheduler(p)
    T = p.num_train_timesteps
    abar = scheduler.alphas_cumprod  # ᾱ_t, t = 0..T-1
    model = Denoiser(p.channels, p.n_blocks, p.dropout).to(device)
    optimizer = make_optimizer(p.optimizer, model.parameters(), p.lr)

    # fixed noise and steps for the validation loss, so epochs compare on the same draw
    gen = torch.Generator(device=device).manual_seed(p.seed + 1)
    val_t = torch.randint(0, T, (len(Xva),), generator=gen, device=device)
    val_noise = torch.randn(Xva.shape, generator=gen, device=device)
    val_xt = scheduler.add_noise(Xva, val_noise, cast(torch.IntTensor, val_t))

    # the forward process on four validation digits: x_t for t from 0 to T-1
    cols = np.linspace(0, T - 1, 9).round().astype(int)
    strip = []
    for i in range(min(4, len(Xva))):
        x0 = Xva[i : i + 1].expand(len(cols), -1, -1, -1)
        t = torch.tensor(cols, device=device)
        strip += to_pixels(forward_noise(x0, t, val_noise[i : i + 1].expand_as(x0), abar))
    emit(
        sink,
        "forward_strip.png",
        image_grid(strip, len(cols), scale=48 // p.image_size),
        view="image",
        meta={
            "title": "forward process: x_t = √ᾱ_t·x_0 + √(1-ᾱ_t)·ε, t = "
            + ", ".join(str(c) for c in cols),
            "title_zh": "前向加噪过程：x_t = √ᾱ_t·x_0 + √(1-ᾱ_t)·ε，t = "
            + ", ".join(str(c) for c in cols),
            "timesteps": cols.tolist(),
            "alpha_bar": [float(abar[c]) for c in cols],
        },
    )
    ts = list(range(T))
    emit(
        sink,
        "schedule.json",
        line_artifact(
            {
                "ᾱ_t": (ts, abar.tolist()),
                "√ᾱ_t (signal)": (ts, abar.sqrt().tolist()),
                "√(1-ᾱ_t) (noise)": (ts, (1 - abar).sqrt().tolist()),
                "β_t": (ts, scheduler.betas.tolist()),
            },
            f"noise schedule ({p.beta_schedule}, T = {T})",
            title_zh=f"噪声调度（{p.beta_schedule}，T = {T}）",
        ),
        view="line",
    )

    def batch_loss(idx: torch.Tensor) -> torch.Tensor:
        # Algorithm 1: x_0, t ~ U{0..T-1}, ε ~ N(0, I); regress ε from (x_t, t)
        x0 = Xtr[idx]
        t = torch.randint(0, T, (len(x0),), device=device)
        noise = torch.randn_like(x0)
        x_t = scheduler.add_noise(x0, noise, cast(torch.IntTensor, t))
        return F.mse_loss(model(x_t, t), noise)

    def evaluate() -> dict[str, float]:
        return {"val/loss": float(F.mse_loss(model(val_xt, val_t), val_noise))}

    def draw(epoch: int | None, step: int) -> None:
        tag, when = epoch_tag(epoch)
        when_zh = epoch_tag_zh(epoch)
        g = torch.Generator(device=device).manual_seed(p.seed + 2)  # the same x_T every time
        x0, shots = sample(
            model, scheduler, p.n_show, p.image_size, g, device, snapshots=8 if epoch is None else 0
        )
        scale = 48 // p.image_size
        emit(
            sink,
            f"samples/{tag}.png",
            image_grid(to_pixels(x0), 8, scale=scale),
            view="image",
            step=step,
            meta={
                "title": f"samples (fixed x_T), {when}",
                "title_zh": f"采样结果（固定 x_T），{when_zh}",
                "epoch": epoch,
            },
        )
        if shots:
            # rows: four samples; columns: x_t along the reverse chain, then x_0
            rows = []
            for i in range(min(4, p.n_show)):
                rows += to_pixels(torch.stack([x[i] for _, x in shots] + [x0[i]]))
            emit(
                sink,
                "reverse_steps.png",
                image_grid(rows, len(shots) + 1, scale=scale),
                view="image",
                step=step,
                meta={
                    "title": "reverse process: x_t at t = "
                    + ", ".join(str(t) for t, _ in shots)
                    + ", then x_0",
                    "title_zh": "反向去噪过程：t = "
                    + ", ".join(str(t) for t, _ in shots)
                    + " 时的 x_t，最后是 x_0",
                    "timesteps": [t for t, _ in shots],
                },
            )

    def on_epoch(epoch: int, step: int) -> None:
        if epoch % p.sample_every == 0:
            draw(epoch, step)

    result = fit(
        model, optimizer, p, len(Xtr), batch_loss, evaluate, sink, on_epoch=on_epoch, device=device
    )
    with torch.no_grad():
        final = evaluate()
        draw(None, result.steps)
        # the validation loss by step: predicting ε is hardest when little noise was added
        buckets = np.linspace(0, T, 11).astype(int)
        err = (model(val_xt, val_t) - val_noise).pow(2).mean(dim=(1, 2, 3))
        mids, means = [], []
        for lo, hi in zip(buckets[:-1], buckets[1:], strict=True):
            sel = (val_t >= lo) & (val_t < hi)
            if bool(sel.any()):
                mids.append(float((lo + hi - 1) / 2))
                means.append(float(err[sel].mean()))
        emit(
            sink,
            "loss_by_t.json",
            line_artifact(
                {"val loss": (mids, means)},
                "validation loss by step t",
                title_zh="验证集损失随时间步 t 的变化",
            ),
            view="line",
            step=result.steps,
            meta={
                "x_title": "t",
                "x_title_zh": "时间步 t",
                "y_title": "‖ε - ε_θ‖²",
                "y_title_zh": "‖ε - ε_θ‖²",
            },
        )
    return {
        "epochs": result.epochs,
        "steps": result.steps,
        "stopped_early": result.stopped_early,
        "alpha_bar_T": float(abar[-1]),
        "n_parameters": sum(q.numel() for q in model.parameters()),
        **{k.replace("/", "_"): v for k, v in final.items()},
    }


SPEC = KindSpec(
    name="lab.ddpm",
    params=Params,
    run=run,
    queue="gpu",
    admin_only=False,
    category="lab",
    title="Diffusion (DDPM) on digits",
    description="Pixel-space denoising diffusion on 8×8 digits: the forward noising, the "
    "noise-prediction loss, the reverse steps and samples over training.",
)

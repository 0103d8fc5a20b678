"""`lab.gan`: a generative adversarial network on a 2-D point set or on the 8×8 digits.

Two networks play against each other. The generator G turns noise z ~ N(0, I) into a sample
G(z); the discriminator D gives the probability D(x) that x is real. Per step:

    D step: minimize  -log D(x) - log(1 - D(G(z)))      (tell real from generated)
    G step: minimize  -log D(G(z))                       (the "non-saturating" form: fool D)

G never sees the data, only D's gradient; the model of the data is implicit — samples, not a
density. Progress is hard to read from the two losses (each falls when the other player is
weak), so the validation metric is a distance between distributions: the maximum mean
discrepancy (MMD², Gaussian kernel) between held-out real data and generated samples. Early
stopping watches it and restores the best generator.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import numpy as np
import torch
from pydantic import ConfigDict, Field
from torch import nn
from torch.nn import functional as F

from difflab.datasets.toy import load_dataset
from difflab.lab.common import decision_boundary_png, emit, image_grid, scatter_artifact
from difflab.lab.mlp import Activation, build_mlp
from difflab.lab.nn import (
    EarlyStopping,
    NNCommon,
    current_lr,
    epoch_tag,
    epoch_tag_zh,
    grad_norms_per_layer,
    make_optimizer,
    minibatches,
    train_step,
)
from difflab.runtime import KindSpec, RunContext, Sink

BETA1 = 0.5
GanData = Literal["moons", "circles", "blobs", "spirals", "xor", "digits"]


class Params(NNCommon):
    """A GAN of MLPs on a generated 2-D set or on the 8×8 digits."""

    model_config = ConfigDict(extra="forbid")

    dataset: GanData = Field(
        "moons",
        description="Data to imitate: a generated 2-D set (moons, circles, blobs, spirals, xor) "
        "or digits (8×8 images).",
    )
    n_samples: int = Field(
        1000, ge=50, le=20_000, description="Points to generate (2-D sets only)."
    )
    noise: float = Field(
        0.05, ge=0.0, le=2.0, description="Noise of the generated 2-D set (2-D sets only)."
    )
    val_fraction: float = Field(
        0.25, ge=0.05, le=0.5, description="Share of the real data held out for the MMD."
    )
    noise_dim: int = Field(8, ge=1, le=128, description="Dimensions of the generator's input z.")
    hidden_sizes: list[Annotated[int, Field(ge=1, le=1024)]] = Field(
        default_factory=lambda: [64, 64],
        min_length=1,
        max_length=4,
        description="Hidden layers of both networks (the generator's input side first).",
    )
    activation: Activation = Field(
        "leaky_relu", description="Hidden activation: relu, tanh, sigmoid, gelu, leaky_relu."
    )
    d_steps: int = Field(1, ge=1, le=10, description="Discriminator steps per generator step.")
    sample_every: int = Field(10, ge=1, le=5000, description="Epochs between sample artifacts.")
    lr: float = Field(2e-3, gt=0.0, le=10.0, description="Learning rate of both networks.")
    batch_size: int = Field(64, ge=1, le=4096, description="Real examples per step.")
    epochs: int = Field(80, ge=1, le=5000, description="Passes over the real training data.")
    dropout: float = Field(
        0.0,
        ge=0.0,
        le=0.9,
        description="Probability of zeroing a hidden unit of the discriminator during training.",
    )
    patience: int = Field(
        0,
        ge=0,
        le=1000,
        description="Early stopping: epochs without a lower val/mmd before stopping (the best "
        "generator is restored). 0 turns it off.",
    )


def mmd2(x: torch.Tensor, y: torch.Tensor, bandwidth: float) -> torch.Tensor:
    """Squared maximum mean discrepancy with k(a, b) = exp(-‖a - b‖² / (2 h²)) (biased form):
    mean k(x, x') + mean k(y, y') - 2 mean k(x, y). Zero when the samples coincide in law."""

    def k(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.exp(-torch.cdist(a, b).pow(2) / (2.0 * bandwidth**2)).mean()

    return k(x, x) + k(y, y) - 2.0 * k(x, y)


def load_real(p: Params) -> tuple[np.ndarray, int, bool]:
    """The real data as float32 rows: 2-D sets standardized, digits' pixels in [-1, 1]."""
    if p.dataset == "digits":
        X = load_dataset("digits").X / 8.0 - 1.0  # 0..16 -> [-1, 1], the range of tanh
        return X.astype(np.float32), X.shape[1], True
    X = load_dataset(p.dataset, n_samples=p.n_samples, noise=p.noise, seed=p.seed).X
    X = (X - X.mean(0)) / X.std(0)
    return X.astype(np.float32), 2, False


def run(p: Params, sink: Sink, ctx: RunContext) -> dict[str, Any]:
    torch.manual_seed(p.seed)
    device = torch.device(ctx.device)
    X, dim, images = load_real(p)
    order = np.random.default_rng(p.seed).permutation(len(X))
    n_val = max(2, int(round(p.val_fraction * len(X))))
    Xva = torch.tensor(X[order[:n_val]], device=device)
    Xtr = torch.tensor(X[order[n_val:]], device=device)

    hidden = list(p.hidden_sizes)
    G = build_mlp(p.noise_dim, hidden, dim, p.activation, 0.0)
    if images:
        G.add_module("tanh", nn.Tanh())  # pixels in [-1, 1]
    D = build_mlp(dim, hidden[::-1], 1, p.activation, p.dropout)  # a logit: D(x) = σ(logit)
    G.to(device)
    D.to(device)
    opt_g = make_optimizer(p.optimizer, G.parameters(), p.lr)
    opt_d = make_optimizer(p.optimizer, D.parameters(), p.lr)
    for opt in (opt_g, opt_d):
        for group in opt.param_groups:
            if "betas" in group:  # Adam's momentum β1 = 0.5, as is usual for GANs (DCGAN)
                group["betas"] = (BETA1, group["betas"][1])

    gen = torch.Generator(device=device).manual_seed(p.seed + 1)
    z_val = torch.randn(n_val, p.noise_dim, generator=gen, device=device)  # fixed: comparable
    z_show = z_val[:32] if images else z_val
    # median heuristic for the kernel width, from the held-out real data
    bandwidth = float(torch.cdist(Xva, Xva).median()) or 1.0
    half = n_val // 2
    real_vs_real = float(mmd2(Xva[:half], Xtr[: n_val - half], bandwidth))

    ones = torch.ones(1, device=device)
    zeros = torch.zeros(1, device=device)

    def d_loss_of(x_real: torch.Tensor, x_fake: torch.Tensor) -> torch.Tensor:
        real, fake = D(x_real).squeeze(1), D(x_fake).squeeze(1)
        return F.binary_cross_entropy_with_logits(
            real, ones.expand_as(real)
        ) + F.binary_cross_entropy_with_logits(fake, zeros.expand_as(fake))

    def draw(epoch: int | None, step: int) -> None:
        tag, when = epoch_tag(epoch)
        when_zh = epoch_tag_zh(epoch)
        fake = G(z_show)
        if images:
            emit(
                sink,
                f"samples/{tag}.png",
                image_grid([(f.reshape(8, 8).cpu().numpy() + 1) / 2 for f in fake], 8, scale=6),
                view="image",
                step=step,
                meta={
                    "title": f"generated digits (fixed z), {when}",
                    "title_zh": f"生成的数字（固定 z），{when_zh}",
                    "epoch": epoch,
                },
            )
            return
        pts = torch.cat([Xva, fake]).cpu().numpy()
        labels = np.r_[np.zeros(len(Xva)), np.ones(len(fake))]
        emit(
            sink,
            f"samples/{tag}.json",
            scatter_artifact(
                pts,
                labels,
                ["real", "generated"],
                f"held-out real points and generated points, {when}",
                title_zh=f"留出的真实样本点与生成的样本点，{when_zh}",
            ),
            view="scatter",
            step=step,
            meta={"epoch": epoch},
        )

        def d_proba(grid: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                d = torch.sigmoid(D(torch.tensor(grid, dtype=torch.float32, device=device)))
            real = d.cpu().numpy()
            return np.concatenate([1 - real, real], axis=1)  # class 1 = "real"

        emit(
            sink,
            f"discriminator/{tag}.png",
            decision_boundary_png(d_proba, pts, 1 - labels, resolution=160, point_radius=2),
            view="image",
            step=step,
            meta={
                "title": f"where D says real (orange) or generated (blue), {when}",
                "title_zh": f"判别器 D 判为真实（橙色）或生成（蓝色）的区域，{when_zh}",
                "epoch": epoch,
            },
        )

    batch_gen = torch.Generator().manual_seed(p.seed)
    stopper = EarlyStopping(p.patience, mode="min")
    step, epoch, stopped = 0, 0, False
    metrics: dict[str, float] = {}
    for epoch in range(1, p.epochs + 1):
        G.train()
        D.train()
        sums = {"train/d_loss": 0.0, "train/g_loss": 0.0, "train/d_real": 0.0, "train/d_fake": 0.0}
        batches = 0
        for idx in minibatches(len(Xtr), p.batch_size, batch_gen):
            sink.check()
            x_real = Xtr[idx.to(device)]
            for _ in range(p.d_steps):  # D step: generated samples are constants here
                x_fake = G(torch.randn(len(x_real), p.noise_dim, device=device)).detach()
                d_loss = train_step(D, opt_d, d_loss_of(x_real, x_fake), p)
            d_norms = grad_norms_per_layer(D)
            # G step, non-saturating: make D call the generated samples real
            logits = D(G(torch.randn(len(x_real), p.noise_dim, device=device))).squeeze(1)
            g_loss = train_step(
                G, opt_g, F.binary_cross_entropy_with_logits(logits, ones.expand_as(logits)), p
            )
            with torch.no_grad():
                sums["train/d_real"] += float(torch.sigmoid(D(x_real)).mean())
                sums["train/d_fake"] += float(torch.sigmoid(logits).mean())
            sums["train/d_loss"] += d_loss
            sums["train/g_loss"] += g_loss
            batches += 1
            step += 1
        g_norms = grad_norms_per_layer(G)
        G.eval()
        D.eval()
        with torch.no_grad():
            mmd = float(mmd2(Xva, G(z_val), bandwidth))
            metrics = {k: v / batches for k, v in sums.items()}
            metrics["val/mmd"] = mmd
            metrics["lr"] = current_lr(opt_g)
            metrics["grad_norm/D"] = math.sqrt(sum(v * v for v in d_norms.values()))
            metrics["grad_norm/G"] = math.sqrt(sum(v * v for v in g_norms.values()))
            metrics.update({f"grad_norm/D.{k}": v for k, v in d_norms.items()})
            metrics.update({f"grad_norm/G.{k}": v for k, v in g_norms.items()})
            sink.metric(step, metrics, epoch=epoch)
            sink.progress(epoch, p.epochs, f"epoch {epoch}/{p.epochs}")
            if epoch % p.sample_every == 0 or epoch == 1:
                draw(epoch, step)
        if stopper.update(mmd, G):
            stopped = True
            sink.log(
                f"early stopping at epoch {epoch}: best val/mmd {stopper.best:.4g} "
                f"at epoch {stopper.best_epoch + 1}"
            )
            sink.progress(p.epochs, p.epochs, f"stopped early at epoch {epoch}")
            break
    if p.patience > 0:
        stopper.restore(G)
    G.eval()
    D.eval()
    with torch.no_grad():
        final_mmd = float(mmd2(Xva, G(z_val), bandwidth))
        draw(None, step)
    return {
        "epochs": epoch,
        "steps": step,
        "stopped_early": stopped,
        "val_mmd": final_mmd,
        "real_vs_real_mmd": real_vs_real,
        "best_epoch": stopper.best_epoch + 1,
        "d_loss": metrics.get("train/d_loss"),
        "g_loss": metrics.get("train/g_loss"),
    }


SPEC = KindSpec(
    name="lab.gan",
    params=Params,
    run=run,
    queue="gpu",
    admin_only=False,
    category="lab",
    title="Generative adversarial network",
    description="A generator and a discriminator trained against each other on 2-D points or "
    "digits; both losses, the MMD to held-out data and samples over training.",
)

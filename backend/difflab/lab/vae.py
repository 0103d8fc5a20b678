"""`lab.vae`: a variational autoencoder of the 8×8 digits.

The encoder does not give one code per image but a Gaussian over codes, q(z|x) = N(μ(x), σ²(x)):
it outputs μ and log σ². A code is drawn with the reparameterization trick,

    z = μ + σ · ε,   ε ~ N(0, I)

so the randomness sits in ε and z is a differentiable function of μ and σ — gradients reach
the encoder through the sample. The decoder gives Bernoulli pixel probabilities p(x|z).
The loss per image is the negative evidence lower bound, with a weight β on the second term:

    recon = -log p(x|z)          (binary cross-entropy summed over the 64 pixels)
    KL    = KL(q(z|x) ‖ N(0, I)) = -½ Σ_j (1 + log σ_j² - μ_j² - σ_j²)
    loss  = recon + β · KL

The KL term pulls every q(z|x) towards the standard normal, so the codes fill the plane
without holes: decoding any z ~ N(0, I) gives a digit, and walking in a straight line between
two codes morphs one digit into another. β > 1 trades reconstruction for a smoother code
(β-VAE); β = 0 leaves an autoencoder with noisy codes.
"""

from __future__ import annotations

from statistics import NormalDist
from typing import Annotated, Any, Literal

import numpy as np
import torch
from pydantic import ConfigDict, Field
from torch import nn
from torch.nn import functional as F

from difflab.lab.autoencoder import DigitSplit, latent_plane
from difflab.lab.common import emit, image_grid, scatter_artifact
from difflab.lab.mlp import Activation, build_mlp
from difflab.lab.nn import NNCommon, epoch_tag, epoch_tag_zh, fit, make_optimizer
from difflab.runtime import KindSpec, RunContext, Sink


class Params(NNCommon):
    """A variational autoencoder of the 8×8 digits."""

    model_config = ConfigDict(extra="forbid")

    dataset: Literal["digits"] = Field(
        "digits", description="Image set: digits (scikit-learn's 8×8 handwritten digits)."
    )
    val_fraction: float = Field(
        0.25, ge=0.05, le=0.5, description="Share of the images held out for validation."
    )
    latent_dim: int = Field(2, ge=1, le=32, description="Dimensions of the code z.")
    hidden_sizes: list[Annotated[int, Field(ge=1, le=1024)]] = Field(
        default_factory=lambda: [128],
        min_length=1,
        max_length=4,
        description="Hidden layers of the encoder (the decoder mirrors them).",
    )
    activation: Activation = Field(
        "relu", description="Hidden activation: relu, tanh, sigmoid, gelu, leaky_relu."
    )
    beta: float = Field(
        1.0, ge=0.0, le=20.0, description="β, the weight of the KL term (1 = the plain VAE)."
    )
    grid_size: int = Field(
        10, ge=2, le=20, description="Rows and columns of the decoded latent grid."
    )
    interpolate_from: int = Field(
        0,
        ge=0,
        le=100_000,
        description="Validation image where the interpolation starts "
        "(taken modulo the number of validation images).",
    )
    interpolate_to: int = Field(
        1,
        ge=0,
        le=100_000,
        description="Validation image where the interpolation ends "
        "(taken modulo the number of validation images).",
    )
    interpolation_steps: int = Field(
        10, ge=3, le=32, description="Images along the interpolation, both ends included."
    )
    artifact_every: int = Field(
        10, ge=1, le=5000, description="Epochs between reconstruction and latent artifacts."
    )
    lr: float = Field(5e-3, gt=0.0, le=10.0, description="Learning rate (step size).")
    batch_size: int = Field(64, ge=1, le=4096, description="Images per gradient step.")
    epochs: int = Field(40, ge=1, le=5000, description="Passes over the training set.")


def reparameterize(
    mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor | None = None
) -> torch.Tensor:
    """z = μ + σ·ε with σ = exp(½ log σ²) and ε ~ N(0, I) (drawn here unless given)."""
    std = torch.exp(0.5 * logvar)
    if eps is None:
        eps = torch.randn_like(std)
    return mu + std * eps


def kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, σ²) ‖ N(0, I)) per row, summed over the latent dims: -½ Σ (1 + log σ² - μ² - σ²)."""
    return -0.5 * (1.0 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)


class VAE(nn.Module):
    def __init__(
        self, n_in: int, hidden: list[int], latent: int, activation: Activation, dropout: float
    ) -> None:
        super().__init__()
        self.latent = latent
        # one network gives both halves of q(z|x): [μ, log σ²]
        self.encoder = build_mlp(n_in, hidden, 2 * latent, activation, dropout)
        self.decoder = build_mlp(latent, hidden[::-1], n_in, activation, dropout)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(x).chunk(2, dim=1)  # (B, latent) each
        return mu, logvar

    def forward(
        self, x: torch.Tensor, eps: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, 64) -> decoder logits of a sampled z (B, 64), μ and log σ² (B, latent)."""
        mu, logvar = self.encode(x)
        z = reparameterize(mu, logvar, eps)
        return self.decoder(z), mu, logvar


def vae_terms(
    model: VAE, x: torch.Tensor, eps: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Batch means of the reconstruction term -log p(x|z) and of KL(q(z|x) ‖ N(0, I))."""
    logits, mu, logvar = model(x, eps)
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)
    return recon.mean(), kl_to_standard_normal(mu, logvar).mean()


def run(p: Params, sink: Sink, ctx: RunContext) -> dict[str, Any]:
    torch.manual_seed(p.seed)
    device = torch.device(ctx.device)
    d = DigitSplit(p.val_fraction, p.seed, device)
    model = VAE(64, list(p.hidden_sizes), p.latent_dim, p.activation, p.dropout).to(device)
    optimizer = make_optimizer(p.optimizer, model.parameters(), p.lr)
    # a fixed ε for the validation pass, so that epochs compare on the same draw
    gen = torch.Generator(device=device).manual_seed(p.seed + 1)
    val_eps = torch.randn(len(d.X_val), p.latent_dim, generator=gen, device=device)

    def batch_loss(idx: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        recon, kl = vae_terms(model, d.X_train[idx])
        return recon + p.beta * kl, {"recon": float(recon.detach()), "kl": float(kl.detach())}

    def evaluate() -> dict[str, float]:
        recon, kl = vae_terms(model, d.X_val, val_eps)
        return {
            "val/loss": float(recon + p.beta * kl),
            "val/recon": float(recon),
            "val/kl": float(kl),
            "val/elbo": -float(recon + kl),  # the bound on log p(x), whatever β
        }

    def draw(epoch: int | None, step: int) -> None:
        tag, when = epoch_tag(epoch)
        when_zh = epoch_tag_zh(epoch)
        idx = d.one_per_class
        mu, _ = model.encode(d.X_val[idx])
        recon = torch.sigmoid(model.decoder(mu))  # decode the mean code
        emit(
            sink,
            f"reconstructions/{tag}.png",
            image_grid(d.as_images(d.X_val[idx]) + d.as_images(recon), 10, scale=6),
            view="image",
            step=step,
            meta={
                "title": f"validation digits (top) and the decoding of their mean code, {when}",
                "title_zh": f"验证集数字（上）及其均值编码的解码结果，{when_zh}",
                "epoch": epoch,
            },
        )
        mu, _ = model.encode(d.X_val)
        emit(
            sink,
            f"latent/{tag}.json",
            scatter_artifact(
                latent_plane(mu.cpu().numpy()),
                d.y_val,
                [str(c) for c in range(10)],
                f"mean codes μ(x) of the validation digits, {when}",
                title_zh=f"验证集数字的均值编码 μ(x)，{when_zh}",
            ),
            view="scatter",
            step=step,
            meta={"epoch": epoch},
        )

    def on_epoch(epoch: int, step: int) -> None:
        if epoch % p.artifact_every == 0 or epoch == 1:
            draw(epoch, step)

    result = fit(
        model,
        optimizer,
        p,
        len(d.X_train),
        batch_loss,
        evaluate,
        sink,
        on_epoch=on_epoch,
        device=device,
    )
    with torch.no_grad():
        final = evaluate()
        draw(None, result.steps)
        n = p.grid_size
        # latent grid: evenly spaced quantiles of N(0, 1) on the first two dims, the rest 0
        q = [NormalDist().inv_cdf(v) for v in np.linspace(0.05, 0.95, n)]
        grid = torch.zeros(n * n, p.latent_dim, device=device)
        for r in range(n):
            for c in range(n):
                grid[r * n + c, 0] = q[c]
                if p.latent_dim > 1:
                    grid[r * n + c, 1] = q[n - 1 - r]
        emit(
            sink,
            "latent_grid.png",
            image_grid(d.as_images(torch.sigmoid(model.decoder(grid))), n, scale=4),
            view="image",
            step=result.steps,
            meta={
                "title": "decoder output over a grid of N(0, I) quantiles (z1 across, z2 up)",
                "title_zh": "解码器在 N(0, I) 分位数网格上的输出（z1 向右，z2 向上）",
            },
        )
        # interpolation: a straight line between the mean codes of two images
        a = p.interpolate_from % len(d.X_val)
        b = p.interpolate_to % len(d.X_val)
        mu, _ = model.encode(d.X_val[[a, b]])
        w = torch.linspace(0.0, 1.0, p.interpolation_steps, device=device)[:, None]
        z = (1 - w) * mu[0] + w * mu[1]
        latent_row = d.as_images(torch.sigmoid(model.decoder(z)))
        pixel_row = d.as_images((1 - w) * d.X_val[a] + w * d.X_val[b])  # for contrast
        emit(
            sink,
            "interpolation.png",
            image_grid(latent_row + pixel_row, p.interpolation_steps, scale=6),
            view="image",
            step=result.steps,
            meta={
                "title": f"from digit {d.y_val[a]} to digit {d.y_val[b]}: through the code "
                "(top) and by blending pixels (bottom)",
                "title_zh": f"从数字 {d.y_val[a]} 到数字 {d.y_val[b]}：在编码空间中插值（上）"
                "与直接混合像素（下）",
            },
        )
        samples = torch.sigmoid(model.decoder(torch.randn(32, p.latent_dim, device=device)))
        emit(
            sink,
            "samples.png",
            image_grid(d.as_images(samples), 8, scale=6),
            view="image",
            step=result.steps,
            meta={"title": "decoded z ~ N(0, I)", "title_zh": "解码 z ~ N(0, I) 得到的样本"},
        )
    return {
        "epochs": result.epochs,
        "steps": result.steps,
        "stopped_early": result.stopped_early,
        **{k.replace("/", "_"): v for k, v in final.items()},
    }


SPEC = KindSpec(
    name="lab.vae",
    params=Params,
    run=run,
    queue="cpu",
    admin_only=False,
    category="lab",
    title="Variational autoencoder",
    description="Codes as Gaussians sampled by the reparameterization trick; reconstruction "
    "and KL terms apart, β, a decoded latent grid and an interpolation between two digits.",
)

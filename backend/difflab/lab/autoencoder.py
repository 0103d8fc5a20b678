"""`lab.autoencoder`: compress the 8×8 digits to a few numbers and rebuild them.

The encoder maps an image x (64 pixels) to a code z = f(x) with far fewer dimensions; the
decoder maps it back, x̂ = g(z). Training minimizes the reconstruction error between x and x̂,
so the code must keep what matters about the image: no labels are used. With a 2-D code the
codes of the validation images can be drawn directly, coloured by the digit they show.
A denoising autoencoder corrupts the input (x + noise) and still asks for the clean x.

The decoded grid over the code plane shows what a plain autoencoder lacks: between the codes
it has seen, the decoder was never asked for anything, so some of the plane decodes to
non-digits — the gap that the VAE (lab.vae) closes by making the code a distribution.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
import torch
from pydantic import ConfigDict, Field
from torch import nn
from torch.nn import functional as F

from difflab.datasets.toy import load_dataset
from difflab.lab.common import emit, image_grid, scatter_artifact, train_val_split
from difflab.lab.mlp import Activation, build_mlp
from difflab.lab.nn import NNCommon, epoch_tag, epoch_tag_zh, fit, make_optimizer
from difflab.runtime import KindSpec, RunContext, Sink


class DigitSplit:
    """The 8×8 digits as flat pixel vectors in [0, 1], split into training and validation."""

    def __init__(self, val_fraction: float, seed: int, device: torch.device) -> None:
        data = load_dataset("digits")
        X = data.X / 16.0  # pixels 0..16 -> [0, 1]
        X_tr, X_va, y_tr, y_va = train_val_split(X, data.y, val_fraction, seed)
        self.side = 8
        self.y_train, self.y_val = y_tr, y_va
        self.X_train = torch.tensor(X_tr, dtype=torch.float32, device=device)  # (N, 64)
        self.X_val = torch.tensor(X_va, dtype=torch.float32, device=device)
        # one validation image of each digit, for reconstruction strips
        self.one_per_class = [int(np.flatnonzero(y_va == c)[0]) for c in range(10)]

    def as_images(self, x: torch.Tensor) -> list[np.ndarray]:
        """(B, 64) -> B arrays of 8×8 in [0, 1]."""
        return list(x.detach().clamp(0, 1).reshape(-1, self.side, self.side).cpu().numpy())


def latent_plane(Z: np.ndarray) -> np.ndarray:
    """Codes as 2-D points: as they are for 2 dims, padded for 1, first two PCs above 2."""
    if Z.shape[1] == 1:
        return np.pad(Z, ((0, 0), (0, 1)))
    if Z.shape[1] == 2:
        return Z
    Zc = Z - Z.mean(axis=0)
    _, _, Vt = np.linalg.svd(Zc, full_matrices=False)
    return Zc @ Vt[:2].T


class Params(NNCommon):
    """An MLP autoencoder of the 8×8 digits."""

    model_config = ConfigDict(extra="forbid")

    dataset: Literal["digits"] = Field(
        "digits", description="Image set: digits (scikit-learn's 8×8 handwritten digits)."
    )
    val_fraction: float = Field(
        0.25, ge=0.05, le=0.5, description="Share of the images held out for validation."
    )
    latent_dim: int = Field(2, ge=1, le=32, description="Dimensions of the code z.")
    hidden_sizes: list[Annotated[int, Field(ge=1, le=1024)]] = Field(
        default_factory=lambda: [64],
        min_length=1,
        max_length=4,
        description="Hidden layers of the encoder (the decoder mirrors them).",
    )
    activation: Activation = Field(
        "relu", description="Hidden activation: relu, tanh, sigmoid, gelu, leaky_relu."
    )
    loss: Literal["bce", "mse"] = Field(
        "bce",
        description="Reconstruction error per pixel: bce (binary cross-entropy on pixels in "
        "[0, 1]) or mse.",
    )
    input_noise: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="Denoising: standard deviation of Gaussian noise added to the encoder's "
        "input (the target stays clean). 0 = a plain autoencoder.",
    )
    artifact_every: int = Field(
        5, ge=1, le=5000, description="Epochs between reconstruction and latent artifacts."
    )
    lr: float = Field(5e-3, gt=0.0, le=10.0, description="Learning rate (step size).")
    batch_size: int = Field(64, ge=1, le=4096, description="Images per gradient step.")
    epochs: int = Field(30, ge=1, le=5000, description="Passes over the training set.")


class Autoencoder(nn.Module):
    def __init__(
        self, n_in: int, hidden: list[int], latent: int, activation: Activation, dropout: float
    ) -> None:
        super().__init__()
        self.encoder = build_mlp(n_in, hidden, latent, activation, dropout)  # x -> z
        self.decoder = build_mlp(latent, hidden[::-1], n_in, activation, dropout)  # z -> logits

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 64) -> reconstruction logits (B, 64) and codes (B, latent)."""
        z = self.encoder(x)
        return self.decoder(z), z


def reconstruction_loss(logits: torch.Tensor, x: torch.Tensor, kind: str) -> torch.Tensor:
    """Mean over the batch of the error summed over pixels; x̂ = sigmoid(logits) ∈ (0, 1)."""
    if kind == "bce":
        per_pixel = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    else:
        per_pixel = (torch.sigmoid(logits) - x).pow(2)
    return per_pixel.sum(1).mean()


def run(p: Params, sink: Sink, ctx: RunContext) -> dict[str, Any]:
    torch.manual_seed(p.seed)
    device = torch.device(ctx.device)
    d = DigitSplit(p.val_fraction, p.seed, device)
    model = Autoencoder(64, list(p.hidden_sizes), p.latent_dim, p.activation, p.dropout)
    model.to(device)
    optimizer = make_optimizer(p.optimizer, model.parameters(), p.lr)
    noise_gen = torch.Generator(device=device).manual_seed(p.seed + 1)
    # fixed corruption of the validation images, so val/loss is comparable between epochs
    val_noise = p.input_noise * torch.randn(d.X_val.shape, generator=noise_gen, device=device)

    def batch_loss(idx: torch.Tensor) -> torch.Tensor:
        x = d.X_train[idx]
        x_in = x + p.input_noise * torch.randn_like(x) if p.input_noise > 0 else x
        logits, _ = model(x_in)
        return reconstruction_loss(logits, x, p.loss)

    def evaluate() -> dict[str, float]:
        logits, _ = model(d.X_val + val_noise)
        return {
            "val/loss": float(reconstruction_loss(logits, d.X_val, p.loss)),
            "val/mse": float((torch.sigmoid(logits) - d.X_val).pow(2).mean()),
        }

    def draw(epoch: int | None, step: int) -> None:
        tag, when = epoch_tag(epoch)
        when_zh = epoch_tag_zh(epoch)
        idx = d.one_per_class
        x_in = d.X_val[idx] + val_noise[idx]
        logits, _ = model(x_in)
        rows = d.as_images(d.X_val[idx])
        if p.input_noise > 0:
            rows += d.as_images(x_in)
        rows += d.as_images(torch.sigmoid(logits))
        emit(
            sink,
            f"reconstructions/{tag}.png",
            image_grid(rows, 10, scale=6),
            view="image",
            step=step,
            meta={
                "title": f"validation digits (top) and their reconstructions, {when}",
                "title_zh": f"验证集数字（上）及其重建结果，{when_zh}",
                "epoch": epoch,
            },
        )
        _, z = model(d.X_val + val_noise)
        emit(
            sink,
            f"latent/{tag}.json",
            scatter_artifact(
                latent_plane(z.cpu().numpy()),
                d.y_val,
                [str(c) for c in range(10)],
                f"codes of the validation digits, {when}",
                title_zh=f"验证集数字的编码，{when_zh}",
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
        if p.latent_dim == 2:
            # decode a grid spanning the codes seen (1st to 99th percentile on each axis)
            _, z = model(d.X_val)
            lo = np.percentile(z.cpu().numpy(), 1, axis=0)
            hi = np.percentile(z.cpu().numpy(), 99, axis=0)
            n = 10
            a, b = np.meshgrid(np.linspace(lo[0], hi[0], n), np.linspace(hi[1], lo[1], n))
            grid = torch.tensor(
                np.column_stack([a.ravel(), b.ravel()]), dtype=torch.float32, device=device
            )
            emit(
                sink,
                "decoded_grid.png",
                image_grid(d.as_images(torch.sigmoid(model.decoder(grid))), n, scale=4),
                view="image",
                step=result.steps,
                meta={
                    "title": "decoder output over a grid of the code plane",
                    "title_zh": "解码器在编码平面网格上的输出",
                },
            )
    return {
        "epochs": result.epochs,
        "steps": result.steps,
        "stopped_early": result.stopped_early,
        **{k.replace("/", "_"): v for k, v in final.items()},
    }


SPEC = KindSpec(
    name="lab.autoencoder",
    params=Params,
    run=run,
    queue="cpu",
    admin_only=False,
    category="lab",
    title="Autoencoder",
    description="An encoder squeezes 8×8 digits into a small code and a decoder rebuilds "
    "them; reconstructions and the 2-D code of every digit over training.",
)

"""`lab.mdn`: a mixture density network on a one-to-many problem, beside an MSE regression.

Bishop's inverted sine: draw y ~ U(0, 1) and set x = y + 0.3·sin(2πy) + ε, ε ~ N(0, noise²).
Read from x to y the relation is not a function: for x near 0.5 there are three y. A network
trained on the squared error learns E[y | x], the average of the branches, which runs through
the gap between them where no data lie.

A mixture density network predicts a whole conditional distribution instead. A small MLP maps
x to K mixing logits, K means and K log standard deviations, and

    p(y | x) = Σ_k π_k(x) · N(y; μ_k(x), σ_k(x)²),    π = softmax(logits),  σ = exp(log σ)

is trained by maximum likelihood, i.e. on the negative log-likelihood

    NLL = −(1/n) Σ_i log Σ_k π_k(x_i) N(y_i; μ_k(x_i), σ_k(x_i)²)

(torch.distributions.MixtureSameFamily evaluates the inner sum as a log-sum-exp). The MSE
baseline is scored on the same scale as a Gaussian N(f(x), s²) with s² its training MSE, the
maximum-likelihood noise of a single-valued model. Both nets train full-batch with Adam.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw
from pydantic import BaseModel, ConfigDict, Field
from torch import nn
from torch.distributions import Categorical, MixtureSameFamily, Normal
from torch.nn import functional as F

from difflab.lab.common import PALETTE, emit, line_artifact, one_thread, train_val_split
from difflab.lab.nn import epoch_tag_zh
from difflab.runtime import KindSpec, RunContext, Sink

LOG_SIGMA_MIN, LOG_SIGMA_MAX = -6.0, 2.0  # keeps σ in [0.0025, 7.4]: no collapse onto a point


class Params(BaseModel):
    """A mixture density network and an MSE regression on Bishop's inverted sine."""

    model_config = ConfigDict(extra="forbid")

    n_samples: int = Field(600, ge=50, le=20000, description="Points to generate.")
    noise: float = Field(
        0.05,
        ge=0.0,
        le=0.5,
        description="Standard deviation of the Gaussian noise added to x = y + 0.3·sin(2πy).",
    )
    val_fraction: float = Field(
        0.25, ge=0.05, le=0.5, description="Share of the data held out for validation."
    )
    n_components: int = Field(
        5, ge=1, le=10, description="K, the number of Gaussians in the mixture p(y | x)."
    )
    hidden_size: int = Field(
        32, ge=2, le=512, description="Units in each of the two tanh hidden layers of both nets."
    )
    epochs: int = Field(
        500, ge=1, le=20000, description="Full-batch Adam steps for each of the two nets."
    )
    lr: float = Field(1e-2, gt=0.0, le=1.0, description="Adam learning rate.")
    frame_every: int = Field(
        50,
        ge=1,
        le=20000,
        description="Epochs between pictures of the mixture density over x.",
    )
    seed: int = Field(
        0, ge=0, le=2**31 - 1, description="Seed of the data, the split and the model."
    )


# --------------------------------------------------------------------------- data


def inverted_sine(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Bishop's inverse problem: y ~ U(0, 1), x = y + 0.3·sin(2πy) + N(0, noise²).

    Returns x and y as float64 arrays of shape (n,). Between x ≈ 0.41 and 0.59 three y share
    one x (the forward map bends back on itself where its slope 1 + 0.6π·cos(2πy) < 0).
    """
    y = rng.uniform(0.0, 1.0, n)
    x = y + 0.3 * np.sin(2.0 * np.pi * y) + rng.normal(0.0, noise, n)
    return x, y


# --------------------------------------------------------------------------- the models


@dataclass
class MixtureOutput:
    """The mixture's parameters at a batch of inputs, each of shape (B, K)."""

    logits: torch.Tensor  # log π_k up to a constant: π = softmax(logits)
    mu: torch.Tensor  # μ_k
    log_sigma: torch.Tensor  # log σ_k

    def distribution(self) -> MixtureSameFamily:
        """p(y | x) as a torch distribution with batch shape (B,)."""
        # validate_args=False: the values are a network's outputs, right by construction, and
        # the checks cost more than the tiny net's forward pass
        return MixtureSameFamily(
            Categorical(logits=self.logits, validate_args=False),
            Normal(self.mu, self.log_sigma.exp(), validate_args=False),
            validate_args=False,
        )


def mlp_body(hidden_size: int) -> nn.Sequential:
    """x (B, 1) → two tanh layers → features (B, hidden_size)."""
    return nn.Sequential(
        nn.Linear(1, hidden_size),
        nn.Tanh(),
        nn.Linear(hidden_size, hidden_size),
        nn.Tanh(),
    )


class MDN(nn.Module):
    """An MLP whose last layer gives the K logits, means and log standard deviations."""

    def __init__(self, hidden_size: int, n_components: int) -> None:
        super().__init__()
        self.n_components = n_components
        self.body = mlp_body(hidden_size)
        self.head = nn.Linear(hidden_size, 3 * n_components)

    def forward(self, x: torch.Tensor) -> MixtureOutput:
        logits, mu, log_sigma = self.head(self.body(x)).split(self.n_components, dim=1)
        return MixtureOutput(logits, mu, log_sigma.clamp(LOG_SIGMA_MIN, LOG_SIGMA_MAX))


def mixture_nll(out: MixtureOutput, y: torch.Tensor) -> torch.Tensor:
    """−(1/B) Σ_i log p(y_i | x_i) under the mixture; y has shape (B,)."""
    return -out.distribution().log_prob(y).mean()


def gaussian_nll(pred: torch.Tensor, y: torch.Tensor, variance: float) -> torch.Tensor:
    """−(1/B) Σ_i log N(y_i; pred_i, variance): a single-valued model's NLL."""
    return F.gaussian_nll_loss(pred, y, torch.full_like(y, variance), full=True, reduction="mean")


# --------------------------------------------------------------------------- pictures


def mixture_png(
    model: MDN,
    baseline: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    title: str,
    *,
    width: int = 360,
    height: int = 270,
) -> Image.Image:
    """The conditional density p(y | x) as a heat over the (x, y) plane, with the data (grey),
    each component's mean μ_k(x) where π_k(x) > 0.1 (class colours, the darker the heavier) and
    the MSE regression line (red). Each column is scaled to its own peak, so every x shows the
    shape of its distribution over y."""
    x0, x1 = float(x.min()), float(x.max())
    y0, y1 = float(y.min()), float(y.max())
    px_pad, py_pad = 0.05 * (x1 - x0) + 1e-9, 0.08 * (y1 - y0) + 1e-9
    x0, x1, y0, y1 = x0 - px_pad, x1 + px_pad, y0 - py_pad, y1 + py_pad
    xs = np.linspace(x0, x1, width)
    ys = np.linspace(y1, y0, height)  # row 0 at the top
    device = next(model.parameters()).device
    with torch.no_grad():
        grid_x = torch.tensor(xs, dtype=torch.float32, device=device)[:, None]
        out = model(grid_x)
        grid_y = torch.tensor(ys, dtype=torch.float32, device=device)[:, None]  # (H, 1)
        density = out.distribution().log_prob(grid_y).exp().cpu().numpy()  # (H, W)
        pi = F.softmax(out.logits, dim=1).cpu().numpy()
        mu = out.mu.cpu().numpy()
        line = baseline(grid_x).squeeze(1).cpu().numpy()
    heat = density / (density.max(axis=0, keepdims=True) + 1e-12)
    blue = np.array([31.0, 119.0, 180.0])
    rgb = 255.0 + (blue - 255.0) * heat[:, :, None] * 0.9  # white → blue
    img = Image.fromarray(rgb.round().astype(np.uint8), mode="RGB")
    draw = ImageDraw.Draw(img)

    def to_px(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (u - x0) / (x1 - x0) * (width - 1), (y1 - v) / (y1 - y0) * (height - 1)

    for u, v in zip(*to_px(x, y), strict=True):
        draw.ellipse([u - 1, v - 1, u + 1, v + 1], fill=(110, 110, 110))
    cols = np.arange(0, width, 4)
    for k in range(mu.shape[1]):
        colour = PALETTE[(k + 1) % len(PALETTE)]
        us, vs = to_px(xs[cols], mu[cols, k])
        for c, u, v in zip(cols, us, vs, strict=True):
            if pi[c, k] > 0.1 and 0 <= v < height:
                shade = tuple(int(t) for t in 255.0 + (colour - 255.0) * min(1.0, 0.3 + pi[c, k]))
                draw.ellipse([u - 1.5, v - 1.5, u + 1.5, v + 1.5], fill=shade)
    us, vs = to_px(xs, line)
    draw.line(list(zip(us.tolist(), vs.tolist(), strict=True)), fill=(214, 39, 40), width=2)
    draw.text((6, 4), title, fill=(20, 20, 20))
    draw.text((6, 16), "heat: p(y|x)   dots: means mu_k   red: MSE fit", fill=(70, 70, 70))
    return img


# --------------------------------------------------------------------------- the run


@one_thread
def run(p: Params, sink: Sink, ctx: RunContext) -> dict[str, Any]:
    rng = np.random.default_rng(p.seed)
    torch.manual_seed(p.seed)
    device = torch.device(ctx.device)
    x, y = inverted_sine(p.n_samples, p.noise, rng)
    x_tr, x_val, y_tr, y_val = train_val_split(x[:, None], y, p.val_fraction, p.seed)

    def tensor(a: np.ndarray) -> torch.Tensor:
        return torch.tensor(a, dtype=torch.float32, device=device)

    Xtr, Xva, ytr, yva = tensor(x_tr), tensor(x_val), tensor(y_tr), tensor(y_val)
    mdn = MDN(p.hidden_size, p.n_components).to(device)
    baseline = nn.Sequential(mlp_body(p.hidden_size), nn.Linear(p.hidden_size, 1)).to(device)
    opt_mdn = torch.optim.Adam(mdn.parameters(), lr=p.lr)
    opt_base = torch.optim.Adam(baseline.parameters(), lr=p.lr)

    def evaluate(train_nll: float, train_mse: float) -> dict[str, float]:
        """The epoch's metrics: the training losses of its step, the validation ones now."""
        with torch.no_grad():
            pred_val = baseline(Xva).squeeze(1)
            return {
                "train/nll": train_nll,
                "val/nll": float(mixture_nll(mdn(Xva), yva)),
                "baseline/train_mse": train_mse,
                "baseline/val_mse": float(F.mse_loss(pred_val, yva)),
                "baseline/val_nll": float(gaussian_nll(pred_val, yva, max(train_mse, 1e-12))),
            }

    def frame(epoch: int, name: str, metrics: dict[str, float]) -> None:
        title = f"epoch {epoch}   val NLL {metrics['val/nll']:.3f}"
        img = mixture_png(mdn, baseline, x_tr[:, 0], y_tr, title)
        when_zh = epoch_tag_zh(None if name == "final" else epoch)
        emit(
            sink,
            f"mixture/{name}.png",
            img,
            view="image",
            step=epoch,
            meta={
                "title": f"mixture density over x, {name.replace('_', ' ')}",
                "title_zh": f"各个 x 处的混合密度，{when_zh}",
                "epoch": epoch,
            },
        )

    with torch.no_grad():
        metrics = evaluate(
            float(mixture_nll(mdn(Xtr), ytr)), float(F.mse_loss(baseline(Xtr).squeeze(1), ytr))
        )
    first = metrics
    sink.metric(0, metrics, epoch=0)
    frame(0, "epoch_00000", metrics)
    for epoch in range(1, p.epochs + 1):
        sink.check()
        loss = mixture_nll(mdn(Xtr), ytr)
        opt_mdn.zero_grad(set_to_none=True)
        loss.backward()
        opt_mdn.step()
        mse = F.mse_loss(baseline(Xtr).squeeze(1), ytr)
        opt_base.zero_grad(set_to_none=True)
        mse.backward()
        opt_base.step()
        metrics = evaluate(float(loss.detach()), float(mse.detach()))
        sink.metric(epoch, metrics, epoch=epoch)
        sink.progress(epoch, p.epochs, f"epoch {epoch}/{p.epochs}")
        if epoch % p.frame_every == 0 and epoch < p.epochs:
            frame(epoch, f"epoch_{epoch:05d}", metrics)
    frame(p.epochs, "final", metrics)

    # p(y | x) at three x: one mode at the ends of the range, several in the folded middle
    ys = np.linspace(y.min() - 0.1, y.max() + 0.1, 200)
    slices: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    with torch.no_grad():
        for x_at in (0.1, 0.5, 0.9):
            dist = mdn(tensor(np.array([[x_at]]))).distribution()
            density = dist.log_prob(tensor(ys)[:, None]).exp()[:, 0]  # (200, 1) → (200,)
            slices[f"p(y | x={x_at})"] = (ys, density.cpu().numpy())
        out_val = mdn(Xva)
        pi = F.softmax(out_val.logits, dim=1)
        mean_val = (pi * out_val.mu).sum(dim=1)  # E[y | x] = Σ_k π_k μ_k
    emit(
        sink,
        "density_slices.json",
        line_artifact(
            slices,
            "p(y | x) at three inputs (x axis: y)",
            title_zh="三个输入处的条件密度 p(y | x)（横轴为 y）",
        ),
        view="line",
    )
    return {
        **metrics,
        "first/train_nll": first["train/nll"],
        # the mixture's mean is the MSE answer: it also falls between the branches
        "val/mse_mixture_mean": float(F.mse_loss(mean_val, yva)),
        "components_used": int((pi.mean(dim=0) > 0.05).sum()),
    }


SPEC = KindSpec(
    name="lab.mdn",
    params=Params,
    run=run,
    queue="cpu",
    admin_only=False,
    category="lab",
    title="Mixture density network",
    description="A network that predicts a mixture of Gaussians p(y | x) on a one-to-many problem "
    "(the inverted sine), trained on the negative log-likelihood; the mixture drawn over x "
    "during training beside an MSE regression that averages the branches.",
)

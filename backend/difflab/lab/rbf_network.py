"""`lab.rbf_network`: a radial-basis-function network, non-linear features from anchor points.

Where an MLP builds its non-linear map φ(x) by nesting layers, an RBF network places anchor
points v_1..v_K in the input space (here: the k-means centroids of the training inputs) and
describes each input by its closeness to them, with a Gaussian of width σ_j:

    φ_j(x) = exp(-‖x - v_j‖² / (2 σ_j²))

The output is linear in these features, y = W·φ(x) + b — for fixed centers a convex problem.
It is trained by gradient descent here, and the least-squares solution of the same linear
layer is computed for comparison. σ_j is `width_scale` × the distance from v_j to the nearest
other center, so neighbouring bumps overlap.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from pydantic import ConfigDict, Field
from sklearn.cluster import KMeans
from torch import nn
from torch.nn import functional as F

from difflab.datasets.toy import TWO_D_SETS, DatasetName
from difflab.lab.common import (
    LabCommon,
    confusion_artifact,
    decision_boundary_png,
    emit,
    line_artifact,
    load_split,
    scatter_artifact,
)
from difflab.lab.nn import NNCommon, epoch_tag, epoch_tag_zh, fit, make_optimizer
from difflab.runtime import KindSpec, RunContext, Sink


class Params(LabCommon, NNCommon):
    """An RBF network: Gaussian features around k-means centers, a linear output layer."""

    model_config = ConfigDict(extra="forbid")

    dataset: DatasetName = Field(
        "circles",
        description="Data set: classification (iris, wine, breast_cancer, digits, moons, circles, "
        "blobs, spirals, xor) or regression (diabetes, linear, plane, sine, poly).",
    )
    n_centers: int = Field(
        16, ge=1, le=256, description="Number of anchor points (k of the k-means that finds them)."
    )
    width_scale: float = Field(
        1.0,
        gt=0.0,
        le=20.0,
        description="σ_j = width_scale × distance from center j to its nearest other center.",
    )
    train_centers: bool = Field(
        False,
        description="Also move the centers and widths by gradient descent (otherwise only the "
        "linear output layer learns).",
    )
    lr: float = Field(0.05, gt=0.0, le=10.0, description="Learning rate (step size).")
    epochs: int = Field(100, ge=1, le=5000, description="Passes over the training set.")
    boundary_every: int = Field(
        20,
        ge=1,
        le=5000,
        description="Epochs between decision-boundary images (2-D sets) or fitted curves (1-D).",
    )


class GaussianRBF(nn.Module):
    """φ_j(x) = exp(-‖x - v_j‖² / (2 σ_j²)) for K centers v (K, d) and widths σ (K,)."""

    def __init__(self, centers: torch.Tensor, widths: torch.Tensor, trainable: bool) -> None:
        super().__init__()
        self.centers = nn.Parameter(centers.clone(), requires_grad=trainable)
        # the width is kept as log σ so that it stays positive when trained
        self.log_width = nn.Parameter(widths.clone().log(), requires_grad=trainable)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, d) -> (B, K)
        sq_dist = torch.cdist(x, self.centers).pow(2)  # ‖x - v_j‖²
        sigma = self.log_width.exp()
        return torch.exp(-sq_dist / (2.0 * sigma.pow(2)))


def center_widths(centers: np.ndarray, scale: float) -> np.ndarray:
    """σ_j = scale × distance from center j to its nearest other center (1.0 with one center)."""
    if len(centers) < 2:
        return np.full(len(centers), scale)
    d = np.linalg.norm(centers[:, None, :] - centers[None, :, :], axis=2)
    np.fill_diagonal(d, np.inf)
    return scale * np.maximum(d.min(axis=1), 1e-3)


def run(p: Params, sink: Sink, ctx: RunContext) -> dict[str, Any]:
    torch.manual_seed(p.seed)
    device = torch.device(ctx.device)
    split = load_split(p)
    data = split.data
    classify = data.task == "classification"
    n_centers = min(p.n_centers, len(split.X_train))

    # 1. the anchor points: k-means centroids of the training inputs
    km = KMeans(n_clusters=n_centers, n_init=4, random_state=p.seed).fit(split.X_train)
    centers = km.cluster_centers_
    widths = center_widths(centers, p.width_scale)
    rbf = GaussianRBF(
        torch.tensor(centers, dtype=torch.float32),
        torch.tensor(widths, dtype=torch.float32),
        trainable=p.train_centers,
    )
    n_out = data.n_classes if classify else 1
    model = nn.Sequential(rbf, nn.Dropout(p.dropout), nn.Linear(n_centers, n_out)).to(device)
    out_layer = model[2]
    assert isinstance(out_layer, nn.Linear)

    Xtr = torch.tensor(split.X_train, dtype=torch.float32, device=device)
    Xva = torch.tensor(split.X_val, dtype=torch.float32, device=device)
    if classify:
        ytr = torch.tensor(split.y_train, dtype=torch.long, device=device)
        yva = torch.tensor(split.y_val, dtype=torch.long, device=device)
        y_mean, y_std = 0.0, 1.0
    else:
        y_mean, y_std = float(split.y_train.mean()), float(split.y_train.std() or 1.0)
        ytr = torch.tensor((split.y_train - y_mean) / y_std, dtype=torch.float32, device=device)
        yva = torch.tensor((split.y_val - y_mean) / y_std, dtype=torch.float32, device=device)

    # 2. for comparison: the least-squares output layer on the same fixed features
    #    (one-hot targets for classes), W = argmin ‖[Φ 1] W - Y‖²
    with torch.no_grad():
        Phi_tr = torch.cat([rbf(Xtr), torch.ones(len(Xtr), 1, device=device)], dim=1)
        Phi_va = torch.cat([rbf(Xva), torch.ones(len(Xva), 1, device=device)], dim=1)
        Y = F.one_hot(ytr, n_out).float() if classify else ytr[:, None]
        W_ls = torch.linalg.lstsq(Phi_tr.cpu(), Y.cpu()).solution.to(device)
        ls_out = Phi_va @ W_ls
        if classify:
            lstsq_metric = float((ls_out.argmax(1) == yva).float().mean())
        else:
            lstsq_metric = float(((ls_out.squeeze(1) - yva) * y_std).pow(2).mean())

    params = [q for q in model.parameters() if q.requires_grad]
    optimizer = make_optimizer(p.optimizer, params, p.lr)

    def loss_of(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(out, y) if classify else F.mse_loss(out.squeeze(1), y)

    def batch_loss(idx: torch.Tensor) -> torch.Tensor:
        return loss_of(model(Xtr[idx]), ytr[idx])

    def evaluate() -> dict[str, float]:
        out = model(Xva)
        metrics = {"val/loss": float(loss_of(out, yva))}
        if classify:
            metrics["val/accuracy"] = float((out.argmax(1) == yva).float().mean())
        else:
            metrics["val/mse"] = float(((out.squeeze(1) - yva) * y_std).pow(2).mean())
        return metrics

    X_all = np.concatenate([split.X_train, split.X_val])
    y_all = np.concatenate([split.y_train, split.y_val])

    def predict_proba(X: np.ndarray) -> np.ndarray:
        x = torch.tensor(X, dtype=torch.float32, device=device)
        return F.softmax(model(x), dim=1).cpu().numpy()

    def draw(epoch: int | None, step: int) -> None:
        tag, when = epoch_tag(epoch)
        when_zh = epoch_tag_zh(epoch)
        if classify and data.name in TWO_D_SETS:
            img = decision_boundary_png(predict_proba, X_all, y_all, resolution=160)
            emit(
                sink,
                f"boundary/{tag}.png",
                img,
                view="image",
                step=step,
                meta={
                    "title": f"decision boundary, {when}",
                    "title_zh": f"决策边界，{when_zh}",
                    "epoch": epoch,
                },
            )
        elif not classify and X_all.shape[1] == 1:
            # the fit and each Gaussian bump scaled by its output weight: y = Σ_j w_j φ_j(x) + b
            xs = np.linspace(X_all[:, 0].min(), X_all[:, 0].max(), 100)
            x = torch.tensor(xs[:, None], dtype=torch.float32, device=device)
            phi = rbf(x)
            w = out_layer.weight[0]
            order = np.argsort(X_all[:, 0])
            series: dict[str, tuple[list[float], list[float]]] = {
                "data": (X_all[order, 0].tolist(), y_all[order].tolist()),
                "fit": (xs.tolist(), (model(x).squeeze(1) * y_std + y_mean).cpu().tolist()),
            }
            for j in range(min(n_centers, 16)):
                series[f"w{j}·φ{j}"] = (xs.tolist(), (phi[:, j] * w[j] * y_std).cpu().tolist())
            emit(
                sink,
                f"fit/{tag}.json",
                line_artifact(series, f"fit, {when}", title_zh=f"拟合结果，{when_zh}"),
                view="line",
                step=step,
                meta={"epoch": epoch},
            )

    def on_epoch(epoch: int, step: int) -> None:
        if epoch % p.boundary_every == 0 or epoch == 1:
            draw(epoch, step)

    result = fit(
        model, optimizer, p, len(Xtr), batch_loss, evaluate, sink, on_epoch=on_epoch, device=device
    )
    with torch.no_grad():
        final = evaluate()
        draw(None, result.steps)
        if X_all.shape[1] == 2:
            # the inputs with the (final) centers as an extra label
            c = rbf.centers.detach().cpu().numpy()
            labels = y_all if classify else np.zeros(len(X_all), dtype=np.int64)
            names = list(data.target_names) if classify else ["data"]
            pts = np.concatenate([X_all, c])
            lab = np.concatenate([labels, np.full(len(c), len(names))])
            emit(
                sink,
                "centers.json",
                scatter_artifact(
                    pts,
                    lab,
                    [*names, "center"],
                    "data and RBF centers",
                    title_zh="数据点与 RBF 中心",
                ),
                view="scatter",
                step=result.steps,
            )
        if classify:
            pred = model(Xva).argmax(1).cpu().numpy()
            emit(
                sink,
                "confusion.json",
                confusion_artifact(
                    split.y_val,
                    pred,
                    data.target_names,
                    "validation confusion matrix",
                    title_zh="验证集混淆矩阵",
                ),
                view="confusion",
                step=result.steps,
            )
    key = "lstsq_val_accuracy" if classify else "lstsq_val_mse"
    return {
        "epochs": result.epochs,
        "steps": result.steps,
        "stopped_early": result.stopped_early,
        "n_centers": n_centers,
        "mean_width": float(rbf.log_width.detach().exp().mean()),
        key: lstsq_metric,
        **{k.replace("/", "_"): v for k, v in final.items()},
    }


SPEC = KindSpec(
    name="lab.rbf_network",
    params=Params,
    run=run,
    queue="cpu",
    admin_only=False,
    category="lab",
    title="RBF network",
    description="Gaussian radial-basis features around k-means centers and a linear output "
    "layer, trained by gradient descent and compared with the least-squares fit.",
)

"""`lab.mlp`: a multi-layer perceptron, the layered extension of linear and logistic regression.

Each hidden layer is an affine map followed by a non-linear activation, z = g(W·x + b); the
output layer is linear (regression, trained on the mean squared error) or a softmax over the
classes (classification, trained on the cross-entropy). Back-propagation computes the gradients
layer by layer; the per-layer gradient norms are reported so that vanishing gradients
(sigmoid and tanh in deeper nets) can be seen next to ReLU.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Annotated, Any, Literal

import numpy as np
import torch
from pydantic import ConfigDict, Field
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
)
from difflab.lab.nn import NNCommon, epoch_tag, epoch_tag_zh, fit, make_optimizer
from difflab.runtime import KindSpec, RunContext, Sink

Activation = Literal["relu", "tanh", "sigmoid", "gelu", "leaky_relu"]

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,  # max(0, x)
    "tanh": nn.Tanh,  # (e^x - e^-x) / (e^x + e^-x), in (-1, 1)
    "sigmoid": nn.Sigmoid,  # 1 / (1 + e^-x), in (0, 1); its slope is at most 1/4
    "gelu": nn.GELU,  # x·Φ(x)
    "leaky_relu": nn.LeakyReLU,  # x for x > 0, 0.01·x otherwise
}


class Params(LabCommon, NNCommon):
    """A multi-layer perceptron on a bundled or generated set (classification or regression)."""

    model_config = ConfigDict(extra="forbid")

    dataset: DatasetName = Field(
        "moons",
        description="Data set: classification (iris, wine, breast_cancer, digits, moons, circles, "
        "blobs, spirals, xor) or regression (diabetes, linear, plane, sine, poly).",
    )
    hidden_sizes: list[Annotated[int, Field(ge=1, le=1024)]] = Field(
        default_factory=lambda: [32, 32],
        min_length=1,
        max_length=8,
        description="Units in each hidden layer, input side first.",
    )
    activation: Activation = Field(
        "relu", description="Hidden-layer activation: relu, tanh, sigmoid, gelu or leaky_relu."
    )
    epochs: int = Field(100, ge=1, le=5000, description="Passes over the training set.")
    boundary_every: int = Field(
        10,
        ge=1,
        le=5000,
        description="Epochs between decision-boundary images (2-D sets) or fitted curves (1-D).",
    )


def build_mlp(
    n_in: int, hidden_sizes: list[int], n_out: int, activation: Activation, dropout: float
) -> nn.Sequential:
    """Linear → activation → dropout per hidden layer, then a linear output layer.

    Layers are named hidden1, hidden2, …, out, so the gradient norms read grad_norm/hidden1.
    """
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    width = n_in
    for i, h in enumerate(hidden_sizes, start=1):
        layers[f"hidden{i}"] = nn.Linear(width, h)
        layers[f"act{i}"] = ACTIVATIONS[activation]()
        if dropout > 0:
            layers[f"drop{i}"] = nn.Dropout(dropout)
        width = h
    layers["out"] = nn.Linear(width, n_out)
    return nn.Sequential(layers)


def run(p: Params, sink: Sink, ctx: RunContext) -> dict[str, Any]:
    torch.manual_seed(p.seed)
    device = torch.device(ctx.device)
    split = load_split(p)
    data = split.data
    classify = data.task == "classification"
    Xtr = torch.tensor(split.X_train, dtype=torch.float32, device=device)
    Xva = torch.tensor(split.X_val, dtype=torch.float32, device=device)
    if classify:
        ytr = torch.tensor(split.y_train, dtype=torch.long, device=device)
        yva = torch.tensor(split.y_val, dtype=torch.long, device=device)
        n_out = data.n_classes
        y_mean, y_std = 0.0, 1.0
    else:
        # regression targets are standardized with training statistics for the fit;
        # the reported errors are in the target's own units
        y_mean, y_std = float(split.y_train.mean()), float(split.y_train.std() or 1.0)
        ytr = torch.tensor((split.y_train - y_mean) / y_std, dtype=torch.float32, device=device)
        yva = torch.tensor((split.y_val - y_mean) / y_std, dtype=torch.float32, device=device)
        n_out = 1
    model = build_mlp(Xtr.shape[1], list(p.hidden_sizes), n_out, p.activation, p.dropout)
    model.to(device)
    optimizer = make_optimizer(p.optimizer, model.parameters(), p.lr)

    def loss_of(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if classify:
            return F.cross_entropy(out, y)  # softmax + negative log-likelihood
        return F.mse_loss(out.squeeze(1), y)

    def batch_loss(idx: torch.Tensor) -> torch.Tensor:
        return loss_of(model(Xtr[idx]), ytr[idx])

    def evaluate() -> dict[str, float]:
        out = model(Xva)
        metrics = {"val/loss": float(loss_of(out, yva))}
        if classify:
            metrics["val/accuracy"] = float((out.argmax(1) == yva).float().mean())
            metrics["train/accuracy"] = float((model(Xtr).argmax(1) == ytr).float().mean())
        else:
            err = (out.squeeze(1) - yva) * y_std
            metrics["val/mse"] = float(err.pow(2).mean())
            metrics["val/r2"] = 1.0 - float(err.pow(2).mean()) / float(
                (yva * y_std).var(correction=0)
            )
        return metrics

    def predict_proba(X: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            x = torch.tensor(X, dtype=torch.float32, device=device)
            return F.softmax(model(x), dim=1).cpu().numpy()

    X_all = np.concatenate([split.X_train, split.X_val])
    y_all = np.concatenate([split.y_train, split.y_val])
    two_d = classify and data.name in TWO_D_SETS

    def draw(epoch: int | None, step: int) -> None:
        tag, when = epoch_tag(epoch)
        when_zh = epoch_tag_zh(epoch)
        if two_d:
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
            xs = np.linspace(X_all[:, 0].min(), X_all[:, 0].max(), 100)
            with torch.no_grad():
                fx = model(torch.tensor(xs[:, None], dtype=torch.float32, device=device))
            curve = fx.squeeze(1).cpu().numpy() * y_std + y_mean
            order = np.argsort(X_all[:, 0])
            chart = line_artifact(
                {
                    "data": (X_all[order, 0].tolist(), y_all[order].tolist()),
                    "fit": (xs.tolist(), curve.tolist()),
                },
                title=f"fitted curve, {when}",
                title_zh=f"拟合曲线，{when_zh}",
            )
            emit(
                sink,
                f"fit/{tag}.json",
                chart,
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
    out: dict[str, Any] = {
        "epochs": result.epochs,
        "steps": result.steps,
        "stopped_early": result.stopped_early,
        "best_epoch": result.best_epoch,
        "n_parameters": sum(q.numel() for q in model.parameters()),
        **{k.replace("/", "_"): v for k, v in final.items()},
    }
    return out


SPEC = KindSpec(
    name="lab.mlp",
    params=Params,
    run=run,
    queue="cpu",
    admin_only=False,
    category="lab",
    title="Multi-layer perceptron",
    description="Hidden layers with a chosen activation, trained by back-propagation; per-layer "
    "gradient norms, the decision boundary over training, early stopping.",
)

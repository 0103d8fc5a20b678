"""The training loop shared by logistic and softmax regression: a linear map, then σ or softmax.

    logits z = Wφ(x) + b                      φ(x): the inputs, or their polynomial terms
    binary:      p(y=1|x) = σ(z) = 1/(1+e^{-z}),   loss = −[y log p + (1−y) log(1−p)]
    multi-class: p(y=j|x) = e^{z_j} / Σ_k e^{z_k},  loss = −log p(y|x)
Both losses are the negative log-likelihood (Bernoulli, categorical), i.e. cross-entropy.
Trained by a torch.optim optimizer on mini-batches, with an optional weight penalty and early
stopping on the validation loss (the best weights are restored). In binary mode with at most
MAX_LIVE_WEIGHTS dimensions of φ, every epoch also reports w and b (param/w_j, param/b).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field, ValidationInfo, field_validator
from sklearn.preprocessing import PolynomialFeatures
from torch import nn

from difflab.datasets.toy import N_FEATURES
from difflab.lab.common import (
    LabCommon,
    confusion_artifact,
    decision_boundary_png,
    emit,
    heatmap_artifact,
    image_grid,
    line_artifact,
    load_split,
    one_thread,
)
from difflab.lab.nn import (
    EarlyStopping,
    OptimizerName,
    Penalty,
    current_lr,
    make_optimizer,
    minibatches,
    penalty_term,
    weight_parameters,
)
from difflab.runtime import Sink

MAX_LIVE_WEIGHTS = 10  # binary mode reports w and b every epoch up to this many dimensions of φ


class LinearClassifierParams(LabCommon):
    """Parameters of logistic and softmax regression (each kind narrows `dataset`)."""

    degree: int = Field(
        1,
        ge=1,
        le=5,
        description="Polynomial feature degree: φ(x) holds every product of inputs up to this "
        "degree, so a linear boundary in φ-space can curve in the plane; 2-D sets only above 1.",
    )
    optimizer: OptimizerName = Field(
        "adam",
        description="torch.optim optimizer: sgd, momentum, nesterov, adagrad, rmsprop, "
        "adadelta, adam, adamw.",
    )
    lr: float = Field(0.05, gt=0.0, le=10.0, description="Learning rate.")
    batch_size: int = Field(32, ge=1, le=4096, description="Examples per gradient step.")
    epochs: int = Field(60, ge=1, le=5000, description="Passes over the training set.")
    penalty: Penalty = Field(
        "none", description="Weight penalty added to the loss: none, l1, l2, elasticnet."
    )
    penalty_strength: float = Field(0.0, ge=0.0, le=10.0, description="λ of the penalty.")
    l1_ratio: float = Field(
        0.5, ge=0.0, le=1.0, description="Elastic net only: the share of L1 in the penalty."
    )
    patience: int = Field(
        0,
        ge=0,
        le=1000,
        description="Early stopping: epochs without a lower validation loss before stopping "
        "(best weights restored); 0 turns it off.",
    )
    snapshots: int = Field(
        8,
        ge=0,
        le=100,
        description="Decision-boundary images spread over training (2-D sets only).",
    )

    @field_validator("degree")
    @classmethod
    def _degree_for_2d(cls, v: int, info: ValidationInfo) -> int:
        ds = info.data.get("dataset")
        if v > 1 and ds is not None and N_FEATURES[ds] != 2:
            raise ValueError(f"degree > 1 applies to 2-D sets only; {ds} has {N_FEATURES[ds]}")
        return v


@one_thread
def train_linear_classifier(
    p: LinearClassifierParams, sink: Sink, mode: Literal["binary", "softmax"]
) -> dict[str, Any]:
    """Train σ(Wφ(x)+b) (binary) or softmax(Wφ(x)+b) and report curves, boundary, confusion."""
    torch.manual_seed(p.seed)
    d = load_split(p)
    n_classes = d.data.n_classes
    poly = PolynomialFeatures(p.degree, include_bias=False).fit(d.X_train)

    def phi(X: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(poly.transform(X), dtype=torch.float32)

    X_tr, X_val = phi(d.X_train), phi(d.X_val)
    y_tr, y_val = torch.as_tensor(d.y_train), torch.as_tensor(d.y_val)
    out_dim = 1 if mode == "binary" else n_classes
    model = nn.Linear(X_tr.shape[1], out_dim)
    optimizer = make_optimizer(p.optimizer, model.parameters(), p.lr)
    stopper = EarlyStopping(p.patience, mode="min")
    gen = torch.Generator().manual_seed(p.seed)

    def loss_fn(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if mode == "binary":  # binary cross-entropy on the logit (numerically stable form)
            return nn.functional.binary_cross_entropy_with_logits(z[:, 0], y.float())
        return nn.functional.cross_entropy(z, y)

    def proba(X: torch.Tensor) -> np.ndarray:
        """(m, k) class probabilities: [1 − σ(z), σ(z)] or softmax(z)."""
        with torch.no_grad():
            z = model(X)
            if mode == "binary":
                s = torch.sigmoid(z)
                return torch.cat([1 - s, s], dim=1).numpy()
            return torch.softmax(z, dim=1).numpy()

    def evaluate(X: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
        with torch.no_grad():
            loss = float(loss_fn(model(X), y))
        acc = float((proba(X).argmax(axis=1) == y.numpy()).mean())
        return loss, acc

    two_d = d.X_train.shape[1] == 2
    snap_epochs = (
        set(np.linspace(0, p.epochs, p.snapshots).round().astype(int).tolist())
        if two_d and p.snapshots > 0
        else set()
    )

    def boundary(epoch: int) -> None:
        img = decision_boundary_png(lambda G: proba(phi(G)), d.X_train, d.y_train)
        emit(sink, f"boundary/epoch_{epoch:05d}.png", img, view="image", step=epoch)

    hist: dict[str, list[float]] = {
        k: [] for k in ("train/loss", "val/loss", "train/accuracy", "val/accuracy")
    }

    # binary: w and b of every epoch as metrics, while φ has few enough dimensions to read
    live_weights = mode == "binary" and X_tr.shape[1] <= MAX_LIVE_WEIGHTS

    def record(epoch: int, extra: dict[str, float]) -> float:
        tl, ta = evaluate(X_tr, y_tr)
        vl, va = evaluate(X_val, y_val)
        values = {"train/loss": tl, "val/loss": vl, "train/accuracy": ta, "val/accuracy": va}
        for k, v in values.items():
            hist[k].append(v)
        params: dict[str, float] = {}
        if live_weights:  # param/w_1 … param/w_d, param/b
            w = model.weight.detach()[0].tolist()
            params = {f"param/w_{j}": v for j, v in enumerate(w, start=1)}
            params["param/b"] = float(model.bias.detach()[0])
        sink.metric(epoch, {**values, **extra, **params}, epoch=epoch)
        if epoch in snap_epochs:
            boundary(epoch)
        return vl

    record(0, {"lr": current_lr(optimizer)})
    epochs_run = 0  # the stopper counts checks from 0 at epoch 1: epoch = check + 1
    for epoch in range(1, p.epochs + 1):
        sink.check()
        grad_sq, steps = 0.0, 0
        for idx in minibatches(len(y_tr), p.batch_size, gen):
            loss = loss_fn(model(X_tr[idx]), y_tr[idx])
            total = loss + penalty_term(
                weight_parameters(model), p.penalty, p.penalty_strength, p.l1_ratio
            )
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            grad_sq += sum(
                float(q.grad.pow(2).sum()) for q in model.parameters() if q.grad is not None
            )
            steps += 1
            optimizer.step()
        epochs_run = epoch
        vl = record(epoch, {"lr": current_lr(optimizer), "grad_norm": (grad_sq / steps) ** 0.5})
        sink.progress(epoch, p.epochs)
        if stopper.update(vl, model):
            best = stopper.best_epoch + 1
            sink.log(f"early stop at epoch {epoch}: best val/loss at epoch {best}")
            sink.progress(p.epochs, p.epochs, "stopped early")
            break
    if stopper.restore(model):
        if two_d:
            boundary(epochs_run + 1)  # the restored (best) weights
        sink.log(f"restored the weights of epoch {stopper.best_epoch + 1}")

    names = d.data.target_names
    val_pred = proba(X_val).argmax(axis=1)
    emit(sink, "confusion.json", confusion_artifact(d.y_val, val_pred, names), view="confusion")
    xs = list(range(len(hist["train/loss"])))
    emit(
        sink,
        "accuracy/curves.json",
        line_artifact(
            {k: (xs, v) for k, v in hist.items() if "accuracy" in k}, "accuracy", title_zh="准确率"
        ),
        view="line",
    )
    emit(
        sink,
        "loss/curves.json",
        line_artifact(
            {k: (xs, v) for k, v in hist.items() if "loss" in k}, "cross-entropy", title_zh="交叉熵"
        ),
        view="line",
    )
    W = model.weight.detach().numpy()  # (out_dim, n_features of φ)
    feature_names = (
        list(poly.get_feature_names_out(d.data.feature_names))
        if p.degree > 1
        else d.data.feature_names
    )
    rows = [f"logit of {names[1]}"] if mode == "binary" else list(names)
    if W.shape[1] <= 64:
        emit(
            sink,
            "weights.json",
            heatmap_artifact(W, feature_names, rows, "W", title_zh="权重矩阵 W"),
            view="heatmap",
        )
    if d.data.name == "digits" and p.degree == 1:  # each class's weights read as an 8×8 image
        emit(
            sink,
            "weights.png",
            image_grid([w.reshape(8, 8) for w in W], ncols=5, scale=8, normalize=True),
            view="image",
        )
    tl, ta = evaluate(X_tr, y_tr)
    vl, va = evaluate(X_val, y_val)
    return {
        "train/loss": tl,
        "train/accuracy": ta,
        "val/loss": vl,
        "val/accuracy": va,
        "epochs_run": epochs_run,
        "best_epoch": stopper.best_epoch + 1,
    }

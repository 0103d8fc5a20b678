"""The perceptron: ŷ = sign(wᵀx + b), trained by Rosenblatt's mistake-driven rule.

Labels are t ∈ {−1, +1}. Going through the training set, on every mistake (t·(wᵀx + b) ≤ 0):

    w ← w + η·t·x,    b ← b + η·t

and nothing otherwise. On linearly separable data the number of mistakes is finite
(Novikoff's theorem), so an epoch with no mistake ends training; on data that no line separates
(moons, circles, xor) it never settles, which is why the logistic function and multi-layer
networks replaced the step function. Multi-class sets become one class against the rest.
With at most MAX_LIVE_WEIGHTS inputs every epoch also reports w and b after it (param/w_j,
param/b) and its last mistake (mistake/t, mistake/x_j): w = w_before + η·t·x.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field, ValidationInfo, field_validator

from difflab.datasets.toy import N_CLASSES, ClassificationName
from difflab.lab.common import (
    LabCommon,
    confusion_artifact,
    decision_boundary_png,
    emit,
    line_artifact,
    load_split,
    one_thread,
)
from difflab.runtime import KindSpec, RunContext, Sink

MAX_LIVE_WEIGHTS = 10  # w, b and the last mistake are reported every epoch up to this many inputs


class Params(LabCommon):
    dataset: ClassificationName = Field(
        "blobs",
        description="Classification set; with more than two classes, `positive_class` is one "
        "side and every other class the other.",
    )
    positive_class: int = Field(
        1, ge=0, le=9, description="The class labelled +1; all others are −1."
    )
    eta: float = Field(1.0, gt=0.0, le=10.0, description="Step size η of the update.")
    epochs: int = Field(30, ge=1, le=1000, description="Most passes over the training set.")
    shuffle: bool = Field(
        True, description="Visit the training set in a fresh random order every epoch."
    )

    @field_validator("positive_class")
    @classmethod
    def _class_exists(cls, v: int, info: ValidationInfo) -> int:
        ds = info.data.get("dataset")
        if ds is not None and v >= N_CLASSES[ds]:
            raise ValueError(f"{ds} has classes 0..{N_CLASSES[ds] - 1}")
        return v


def perceptron_epoch(
    w: np.ndarray, b: float, X: np.ndarray, t: np.ndarray, eta: float, order: np.ndarray
) -> tuple[np.ndarray, float, int, int | None]:
    """One pass in `order`: update on each mistake t·(wᵀx + b) ≤ 0.

    Returns w, b, the number of mistakes and the row of the last one (None without a mistake).
    """
    mistakes, last = 0, None
    for i in order:
        if t[i] * (X[i] @ w + b) <= 0.0:
            w = w + eta * t[i] * X[i]
            b = b + eta * t[i]
            mistakes, last = mistakes + 1, int(i)
    return w, b, mistakes, last


@one_thread
def run(p: Params, sink: Sink, ctx: RunContext) -> dict[str, Any]:
    d = load_split(p)
    t_tr = np.where(d.y_train == p.positive_class, 1.0, -1.0)  # labels in {−1, +1}
    t_val = np.where(d.y_val == p.positive_class, 1.0, -1.0)
    w, b = np.zeros(d.X_train.shape[1]), 0.0
    rng = np.random.default_rng(p.seed)
    two_d = d.X_train.shape[1] == 2
    pos_name = d.data.target_names[p.positive_class]
    names = [f"not {pos_name}", pos_name] if d.data.n_classes > 2 else d.data.target_names

    def predict(X: np.ndarray) -> np.ndarray:
        """Class id 1 where wᵀx + b > 0 (t = +1), else 0."""
        return (X @ w + b > 0.0).astype(np.int64)

    def accuracy(X: np.ndarray, t: np.ndarray) -> float:
        return float(np.mean(np.where(predict(X) == 1, 1.0, -1.0) == t))

    y01_tr = (t_tr > 0).astype(np.int64)
    live_weights = d.X_train.shape[1] <= MAX_LIVE_WEIGHTS
    hist: dict[str, list[float]] = {"train/mistakes": [], "train/accuracy": [], "val/accuracy": []}
    converged_at: int | None = None
    for epoch in range(1, p.epochs + 1):
        sink.check()
        order = rng.permutation(len(t_tr)) if p.shuffle else np.arange(len(t_tr))
        w, b, mistakes, last = perceptron_epoch(w, b, d.X_train, t_tr, p.eta, order)
        values = {
            "train/mistakes": float(mistakes),
            "train/accuracy": accuracy(d.X_train, t_tr),
            "val/accuracy": accuracy(d.X_val, t_val),
            "weight_norm": float(np.sqrt(w @ w + b * b)),
        }
        for k in hist:
            hist[k].append(values[k])
        if live_weights:  # w, b after the epoch; its last update was w += η·t·x for this x, t
            values.update({f"param/w_{j}": float(v) for j, v in enumerate(w, start=1)})
            values["param/b"] = float(b)
            if last is not None:
                values["mistake/t"] = float(t_tr[last])
                values.update(
                    {f"mistake/x_{j}": float(v) for j, v in enumerate(d.X_train[last], start=1)}
                )
        sink.metric(epoch, values, epoch=epoch)
        if two_d:  # wrong points of this epoch's end state ringed
            wrong = np.flatnonzero(predict(d.X_train) != y01_tr)
            img = decision_boundary_png(predict, d.X_train, y01_tr, rings=wrong)
            emit(sink, f"boundary/epoch_{epoch:05d}.png", img, view="image", step=epoch)
        sink.progress(epoch, p.epochs)
        if mistakes == 0:
            converged_at = epoch
            sink.log(f"no mistake in epoch {epoch}: the training set is separated")
            sink.progress(p.epochs, p.epochs, "converged")
            break

    xs = list(range(1, len(hist["train/mistakes"]) + 1))
    emit(
        sink,
        "mistakes.json",
        line_artifact(
            {"train/mistakes": (xs, hist["train/mistakes"])},
            "mistakes per epoch",
            title_zh="每轮的分类错误次数",
        ),
        view="line",
    )
    emit(
        sink,
        "accuracy/curves.json",
        line_artifact(
            {k: (xs, v) for k, v in hist.items() if "accuracy" in k}, "accuracy", title_zh="准确率"
        ),
        view="line",
    )
    y01_val = (t_val > 0).astype(np.int64)
    emit(
        sink,
        "confusion.json",
        confusion_artifact(y01_val, predict(d.X_val), names),
        view="confusion",
    )
    return {
        "train/accuracy": accuracy(d.X_train, t_tr),
        "val/accuracy": accuracy(d.X_val, t_val),
        "train/mistakes_last_epoch": hist["train/mistakes"][-1],
        "epochs_run": len(xs),
        "converged_at": converged_at,
        "w": [float(v) for v in w],
        "b": float(b),
    }


SPEC = KindSpec(
    name="lab.perceptron",
    params=Params,
    run=run,
    queue="cpu",
    admin_only=False,
    category="lab",
    title="Perceptron",
    description="Rosenblatt's rule w ← w + η·t·x on each mistake: mistakes per epoch, the "
    "boundary after every epoch, convergence on separable data and none on the rest.",
)

"""Gaussian naive Bayes: Bayes' rule with features taken as independent given the class.

    p(c|x) ∝ p(c) · Π_j N(x_j; μ_cj, σ²_cj)        ŷ = argmax_c of it

Fitting only counts: the class priors p(c) and, per class and feature, a mean and a variance
(scikit-learn's GaussianNB). The data arrive in chunks through `partial_fit`, which updates
those statistics, so the learning curve shows how fast so few parameters settle; on 2-D sets
the boundary (quadratic: each class has its own variances) is drawn after every chunk.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field
from sklearn.naive_bayes import GaussianNB

from difflab.datasets.toy import ClassificationName
from difflab.lab.common import (
    LabCommon,
    confusion_artifact,
    decision_boundary_png,
    emit,
    heatmap_artifact,
    line_artifact,
    load_split,
    one_thread,
)
from difflab.runtime import KindSpec, RunContext, Sink


class Params(LabCommon):
    dataset: ClassificationName = Field(
        "blobs",
        description="Classification set: iris, wine, breast_cancer, digits, or a 2-D one "
        "(moons, circles, blobs, spirals, xor).",
    )
    chunks: int = Field(
        10,
        ge=1,
        le=100,
        description="The training set is fed in this many chunks; metrics after each.",
    )
    var_smoothing: float = Field(
        1e-9,
        ge=0.0,
        le=1.0,
        description="Share of the largest feature variance added to every variance "
        "(keeps a constant feature from giving a zero variance).",
    )


@one_thread
def run(p: Params, sink: Sink, ctx: RunContext) -> dict[str, Any]:
    d = load_split(p)
    classes = np.arange(d.data.n_classes)
    model = GaussianNB(var_smoothing=p.var_smoothing)
    two_d = d.X_train.shape[1] == 2
    order = np.random.default_rng(p.seed).permutation(len(d.y_train))
    parts = np.array_split(order, p.chunks)
    hist: dict[str, list[float]] = {"train/accuracy": [], "val/accuracy": []}
    seen_counts: list[int] = []
    seen = 0
    for step, idx in enumerate(parts, start=1):
        sink.check()
        if len(idx) == 0:
            continue
        # update the priors, means and variances with this chunk
        model.partial_fit(d.X_train[idx], d.y_train[idx], classes=classes)
        seen += len(idx)
        seen_idx = order[:seen]
        values = {
            "train/accuracy": float(model.score(d.X_train[seen_idx], d.y_train[seen_idx])),
            "val/accuracy": float(model.score(d.X_val, d.y_val)),
            "train/samples_seen": float(seen),
        }
        hist["train/accuracy"].append(values["train/accuracy"])
        hist["val/accuracy"].append(values["val/accuracy"])
        seen_counts.append(seen)
        sink.metric(step, values)
        if two_d:
            img = decision_boundary_png(
                model.predict_proba, d.X_train[seen_idx], d.y_train[seen_idx]
            )
            emit(sink, f"boundary/chunk_{step:03d}.png", img, view="image", step=step)
        sink.progress(step, p.chunks)

    names = d.data.target_names
    emit(
        sink,
        "accuracy/curves.json",
        line_artifact(
            {k: (seen_counts, v) for k, v in hist.items()},
            "accuracy vs samples seen",
            title_zh="准确率随已见样本数的变化",
        ),
        view="line",
    )
    pred = model.predict(d.X_val)
    emit(sink, "confusion.json", confusion_artifact(d.y_val, pred, names), view="confusion")
    feats = d.data.feature_names
    if len(feats) <= 64:
        emit(
            sink,
            "means.json",
            heatmap_artifact(model.theta_, feats, names, "μ per class", title_zh="各类别的均值 μ"),
            view="heatmap",
        )
        emit(
            sink,
            "variances.json",
            heatmap_artifact(model.var_, feats, names, "σ² per class", title_zh="各类别的方差 σ²"),
            view="heatmap",
        )
    return {
        "train/accuracy": float(model.score(d.X_train, d.y_train)),
        "val/accuracy": float(model.score(d.X_val, d.y_val)),
        "priors": [float(v) for v in model.class_prior_],
    }


SPEC = KindSpec(
    name="lab.naive_bayes",
    params=Params,
    run=run,
    queue="cpu",
    admin_only=False,
    category="lab",
    title="Gaussian naive Bayes",
    description="Bayes' rule with independent Gaussian features per class (scikit-learn): "
    "accuracy as data arrive, the boundary, per-class means and variances, confusion matrix.",
)

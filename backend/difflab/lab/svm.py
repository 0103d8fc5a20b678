"""Support vector machine: the widest margin between two classes, in input or kernel space.

    min ½‖w‖² + C Σ ξ_i   subject to   t_i (wᵀφ(x_i) + b) ≥ 1 − ξ_i,  ξ_i ≥ 0

The solution depends only on the points on or inside the margin — the support vectors. With
the linear kernel φ(x) = x and the margin's width is 2/‖w‖; with the RBF kernel
k(x, x') = exp(−γ‖x − x'‖²) = φ(x)ᵀφ(x') the same linear problem is solved in an implicit,
infinite-dimensional space, and the boundary curves in the plane. C trades margin width for
training mistakes: a sweep over C shows the margin narrowing and the support vectors thinning
as C grows. scikit-learn's SVC (libsvm) solves it; more classes are handled one-vs-one.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field, ValidationInfo, field_validator
from sklearn.svm import SVC

from difflab.datasets.toy import ClassificationName
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


class Params(LabCommon):
    dataset: ClassificationName = Field(
        "moons",
        description="Classification set: iris, wine, breast_cancer, digits, or a 2-D one "
        "(moons, circles, blobs, spirals, xor).",
    )
    kernel: Literal["linear", "rbf"] = Field(
        "rbf", description="linear: k(x,x') = xᵀx'; rbf: k(x,x') = exp(−γ‖x − x'‖²)."
    )
    C: float = Field(
        1.0, gt=0.0, le=1e4, description="Penalty on margin violations (large C: hard margin)."
    )
    gamma: float | None = Field(
        None,
        gt=0.0,
        le=1e3,
        description="RBF width γ; unset: 1/(n_features·Var(X)) (scikit-learn's 'scale'). "
        "RBF kernel only.",
    )
    c_sweep: int = Field(
        7,
        ge=0,
        le=25,
        description="Fit this many values of C, log-spaced from 0.01 to 100, before the final "
        "model (0: no sweep).",
    )

    @field_validator("gamma")
    @classmethod
    def _gamma_for_rbf(cls, v: float | None, info: ValidationInfo) -> float | None:
        if v is not None and info.data.get("kernel") == "linear":
            raise ValueError("gamma applies to the rbf kernel only")
        return v


def margin_width(model: SVC) -> float | None:
    """2/‖w‖ for a binary linear SVM (w = Σ α_i t_i x_i over the support vectors)."""
    if model.kernel != "linear" or len(model.classes_) != 2:
        return None
    return float(2.0 / np.linalg.norm(model.coef_[0]))


@one_thread
def run(p: Params, sink: Sink, ctx: RunContext) -> dict[str, Any]:
    d = load_split(p)
    two_d = d.X_train.shape[1] == 2
    binary = d.data.n_classes == 2

    def fit(C: float) -> SVC:
        return SVC(kernel=p.kernel, C=C, gamma="scale" if p.gamma is None else p.gamma).fit(
            d.X_train, d.y_train
        )

    def boundary(model: SVC) -> Any:
        return decision_boundary_png(
            model.predict,
            d.X_train,
            d.y_train,
            rings=model.support_,
            margin_fn=model.decision_function if binary else None,
        )

    def legend(C: float) -> str:
        margins = ", margins f(x) = ±1 in grey" if binary else ""
        return f"C = {C:.3g}: support vectors ringed{margins}"

    def legend_zh(what: str, C: float) -> str:
        margins = "，灰线为间隔 f(x) = ±1" if binary else ""
        return f"C = {C:.3g} 时的{what}：支持向量已圈出{margins}"

    def measures(model: SVC) -> dict[str, float]:
        out = {
            "train/accuracy": float(model.score(d.X_train, d.y_train)),
            "val/accuracy": float(model.score(d.X_val, d.y_val)),
            "support_vectors": float(len(model.support_)),
        }
        width = margin_width(model)
        if width is not None:
            out["margin_width"] = width
        return out

    Cs = np.logspace(-2, 2, p.c_sweep).tolist() if p.c_sweep > 0 else []
    total = len(Cs) + 1
    hist: dict[str, list[float]] = {"train/accuracy": [], "val/accuracy": [], "support_vectors": []}
    for step, C in enumerate(Cs, start=1):
        sink.check()
        model = fit(C)
        values = measures(model)
        for k in hist:
            hist[k].append(values[k])
        sink.metric(step, {**values, "C": C})
        if two_d:
            emit(
                sink,
                f"boundary/c_{step:02d}.png",
                boundary(model),
                view="image",
                step=step,
                meta={
                    "C": C,
                    "title": f"boundary at {legend(C)}",
                    "title_zh": legend_zh("决策边界", C),
                },
            )
        sink.progress(step, total)
    if Cs:
        accuracy = line_artifact(
            {k: (Cs, v) for k, v in hist.items() if "accuracy" in k},
            "accuracy vs C (log-spaced)",
            title_zh="准确率随 C 的变化（C 按对数等距取值）",
        )
        # the plot reads its axis titles from the body or the meta: the Chinese ones ride here
        accuracy.update(x_title_zh="C", y_title_zh="准确率")
        emit(
            sink,
            "sweep/accuracy.json",
            accuracy,
            view="line",
            meta={"x_title": "C", "y_title": "accuracy", "log_x": True},
        )
        emit(
            sink,
            "sweep/support_vectors.json",
            line_artifact(
                {"support_vectors": (Cs, hist["support_vectors"])},
                "support vectors vs C",
                title_zh="支持向量个数随 C 的变化",
            ),
            view="line",
            meta={
                "x_title": "C",
                "x_title_zh": "C",
                "y_title": "support vectors",
                "y_title_zh": "支持向量个数",
                "log_x": True,
            },
        )

    sink.check()
    model = fit(p.C)
    final = measures(model)
    if two_d:
        emit(
            sink,
            "boundary/final.png",
            boundary(model),
            view="image",
            meta={
                "C": p.C,
                "title": f"final model at {legend(p.C)}",
                "title_zh": legend_zh("最终模型", p.C),
            },
        )
    pred = model.predict(d.X_val)
    names = d.data.target_names
    emit(sink, "confusion.json", confusion_artifact(d.y_val, pred, names), view="confusion")
    sink.progress(total, total)
    return {
        **final,
        "support_vectors_per_class": [int(v) for v in model.n_support_],
        "C": p.C,
        "kernel": p.kernel,
    }


SPEC = KindSpec(
    name="lab.svm",
    params=Params,
    run=run,
    queue="cpu",
    admin_only=False,
    category="lab",
    title="Support vector machine",
    description="Maximum-margin classifier with a linear or RBF kernel (scikit-learn): the "
    "boundary with its margin and support vectors, a sweep over C, confusion matrix.",
)

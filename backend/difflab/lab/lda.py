"""LDA beside PCA: the supervised projection against the unsupervised one, on the same data.

PCA keeps the directions of largest total variance and never looks at the labels. Linear
discriminant analysis looks for directions w that maximize Fisher's ratio

    J(w) = wᵀS_B w / wᵀS_W w,   S_W = Σ_c Σ_{i∈c} (x_i − μ_c)(x_i − μ_c)ᵀ,
                                S_B = Σ_c n_c (μ_c − μ)(μ_c − μ)ᵀ

— class means far apart, each class tight — the leading eigenvectors of S_W⁻¹S_B, at most
k − 1 of them for k classes (scikit-learn's LinearDiscriminantAnalysis). Both projections are
fitted on the training split; the same ratio and a nearest-class-mean classifier in each
projected space score how well they keep the classes apart on the validation split.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field, ValidationInfo, field_validator
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.neighbors import NearestCentroid

from difflab.datasets.toy import N_CLASSES, N_FEATURES, ClassificationName
from difflab.lab.common import (
    LabCommon,
    emit,
    heatmap_artifact,
    load_split,
    one_thread,
    scatter_artifact,
)
from difflab.runtime import KindSpec, RunContext, Sink


class Params(LabCommon):
    dataset: ClassificationName = Field(
        "wine",
        description="Classification set: iris, wine, breast_cancer, digits, moons, circles, "
        "blobs, spirals, xor.",
    )
    n_components: int | None = Field(
        None,
        ge=1,
        le=9,
        description="Axes kept by both projections, at most classes − 1 and the number of "
        "features; unset: as many as allowed up to 2.",
    )

    @field_validator("n_components")
    @classmethod
    def _at_most(cls, v: int | None, info: ValidationInfo) -> int | None:
        ds = info.data.get("dataset")
        if v is not None and ds is not None:
            most = min(N_CLASSES[ds] - 1, N_FEATURES[ds])
            if v > most:
                raise ValueError(f"{ds} allows n_components <= {most} (classes − 1, features)")
        return v


def fisher_ratio(Z: np.ndarray, y: np.ndarray) -> float:
    """trace(S_W⁻¹ S_B) in the projected space: large when classes are apart and compact."""
    mu = Z.mean(axis=0)
    d = Z.shape[1]
    Sw, Sb = np.zeros((d, d)), np.zeros((d, d))
    for c in np.unique(y):
        Zc = Z[y == c]
        D = Zc - Zc.mean(axis=0)
        Sw += D.T @ D
        m = (Zc.mean(axis=0) - mu)[:, None]
        Sb += len(Zc) * (m @ m.T)
    return float(np.trace(np.linalg.pinv(Sw) @ Sb))


def _points_2d(Z: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """A 1-D projection is drawn with a little vertical jitter so the points do not pile up."""
    if Z.shape[1] >= 2:
        return Z[:, :2], ""
    spread = 0.05 * (Z.max() - Z.min() + 1e-12)
    return np.column_stack([Z[:, 0], rng.uniform(-spread, spread, len(Z))]), " (1-D, jittered)"


@one_thread
def run(p: Params, sink: Sink, ctx: RunContext) -> dict[str, Any]:
    d = load_split(p)
    k = d.data.n_classes
    m = p.n_components or min(2, k - 1, d.X_train.shape[1])
    rng = np.random.default_rng(p.seed)
    names = d.data.target_names
    result: dict[str, Any] = {"n_components": m}
    lda = LinearDiscriminantAnalysis(n_components=m)
    projections: dict[str, PCA | LinearDiscriminantAnalysis] = {
        "pca": PCA(n_components=m),
        "lda": lda,
    }
    for step, (tag, model) in enumerate(projections.items(), start=1):
        sink.check()
        model.fit(d.X_train, d.y_train)  # PCA ignores the labels
        Z_tr, Z_val = model.transform(d.X_train), model.transform(d.X_val)
        nc = NearestCentroid().fit(Z_tr, d.y_train)
        values = {
            f"{tag}/fisher_ratio_train": fisher_ratio(Z_tr, d.y_train),
            f"{tag}/fisher_ratio_val": fisher_ratio(Z_val, d.y_val),
            f"{tag}/val_accuracy_nearest_mean": float(nc.score(Z_val, d.y_val)),
        }
        sink.metric(step, values)
        result.update(values)
        pts, note = _points_2d(Z_tr, rng)
        title = f"{tag.upper()} projection of the training split{note}"
        jitter_zh = "（一维，纵向加了少量抖动）" if note else ""
        title_zh = f"训练集的 {tag.upper()} 投影{jitter_zh}"
        emit(
            sink,
            f"{tag}/projection.json",
            scatter_artifact(pts, d.y_train, names, title, title_zh=title_zh),
            view="scatter",
            step=step,
        )
        axes = model.components_ if tag == "pca" else model.scalings_[:, :m].T
        if len(d.data.feature_names) <= 64:
            emit(
                sink,
                f"{tag}/axes.json",
                heatmap_artifact(
                    axes,
                    d.data.feature_names,
                    [f"{tag.upper()}{j + 1}" for j in range(m)],
                    f"{tag.upper()} axes over features",
                    title_zh=f"{tag.upper()} 各投影轴在特征上的系数",
                ),
                view="heatmap",
            )
        sink.progress(step, 2)
    result["lda/val_accuracy_classifier"] = float(lda.score(d.X_val, d.y_val))
    result["lda/explained_variance_ratio"] = [float(v) for v in lda.explained_variance_ratio_[:m]]
    sink.metric(3, {"lda/val_accuracy_classifier": result["lda/val_accuracy_classifier"]})
    return result


SPEC = KindSpec(
    name="lab.lda",
    params=Params,
    run=run,
    queue="cpu",
    admin_only=False,
    category="lab",
    title="LDA beside PCA",
    description="Linear discriminant analysis (scikit-learn) and PCA projections of the same "
    "data side by side, scored by Fisher's ratio and a nearest-class-mean classifier.",
)

"""PCA two ways: eigendecomposition of the covariance matrix, and SVD of the centred data.

With X_c the centred data (n × d) and S = X_cᵀX_c/(n−1) its covariance:
    eigen: S v_j = λ_j v_j, λ_1 ≥ λ_2 ≥ …     the v_j are the principal axes, λ_j the variances
    SVD:   X_c = U Σ Vᵀ  ⇒  S = V (Σ²/(n−1)) Vᵀ  the rows of Vᵀ are the same axes, λ_j = σ_j²/(n−1)
The first axis is the direction of largest variance, each next one the largest orthogonal to
those before; keeping the first m gives the projection Z = X_c V_m and the reconstruction
X̂ = Z V_mᵀ + mean, whose squared error is the sum of the variances left out. The two ways agree
up to the sign of each axis; SVD never forms S, which is the numerically kinder way.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field, ValidationInfo, field_validator

from difflab.datasets.toy import N_FEATURES, ClassificationName
from difflab.lab.common import (
    DataCommon,
    emit,
    heatmap_artifact,
    image_grid,
    line_artifact,
    load_all,
    one_thread,
    scatter_artifact,
)
from difflab.runtime import KindSpec, RunContext, Sink


class Params(DataCommon):
    dataset: ClassificationName = Field(
        "iris",
        description="Data set (labels only colour the projection): iris, wine, breast_cancer, "
        "digits, moons, circles, blobs, spirals, xor.",
    )
    n_components: int = Field(
        2, ge=1, le=64, description="Principal axes kept (at most the number of features)."
    )

    @field_validator("n_components")
    @classmethod
    def _at_most_d(cls, v: int, info: ValidationInfo) -> int:
        ds = info.data.get("dataset")
        if ds is not None and v > N_FEATURES[ds]:
            raise ValueError(f"{ds} has only {N_FEATURES[ds]} features")
        return v


def pca_eigen(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Axes (rows, by decreasing variance) and variances from S = X_cᵀX_c/(n−1)."""
    Xc = X - X.mean(axis=0)
    S = Xc.T @ Xc / (len(X) - 1)
    lam, V = np.linalg.eigh(S)  # ascending, for a symmetric matrix
    order = np.argsort(lam)[::-1]
    return V[:, order].T, np.clip(lam[order], 0.0, None)


def pca_svd(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Axes (rows of Vᵀ) and variances σ²/(n−1) from X_c = UΣVᵀ."""
    Xc = X - X.mean(axis=0)
    _, sigma, Vt = np.linalg.svd(Xc, full_matrices=False)
    return Vt, sigma**2 / (len(X) - 1)


def align_signs(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Flip each row of A to point the same way as the matching row of B (axes have no sign)."""
    signs = np.sign((A * B).sum(axis=1))
    return A * np.where(signs == 0, 1.0, signs)[:, None]


@one_thread
def run(p: Params, sink: Sink, ctx: RunContext) -> dict[str, Any]:
    data, X = load_all(p)
    d = X.shape[1]
    m = p.n_components
    sink.check()
    V_eig, var_eig = pca_eigen(X)
    sink.progress(1, 3, "eigendecomposition of the covariance")
    sink.check()
    V_svd, var_svd = pca_svd(X)
    sink.progress(2, 3, "SVD of the centred data")
    n_axes = min(d, len(X) - 1)
    V_eig, var_eig, V_svd, var_svd = (
        V_eig[:n_axes],
        var_eig[:n_axes],
        V_svd[:n_axes],
        var_svd[:n_axes],
    )
    # compare where the variances are distinct: a repeated eigenvalue has no unique axis
    axis_gap = float(np.abs(align_signs(V_eig[:m], V_svd[:m]) - V_svd[:m]).max())
    var_gap = float(np.abs(var_eig - var_svd).max())

    ratio = var_svd / var_svd.sum()
    cumulative = np.cumsum(ratio)
    mean = X.mean(axis=0)
    Xc = X - mean
    errors = []
    for j in range(1, n_axes + 1):  # reconstruction from the first j axes
        sink.check()
        Vj = V_svd[:j]
        err = float(((Xc - Xc @ Vj.T @ Vj) ** 2).sum(axis=1).mean())
        errors.append(err)
        sink.metric(
            j,
            {
                "explained_variance_ratio": float(ratio[j - 1]),
                "cumulative_explained_variance": float(cumulative[j - 1]),
                "reconstruction_mse": err,
            },
        )
    axes = list(range(1, n_axes + 1))
    emit(
        sink,
        "explained_variance.json",
        line_artifact(
            {"explained variance ratio": (axes, ratio), "cumulative": (axes, cumulative)},
            "variance per principal axis",
            title_zh="各主成分轴解释的方差占比",
        ),
        view="line",
    )
    emit(
        sink,
        "reconstruction.json",
        line_artifact(
            {"reconstruction_mse": (axes, errors)},
            "reconstruction error vs axes kept",
            title_zh="重建误差随保留轴数的变化",
        ),
        view="line",
    )
    Z = Xc @ V_svd[:2].T if n_axes >= 2 else np.column_stack([Xc @ V_svd[0], np.zeros(len(X))])
    emit(
        sink,
        "projection.json",
        scatter_artifact(
            Z,
            data.y,
            data.target_names,
            "projection on the first two axes",
            title_zh="在前两个主成分轴上的投影",
        ),
        view="scatter",
    )
    k = min(m, 64)
    feats = data.feature_names
    if d <= 64:
        emit(
            sink,
            "components.json",
            heatmap_artifact(
                V_svd[:k],
                feats,
                [f"PC{j + 1}" for j in range(k)],
                "principal axes (rows) over features",
                title_zh="各主成分轴（行）在特征上的分量",
            ),
            view="heatmap",
        )
    if data.name == "digits":  # the mean digit, then each axis as an 8×8 image
        imgs = [mean.reshape(8, 8), *(v.reshape(8, 8) for v in V_svd[:k])]
        emit(
            sink, "components.png", image_grid(imgs, ncols=8, scale=8, normalize=True), view="image"
        )
    sink.progress(3, 3)
    return {
        "explained_variance": [float(v) for v in var_svd[:m]],
        "explained_variance_ratio": [float(v) for v in ratio[:m]],
        "cumulative_explained_variance": float(cumulative[m - 1]),
        "reconstruction_mse": errors[m - 1],
        "eigen_vs_svd_axis_gap": axis_gap,
        "eigen_vs_svd_variance_gap": var_gap,
        "components": V_svd[:m].tolist(),
    }


SPEC = KindSpec(
    name="lab.pca",
    params=Params,
    run=run,
    queue="cpu",
    admin_only=False,
    category="lab",
    title="PCA",
    description="Principal axes by eigendecomposition of the covariance and by SVD, side by "
    "side: explained variance, reconstruction error, the 2-D projection, the axes themselves.",
)

"""k-means: Lloyd's algorithm written out, one assignment and one update per iteration.

Minimizes the inertia J = Σ_i ‖x_i − μ_{c(i)}‖² by alternating two steps, each of which can
only lower J:
    assignment: c(i) = argmin_j ‖x_i − μ_j‖²          (each point to its nearest centroid)
    update:     μ_j  = mean of the points with c(i) = j (the mean minimizes the squared distances)
until no point changes cluster. J is not convex: the result depends on the initial centroids,
drawn at random from the data, or by k-means++ (each next one drawn with probability ∝ its
squared distance to the nearest one already chosen, which spreads them out).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score

from difflab.datasets.toy import ClassificationName
from difflab.lab.common import (
    DataCommon,
    emit,
    line_artifact,
    load_all,
    one_thread,
    scatter_artifact,
)
from difflab.runtime import KindSpec, RunContext, Sink

Init = Literal["random", "kmeans++"]


class Params(DataCommon):
    dataset: ClassificationName = Field(
        "blobs",
        description="Data set to cluster (its labels are only used to score the clustering): "
        "iris, wine, breast_cancer, digits, moons, circles, blobs, spirals, xor.",
    )
    k: int = Field(3, ge=2, le=20, description="Number of clusters.")
    init: Init = Field(
        "kmeans++",
        description="Initial centroids: random (k distinct data points) or kmeans++ "
        "(spread out by D² sampling).",
    )
    max_iter: int = Field(30, ge=1, le=300, description="Most assignment/update rounds.")
    tol: float = Field(
        1e-6,
        ge=0.0,
        le=1.0,
        description="Stop when no centroid moves farther than this (or no point changes).",
    )


def squared_distances(X: np.ndarray, C: np.ndarray) -> np.ndarray:
    """(n, k) matrix of ‖x_i − μ_j‖²."""
    return ((X[:, None, :] - C[None, :, :]) ** 2).sum(axis=2)


def initial_centroids(X: np.ndarray, k: int, init: Init, rng: np.random.Generator) -> np.ndarray:
    """k starting centroids: k distinct random points, or k-means++ D² sampling."""
    if init == "random":
        return X[rng.choice(len(X), size=k, replace=False)].copy()
    C = [X[rng.integers(len(X))]]
    for _ in range(1, k):
        d2 = squared_distances(X, np.array(C)).min(axis=1)  # D(x)²: to the nearest chosen one
        C.append(X[rng.choice(len(X), p=d2 / d2.sum())])
    return np.array(C)


def assign(X: np.ndarray, C: np.ndarray) -> np.ndarray:
    """Assignment step: the index of each point's nearest centroid."""
    return squared_distances(X, C).argmin(axis=1)


def update(X: np.ndarray, labels: np.ndarray, C: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Update step: each centroid moves to the mean of its points (an empty one stays put)."""
    new = C.copy()
    empty = []
    for j in range(len(C)):
        members = X[labels == j]
        if len(members):
            new[j] = members.mean(axis=0)
        else:
            empty.append(j)
    return new, empty


def inertia(X: np.ndarray, labels: np.ndarray, C: np.ndarray) -> float:
    """J = Σ_i ‖x_i − μ_{c(i)}‖²."""
    return float(((X - C[labels]) ** 2).sum())


@one_thread
def run(p: Params, sink: Sink, ctx: RunContext) -> dict[str, Any]:
    data, X = load_all(p)
    if p.k > len(X):
        raise ValueError(f"k={p.k} is more than the {len(X)} points")
    rng = np.random.default_rng(p.seed)
    C = initial_centroids(X, p.k, p.init, rng)
    # the scatters show 2-D inputs as they are, others on their first two principal axes
    to_2d = (lambda A: A) if X.shape[1] == 2 else PCA(n_components=2).fit(X).transform
    names = [f"cluster {j}" for j in range(p.k)] + ["centroid"]

    def snapshot(it: int, labels: np.ndarray, C: np.ndarray) -> None:
        pts = np.vstack([to_2d(X), to_2d(C)])
        lab = np.concatenate([labels, np.full(p.k, p.k)])
        title = f"iteration {it}" + ("" if X.shape[1] == 2 else " (first two principal axes)")
        title_zh = f"第 {it} 次迭代" + ("" if X.shape[1] == 2 else "（画在前两个主成分轴上）")
        emit(
            sink,
            f"clusters/iter_{it:03d}.json",
            scatter_artifact(pts, lab, names, title, title_zh=title_zh),
            view="scatter",
            step=it,
        )

    labels = assign(X, C)
    curve = [inertia(X, labels, C)]
    sink.metric(0, {"train/inertia": curve[0]})
    snapshot(0, labels, C)
    converged = False
    iterations = 0
    for it in range(1, p.max_iter + 1):
        sink.check()
        new_labels = assign(X, C)  # assignment step
        changed = int((new_labels != labels).sum()) if it > 1 else len(X)
        labels = new_labels
        C_new, empty = update(X, labels, C)  # update step
        shift = float(np.sqrt(((C_new - C) ** 2).sum(axis=1)).max())
        C = C_new
        if empty:
            sink.log(f"iteration {it}: clusters {empty} are empty and keep their centroid")
        curve.append(inertia(X, labels, C))
        iterations = it
        sink.metric(
            it, {"train/inertia": curve[-1], "centroid_shift": shift, "reassigned": float(changed)}
        )
        snapshot(it, labels, C)
        sink.progress(it, p.max_iter)
        if shift <= p.tol or (it > 1 and changed == 0):
            converged = True
            sink.log(f"converged after {it} iterations")
            sink.progress(p.max_iter, p.max_iter, "converged")
            break

    emit(
        sink,
        "inertia.json",
        line_artifact(
            {"train/inertia": (list(range(len(curve))), curve)},
            "inertia J",
            title_zh="惯性 J（簇内平方和）",
        ),
        view="line",
    )
    truth = np.vstack([to_2d(X), to_2d(C)])
    emit(
        sink,
        "truth.json",
        scatter_artifact(
            truth,
            np.concatenate([data.y, np.full(p.k, data.n_classes)]),
            [*data.target_names, "centroid"],
            "true classes, final centroids",
            title_zh="真实类别与最终的簇中心",
        ),
        view="scatter",
    )
    labels = assign(X, C)
    return {
        "train/inertia": inertia(X, labels, C),
        "iterations": iterations,
        "converged": converged,
        "adjusted_rand": float(adjusted_rand_score(data.y, labels)),
        "cluster_sizes": np.bincount(labels, minlength=p.k).tolist(),
    }


SPEC = KindSpec(
    name="lab.kmeans",
    params=Params,
    run=run,
    queue="cpu",
    admin_only=False,
    category="lab",
    title="k-means",
    description="Lloyd's algorithm step by step: assignments and centroids after every "
    "iteration, the inertia curve, random or k-means++ initialization.",
)

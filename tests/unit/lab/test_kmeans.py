"""lab.kmeans: the plain Lloyd steps against scikit-learn's KMeans from the same centroids."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pydantic import ValidationError
from sklearn.cluster import KMeans

from difflab.lab import kmeans
from difflab.lab.common import load_all
from difflab.runtime import JobCancelled, MemorySink, RunContext

CTX = RunContext(job_id="test")


@pytest.mark.parametrize(
    "kw",
    [
        {"dataset": "blobs"},
        {"dataset": "iris", "k": 3, "init": "random", "seed": 4},
        {"dataset": "wine", "k": 4},
        {"dataset": "moons", "k": 5, "init": "random"},
    ],
)
def test_inertia_matches_sklearn_from_the_same_initial_centroids(kw: dict[str, object]) -> None:
    p = kmeans.Params(max_iter=100, **kw)  # type: ignore[arg-type]
    result = kmeans.run(p, MemorySink(), CTX)
    _, X = load_all(p)
    C0 = kmeans.initial_centroids(X, p.k, p.init, np.random.default_rng(p.seed))
    ref = KMeans(n_clusters=p.k, init=C0, n_init=1, algorithm="lloyd", max_iter=100).fit(X)
    assert result["converged"]
    assert result["train/inertia"] == pytest.approx(ref.inertia_, rel=0.01)


def test_every_iteration_has_its_scatter_and_inertia_never_rises() -> None:
    sink = MemorySink()
    result = kmeans.run(kmeans.Params(dataset="moons", k=4, init="random"), sink, CTX)
    n = result["iterations"]
    inertia = [v for _, v in sink.metric_series("train/inertia")]
    assert len(inertia) == n + 1
    assert all(b <= a + 1e-9 for a, b in zip(inertia, inertia[1:], strict=False))
    scatters = [a for a in sink.of_type("artifact") if a["name"].startswith("clusters/")]
    assert [a["step"] for a in scatters] == list(range(n + 1))
    assert all(a["meta"]["view"] == "scatter" for a in scatters)
    last = json.loads(sink.artifacts[f"clusters/iter_{n:03d}.json"])
    assert len(last["points"]) == 300 + 4 and last["label_names"][-1] == "centroid"
    assert {"inertia.json", "truth.json"} <= set(sink.artifacts)
    assert sink.of_type("progress")[-1]["done"] == 30  # converged: the bar completes


def test_blobs_are_recovered() -> None:
    result = kmeans.run(kmeans.Params(dataset="blobs", k=3), MemorySink(), CTX)
    assert result["adjusted_rand"] > 0.95 and sorted(result["cluster_sizes"]) == [100, 100, 100]


def test_kmeans_plus_plus_spreads_the_start() -> None:
    _, X = load_all(kmeans.Params(dataset="blobs"))
    gaps = []
    for init in ("random", "kmeans++"):
        starts = [
            kmeans.initial_centroids(X, 3, init, np.random.default_rng(s))  # type: ignore[arg-type]
            for s in range(20)
        ]
        gaps.append(
            np.mean([kmeans.squared_distances(C, C)[np.triu_indices(3, 1)].min() for C in starts])
        )
    assert gaps[1] > gaps[0]


def test_a_kernel_is_not_a_kmeans_parameter() -> None:
    for bad, field in [
        ({"kernel": "rbf"}, "kernel"),
        ({"k": 1}, "k"),
        ({"init": "pca"}, "init"),
        ({"val_fraction": 0.2}, "val_fraction"),
    ]:
        with pytest.raises(ValidationError) as err:
            kmeans.Params(**bad)  # type: ignore[arg-type]
        assert err.value.errors()[0]["loc"] == (field,)


def test_cancel_stops_between_iterations() -> None:
    sink = MemorySink(on_event=lambda ev: sink.cancel() if ev.type == "metric" else None)
    with pytest.raises(JobCancelled):
        kmeans.run(kmeans.Params(), sink, CTX)
    assert len(sink.of_type("metric")) == 1

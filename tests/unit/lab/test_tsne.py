"""lab.tsne: maps per perplexity with their KL divergence."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError
from sklearn.manifold import TSNE

from difflab.lab import tsne
from difflab.lab.common import load_all
from difflab.runtime import JobCancelled, MemorySink, RunContext

CTX = RunContext(job_id="test")


def test_iris_maps_report_sklearn_kl_divergence() -> None:
    p = tsne.Params(dataset="iris", perplexities=[10.0, 30.0], max_iter=300)
    sink = MemorySink()
    result = tsne.run(p, sink, CTX)
    assert [m["perplexity"] for m in result["maps"]] == [10.0, 30.0]
    _, X = load_all(p)
    ref = TSNE(perplexity=30.0, max_iter=300, init="pca", random_state=0).fit(X)
    assert result["kl_divergence"] == pytest.approx(ref.kl_divergence_, rel=1e-4)
    assert 0.0 < result["kl_divergence"] < 2.0 and result["trustworthiness"] > 0.9
    kl = sink.metric_series("kl_divergence")
    assert [s for s, _ in kl] == [1, 2]
    first = json.loads(sink.artifacts["maps/perplexity_01.json"])
    assert len(first["points"]) == 150 and first["label_names"][0] == "setosa"
    assert "kl.json" in sink.artifacts


def test_max_points_subsamples() -> None:
    p = tsne.Params(dataset="digits", max_points=120, perplexities=[15.0], max_iter=250)
    result = tsne.run(p, MemorySink(), CTX)
    assert result["n_points"] == 120


def test_bad_perplexities_are_named() -> None:
    for bad in [
        {"perplexities": [1.0]},
        {"dataset": "iris", "max_points": 40, "perplexities": [50.0]},
        {"perplexities": []},
        {"dataset": "moons", "n_samples": 25},  # the default perplexity 30 is too many
    ]:
        with pytest.raises(ValidationError) as err:
            tsne.Params(**bad)  # type: ignore[arg-type]
        assert err.value.errors()[0]["loc"] == ("perplexities",)
    with pytest.raises(ValidationError) as err:
        tsne.Params(k=3)  # type: ignore[call-arg]
    assert err.value.errors()[0]["loc"] == ("k",)


def test_cancel_between_maps() -> None:
    sink = MemorySink(on_event=lambda ev: sink.cancel() if ev.type == "metric" else None)
    with pytest.raises(JobCancelled):
        tsne.run(tsne.Params(dataset="iris", perplexities=[10.0, 20.0], max_iter=250), sink, CTX)
    assert len(sink.of_type("metric")) == 1

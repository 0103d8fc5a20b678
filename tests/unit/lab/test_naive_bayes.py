"""lab.naive_bayes: chunked updates end where one fit on all the data does."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pydantic import ValidationError
from sklearn.naive_bayes import GaussianNB

from difflab.lab import naive_bayes
from difflab.lab.common import load_split
from difflab.runtime import JobCancelled, MemorySink, RunContext

CTX = RunContext(job_id="test")


def test_chunked_statistics_equal_one_fit_and_iris_is_learned() -> None:
    p = naive_bayes.Params(dataset="iris", chunks=5)
    sink = MemorySink()
    result = naive_bayes.run(p, sink, CTX)
    d = load_split(p)
    ref = GaussianNB().fit(d.X_train, d.y_train)
    means = np.array(json.loads(sink.artifacts["means.json"])["matrix"])
    np.testing.assert_allclose(means, ref.theta_, atol=1e-4)
    np.testing.assert_allclose(result["priors"], ref.class_prior_, atol=1e-12)
    assert result["val/accuracy"] == pytest.approx(ref.score(d.X_val, d.y_val))
    assert result["val/accuracy"] >= 0.9
    seen = [v for _, v in sink.metric_series("train/samples_seen")]
    assert len(seen) == 5 and seen[-1] == len(d.y_train)


def test_two_d_sets_get_a_boundary_per_chunk() -> None:
    sink = MemorySink()
    naive_bayes.run(naive_bayes.Params(dataset="moons", chunks=3), sink, CTX)
    assert {f"boundary/chunk_{i:03d}.png" for i in (1, 2, 3)} <= set(sink.artifacts)
    assert "confusion.json" in sink.artifacts


def test_fields_are_checked() -> None:
    for bad, field in [
        ({"var_smoothing": -1.0}, "var_smoothing"),
        ({"chunks": 0}, "chunks"),
        ({"max_depth": 3}, "max_depth"),
    ]:
        with pytest.raises(ValidationError) as err:
            naive_bayes.Params(**bad)  # type: ignore[arg-type]
        assert err.value.errors()[0]["loc"][0] == field


def test_cancel_stops_between_chunks() -> None:
    sink = MemorySink(on_event=lambda ev: sink.cancel() if ev.type == "metric" else None)
    with pytest.raises(JobCancelled):
        naive_bayes.run(naive_bayes.Params(), sink, CTX)

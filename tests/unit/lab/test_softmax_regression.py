"""lab.softmax_regression: multi-class cross-entropy, class regions, digit weights."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pydantic import ValidationError

from difflab.lab import softmax_regression as softmax
from difflab.runtime import JobCancelled, MemorySink, RunContext

CTX = RunContext(job_id="test")


def test_iris_reaches_ninety_percent_with_a_consistent_confusion_matrix() -> None:
    sink = MemorySink()
    result = softmax.run(softmax.Params(dataset="iris", epochs=40), sink, CTX)
    assert result["val/accuracy"] >= 0.9
    conf = json.loads(sink.artifacts["confusion.json"])
    M = np.array(conf["matrix"])
    assert M.shape == (3, 3) and M.sum() == 38  # a quarter of 150 held out, rounded up
    assert np.trace(M) / M.sum() == pytest.approx(result["val/accuracy"])
    assert conf["x_labels"] == ["setosa", "versicolor", "virginica"]
    # W has a row per class: the binary param/w_j, param/b do not apply
    assert not any(k.startswith("param/") for e in sink.of_type("metric") for k in e["values"])


def test_blobs_draw_three_class_regions() -> None:
    sink = MemorySink()
    result = softmax.run(softmax.Params(dataset="blobs", epochs=10, snapshots=2), sink, CTX)
    assert result["val/accuracy"] >= 0.95
    assert {"boundary/epoch_00000.png", "boundary/epoch_00010.png"} <= set(sink.artifacts)
    weights = json.loads(sink.artifacts["weights.json"])
    assert np.array(weights["matrix"]).shape == (3, 2)


def test_digits_show_each_class_weights_as_an_image() -> None:
    sink = MemorySink()
    result = softmax.run(
        softmax.Params(dataset="digits", epochs=5, penalty="l2", penalty_strength=1e-3),
        sink,
        CTX,
    )
    assert result["val/accuracy"] >= 0.9
    assert "weights.png" in sink.artifacts


def test_inapplicable_fields_are_named() -> None:
    for bad, field in [
        ({"dataset": "diabetes"}, "dataset"),
        ({"dataset": "wine", "degree": 2}, "degree"),
        ({"k": 3}, "k"),
    ]:
        with pytest.raises(ValidationError) as err:
            softmax.Params(**bad)  # type: ignore[arg-type]
        assert err.value.errors()[0]["loc"][0] == field


def test_cancel_stops_training() -> None:
    sink = MemorySink(on_event=lambda ev: sink.cancel() if ev.type == "metric" else None)
    with pytest.raises(JobCancelled):
        softmax.run(softmax.Params(epochs=50), sink, CTX)

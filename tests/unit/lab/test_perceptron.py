"""lab.perceptron: Rosenblatt's rule, against scikit-learn's Perceptron."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError
from sklearn.linear_model import Perceptron

from difflab.lab import perceptron
from difflab.lab.common import load_split
from difflab.runtime import JobCancelled, MemorySink, RunContext

CTX = RunContext(job_id="test")


def test_the_update_rule_equals_sklearn_perceptron() -> None:
    p = perceptron.Params(dataset="breast_cancer", shuffle=False, epochs=4)
    result = perceptron.run(p, MemorySink(), CTX)
    d = load_split(p)
    t = np.where(d.y_train == p.positive_class, 1, -1)
    ref = Perceptron(shuffle=False, max_iter=result["epochs_run"], tol=None, eta0=1.0).fit(
        d.X_train, t
    )
    np.testing.assert_allclose(result["w"], ref.coef_[0], atol=1e-9)
    assert result["b"] == pytest.approx(ref.intercept_[0])


def test_separable_data_converge_with_no_mistake() -> None:
    sink = MemorySink()
    result = perceptron.run(perceptron.Params(dataset="iris", positive_class=0), sink, CTX)
    assert result["converged_at"] is not None and result["train/accuracy"] == 1.0
    mistakes = [v for _, v in sink.metric_series("train/mistakes")]
    assert mistakes[-1] == 0 and mistakes[0] > 0


def test_moons_never_settle_and_each_epoch_has_a_boundary() -> None:
    sink = MemorySink()
    result = perceptron.run(perceptron.Params(dataset="moons", epochs=6), sink, CTX)
    assert result["converged_at"] is None and result["train/mistakes_last_epoch"] > 0
    assert 0.7 < result["val/accuracy"] < 0.95
    assert sorted(n for n in sink.artifacts if n.startswith("boundary/")) == [
        f"boundary/epoch_{e:05d}.png" for e in range(1, 7)
    ]
    assert {"mistakes.json", "accuracy/curves.json", "confusion.json"} <= set(sink.artifacts)


def test_fields_that_do_not_apply_are_named() -> None:
    for bad, field in [
        ({"dataset": "moons", "positive_class": 2}, "positive_class"),
        ({"eta": 0.0}, "eta"),
        ({"optimizer": "adam"}, "optimizer"),
    ]:
        with pytest.raises(ValidationError) as err:
            perceptron.Params(**bad)  # type: ignore[arg-type]
        assert err.value.errors()[0]["loc"][0] == field


def test_cancel_stops_training() -> None:
    sink = MemorySink(on_event=lambda ev: sink.cancel() if ev.type == "metric" else None)
    with pytest.raises(JobCancelled):
        perceptron.run(perceptron.Params(dataset="moons"), sink, CTX)
    assert len(sink.of_type("metric")) == 1

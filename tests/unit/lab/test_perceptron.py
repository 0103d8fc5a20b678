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


def test_each_epoch_reports_w_b_and_its_last_mistake() -> None:
    p = perceptron.Params(dataset="moons", shuffle=False, epochs=4, eta=0.5)
    sink = MemorySink()
    result = perceptron.run(p, sink, CTX)
    d = load_split(p)
    t = np.where(d.y_train == p.positive_class, 1.0, -1.0)
    order = np.arange(len(t))  # shuffle=False: the rows in order every epoch
    w_prev, b_prev = np.zeros(2), 0.0
    points = [e["values"] for e in sink.of_type("metric")]
    assert len(points) == 4
    for values in points:
        w = np.array([values["param/w_1"], values["param/w_2"]])
        x = np.array([values["mistake/x_1"], values["mistake/x_2"]])
        t_i, b = values["mistake/t"], values["param/b"]
        assert "param/w_3" not in values and "mistake/x_3" not in values
        # replay the epoch up to its last mistake: w, b just before the last update
        last = perceptron.perceptron_epoch(w_prev, b_prev, d.X_train, t, p.eta, order)[3]
        assert last is not None and np.array_equal(x, d.X_train[last]) and t_i == t[last]
        w_before, b_before, _, _ = perceptron.perceptron_epoch(
            w_prev, b_prev, d.X_train, t, p.eta, order[:last]
        )
        assert t_i * (x @ w_before + b_before) <= 0.0  # it was a mistake
        np.testing.assert_allclose(w, w_before + p.eta * t_i * x, atol=1e-12)
        assert b == pytest.approx(b_before + p.eta * t_i)
        w_prev, b_prev = w, b
    assert list(w_prev) == result["w"] and b_prev == result["b"]


def test_an_epoch_without_mistake_reports_no_mistake_and_wide_sets_no_weights() -> None:
    sink = MemorySink()
    perceptron.run(perceptron.Params(dataset="iris", positive_class=0), sink, CTX)
    first, last = sink.of_type("metric")[0]["values"], sink.of_type("metric")[-1]["values"]
    assert {"mistake/t", "mistake/x_4", "param/w_4", "param/b"} <= set(first)
    assert last["train/mistakes"] == 0 and "param/w_4" in last
    assert not any(k.startswith("mistake/") for k in last)
    sink = MemorySink()
    perceptron.run(perceptron.Params(dataset="wine", epochs=2), sink, CTX)  # 13 features
    keys = {k for e in sink.of_type("metric") for k in e["values"]}
    assert not any(k.startswith(("param/", "mistake/")) for k in keys)


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

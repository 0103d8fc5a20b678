"""lab.svm: support vectors, the margin 2/‖w‖, the C sweep."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError
from sklearn.svm import SVC

from difflab.lab import svm
from difflab.lab.common import load_split
from difflab.runtime import JobCancelled, MemorySink, RunContext

CTX = RunContext(job_id="test")


def test_linear_margin_is_two_over_the_norm_of_w() -> None:
    p = svm.Params(dataset="blobs", kernel="linear", c_sweep=0, noise=0.05)
    d = load_split(p)
    keep = d.y_train < 2  # two classes: one margin
    model = SVC(kernel="linear", C=1.0).fit(d.X_train[keep], d.y_train[keep])
    # w = Σ α_i t_i x_i over the support vectors (dual_coef_ holds α_i t_i)
    w = model.dual_coef_[0] @ model.support_vectors_
    np.testing.assert_allclose(w, model.coef_[0], atol=1e-9)
    assert svm.margin_width(model) == pytest.approx(2.0 / np.linalg.norm(w))
    # support vectors sit on the margin: |f(x)| ≤ 1 (up to the solver's tolerance)
    f = model.decision_function(model.support_vectors_)
    assert np.all(np.abs(f) <= 1.0 + 1e-2)


def test_rbf_on_moons_with_a_sweep_over_c() -> None:
    sink = MemorySink()
    result = svm.run(svm.Params(dataset="moons", c_sweep=4), sink, CTX)
    assert result["val/accuracy"] >= 0.95
    assert result["support_vectors"] == sum(result["support_vectors_per_class"]) > 0
    svs = [v for _, v in sink.metric_series("support_vectors")]
    assert len(svs) == 4 and svs[-1] < svs[0]  # a harder margin keeps fewer support vectors
    assert {
        "boundary/c_01.png",
        "boundary/c_04.png",
        "boundary/final.png",
        "sweep/accuracy.json",
        "confusion.json",
    } <= set(sink.artifacts)
    # C is swept log-spaced: the plot says so, for a log x axis
    sweep = next(
        e.payload
        for e in sink.events
        if e.type == "artifact" and e.payload["name"] == "sweep/accuracy.json"
    )
    assert sweep["meta"] == {"view": "line", "x_title": "C", "y_title": "accuracy", "log_x": True}


def test_linear_kernel_reports_the_margin_width() -> None:
    sink = MemorySink()
    result = svm.run(svm.Params(dataset="moons", kernel="linear", c_sweep=2), sink, CTX)
    widths = [v for _, v in sink.metric_series("margin_width")]
    assert len(widths) == 2 and widths[1] < widths[0]  # larger C, narrower margin
    assert result["margin_width"] > 0


def test_gamma_does_not_apply_to_the_linear_kernel() -> None:
    for bad, field in [
        ({"kernel": "linear", "gamma": 0.5}, "gamma"),
        ({"C": 0.0}, "C"),
        ({"kernel": "poly"}, "kernel"),
        ({"k": 3}, "k"),
    ]:
        with pytest.raises(ValidationError) as err:
            svm.Params(**bad)  # type: ignore[arg-type]
        assert err.value.errors()[0]["loc"][0] == field
    svm.Params(kernel="rbf", gamma=0.5)


def test_cancel_stops_the_sweep() -> None:
    sink = MemorySink(on_event=lambda ev: sink.cancel() if ev.type == "metric" else None)
    with pytest.raises(JobCancelled):
        svm.run(svm.Params(), sink, CTX)

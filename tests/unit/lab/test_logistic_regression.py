"""lab.logistic_regression: binary cross-entropy trained with torch.optim."""

from __future__ import annotations

from typing import get_args

import numpy as np
import pytest
from pydantic import ValidationError
from sklearn.preprocessing import PolynomialFeatures

from difflab.lab import logistic_regression as logreg
from difflab.lab.common import load_split
from difflab.lab.nn import OptimizerName
from difflab.runtime import JobCancelled, MemorySink, RunContext

CTX = RunContext(job_id="test")


def test_breast_cancer_reaches_ninety_percent() -> None:
    sink = MemorySink()
    result = logreg.run(logreg.Params(dataset="breast_cancer", epochs=20), sink, CTX)
    assert result["val/accuracy"] >= 0.9
    first, last = sink.of_type("metric")[1]["values"], sink.of_type("metric")[-1]["values"]
    assert {"train/loss", "val/loss", "train/accuracy", "val/accuracy", "lr", "grad_norm"} <= set(
        first
    )
    assert last["train/loss"] < first["train/loss"]
    assert {"confusion.json", "accuracy/curves.json", "loss/curves.json", "weights.json"} <= set(
        sink.artifacts
    )
    assert not any(n.startswith("boundary/") for n in sink.artifacts)  # 30-D: no plane to draw
    assert not any(k.startswith("param/") for k in first)  # nor 30 weights in the metrics


def test_moons_draws_the_boundary_at_intervals() -> None:
    sink = MemorySink()
    logreg.run(logreg.Params(dataset="moons", epochs=10, snapshots=3), sink, CTX)
    shots = sorted(n for n in sink.artifacts if n.startswith("boundary/"))
    assert shots == [
        "boundary/epoch_00000.png",
        "boundary/epoch_00005.png",
        "boundary/epoch_00010.png",
    ]
    steps = [a["step"] for a in sink.of_type("artifact") if a["name"].startswith("boundary/")]
    assert steps == [0, 5, 10]


def test_polynomial_features_bend_the_boundary_around_circles() -> None:
    flat = logreg.run(logreg.Params(dataset="circles", epochs=30, snapshots=0), MemorySink(), CTX)
    curved = logreg.run(
        logreg.Params(dataset="circles", epochs=30, degree=2, snapshots=0), MemorySink(), CTX
    )
    assert flat["val/accuracy"] < 0.75 <= 0.95 <= curved["val/accuracy"]


@pytest.mark.parametrize("optimizer", get_args(OptimizerName))
def test_every_optimizer_lowers_the_loss(optimizer: str) -> None:
    lr = 1.0 if optimizer == "adadelta" else 0.05
    sink = MemorySink()
    logreg.run(
        logreg.Params(dataset="breast_cancer", epochs=3, optimizer=optimizer, lr=lr), sink, CTX
    )
    losses = [v for _, v in sink.metric_series("train/loss")]
    assert losses[-1] < losses[0]


def test_early_stopping_restores_the_best_weights() -> None:
    sink = MemorySink()
    result = logreg.run(
        logreg.Params(dataset="breast_cancer", epochs=200, patience=3, lr=0.2), sink, CTX
    )
    assert result["epochs_run"] < 200
    val = dict(sink.metric_series("val/loss"))
    assert result["val/loss"] == pytest.approx(val[result["best_epoch"]], rel=1e-5)
    assert any("restored" in e["message"] for e in sink.of_type("log"))


@pytest.mark.parametrize("degree", [1, 2])
def test_w_and_b_of_every_epoch_are_reported_and_give_the_loss(degree: int) -> None:
    p = logreg.Params(dataset="circles", degree=degree, epochs=3, snapshots=0)
    sink = MemorySink()
    logreg.run(p, sink, CTX)
    d = load_split(p)
    Phi = PolynomialFeatures(degree, include_bias=False).fit_transform(d.X_train)  # (n, 2 or 5)
    points = [e["values"] for e in sink.of_type("metric")]
    assert len(points) == 4
    for values in points:
        w = np.array([values[f"param/w_{j}"] for j in range(1, Phi.shape[1] + 1)])
        assert f"param/w_{Phi.shape[1] + 1}" not in values
        # the reported σ(wᵀφ(x) + b) gives the reported cross-entropy and accuracy
        z = Phi @ w + values["param/b"]
        loss = np.mean(np.logaddexp(0.0, z) - d.y_train * z)  # −[y log σ(z) + (1−y) log(1−σ(z))]
        assert values["train/loss"] == pytest.approx(loss, rel=1e-5)
        assert values["train/accuracy"] == pytest.approx(np.mean((z > 0) == d.y_train))
    assert points[-1]["param/w_1"] != points[0]["param/w_1"]


def test_inapplicable_and_out_of_range_fields_are_named() -> None:
    for bad, field in [
        ({"dataset": "iris"}, "dataset"),
        ({"dataset": "breast_cancer", "degree": 2}, "degree"),
        ({"optimizer": "lbfgs"}, "optimizer"),
        ({"lr": -1.0}, "lr"),
        ({"kernel": "rbf"}, "kernel"),
        ({"dropout": 0.5}, "dropout"),
    ]:
        with pytest.raises(ValidationError) as err:
            logreg.Params(**bad)  # type: ignore[arg-type]
        assert err.value.errors()[0]["loc"][0] == field


def test_cancel_stops_training() -> None:
    sink = MemorySink(on_event=lambda ev: sink.cancel() if ev.type == "metric" else None)
    with pytest.raises(JobCancelled):
        logreg.run(logreg.Params(epochs=50), sink, CTX)
    assert len(sink.of_type("metric")) == 1

"""lab.linear_regression: the normal equation against scikit-learn, descent against it."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError
from sklearn.linear_model import ElasticNet, LinearRegression, Ridge

from difflab.datasets.toy import load_dataset
from difflab.lab import linear_regression as lr
from difflab.lab.common import scale, train_val_split
from difflab.runtime import JobCancelled, MemorySink, RunContext

CTX = RunContext(job_id="test")


def _design(p: lr.Params) -> tuple[np.ndarray, np.ndarray]:
    """The scaled training inputs and targets the kind fits, built the same way."""
    d = load_dataset(p.dataset, n_samples=p.n_samples, noise=p.noise, seed=p.seed)
    X_tr, _, y_tr, _ = train_val_split(d.X, d.y, p.val_fraction, p.seed)
    (Phi,) = scale(lr.polynomial(X_tr, p.degree), scaling=p.scaling)
    return Phi, y_tr


@pytest.mark.parametrize(
    "kw", [{"dataset": "diabetes"}, {"dataset": "plane"}, {"dataset": "poly", "degree": 3}]
)
def test_normal_equation_equals_sklearn_linear_regression(kw: dict[str, object]) -> None:
    p = lr.Params(methods=["normal"], epochs=1, **kw)  # type: ignore[arg-type]
    result = lr.run(p, MemorySink(), CTX)
    Phi, y = _design(p)
    ref = LinearRegression().fit(Phi, y)
    theta = np.array(result["theta"]["normal"])
    np.testing.assert_allclose(theta[0], ref.intercept_, atol=1e-6)
    np.testing.assert_allclose(theta[1:], ref.coef_, atol=1e-6)


def test_ridge_closed_form_equals_sklearn_ridge() -> None:
    lam = 0.3
    p = lr.Params(
        dataset="diabetes", methods=["normal"], epochs=1, penalty="l2", penalty_strength=lam
    )
    theta = np.array(lr.run(p, MemorySink(), CTX)["theta"]["normal"])
    Phi, y = _design(p)
    # J = 1/(2n)‖Aθ − y‖² + λ/2‖w‖²  is scikit-learn's Ridge with alpha = nλ
    ref = Ridge(alpha=len(y) * lam).fit(Phi, y)
    np.testing.assert_allclose(theta[1:], ref.coef_, atol=1e-6)
    np.testing.assert_allclose(theta[0], ref.intercept_, atol=1e-6)


def test_gradient_descent_approaches_the_closed_form() -> None:
    sink = MemorySink()
    result = lr.run(lr.Params(dataset="linear", epochs=40), sink, CTX)
    assert result["gap_to_normal/minibatch"] < 0.05
    assert result["gap_to_normal/stochastic"] < 0.1
    # one full-batch step per epoch is slowest to arrive, as the notes say
    assert result["gap_to_normal/batch"] > result["gap_to_normal/minibatch"]
    curve = [v for _, v in sink.metric_series("train/mse_batch")]
    assert len(curve) == 41 and curve[-1] < curve[0] / 10
    assert all(b <= a + 1e-12 for a, b in zip(curve, curve[1:], strict=False))
    assert result["train/mse_normal"] <= min(result[f"train/mse_{m}"] for m in lr.GD_METHODS)
    names = set(sink.artifacts)
    assert {
        "mse/curves.json",
        "fit/epoch_00000.png",
        "fit/epoch_00040.png",
        "fit/lines.json",
        "coefficients.json",
        "predicted_vs_true.json",
    } <= names
    assert sink.of_type("progress")[-1]["done"] == 40


def test_elastic_net_descent_nears_sklearn_and_skips_the_closed_form() -> None:
    p = lr.Params(
        dataset="plane",
        methods=["normal", "batch"],
        epochs=400,
        lr=0.5,
        penalty="elasticnet",
        penalty_strength=0.1,
        l1_ratio=0.5,
    )
    sink = MemorySink()
    result = lr.run(p, sink, CTX)
    assert "normal" not in result["theta"]
    assert any("no closed form" in e["message"] for e in sink.of_type("log"))
    Phi, y = _design(p)
    ref = ElasticNet(alpha=0.1, l1_ratio=0.5).fit(Phi, y)
    np.testing.assert_allclose(result["theta"]["batch"][1:], ref.coef_, atol=2e-2)


def test_a_too_large_step_is_reported_as_divergence() -> None:
    sink = MemorySink()
    result = lr.run(lr.Params(methods=["normal", "batch"], lr=8.0, epochs=30), sink, CTX)
    assert result["diverged"] == ["batch"] and "train/mse_batch" not in result
    assert any("diverged" in e["message"] for e in sink.of_type("log"))
    for p in sink.of_type("metric"):
        assert all(np.isfinite(v) for v in p["values"].values())


def test_plane_gets_a_plane_heatmap() -> None:
    sink = MemorySink()
    lr.run(lr.Params(dataset="plane", epochs=3), sink, CTX)
    assert "plane.json" in sink.artifacts and "fit/lines.json" not in sink.artifacts


def test_inapplicable_and_out_of_range_fields_are_named() -> None:
    for bad, field in [
        ({"dataset": "plane", "degree": 3}, "degree"),
        ({"lr": 0.0}, "lr"),
        ({"methods": ["batch", "batch"]}, "methods"),
        ({"kernel": "rbf"}, "kernel"),
        ({"dataset": "moons"}, "dataset"),
    ]:
        with pytest.raises(ValidationError) as err:
            lr.Params(**bad)  # type: ignore[arg-type]
        assert err.value.errors()[0]["loc"][0] == field


def test_cancel_stops_at_the_next_epoch() -> None:
    sink = MemorySink(on_event=lambda ev: sink.cancel() if ev.type == "metric" else None)
    with pytest.raises(JobCancelled):
        lr.run(lr.Params(epochs=50), sink, CTX)
    assert len(sink.of_type("metric")) == 1


def test_theta_of_every_epoch_is_reported_and_ends_at_the_result() -> None:
    p = lr.Params(dataset="plane", epochs=5)
    sink = MemorySink()
    result = lr.run(p, sink, CTX)
    points = [e["values"] for e in sink.of_type("metric")]
    assert len(points) == 6
    for values in points:  # θ₀ (intercept), θ₁, θ₂ for the two inputs of the plane
        for m in lr.ALL_METHODS:
            assert [f"param/{m}/theta_{j}" in values for j in range(4)] == [True] * 3 + [False]
    for m, theta in result["theta"].items():
        assert [points[-1][f"param/{m}/theta_{j}"] for j in range(3)] == theta
    # epoch 1 of batch descent is one step from θ = 0: θ = −lr·∇J(0)
    Phi, y = _design(p)
    step = -p.lr * lr.gradient(np.zeros(3), lr.design(Phi), y, "none", 0.0, 0.5)
    assert [points[0][f"param/batch/theta_{j}"] for j in range(3)] == [0.0, 0.0, 0.0]
    np.testing.assert_allclose([points[1][f"param/batch/theta_{j}"] for j in range(3)], step)


def test_theta_is_not_reported_beyond_the_size_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lr, "MAX_LIVE_WEIGHTS", 1)
    sink = MemorySink()
    lr.run(lr.Params(dataset="plane", epochs=2), sink, CTX)  # two weights: over the limit
    assert not any(k.startswith("param/") for e in sink.of_type("metric") for k in e["values"])

"""lab.regularization: the paths against scikit-learn and the closed form; dropout; early stop."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from pydantic import ValidationError
from sklearn.linear_model import ElasticNet, Lasso

from difflab.lab import regularization as rg
from difflab.runtime import JobCancelled, MemorySink, RunContext

CTX = RunContext(job_id="test")


def _series(sink: MemorySink, name: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    data = json.loads(sink.artifacts[name])
    return {s["name"]: (np.array(s["x"]), np.array(s["y"])) for s in data["series"]}


def _lambdas(p: rg.Params) -> np.ndarray:
    return np.logspace(np.log10(p.lambda_min), np.log10(p.lambda_max), p.n_lambdas)


def test_lasso_zeros_grow_with_lambda_and_match_sklearn_lasso() -> None:
    p = rg.Params(parts=["paths"])
    sink = MemorySink()
    result = rg.run(p, sink, CTX)
    zeros = _series(sink, "paths/zero_weights.json")
    lam, lasso_zeros = zeros["lasso"]
    np.testing.assert_allclose(lam, _lambdas(p), rtol=1e-5)
    assert np.all(np.diff(lasso_zeros) >= 0)  # on diabetes no weight comes back once zero
    assert lasso_zeros[0] < 3 and lasso_zeros[-1] == 10
    assert np.all(zeros["ridge"][1] == 0)  # L2 shrinks, never zeroes
    meta = next(a["meta"] for a in sink.of_type("artifact") if a["name"] == "paths/lasso.json")
    assert meta["view"] == "line" and meta["log_x"] is True

    # each coefficient's series against scikit-learn's own Lasso, fitted with an intercept
    d = rg.design(p)
    paths = _series(sink, "paths/lasso.json")
    for i in (0, 8, 14, 20):
        ref = Lasso(alpha=lam[i], tol=1e-10, max_iter=100_000).fit(d.X_train, d.y_train)
        assert ref.intercept_ == pytest.approx(0.0, abs=1e-12)  # X and y are centered
        ours = np.array([paths[f][1][i] for f in d.names])
        np.testing.assert_allclose(ours, ref.coef_, atol=2e-5)
        assert int(np.sum(ref.coef_ == 0.0)) == lasso_zeros[i]
    assert result["paths/best_lambda_ridge"] in result["paths/lambdas"]


def test_ridge_path_is_the_closed_form() -> None:
    p = rg.Params(parts=["paths"])
    d = rg.design(p)
    lambdas = _lambdas(p)
    paths = rg.coefficient_paths(d.X_train, d.y_train, lambdas, p.l1_ratio)
    X, y, n = d.X_train, d.y_train, len(d.y_train)
    for i, lam in enumerate(lambdas):
        # J = 1/(2n)‖Xw − y‖² + λ/2‖w‖²  ⇒  (XᵀX + nλI) w = Xᵀy  (scikit-learn's alpha = nλ)
        w = np.linalg.solve(X.T @ X + n * lam * np.eye(X.shape[1]), X.T @ y)
        np.testing.assert_allclose(paths["ridge"][i], w, rtol=1e-8, atol=1e-10)
    norms = np.linalg.norm(paths["ridge"], axis=1)
    assert np.all(np.diff(norms) < 0)


def test_elastic_net_path_matches_sklearn_elastic_net() -> None:
    p = rg.Params(parts=["paths"], l1_ratio=0.3, n_lambdas=10)
    d = rg.design(p)
    lambdas = _lambdas(p)
    paths = rg.coefficient_paths(d.X_train, d.y_train, lambdas, p.l1_ratio)
    for i in (2, 5):
        ref = ElasticNet(alpha=lambdas[i], l1_ratio=0.3, tol=1e-10, max_iter=100_000)
        ref.fit(d.X_train, d.y_train)
        np.testing.assert_allclose(paths["elasticnet"][i], ref.coef_, atol=1e-6)


def test_polynomial_features_on_a_1d_set() -> None:
    p = rg.Params(dataset="poly", degree=9, n_samples=100, noise=0.3, parts=["paths"])
    sink = MemorySink()
    result = rg.run(p, sink, CTX)
    assert result["features"] == [f"x^{k}" for k in range(1, 10)]
    assert set(_series(sink, "paths/lasso.json")) == set(result["features"])
    assert result["paths/zeros_at_best_lasso"] > 0  # the lasso drops powers the cubic lacks


def test_dropout_is_random_in_training_and_deterministic_in_eval() -> None:
    torch.manual_seed(0)
    net = rg.build_mlp(3, [16, 16], 1, "relu", 0.5)
    x = torch.randn(8, 3)
    net.eval()
    torch.testing.assert_close(net(x), net(x), rtol=0.0, atol=0.0)
    net.train()
    assert not torch.equal(net(x), net(x))


def test_dropout_shrinks_the_gap_between_training_and_validation_error() -> None:
    sink = MemorySink()
    result = rg.run(rg.Params(parts=["dropout"], epochs=150), sink, CTX)
    # measured in training mode (units dropped) the training error is higher than in eval mode
    train_mode = np.array([v for _, v in sink.metric_series("train/mse_dropout_train_mode")])
    eval_mode = np.array([v for _, v in sink.metric_series("train/mse_dropout")])
    assert len(train_mode) == 150 and np.mean(train_mode - eval_mode) > 0
    assert result["dropout/gap_dropout"] < result["dropout/gap_plain"]
    assert result["val/mse_dropout"] < result["val/mse_plain"]
    assert "dropout/curves.json" in sink.artifacts
    assert "early_stopping/curve.json" not in sink.artifacts
    assert not any(k.startswith(("paths/", "early_stopping/")) for k in result)


def test_the_early_stop_follows_the_patience_rule_on_the_validation_curve() -> None:
    p = rg.Params(parts=["early_stopping"], epochs=120, patience=15)
    sink = MemorySink()
    result = rg.run(p, sink, CTX)
    val = [v for _, v in sink.metric_series("val/mse_plain")]
    assert len(val) == 120
    # the rule, from the curve alone: stop at the first epoch `patience` after the running best
    best_so_far, stop = 0, None
    for e in range(1, len(val)):
        if val[e] < val[best_so_far]:
            best_so_far = e
        elif e - best_so_far == p.patience:
            stop = e + 1
            break
    assert stop is not None and result["early_stopping/stop_epoch"] == stop
    best = result["early_stopping/best_epoch"]
    assert best == int(np.argmin(val[:stop])) + 1 and stop - best == p.patience
    assert result["early_stopping/val_mse_best"] == pytest.approx(min(val[:stop]))
    # the net goes on to fit the noise: stopping kept a better model than the last one
    assert result["early_stopping/val_mse_last"] > result["early_stopping/val_mse_best"]
    curve = _series(sink, "early_stopping/curve.json")
    assert curve[f"best: epoch {best}"][0][1] == best  # the marker's tip
    assert curve[f"stop: epoch {stop}"][0][1] == stop
    assert any("early stopping would stop" in e["message"] for e in sink.of_type("log"))


def test_more_net_points_than_the_split_has_are_capped_and_said() -> None:
    sink = MemorySink()
    result = rg.run(rg.Params(parts=["early_stopping"], net_points=5000, epochs=2), sink, CTX)
    assert result["net_points"] == 331  # 442 diabetes rows, a quarter held out
    assert any("net_points" in e["message"] for e in sink.of_type("log"))


def test_inapplicable_and_out_of_range_fields_are_named() -> None:
    for bad, field in [
        ({"degree": 3}, "degree"),  # diabetes is not 1-D
        ({"parts": ["paths", "paths"]}, "parts"),
        ({"parts": []}, "parts"),
        ({"dropout": 1.0}, "dropout"),
        ({"kernel": "rbf"}, "kernel"),
        ({"dataset": "moons"}, "dataset"),
    ]:
        with pytest.raises(ValidationError) as err:
            rg.Params(**bad)  # type: ignore[arg-type]
        assert err.value.errors()[0]["loc"][0] == field
    with pytest.raises(ValidationError, match="lambda_min"):
        rg.Params(lambda_min=1.0, lambda_max=0.5)


def test_cancel_stops_at_the_next_epoch() -> None:
    sink = MemorySink(on_event=lambda ev: sink.cancel() if ev.type == "metric" else None)
    with pytest.raises(JobCancelled):
        rg.run(rg.Params(), sink, CTX)
    assert len(sink.of_type("metric")) == 1


def test_spec() -> None:
    spec = rg.SPEC
    assert spec.name == "lab.regularization" and spec.params is rg.Params
    assert spec.category == "lab" and not spec.admin_only

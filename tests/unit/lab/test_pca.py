"""lab.pca: eigendecomposition and SVD against scikit-learn's PCA."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pydantic import ValidationError
from sklearn.decomposition import PCA

from difflab.lab import pca
from difflab.lab.common import load_all
from difflab.runtime import MemorySink, RunContext

CTX = RunContext(job_id="test")


@pytest.mark.parametrize(
    "kw",
    [
        {"dataset": "iris"},
        {"dataset": "wine", "n_components": 5, "scaling": "none"},
        {"dataset": "digits", "n_components": 8},
    ],
)
def test_components_equal_sklearn_up_to_sign(kw: dict[str, object]) -> None:
    p = pca.Params(**kw)  # type: ignore[arg-type]
    result = pca.run(p, MemorySink(), CTX)
    _, X = load_all(p)
    ref = PCA(n_components=p.n_components).fit(X)
    ours = np.array(result["components"])
    np.testing.assert_allclose(pca.align_signs(ours, ref.components_), ref.components_, atol=1e-8)
    np.testing.assert_allclose(result["explained_variance"], ref.explained_variance_, rtol=1e-9)
    np.testing.assert_allclose(
        result["explained_variance_ratio"], ref.explained_variance_ratio_, rtol=1e-9
    )
    assert result["eigen_vs_svd_axis_gap"] < 1e-8


def test_eigen_and_svd_agree_on_their_own() -> None:
    X = np.random.default_rng(0).normal(size=(50, 4)) @ np.diag([4.0, 2.0, 1.0, 0.5])
    V_e, lam_e = pca.pca_eigen(X)
    V_s, lam_s = pca.pca_svd(X)
    np.testing.assert_allclose(lam_e, lam_s, rtol=1e-10)
    np.testing.assert_allclose(pca.align_signs(V_e, V_s), V_s, atol=1e-10)
    np.testing.assert_allclose(V_s @ V_s.T, np.eye(4), atol=1e-12)  # orthonormal axes


def test_reconstruction_error_is_the_variance_left_out() -> None:
    sink = MemorySink()
    pca.run(pca.Params(dataset="wine"), sink, CTX)
    err = dict(sink.metric_series("reconstruction_mse"))
    ratio = dict(sink.metric_series("explained_variance_ratio"))
    cum = [v for _, v in sink.metric_series("cumulative_explained_variance")]
    assert cum[-1] == pytest.approx(1.0) and err[13] == pytest.approx(0.0, abs=1e-20)
    assert sum(ratio.values()) == pytest.approx(1.0)
    # standardized: total variance = 13 features × n/(n−1); the error left after k axes is
    # the sum of the variances of the other axes, in the population (1/n) sense
    _, X = load_all(pca.Params(dataset="wine"))
    lam = pca.pca_svd(X)[1] * (len(X) - 1) / len(X)
    assert err[2] == pytest.approx(lam[2:].sum(), rel=1e-9)
    proj = json.loads(sink.artifacts["projection.json"])
    assert len(proj["points"]) == 178 and proj["label_names"] == ["class_0", "class_1", "class_2"]


def test_digits_axes_as_images() -> None:
    sink = MemorySink()
    pca.run(pca.Params(dataset="digits", n_components=7), sink, CTX)
    assert "components.png" in sink.artifacts


def test_more_components_than_features_is_named() -> None:
    for bad, field in [({"dataset": "moons", "n_components": 3}, "n_components"), ({"k": 3}, "k")]:
        with pytest.raises(ValidationError) as err:
            pca.Params(**bad)  # type: ignore[arg-type]
        assert err.value.errors()[0]["loc"] == (field,)

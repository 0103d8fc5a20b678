"""difflab.datasets.toy: every set loads with the promised shapes, types and determinism."""

from __future__ import annotations

from typing import get_args

import numpy as np
import pytest

from difflab.datasets.toy import (
    BINARY_SETS,
    CLASSIFICATION_SETS,
    LINEAR_COEF,
    N_CLASSES,
    N_FEATURES,
    PLANE_COEF,
    REGRESSION_SETS,
    SKLEARN_SETS,
    SKLEARN_SIZES,
    TWO_D_SETS,
    DatasetName,
    load_dataset,
)


def test_name_tuples_partition_the_literal() -> None:
    names = set(get_args(DatasetName))
    assert set(CLASSIFICATION_SETS) | set(REGRESSION_SETS) == names
    assert not set(CLASSIFICATION_SETS) & set(REGRESSION_SETS)
    assert set(TWO_D_SETS) <= set(CLASSIFICATION_SETS)
    assert set(BINARY_SETS) <= set(CLASSIFICATION_SETS)


@pytest.mark.parametrize("name", get_args(DatasetName))
def test_every_set_has_the_promised_shape_and_types(name: str) -> None:
    d = load_dataset(name, n_samples=120, noise=0.1, seed=3)
    n = SKLEARN_SIZES.get(name, 120)
    assert d.name == name
    assert d.X.dtype == np.float64 and d.X.shape == (n, N_FEATURES[name])
    assert len(d.feature_names) == d.X.shape[1]
    assert d.y.shape == (n,)
    assert np.all(np.isfinite(d.X)) and np.all(np.isfinite(d.y))
    if name in CLASSIFICATION_SETS:
        assert d.task == "classification" and d.y.dtype == np.int64
        assert sorted(np.unique(d.y).tolist()) == list(range(N_CLASSES[name]))
        assert d.n_classes == len(d.target_names) == N_CLASSES[name]
        assert (name in BINARY_SETS) == (N_CLASSES[name] == 2)
    else:
        assert d.task == "regression" and d.y.dtype == np.float64
        assert len(d.target_names) == 1


def test_generated_sets_are_deterministic_per_seed() -> None:
    a = load_dataset("spirals", n_samples=100, seed=1)
    b = load_dataset("spirals", n_samples=100, seed=1)
    c = load_dataset("spirals", n_samples=100, seed=2)
    np.testing.assert_array_equal(a.X, b.X)
    assert not np.allclose(a.X, c.X)


def test_bundled_sets_ignore_size_and_noise() -> None:
    a = load_dataset("iris", n_samples=40, noise=1.5, seed=9)
    b = load_dataset("iris")
    np.testing.assert_array_equal(a.X, b.X)
    assert set(SKLEARN_SETS) == set(SKLEARN_SIZES)


def test_noise_free_generators_follow_their_rules() -> None:
    lin = load_dataset("linear", n_samples=50, noise=0.0)
    a, b = LINEAR_COEF
    np.testing.assert_allclose(lin.y, a * lin.X[:, 0] + b)
    plane = load_dataset("plane", n_samples=50, noise=0.0)
    a1, a2, c = PLANE_COEF
    np.testing.assert_allclose(plane.y, a1 * plane.X[:, 0] + a2 * plane.X[:, 1] + c)
    xor = load_dataset("xor", n_samples=200, noise=0.0)
    np.testing.assert_array_equal(xor.y, (xor.X[:, 0] * xor.X[:, 1] > 0).astype(np.int64))
    sine = load_dataset("sine", n_samples=50, noise=0.0)
    np.testing.assert_allclose(sine.y, np.sin(sine.X[:, 0]))


def test_noise_scales_the_spread_of_y() -> None:
    quiet = load_dataset("linear", n_samples=2000, noise=0.1)
    loud = load_dataset("linear", n_samples=2000, noise=1.0)
    a, b = LINEAR_COEF
    r_quiet = quiet.y - (a * quiet.X[:, 0] + b)
    r_loud = loud.y - (a * loud.X[:, 0] + b)
    assert r_quiet.std() == pytest.approx(0.1, rel=0.1)
    assert r_loud.std() == pytest.approx(1.0, rel=0.1)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown dataset"):
        load_dataset("mnist")
    with pytest.raises(ValueError, match="n_samples"):
        load_dataset("moons", n_samples=2)
    with pytest.raises(ValueError, match="noise"):
        load_dataset("moons", noise=-1.0)

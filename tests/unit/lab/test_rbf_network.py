"""lab.rbf_network: the Gaussian layer against scikit-learn's kernel, and runs end to end."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch
from pydantic import ValidationError
from sklearn.metrics.pairwise import rbf_kernel

from difflab.lab import rbf_network as rbf
from difflab.runtime import MemorySink, RunContext

CTX = RunContext(job_id="test")


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny models run fastest on one thread, and then do not fight other tests for the cores."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_gaussian_layer_equals_sklearn_rbf_kernel() -> None:
    rng = np.random.default_rng(0)
    X, centers = rng.normal(size=(20, 3)), rng.normal(size=(5, 3))
    sigma = 0.7
    layer = rbf.GaussianRBF(
        torch.tensor(centers, dtype=torch.float64),
        torch.full((5,), sigma, dtype=torch.float64),
        trainable=False,
    )
    ours = layer(torch.tensor(X)).detach().numpy()
    # scikit-learn: exp(-γ‖x - v‖²) with γ = 1 / (2σ²)
    np.testing.assert_allclose(ours, rbf_kernel(X, centers, gamma=1 / (2 * sigma**2)), rtol=1e-10)


def test_center_widths_are_nearest_neighbour_distances() -> None:
    c = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(rbf.center_widths(c, 2.0), [2.0, 6.0, 2.0])


def test_circles_gradient_fit_matches_least_squares() -> None:
    sink = MemorySink()
    result = rbf.run(rbf.Params(dataset="circles", epochs=60, boundary_every=30), sink, CTX)
    assert result["val_accuracy"] >= 0.9
    assert result["val_accuracy"] >= result["lstsq_val_accuracy"] - 0.05
    assert {"boundary/epoch_00030.png", "centers.json", "confusion.json"} <= set(sink.artifacts)
    centers = [a for a in sink.of_type("artifact") if a["name"] == "centers.json"][0]
    assert centers["meta"]["view"] == "scatter"


def test_sine_regression_with_trained_centers() -> None:
    sink = MemorySink()
    result = rbf.run(
        rbf.Params(dataset="sine", n_centers=10, train_centers=True, epochs=60), sink, CTX
    )
    assert result["val_mse"] < 0.1  # noise variance is 0.01; a flat line would score ~0.5
    assert "fit/epoch_00060.json" in sink.artifacts


def test_inapplicable_field_is_refused() -> None:
    with pytest.raises(ValidationError, match="activation"):
        rbf.Params.model_validate({"activation": "relu"})
    with pytest.raises(ValidationError, match="n_centers"):
        rbf.Params(n_centers=0)

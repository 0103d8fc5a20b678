"""lab.mlp end to end on small settings."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from pydantic import ValidationError

from difflab.lab import mlp
from difflab.runtime import JobCancelled, MemorySink, RunContext

CTX = RunContext(job_id="test")


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny models run fastest on one thread, and then do not fight other tests for the cores."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_moons_reaches_high_accuracy_with_boundaries_and_grad_norms() -> None:
    sink = MemorySink()
    result = mlp.run(mlp.Params(dataset="moons", epochs=60, boundary_every=20), sink, CTX)
    assert result["val_accuracy"] >= 0.9
    names = set(sink.artifacts)
    assert {"boundary/epoch_00001.png", "boundary/epoch_00020.png", "confusion.json"} <= names
    first = sink.of_type("metric")[0]["values"]
    assert {
        "train/loss",
        "val/loss",
        "val/accuracy",
        "lr",
        "grad_norm/hidden1",
        "grad_norm/out",
    } <= set(first)
    losses = [v for _, v in sink.metric_series("train/loss")]
    assert losses[-1] < 0.5 * losses[0]
    assert sink.of_type("progress")[-1]["done"] == 60


def test_deep_sigmoid_gradients_vanish_towards_the_input() -> None:
    sink = MemorySink()
    p = mlp.Params(
        dataset="circles", activation="sigmoid", hidden_sizes=[16] * 5, epochs=2, boundary_every=100
    )
    mlp.run(p, sink, CTX)
    first = sink.metric_series("grad_norm/hidden1")[-1][1]
    last = sink.metric_series("grad_norm/out")[-1][1]
    assert first < 0.1 * last


def test_regression_on_sine_fits_the_curve() -> None:
    sink = MemorySink()
    result = mlp.run(mlp.Params(dataset="sine", activation="tanh", epochs=80), sink, CTX)
    assert result["val_r2"] > 0.8
    assert "fit/epoch_00080.json" in sink.artifacts


def test_early_stopping_restores_the_best_epoch() -> None:
    sink = MemorySink()
    # a large net on few noisy points overfits: validation loss turns up and training stops
    p = mlp.Params(
        dataset="moons",
        n_samples=60,
        noise=0.4,
        hidden_sizes=[128, 128],
        lr=0.02,
        epochs=300,
        patience=10,
        boundary_every=1000,
    )
    result = mlp.run(p, sink, CTX)
    assert result["stopped_early"]
    series = sink.metric_series("val/loss")
    best = min(v for _, v in series)
    assert result["val_loss"] == pytest.approx(best, rel=1e-5)


def test_inapplicable_and_out_of_range_fields_are_refused() -> None:
    with pytest.raises(ValidationError, match="kernel"):
        mlp.Params.model_validate({"kernel": "rbf"})
    with pytest.raises(ValidationError, match="hidden_sizes"):
        mlp.Params(hidden_sizes=[0])
    with pytest.raises(ValidationError, match="activation"):
        mlp.Params.model_validate({"activation": "swish"})


def test_cancel_stops_at_the_next_step() -> None:
    sink = MemorySink()
    sink.cancel()
    with pytest.raises(JobCancelled):
        mlp.run(mlp.Params(epochs=5), sink, CTX)


def test_spec() -> None:
    assert mlp.SPEC.name == "lab.mlp" and mlp.SPEC.params is mlp.Params
    torch.manual_seed(0)
    net = mlp.build_mlp(2, [4, 3], 2, "gelu", 0.1)
    assert net(torch.zeros(5, 2)).shape == (5, 2)

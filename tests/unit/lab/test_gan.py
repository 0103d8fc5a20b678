"""lab.gan: the two players on 2-D points and on digits."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from pydantic import ValidationError

from difflab.lab import gan
from difflab.runtime import JobCancelled, MemorySink, RunContext

CTX = RunContext(job_id="test")


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny models run fastest on one thread, and then do not fight other tests for the cores."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_mmd_is_zero_for_the_same_sample_and_grows_with_a_shift() -> None:
    torch.manual_seed(0)
    x = torch.randn(200, 2)
    assert float(gan.mmd2(x, x, 1.0)) == pytest.approx(0.0, abs=1e-6)
    near, far = gan.mmd2(x, torch.randn(200, 2), 1.0), gan.mmd2(x, torch.randn(200, 2) + 3, 1.0)
    assert float(near) < 0.05 < float(far)


def test_moons_generator_approaches_the_data() -> None:
    sink = MemorySink()
    p = gan.Params(dataset="moons", n_samples=600, epochs=40, sample_every=20, patience=15)
    result = gan.run(p, sink, CTX)
    mmd = [v for _, v in sink.metric_series("val/mmd")]
    assert result["val_mmd"] < 0.3 * mmd[0]
    assert result["val_mmd"] == pytest.approx(min(mmd), rel=1e-4)  # the best G is restored
    first = sink.of_type("metric")[0]["values"]
    assert {
        "train/d_loss",
        "train/g_loss",
        "train/d_real",
        "train/d_fake",
        "val/mmd",
        "lr",
        "grad_norm/D",
        "grad_norm/G",
    } <= set(first)
    assert {
        "samples/epoch_00020.json",
        "discriminator/epoch_00020.png",
        "samples/final.json",
    } <= set(sink.artifacts)


def test_digits_samples_are_images() -> None:
    sink = MemorySink()
    result = gan.run(gan.Params(dataset="digits", epochs=2, hidden_sizes=[32]), sink, CTX)
    assert {"samples/epoch_00001.png", "samples/final.png"} <= set(sink.artifacts)
    assert result["steps"] > 0


def test_inapplicable_field_is_refused() -> None:
    with pytest.raises(ValidationError, match="scaling"):
        gan.Params.model_validate({"scaling": "standard"})
    with pytest.raises(ValidationError, match="dataset"):
        gan.Params.model_validate({"dataset": "iris"})


def test_cancel_stops_the_loop() -> None:
    sink = MemorySink()
    sink.cancel()
    with pytest.raises(JobCancelled):
        gan.run(gan.Params(epochs=3), sink, CTX)

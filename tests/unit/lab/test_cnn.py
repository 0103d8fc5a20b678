"""lab.cnn end to end on the digits."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from pydantic import ValidationError

from difflab.lab import cnn
from difflab.runtime import MemorySink, RunContext

CTX = RunContext(job_id="test")


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny models run fastest on one thread, and then do not fight other tests for the cores."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_digits_accuracy_filters_and_feature_maps() -> None:
    sink = MemorySink()
    result = cnn.run(cnn.Params(epochs=8, artifact_every=3, probe_index=7), sink, CTX)
    assert result["val_accuracy"] >= 0.9
    names = set(sink.artifacts)
    assert {
        "probe.png",
        "filters/epoch_00003.png",
        "filters/final.png",
        "confusion.json",
        "feature_maps/epoch_00003/conv1.png",
        "feature_maps/final/conv2.png",
    } <= names
    assert {"grad_norm/features.conv1", "grad_norm/features.conv2", "grad_norm/out"} <= set(
        sink.of_type("metric")[-1]["values"]
    )


def test_feature_maps_have_one_map_per_kernel() -> None:
    torch.manual_seed(0)
    net = cnn.SmallCNN(1, 8, [3, 5], 3, "max", "relu", 0.0, 10)
    maps = net.feature_maps(torch.rand(1, 1, 8, 8))
    assert [tuple(m.shape) for m in maps] == [(3, 8, 8), (5, 4, 4)]
    assert net(torch.rand(4, 1, 8, 8)).shape == (4, 10)


def test_inapplicable_and_out_of_range_fields_are_refused() -> None:
    with pytest.raises(ValidationError, match="hidden_sizes"):
        cnn.Params.model_validate({"hidden_sizes": [8]})
    with pytest.raises(ValidationError, match="noise"):
        cnn.Params.model_validate({"noise": 0.1})
    with pytest.raises(ValidationError, match="channels"):
        cnn.Params(channels=[8, 8, 8, 8])


def test_shapes_images_run_in_colour() -> None:
    sink = MemorySink()
    p = cnn.Params(dataset="shapes", n_images=160, epochs=2, channels=[4, 8, 8])
    result = cnn.run(p, sink, CTX)
    assert 0.0 <= result["val_accuracy"] <= 1.0 and result["steps"] > 0
    assert {"probe.png", "filters/final.png", "feature_maps/final/conv3.png"} <= set(sink.artifacts)
    confusion = [a for a in sink.of_type("artifact") if a["name"] == "confusion.json"]
    assert confusion and confusion[0]["meta"]["view"] == "confusion"


def test_n_images_applies_to_shapes_only() -> None:
    with pytest.raises(ValidationError, match="n_images"):
        cnn.Params(n_images=500)
    assert cnn.Params(dataset="shapes", n_images=500).n_images == 500

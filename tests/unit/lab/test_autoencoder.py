"""lab.autoencoder end to end on the digits."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from difflab.lab import autoencoder as ae
from difflab.runtime import MemorySink, RunContext

CTX = RunContext(job_id="test")


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny models run fastest on one thread, and then do not fight other tests for the cores."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_reconstruction_error_falls_and_codes_are_drawn() -> None:
    sink = MemorySink()
    result = ae.run(ae.Params(epochs=12, artifact_every=4), sink, CTX)
    val = [v for _, v in sink.metric_series("val/loss")]
    assert val[-1] < 0.9 * val[0]
    assert result["val_mse"] < 0.055  # predicting the mean image scores about 0.073
    names = set(sink.artifacts)
    assert {"reconstructions/epoch_00004.png", "latent/final.json", "decoded_grid.png"} <= names
    latent = [a for a in sink.of_type("artifact") if a["name"] == "latent/final.json"][0]
    assert latent["meta"]["view"] == "scatter"


def test_denoising_with_a_wider_code() -> None:
    sink = MemorySink()
    result = ae.run(ae.Params(latent_dim=8, input_noise=0.3, loss="mse", epochs=4), sink, CTX)
    assert result["val_mse"] < 0.06
    assert "decoded_grid.png" not in sink.artifacts  # only drawn for a 2-D code


def test_latent_plane_projects_wide_codes_to_two_dims() -> None:
    Z = np.random.default_rng(0).normal(size=(30, 5))
    assert ae.latent_plane(Z).shape == (30, 2)
    assert ae.latent_plane(Z[:, :1]).shape == (30, 2)


def test_inapplicable_field_is_refused() -> None:
    with pytest.raises(ValidationError, match="beta"):
        ae.Params.model_validate({"beta": 2.0})
    with pytest.raises(ValidationError, match="latent_dim"):
        ae.Params(latent_dim=0)

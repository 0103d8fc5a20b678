"""lab.ddpm: the forward formula against diffusers, and a short training run."""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

import pytest
import torch
from pydantic import ValidationError

from difflab.lab import ddpm
from difflab.runtime import MemorySink, RunContext

CTX = RunContext(job_id="test")


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny models run fastest on one thread, and then do not fight other tests for the cores."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.mark.parametrize("schedule", ["linear", "squaredcos_cap_v2"])
def test_forward_formula_equals_diffusers_add_noise(schedule: str) -> None:
    p = ddpm.Params(beta_schedule=schedule, num_train_timesteps=100)  # type: ignore[arg-type]
    scheduler = ddpm.make_scheduler(p)
    torch.manual_seed(0)
    x0, noise = torch.rand(6, 1, 8, 8) * 2 - 1, torch.randn(6, 1, 8, 8)
    t = torch.tensor([0, 1, 10, 50, 98, 99])
    ours = ddpm.forward_noise(x0, t, noise, scheduler.alphas_cumprod)
    theirs = scheduler.add_noise(x0, noise, cast(torch.IntTensor, t))
    torch.testing.assert_close(ours, theirs)
    # at the last step almost nothing of x_0 is left
    assert float(scheduler.alphas_cumprod[-1]) < 1e-3


def test_timestep_embedding() -> None:
    emb = ddpm.timestep_embedding(torch.tensor([0, 5]), 8)
    assert emb.shape == (2, 8)
    torch.testing.assert_close(emb[0], torch.tensor([0.0] * 4 + [1.0] * 4))
    assert float(emb[1, 0]) == pytest.approx(float(torch.sin(torch.tensor(5.0))))


def test_training_lowers_the_loss_and_samples() -> None:
    sink = MemorySink()
    p = ddpm.Params(
        classes=[0, 1],
        num_train_timesteps=50,
        channels=16,
        n_blocks=1,
        epochs=6,
        sample_every=3,
        n_show=4,
    )
    result = ddpm.run(p, sink, CTX)
    val = [v for _, v in sink.metric_series("val/loss")]
    assert val[-1] < 0.7 * val[0]
    assert result["val_loss"] < 0.6  # predicting ε = 0 scores 1.0
    assert {
        "forward_strip.png",
        "schedule.json",
        "samples/epoch_00003.png",
        "samples/final.png",
        "reverse_steps.png",
        "loss_by_t.json",
    } <= set(sink.artifacts)


def test_sampler_returns_images_and_snapshots() -> None:
    p = ddpm.Params(num_train_timesteps=50, channels=8, n_blocks=1)
    model = ddpm.Denoiser(8, 1, 0.0)
    g = torch.Generator().manual_seed(0)
    x0, shots = ddpm.sample(model, ddpm.make_scheduler(p), 3, 8, g, torch.device("cpu"), 5)
    assert x0.shape == (3, 1, 8, 8)
    assert [t for t, _ in shots][0] == 49 and len(shots) == 5


def test_inapplicable_field_is_refused() -> None:
    with pytest.raises(ValidationError, match="latent_dim"):
        ddpm.Params.model_validate({"latent_dim": 2})
    with pytest.raises(ValidationError, match="classes"):
        ddpm.Params(classes=[10])
    with pytest.raises(ValidationError, match="image_size"):
        ddpm.Params.model_validate({"image_size": 32})

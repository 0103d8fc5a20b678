"""lab.vae: the reparameterization and KL written out, checked against torch.distributions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
from pydantic import ValidationError
from torch.distributions import Normal, kl_divergence

from difflab.lab import vae
from difflab.runtime import MemorySink, RunContext

CTX = RunContext(job_id="test")


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny models run fastest on one thread, and then do not fight other tests for the cores."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_kl_equals_torch_distributions() -> None:
    torch.manual_seed(0)
    mu, logvar = torch.randn(6, 3), torch.randn(6, 3)
    expected = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(1)
    torch.testing.assert_close(vae.kl_to_standard_normal(mu, logvar), expected)
    assert float(vae.kl_to_standard_normal(torch.zeros(1, 2), torch.zeros(1, 2))) == 0.0


def test_reparameterized_samples_have_the_right_law_and_carry_gradients() -> None:
    torch.manual_seed(0)
    mu = torch.tensor([1.0, -2.0], requires_grad=True)
    logvar = torch.tensor([0.0, 2 * torch.log(torch.tensor(0.5))], requires_grad=True)
    z = vae.reparameterize(mu.expand(20000, 2), logvar.expand(20000, 2))
    torch.testing.assert_close(z.mean(0), mu.detach(), atol=0.03, rtol=0)
    torch.testing.assert_close(z.std(0), torch.tensor([1.0, 0.5]), atol=0.03, rtol=0)
    z.sum().backward()  # z = μ + σ·ε: ∂Σz/∂μ = n per coordinate
    assert mu.grad is not None and logvar.grad is not None
    torch.testing.assert_close(mu.grad, torch.full((2,), 20000.0))
    eps = torch.tensor([[0.5, -1.0]])
    torch.testing.assert_close(
        vae.reparameterize(mu[None], logvar[None], eps).detach(), torch.tensor([[1.5, -2.5]])
    )


def test_training_separates_recon_and_kl_and_draws_the_grid() -> None:
    sink = MemorySink()
    result = vae.run(vae.Params(epochs=8, artifact_every=4), sink, CTX)
    recon = [v for _, v in sink.metric_series("val/recon")]
    assert recon[-1] < 0.9 * recon[0]
    assert result["val_kl"] > 0.5
    assert result["val_loss"] == pytest.approx(result["val_recon"] + result["val_kl"], rel=1e-5)
    first = sink.of_type("metric")[0]["values"]
    assert {"train/recon", "train/kl", "val/recon", "val/kl", "val/elbo"} <= set(first)
    assert {
        "latent_grid.png",
        "interpolation.png",
        "samples.png",
        "latent/epoch_00004.json",
        "reconstructions/final.png",
    } <= set(sink.artifacts)


def test_larger_beta_gives_a_smaller_kl() -> None:
    kls = []
    for beta in (0.2, 5.0):
        result = vae.run(vae.Params(beta=beta, epochs=4, artifact_every=100), MemorySink(), CTX)
        kls.append(result["val_kl"])
    assert kls[1] < kls[0]


def test_inapplicable_field_is_refused() -> None:
    with pytest.raises(ValidationError, match="input_noise"):
        vae.Params.model_validate({"input_noise": 0.1})
    with pytest.raises(ValidationError, match="beta"):
        vae.Params(beta=-1)

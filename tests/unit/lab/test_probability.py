"""lab.probability: conjugate updates against numerical Bayes on a grid, the KL closed form
against torch.distributions and Monte Carlo, credible-interval coverage, the ELBO identity."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from pydantic import ValidationError
from scipy import stats

from difflab.lab import probability as pr
from difflab.runtime import JobCancelled, MemorySink, RunContext

CTX = RunContext(job_id="test")


def metrics_at(sink: MemorySink, step: int) -> dict[str, float]:
    """Every metric value reported at `step`."""
    out: dict[str, float] = {}
    for m in sink.of_type("metric"):
        if m["step"] == step:
            out.update(m["values"])
    return out


def frame(sink: MemorySink, name: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """A line artifact's series by name, as arrays."""
    data = json.loads(sink.artifacts[name])
    return {s["name"]: (np.array(s["x"]), np.array(s["y"])) for s in data["series"]}


@pytest.mark.parametrize(("a", "b", "true_p"), [(2.0, 2.0, 0.7), (0.5, 0.5, 0.2), (1.0, 8.0, 0.9)])
def test_coin_posterior_equals_numerical_bayes_on_a_grid(a: float, b: float, true_p: float) -> None:
    p = pr.Params(part="bayes_coin", prior_a=a, prior_b=b, true_p=true_p, n_flips=40)
    sink = MemorySink()
    result = pr.run(p, sink, CTX)
    flips = pr.coin_flips(p)
    # a fine grid θ = (1 − cos πu)/2 over midpoints u, denser at the ends where a Beta with
    # a or b < 1 is unbounded; each point weighs its cell's width dθ = (π/2) sin(πu) du
    u = (np.arange(200_000) + 0.5) / 200_000
    theta, width = (1.0 - np.cos(np.pi * u)) / 2, np.pi / 2 * np.sin(np.pi * u) / 200_000
    for n in (0, 1, 7, 40):
        k = int(flips[:n].sum())
        # prior × likelihood, normalized numerically: no conjugacy used
        log_unnorm = stats.beta.logpdf(theta, a, b) + k * np.log(theta) + (n - k) * np.log1p(-theta)
        w = np.exp(log_unnorm - log_unnorm.max()) * width
        w /= w.sum()  # posterior mass of each cell
        cdf = np.cumsum(w)
        m = metrics_at(sink, n)
        assert m["coin/posterior_mean"] == pytest.approx(float((w * theta).sum()), abs=1e-5)
        assert m["coin/ci_low"] == pytest.approx(theta[np.searchsorted(cdf, 0.025)], abs=1e-4)
        assert m["coin/ci_high"] == pytest.approx(theta[np.searchsorted(cdf, 0.975)], abs=1e-4)
        if "coin/map" in m and 0 < m["coin/map"] < 1:
            assert m["coin/map"] == pytest.approx(theta[np.argmax(w / width)], abs=1e-4)
        if n > 0:
            assert m["coin/mle"] == k / n
        # the drawn posterior density is the grid posterior too (at the frame's own points)
        if f"coin/n_{n:05d}.json" in sink.artifacts:
            grid, post = frame(sink, f"coin/n_{n:05d}.json")["posterior"]
            on_grid = np.interp(grid, theta, w / width)  # mass per cell → density
            np.testing.assert_allclose(post, on_grid, rtol=1e-3, atol=1e-3)
    assert result["coin_heads"] == int(flips.sum())


def test_gaussian_posterior_equals_numerical_bayes_on_a_grid() -> None:
    p = pr.Params(
        part="bayes_gaussian",
        prior_mean=-1.0,
        prior_std=0.8,
        true_mean=2.0,
        noise_std=1.5,
        n_observations=25,
    )
    sink = MemorySink()
    pr.run(p, sink, CTX)
    x = pr.observations(p)
    mu = np.linspace(-8.0, 8.0, 400_001)
    for n in (0, 1, 5, 25):
        log_unnorm = stats.norm.logpdf(mu, -1.0, 0.8) + stats.norm.logpdf(
            x[:n, None], mu[None, :], 1.5
        ).sum(0)
        w = np.exp(log_unnorm - log_unnorm.max())
        w /= w.sum()
        mean = float((w * mu).sum())
        m = metrics_at(sink, n)
        assert m["gaussian/posterior_mean"] == pytest.approx(mean, abs=1e-6)
        assert m["gaussian/posterior_std"] == pytest.approx(
            math.sqrt(float((w * (mu - mean) ** 2).sum())), abs=1e-6
        )
        cdf = np.cumsum(w)
        assert m["gaussian/ci_low"] == pytest.approx(mu[np.searchsorted(cdf, 0.025)], abs=1e-3)
        assert m["gaussian/ci_high"] == pytest.approx(mu[np.searchsorted(cdf, 0.975)], abs=1e-3)
    # more data: narrower, and nearer the sample mean than the prior mean is
    final = metrics_at(sink, 25)
    assert final["gaussian/posterior_std"] < metrics_at(sink, 5)["gaussian/posterior_std"]
    assert abs(final["gaussian/posterior_mean"] - final["gaussian/mle"]) < abs(
        -1.0 - final["gaussian/mle"]
    )


@pytest.mark.parametrize(
    ("m1", "s1", "m2", "s2"),
    [(0.0, 1.0, 1.0, 2.0), (3.0, 0.5, -1.0, 0.7), (0.0, 1.0, 0.0, 1.0), (-2.0, 4.0, 5.0, 0.3)],
)
def test_closed_form_kl_equals_torch_distributions(
    m1: float, s1: float, m2: float, s2: float
) -> None:
    p = torch.distributions.Normal(torch.tensor(m1), torch.tensor(s1))
    q = torch.distributions.Normal(torch.tensor(m2), torch.tensor(s2))
    expected = float(torch.distributions.kl_divergence(p, q))
    assert pr.kl_normal(m1, s1, m2, s2) == pytest.approx(expected, rel=1e-5, abs=1e-6)
    assert pr.kl_library(m1, s1, m2, s2) == pytest.approx(pr.kl_normal(m1, s1, m2, s2), rel=1e-12)
    assert pr.kl_normal(m1, s1, m2, s2) >= 0.0


def test_kl_is_not_symmetric() -> None:
    assert pr.kl_normal(0.0, 1.0, 1.0, 2.0) == pytest.approx(math.log(2) + 2 / 8 - 0.5)
    assert pr.kl_normal(1.0, 2.0, 0.0, 1.0) == pytest.approx(-math.log(2) + 5 / 2 - 0.5)
    # equal widths: only the means differ, and then both directions agree
    assert pr.kl_normal(0.0, 1.5, 2.0, 1.5) == pytest.approx(pr.kl_normal(2.0, 1.5, 0.0, 1.5))


def test_monte_carlo_estimate_falls_within_four_standard_errors() -> None:
    p = pr.Params(part="kl", p_mean=0.5, p_std=1.0, q_mean=-1.0, q_std=1.5, mc_samples=50_000)
    sink = MemorySink()
    result = pr.run(p, sink, CTX)
    series = {k: sink.metric_series(f"kl/{k}") for k in ("p_q/monte_carlo", "p_q/std_error")}
    closed = pr.kl_normal(0.5, 1.0, -1.0, 1.5)
    reverse = pr.kl_normal(-1.0, 1.5, 0.5, 1.0)
    steps = [s for s, _ in series["p_q/monte_carlo"]]
    assert steps[0] == 10 and steps[-1] == 50_000 and steps == sorted(steps)
    for (n, est), (_, se) in zip(series["p_q/monte_carlo"], series["p_q/std_error"], strict=True):
        assert abs(est - closed) < 4 * se, n
    for (_, est), (_, se) in zip(
        sink.metric_series("kl/q_p/monte_carlo"),
        sink.metric_series("kl/q_p/std_error"),
        strict=True,
    ):
        assert abs(est - reverse) < 4 * se
    # the standard error shrinks as 1/√n
    se = dict(series["p_q/std_error"])
    assert se[50_000] == pytest.approx(se[steps[-7]] * math.sqrt(steps[-7] / 50_000), rel=0.1)
    assert result["kl_p_q"] == pytest.approx(result["kl_p_q_library"], rel=1e-12)
    assert result["kl_q_p"] == pytest.approx(reverse) and result["kl_p_q"] != pytest.approx(reverse)
    assert abs(result["kl_p_q_monte_carlo"] - closed) < 4 * result["kl_p_q_std_error"]


def test_kl_artifacts_show_both_directions() -> None:
    sink = MemorySink()
    pr.run(pr.Params(part="kl", mc_samples=1000), sink, CTX)
    assert list(sink.artifacts) == ["kl/densities.json", "kl/monte_carlo.json", "kl/asymmetry.json"]
    dens = frame(sink, "kl/densities.json")
    x, integrand = dens["p·log(p/q): integrates to KL(p‖q)"]  # over the plotted range: ±4σ
    assert np.trapezoid(integrand, x) == pytest.approx(pr.kl_normal(0.0, 1.0, 1.0, 2.0), rel=5e-3)
    x, integrand = dens["q·log(q/p): integrates to KL(q‖p)"]
    assert np.trapezoid(integrand, x) == pytest.approx(pr.kl_normal(1.0, 2.0, 0.0, 1.0), rel=5e-3)
    widths, fwd = frame(sink, "kl/asymmetry.json")["KL(p‖q)"]
    _, rev = frame(sink, "kl/asymmetry.json")["KL(q‖p)"]
    assert np.all(fwd > 0) and np.any(np.abs(fwd - rev) > 0.1)


def test_credible_intervals_cover_at_their_mass() -> None:
    """When θ is drawn from the prior, the central interval holds it with probability = mass;
    for a fixed θ and many flips, about as often."""
    rng = np.random.default_rng(0)
    reps, n, a, b = 4000, 20, 2.0, 3.0
    theta = rng.beta(a, b, size=reps)
    heads = rng.binomial(n, theta)
    pa, pb = pr.beta_posterior(a, b, heads, n)
    low, high = stats.beta.ppf(0.025, pa, pb), stats.beta.ppf(0.975, pa, pb)
    covered = np.mean((low <= theta) & (theta <= high))
    assert abs(covered - 0.95) < 4 * math.sqrt(0.95 * 0.05 / reps)
    # the Gaussian mean, the same way
    mu = rng.normal(0.0, 2.0, size=reps)
    x = rng.normal(mu[:, None], 1.0, size=(reps, 10))
    m, s = pr.normal_posterior(0.0, 2.0, 1.0, np.full(reps, 10.0), x.sum(1))
    inside = np.mean(np.abs(mu - m) <= stats.norm.ppf(0.975) * s)
    assert abs(inside - 0.95) < 4 * math.sqrt(0.95 * 0.05 / reps)
    # a fixed coin, 300 flips, runs of the kind itself over 100 seeds: near 95% (a
    # frequentist's view of a Bayesian interval; exact only in the limit)
    hits = 0
    for seed in range(100):
        r = pr.run(
            pr.Params(part="bayes_coin", true_p=0.3, n_flips=300, seed=seed, max_frames=2),
            MemorySink(),
            CTX,
        )
        hits += r["coin_ci_low"] <= 0.3 <= r["coin_ci_high"]
    assert 0.88 <= hits / 100 <= 1.0


def test_map_and_mle() -> None:
    assert pr.beta_mode(3.0, 5.0) == pytest.approx(2 / 6)
    assert pr.beta_mode(1.0, 1.0) is None and pr.beta_mode(0.5, 3.0) == 0.0
    assert pr.beta_mode(4.0, 1.0) == 1.0
    # under the flat prior Beta(1, 1) the MAP is the MLE k/n
    sink = MemorySink()
    pr.run(pr.Params(part="bayes_coin", prior_a=1.0, prior_b=1.0, n_flips=30), sink, CTX)
    for n in (5, 30):
        m = metrics_at(sink, n)
        assert m["coin/map"] == pytest.approx(m["coin/mle"])
    assert "coin/mle" not in metrics_at(sink, 0)


def test_coin_frames_go_over_n() -> None:
    sink = MemorySink()
    pr.run(pr.Params(part="bayes_coin", n_flips=200, max_frames=21), sink, CTX)
    names = list(sink.artifacts)
    assert names == [f"coin/n_{n:05d}.json" for n in range(0, 201, 10)]
    events = {a["name"]: a for a in sink.of_type("artifact")}
    e = events["coin/n_00050.json"]
    assert e["step"] == 50 and e["meta"]["n"] == 50 and e["meta"]["view"] == "line"
    first = frame(sink, "coin/n_00000.json")
    np.testing.assert_allclose(first["posterior"][1], first["prior"][1], atol=1e-5)
    np.testing.assert_allclose(first["likelihood (scaled to area 1)"][1], 1.0)
    # the posterior narrows around the true p as flips come in
    last = metrics_at(sink, 200)
    assert last["coin/ci_high"] - last["coin/ci_low"] < 0.15
    assert last["coin/ci_low"] < 0.7 < last["coin/ci_high"]
    assert len(sink.metric_series("coin/posterior_mean")) == 201


def test_elbo_plus_kl_to_the_posterior_is_the_evidence() -> None:
    p = pr.Params(part="elbo", prior_mean=0.5, prior_std=1.5, noise_std=0.7, n_observations=12)
    sink = MemorySink()
    result = pr.run(p, sink, CTX)
    x = pr.observations(p)
    # log p(x) from the marginal: x ~ N(μ₀·1, σ²I + τ₀²·11ᵀ)
    cov = 0.7**2 * np.eye(12) + 1.5**2 * np.ones((12, 12))
    evidence = stats.multivariate_normal.logpdf(x, np.full(12, 0.5), cov)
    assert result["elbo_log_evidence"] == pytest.approx(evidence, rel=1e-10)
    assert result["elbo_at_posterior"] == pytest.approx(evidence, rel=1e-10)
    post_m, post_s = pr.normal_posterior(0.5, 1.5, 0.7, 12, float(x.sum()))
    rng = np.random.default_rng(1)
    m, s = rng.normal(post_m, 1.0, size=50), rng.uniform(0.05, 3.0, size=50)
    elbo = pr.expected_log_likelihood(x, 0.7, m, s) - pr.kl_normal_array(m, s, 0.5, 1.5)
    gap = pr.kl_normal_array(m, s, post_m, post_s)
    np.testing.assert_allclose(elbo + gap, evidence, rtol=1e-10)
    # the reconstruction term against a Monte-Carlo average over q
    z = rng.normal(m[0], s[0], size=100_000)
    log_lik = stats.norm.logpdf(x[None, :], z[:, None], 0.7).sum(1)
    recon = pr.expected_log_likelihood(x, 0.7, m[:1], s[:1])[0]
    assert abs(log_lik.mean() - recon) < 4 * log_lik.std() / math.sqrt(len(z))
    # the sweeps peak at the posterior, where the gap is 0
    assert set(sink.artifacts) == {
        "elbo/mean.json",
        "elbo/mean_kl.json",
        "elbo/std.json",
        "elbo/std_kl.json",
    }
    for name in ("mean", "std"):
        xs, e = frame(sink, f"elbo/{name}.json")["ELBO"]
        assert xs[np.argmax(e)] == pytest.approx(post_m if name == "mean" else post_s, rel=1e-4)
        assert np.all(e <= evidence + 1e-4)
        _, g = frame(sink, f"elbo/{name}_kl.json")["KL(q ‖ posterior) = log p(x) − ELBO"]
        assert g.min() == pytest.approx(0.0, abs=1e-4) and np.all(g >= -1e-4)


def test_all_parts_run_by_default() -> None:
    sink = MemorySink()
    result = pr.run(pr.Params(), sink, CTX)
    prefixes = {n.split("/")[0] for n in sink.artifacts}
    assert prefixes == {"coin", "gaussian", "kl", "elbo"}
    assert {"coin_posterior_mean", "gaussian_posterior_mean", "kl_p_q", "elbo_at_posterior"} <= set(
        result
    )
    assert [e["message"] for e in sink.of_type("progress")] == list(pr.PARTS)


def test_cancel_stops_at_the_next_flip() -> None:
    sink = MemorySink(on_event=lambda ev: sink.cancel() if ev.type == "metric" else None)
    with pytest.raises(JobCancelled):
        pr.run(pr.Params(), sink, CTX)
    assert len(sink.of_type("metric")) == 1


def test_bad_fields_are_refused() -> None:
    with pytest.raises(ValidationError, match="true_p"):
        pr.Params(true_p=1.5)
    with pytest.raises(ValidationError, match="prior_a"):
        pr.Params(prior_a=0.0)
    with pytest.raises(ValidationError, match="q_std"):
        pr.Params(q_std=-1.0)
    with pytest.raises(ValidationError, match="part"):
        pr.Params.model_validate({"part": "poisson"})
    with pytest.raises(ValidationError, match="mu1"):
        pr.Params.model_validate({"mu1": 0.0})

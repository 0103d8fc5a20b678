"""`lab.probability`: Bayes' rule on a coin and on a Gaussian mean, KL divergence, the ELBO.

Bayes' rule turns a prior into a posterior: p(θ | data) ∝ p(data | θ) · p(θ). With a
conjugate prior the posterior has the prior's form and the update is arithmetic:

- bayes_coin: flips with P(heads) = θ, prior Beta(a, b). After k heads in n flips the
  likelihood is θ^k (1−θ)^(n−k), and the posterior is Beta(a + k, b + n − k): the prior acts
  as a + b flips seen before. Posterior mean (a + k)/(a + b + n); MAP (the mode)
  (a + k − 1)/(a + b + n − 2); MLE k/n, which the MAP becomes under the flat prior Beta(1, 1).
- bayes_gaussian: observations x_i ~ N(μ, σ²) with σ known, prior μ ~ N(μ₀, τ₀²).
  Precisions add: 1/τ_n² = 1/τ₀² + n/σ², and the posterior mean is the precision-weighted
  average μ_n = τ_n² (μ₀/τ₀² + Σx_i/σ²), between the prior mean and the sample mean x̄ (the MLE).

The credible interval is the central one: it leaves (1 − mass)/2 of the posterior on each side.

- kl: KL(p ‖ q) = E_{x~p}[log p(x) − log q(x)] ≥ 0, zero only for p = q, and not symmetric. For
  p = N(μ₁, σ₁²), q = N(μ₂, σ₂²):

      KL(p ‖ q) = log(σ₂/σ₁) + (σ₁² + (μ₁ − μ₂)²) / (2σ₂²) − ½

  The Monte-Carlo estimate averages log p(x) − log q(x) over n draws from p; its standard error
  s/√n (s the sample standard deviation of the log-ratio) shrinks as 1/√n.
- elbo: for any q(μ), the evidence splits as

      log p(x) = ELBO(q) + KL(q ‖ p(μ | x)),   ELBO(q) = E_q[log p(x | μ)] − KL(q ‖ p(μ))

  on the Gaussian part's model and observations. The two ELBO terms are the VAE's loss terms
  (reconstruction and KL to the prior); the ELBO is largest, and equals log p(x), exactly when
  q is the posterior.
"""

from __future__ import annotations

import math
from typing import Any, Literal, TypeVar

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field
from scipy import stats
from torch.distributions import Normal, kl_divergence

from difflab.lab.common import emit, line_artifact, one_thread
from difflab.runtime import KindSpec, RunContext, Sink

Part = Literal["all", "bayes_coin", "bayes_gaussian", "kl", "elbo"]
PARTS: tuple[Part, ...] = ("bayes_coin", "bayes_gaussian", "kl", "elbo")
GRID = 200  # points of each density curve
MC_CHECKPOINTS = 25  # sample sizes at which the Monte-Carlo estimate is reported
SWEEP = 81  # q's along each ELBO sweep
Num = TypeVar("Num", float, np.ndarray)  # a number, or an array of them elementwise


class Params(BaseModel):
    """Prior → posterior on a coin and a Gaussian mean, KL between two Gaussians, the ELBO."""

    model_config = ConfigDict(extra="forbid")

    part: Part = Field(
        "all",
        description="What to show: bayes_coin, bayes_gaussian, kl, elbo, or all of them.",
    )
    prior_a: float = Field(
        2.0, ge=0.1, le=1000.0, description="Coin: a of the Beta(a, b) prior (prior heads)."
    )
    prior_b: float = Field(
        2.0, ge=0.1, le=1000.0, description="Coin: b of the Beta(a, b) prior (prior tails)."
    )
    true_p: float = Field(
        0.7, ge=0.0, le=1.0, description="Coin: the probability of heads the flips are drawn with."
    )
    n_flips: int = Field(100, ge=1, le=1000, description="Coin: flips observed one by one.")
    prior_mean: float = Field(
        0.0, ge=-100.0, le=100.0, description="Gaussian: μ₀, the prior mean of the unknown mean."
    )
    prior_std: float = Field(
        2.0, ge=0.01, le=100.0, description="Gaussian: τ₀, the prior standard deviation of μ."
    )
    true_mean: float = Field(
        1.5, ge=-100.0, le=100.0, description="Gaussian: the mean the observations are drawn with."
    )
    noise_std: float = Field(
        1.0, ge=0.01, le=100.0, description="Gaussian: σ, the known noise standard deviation."
    )
    n_observations: int = Field(
        30, ge=1, le=1000, description="Gaussian (and ELBO): observations seen one by one."
    )
    p_mean: float = Field(0.0, ge=-100.0, le=100.0, description="KL: μ₁, the mean of p.")
    p_std: float = Field(1.0, ge=0.01, le=100.0, description="KL: σ₁, the standard deviation of p.")
    q_mean: float = Field(1.0, ge=-100.0, le=100.0, description="KL: μ₂, the mean of q.")
    q_std: float = Field(2.0, ge=0.01, le=100.0, description="KL: σ₂, the standard deviation of q.")
    mc_samples: int = Field(
        100_000,
        ge=100,
        le=2_000_000,
        description="KL: most Monte-Carlo samples; the estimate is shown as n grows to this.",
    )
    credible_mass: float = Field(
        0.95, ge=0.5, le=0.999, description="Probability inside the central credible interval."
    )
    max_frames: int = Field(
        60, ge=2, le=500, description="Most density frames per Bayes part (evenly over n)."
    )
    seed: int = Field(
        0, ge=0, le=2**31 - 1, description="Seed of the flips, observations, samples."
    )


# --------------------------------------------------------------------------- the math


def beta_posterior(a: float, b: float, heads: Num, n: Num) -> tuple[Num, Num]:
    """Beta(a, b) prior, k heads in n flips → Beta(a + k, b + n − k) (elementwise on arrays)."""
    return a + heads, b + n - heads


def beta_mode(a: float, b: float) -> float | None:
    """The MAP estimate, the mode of Beta(a, b): (a − 1)/(a + b − 2) when a, b > 1; at an end
    when one of them is ≤ 1; None when both are (the density has no single peak)."""
    if a > 1 and b > 1:
        return (a - 1) / (a + b - 2)
    if a <= 1 < b:
        return 0.0
    if b <= 1 < a:
        return 1.0
    return None


def normal_posterior(
    prior_mean: float, prior_std: float, noise_std: float, n: Num, total: Num
) -> tuple[Num, Num]:
    """Mean and standard deviation of μ after n observations summing to `total` (numbers or
    arrays): 1/τ_n² = 1/τ₀² + n/σ²,  μ_n = τ_n² (μ₀/τ₀² + Σx/σ²)."""
    precision = 1.0 / prior_std**2 + n / noise_std**2
    mean = (prior_mean / prior_std**2 + total / noise_std**2) / precision
    return mean, precision**-0.5


def kl_normal(m1: float, s1: float, m2: float, s2: float) -> float:
    """KL(N(m1, s1²) ‖ N(m2, s2²)) = log(s2/s1) + (s1² + (m1 − m2)²)/(2 s2²) − ½."""
    return math.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2.0 * s2**2) - 0.5


def kl_library(m1: float, s1: float, m2: float, s2: float) -> float:
    """The same KL from torch.distributions, as a check of the closed form."""
    p = Normal(torch.tensor(m1, dtype=torch.float64), torch.tensor(s1, dtype=torch.float64))
    q = Normal(torch.tensor(m2, dtype=torch.float64), torch.tensor(s2, dtype=torch.float64))
    return float(kl_divergence(p, q))


def kl_monte_carlo(
    m1: float, s1: float, m2: float, s2: float, x: np.ndarray, ns: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Estimates of KL(p ‖ q) from the first n draws x ~ p for each n in `ns`, with their
    standard errors: the mean of log p(x) − log q(x), and its sample standard deviation / √n."""
    log_ratio = stats.norm.logpdf(x, m1, s1) - stats.norm.logpdf(x, m2, s2)
    mean = np.array([log_ratio[:n].mean() for n in ns])
    stderr = np.array([log_ratio[:n].std(ddof=1) / math.sqrt(n) for n in ns])
    return mean, stderr


def expected_log_likelihood(
    x: np.ndarray, noise_std: float, q_mean: np.ndarray, q_std: np.ndarray
) -> np.ndarray:
    """E_{μ~N(m, s²)}[Σ_i log N(x_i; μ, σ²)] = Σ_i −½ log(2πσ²) − ((x_i − m)² + s²)/(2σ²),
    for each pair (m, s) of the arrays q_mean, q_std."""
    n = len(x)
    squares = ((x[None, :] - q_mean[:, None]) ** 2).sum(1)  # Σ_i (x_i − m)², one per q
    return -0.5 * n * math.log(2 * math.pi * noise_std**2) - (squares + n * q_std**2) / (
        2 * noise_std**2
    )


def kl_normal_array(m1: np.ndarray, s1: np.ndarray, m2: float, s2: float) -> np.ndarray:
    """kl_normal elementwise over arrays of m1 and s1."""
    return np.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2.0 * s2**2) - 0.5


def log_evidence(x: np.ndarray, prior_mean: float, prior_std: float, noise_std: float) -> float:
    """log p(x) = log p(x | μ) + log p(μ) − log p(μ | x), true at every μ (Bayes' rule taken
    logs of); read at the posterior mean."""
    m, s = normal_posterior(prior_mean, prior_std, noise_std, len(x), float(x.sum()))
    return float(
        stats.norm.logpdf(x, m, noise_std).sum()
        + stats.norm.logpdf(m, prior_mean, prior_std)
        - stats.norm.logpdf(m, m, s)
    )


def coin_flips(p: Params) -> np.ndarray:
    """n_flips draws of 1 (heads, probability true_p) or 0, from the seed."""
    rng = np.random.default_rng([p.seed, 1])
    return (rng.random(p.n_flips) < p.true_p).astype(np.int64)


def observations(p: Params) -> np.ndarray:
    """n_observations draws from N(true_mean, noise_std²), from the seed."""
    rng = np.random.default_rng([p.seed, 2])
    return rng.normal(p.true_mean, p.noise_std, size=p.n_observations)


def frame_ns(n: int, max_frames: int) -> set[int]:
    """The n (0 = the prior alone) that get a density frame: all, or max_frames evenly."""
    return set(np.unique(np.round(np.linspace(0, n, min(n + 1, max_frames)))).astype(int).tolist())


# --------------------------------------------------------------------------- the parts


def bayes_coin(p: Params, sink: Sink) -> dict[str, Any]:
    flips = coin_flips(p)
    ns = np.arange(p.n_flips + 1)
    heads = np.concatenate([[0], np.cumsum(flips)])  # heads after n flips, n = 0..n_flips
    a, b = beta_posterior(p.prior_a, p.prior_b, heads, ns)
    tail = (1.0 - p.credible_mass) / 2
    means = stats.beta.mean(a, b)
    lows, highs = stats.beta.ppf(tail, a, b), stats.beta.isf(tail, a, b)  # central interval
    grid = (np.arange(GRID) + 0.5) / GRID  # midpoints: Beta densities with a < 1 are ∞ at 0
    prior = stats.beta.pdf(grid, p.prior_a, p.prior_b)
    frames = frame_ns(p.n_flips, p.max_frames)
    pct = f"{100 * p.credible_mass:g}%"
    values: dict[str, float] = {}
    for n in ns.tolist():
        sink.check()
        k = int(heads[n])
        values = {
            "coin/posterior_mean": float(means[n]),
            "coin/ci_low": float(lows[n]),
            "coin/ci_high": float(highs[n]),
            "coin/true_p": p.true_p,
        }
        mode = beta_mode(float(a[n]), float(b[n]))
        if mode is not None:
            values["coin/map"] = mode
        if n > 0:
            values["coin/mle"] = k / n
        sink.metric(n, values)
        if n in frames:
            # the likelihood θ^k (1−θ)^(n−k) scaled to area 1 is the Beta(k + 1, n − k + 1) density
            emit(
                sink,
                f"coin/n_{n:05d}.json",
                line_artifact(
                    {
                        "prior": (grid, prior),
                        "likelihood (scaled to area 1)": (
                            grid,
                            stats.beta.pdf(grid, k + 1, n - k + 1),
                        ),
                        "posterior": (grid, stats.beta.pdf(grid, a[n], b[n])),
                    },
                    f"after {n} flips, {k} heads: Beta({p.prior_a:g}, {p.prior_b:g}) → "
                    f"Beta({a[n]:g}, {b[n]:g}); mean {means[n]:.3f}, {pct} interval "
                    f"[{lows[n]:.3f}, {highs[n]:.3f}] (true p = {p.true_p:g})",
                    title_zh=f"抛 {n} 次、{k} 次正面：Beta({p.prior_a:g}, {p.prior_b:g}) → "
                    f"Beta({a[n]:g}, {b[n]:g})；均值 {means[n]:.3f}，{pct} 可信区间 "
                    f"[{lows[n]:.3f}, {highs[n]:.3f}]（真实 p = {p.true_p:g}）",
                ),
                view="line",
                step=n,
                meta={
                    "n": n,
                    "heads": k,
                    "x_title": "p (probability of heads)",
                    "x_title_zh": "p（正面朝上的概率）",
                    "y_title": "density",
                    "y_title_zh": "概率密度",
                },
            )
    summary = {f"coin_{key.removeprefix('coin/')}": v for key, v in values.items()}
    return {**summary, "coin_heads": int(heads[-1])}


def bayes_gaussian(p: Params, sink: Sink) -> dict[str, Any]:
    x = observations(p)
    ns = np.arange(p.n_observations + 1)
    totals = np.concatenate([[0.0], np.cumsum(x)])  # Σx after n observations
    means, stds = normal_posterior(p.prior_mean, p.prior_std, p.noise_std, ns, totals)
    lows, highs = stats.norm.interval(p.credible_mass, means, stds)
    spread = 4.0 * max(p.prior_std, p.noise_std)
    lo = min(p.prior_mean, p.true_mean) - spread
    hi = max(p.prior_mean, p.true_mean) + spread
    grid = np.linspace(lo, hi, GRID)
    prior = stats.norm.pdf(grid, p.prior_mean, p.prior_std)
    frames = frame_ns(p.n_observations, p.max_frames)
    pct = f"{100 * p.credible_mass:g}%"
    values: dict[str, float] = {}
    for n in ns.tolist():
        sink.check()
        values = {
            "gaussian/posterior_mean": float(means[n]),
            "gaussian/posterior_std": float(stds[n]),
            "gaussian/ci_low": float(lows[n]),
            "gaussian/ci_high": float(highs[n]),
            "gaussian/true_mean": p.true_mean,
        }
        if n > 0:
            values["gaussian/mle"] = float(totals[n] / n)
        sink.metric(n, values)
        if n in frames:
            # the likelihood Π N(x_i; μ, σ²) as a function of μ, scaled to area 1: N(x̄, σ²/n)
            likelihood = (
                stats.norm.pdf(grid, totals[n] / n, p.noise_std / math.sqrt(n))
                if n > 0
                else np.full(GRID, 1.0 / (hi - lo))
            )
            emit(
                sink,
                f"gaussian/n_{n:05d}.json",
                line_artifact(
                    {
                        "prior": (grid, prior),
                        "likelihood (scaled to area 1)": (grid, likelihood),
                        "posterior": (grid, stats.norm.pdf(grid, means[n], stds[n])),
                    },
                    f"after {n} observations: posterior N({means[n]:.3f}, {stds[n]:.3f}²), "
                    f"{pct} interval [{lows[n]:.3f}, {highs[n]:.3f}] (true μ = {p.true_mean:g})",
                    title_zh=f"{n} 个观测之后：后验 N({means[n]:.3f}, {stds[n]:.3f}²)，"
                    f"{pct} 可信区间 [{lows[n]:.3f}, {highs[n]:.3f}]（真实 μ = {p.true_mean:g}）",
                ),
                view="line",
                step=n,
                meta={
                    "n": n,
                    "x_title": "μ",
                    "x_title_zh": "μ",
                    "y_title": "density",
                    "y_title_zh": "概率密度",
                },
            )
    return {f"gaussian_{key.removeprefix('gaussian/')}": v for key, v in values.items()}


def kl(p: Params, sink: Sink) -> dict[str, Any]:
    m1, s1, m2, s2 = p.p_mean, p.p_std, p.q_mean, p.q_std
    forward, reverse = kl_normal(m1, s1, m2, s2), kl_normal(m2, s2, m1, s1)
    rng = np.random.default_rng([p.seed, 3])
    x_p = rng.normal(m1, s1, size=p.mc_samples)  # for KL(p ‖ q)
    x_q = rng.normal(m2, s2, size=p.mc_samples)  # for KL(q ‖ p)
    ns = np.unique(np.round(np.logspace(1, math.log10(p.mc_samples), MC_CHECKPOINTS)))
    ns = ns.astype(np.int64)
    fwd, fwd_se = kl_monte_carlo(m1, s1, m2, s2, x_p, ns)
    rev, rev_se = kl_monte_carlo(m2, s2, m1, s1, x_q, ns)
    for i, n in enumerate(ns):
        sink.check()
        sink.metric(
            int(n),
            {
                "kl/p_q/closed_form": forward,
                "kl/p_q/monte_carlo": float(fwd[i]),
                "kl/p_q/std_error": float(fwd_se[i]),
                "kl/q_p/closed_form": reverse,
                "kl/q_p/monte_carlo": float(rev[i]),
                "kl/q_p/std_error": float(rev_se[i]),
            },
        )
    lo = min(m1 - 4 * s1, m2 - 4 * s2)
    hi = max(m1 + 4 * s1, m2 + 4 * s2)
    grid = np.linspace(lo, hi, GRID)
    dp, dq = stats.norm.pdf(grid, m1, s1), stats.norm.pdf(grid, m2, s2)
    lp, lq = stats.norm.logpdf(grid, m1, s1), stats.norm.logpdf(grid, m2, s2)
    emit(
        sink,
        "kl/densities.json",
        line_artifact(
            {
                "p": (grid, dp),
                "q": (grid, dq),
                "p·log(p/q): integrates to KL(p‖q)": (grid, dp * (lp - lq)),
                "q·log(q/p): integrates to KL(q‖p)": (grid, dq * (lq - lp)),
            },
            f"p = N({m1:g}, {s1:g}²), q = N({m2:g}, {s2:g}²): KL(p‖q) = {forward:.4f}, "
            f"KL(q‖p) = {reverse:.4f}",
            title_zh=f"p = N({m1:g}, {s1:g}²)，q = N({m2:g}, {s2:g}²)：KL(p‖q) = {forward:.4f}，"
            f"KL(q‖p) = {reverse:.4f}",
        ),
        view="line",
        meta={"x_title": "x", "x_title_zh": "x"},
    )
    emit(
        sink,
        "kl/monte_carlo.json",
        line_artifact(
            {
                "KL(p‖q) closed form": (ns, np.full(len(ns), forward)),
                "KL(p‖q) Monte Carlo": (ns, fwd),
                "KL(p‖q) MC − 2 standard errors": (ns, fwd - 2 * fwd_se),
                "KL(p‖q) MC + 2 standard errors": (ns, fwd + 2 * fwd_se),
                "KL(q‖p) closed form": (ns, np.full(len(ns), reverse)),
                "KL(q‖p) Monte Carlo": (ns, rev),
            },
            "Monte-Carlo estimates of the mean log-ratio as the sample grows",
            title_zh="样本增多时，对数比均值的蒙特卡洛估计",
        ),
        view="line",
        meta={
            "x_title": "samples n",
            "x_title_zh": "样本数 n",
            "y_title": "KL (nats)",
            "y_title_zh": "KL 散度（奈特）",
            "log_x": True,
        },
    )
    # both directions as q's width moves, q's mean fixed: equal only where the curves cross
    widths = s1 * np.logspace(-1, 1, 81)
    emit(
        sink,
        "kl/asymmetry.json",
        line_artifact(
            {
                "KL(p‖q)": (widths, [kl_normal(m1, s1, m2, w) for w in widths]),
                "KL(q‖p)": (widths, [kl_normal(m2, w, m1, s1) for w in widths]),
            },
            f"both directions as q's standard deviation varies (q's mean {m2:g})",
            title_zh=f"q 的标准差变化时两个方向的 KL 散度（q 的均值为 {m2:g}）",
        ),
        view="line",
        meta={
            "x_title": "σ of q",
            "x_title_zh": "q 的标准差 σ",
            "y_title": "KL (nats)",
            "y_title_zh": "KL 散度（奈特）",
            "log_x": True,
            "log_y": True,
        },
    )
    return {
        "kl_p_q": forward,
        "kl_p_q_library": kl_library(m1, s1, m2, s2),
        "kl_p_q_monte_carlo": float(fwd[-1]),
        "kl_p_q_std_error": float(fwd_se[-1]),
        "kl_q_p": reverse,
        "kl_q_p_library": kl_library(m2, s2, m1, s1),
        "kl_q_p_monte_carlo": float(rev[-1]),
        "kl_q_p_std_error": float(rev_se[-1]),
    }


def elbo(p: Params, sink: Sink) -> dict[str, Any]:
    sink.check()
    x = observations(p)
    post_mean, post_std = normal_posterior(
        p.prior_mean, p.prior_std, p.noise_std, len(x), float(x.sum())
    )
    evidence = log_evidence(x, p.prior_mean, p.prior_std, p.noise_std)

    def terms(m: np.ndarray, s: np.ndarray) -> dict[str, np.ndarray]:
        recon = expected_log_likelihood(x, p.noise_std, m, s)
        kl_prior = kl_normal_array(m, s, p.prior_mean, p.prior_std)
        return {"recon": recon, "kl_prior": kl_prior, "elbo": recon - kl_prior}

    sweeps = {
        "mean": (post_mean + post_std * np.linspace(-4, 4, SWEEP), np.full(SWEEP, post_std)),
        "std": (np.full(SWEEP, post_mean), post_std * np.logspace(-1, 1, SWEEP)),
    }
    for name, (m, s) in sweeps.items():
        t = terms(m, s)
        xs = m if name == "mean" else s
        fixed = f"σ_q = τ_n = {post_std:.3f}" if name == "mean" else f"m_q = μ_n = {post_mean:.3f}"
        title = f"q = N(m_q, σ_q²) with {fixed}, over {len(x)} observations"
        title_zh = f"q = N(m_q, σ_q²)，其中 {fixed}，共 {len(x)} 个观测"
        axis = {
            "x_title": "m_q" if name == "mean" else "σ_q",
            "x_title_zh": "q 的均值 m_q" if name == "mean" else "q 的标准差 σ_q",
            "log_x": name == "std",
            "y_title": "nats",
            "y_title_zh": "奈特（nats）",
        }
        emit(
            sink,
            f"elbo/{name}.json",
            line_artifact(
                {
                    "log p(x) (the evidence)": (xs, np.full(SWEEP, evidence)),
                    "ELBO": (xs, t["elbo"]),
                    "E_q[log p(x|μ)] (reconstruction)": (xs, t["recon"]),
                },
                f"the ELBO stays below log p(x) and touches it at the posterior; {title}",
                title_zh=f"ELBO 始终不超过 log p(x)，q 取后验时两者相等；{title_zh}",
            ),
            view="line",
            meta=axis,
        )
        emit(
            sink,
            f"elbo/{name}_kl.json",
            line_artifact(
                {
                    "KL(q ‖ prior) (the ELBO's penalty)": (xs, t["kl_prior"]),
                    "KL(q ‖ posterior) = log p(x) − ELBO": (xs, evidence - t["elbo"]),
                },
                f"the KL terms; {title}",
                title_zh=f"两个 KL 项；{title_zh}",
            ),
            view="line",
            meta=axis,
        )
    at_post = terms(np.array([post_mean]), np.array([post_std]))
    return {
        "elbo_log_evidence": evidence,
        "elbo_at_posterior": float(at_post["elbo"][0]),
        "elbo_reconstruction_at_posterior": float(at_post["recon"][0]),
        "elbo_kl_prior_at_posterior": float(at_post["kl_prior"][0]),
    }


@one_thread
def run(p: Params, sink: Sink, ctx: RunContext) -> dict[str, Any]:
    parts = PARTS if p.part == "all" else (p.part,)
    doers = {"bayes_coin": bayes_coin, "bayes_gaussian": bayes_gaussian, "kl": kl, "elbo": elbo}
    result: dict[str, Any] = {}
    for i, part in enumerate(parts):
        result.update(doers[part](p, sink))
        sink.progress(i + 1, len(parts), part)
    return result


SPEC = KindSpec(
    name="lab.probability",
    params=Params,
    run=run,
    queue="cpu",
    admin_only=False,
    category="lab",
    title="Bayes' rule, KL divergence and the ELBO",
    description="Prior → posterior flip by flip on a coin (Beta) and observation by observation "
    "on a Gaussian mean, with credible intervals, MAP and MLE; KL between two Gaussians in "
    "closed form beside its Monte-Carlo estimate, both directions; the ELBO and its two terms.",
)

/**
 * The math of the Learn page's probability section, computed in the browser as the sliders move
 * (the `lab.probability` kind does the same on the server, with scipy and torch):
 *
 * - Bayes' rule on a coin: a Beta(a, b) prior and h heads, t tails give the posterior
 *   Beta(a + h, b + t). Its credible interval needs Beta quantiles: bisection on the regularized
 *   incomplete beta function I_x(a, b), itself a continued fraction (Numerical Recipes' betacf).
 * - KL divergence between two Gaussians: the closed form, and a Monte-Carlo estimate from a
 *   seeded generator, with its standard error.
 */

// --------------------------------------------------------------------------- special functions

/** Lanczos coefficients for g = 7, n = 9: log Γ to about 15 significant digits. */
const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** log Γ(x) for x > 0 (the Lanczos approximation; the reflection formula below ½). */
export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  const z = x - 1;
  let sum = LANCZOS[0]!;
  for (let i = 1; i < LANCZOS.length; i++) sum += LANCZOS[i]! / (z + i);
  const t = z + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(sum);
}

/** log B(a, b) = log Γ(a) + log Γ(b) − log Γ(a + b). */
export function logBeta(a: number, b: number): number {
  return logGamma(a) + logGamma(b) - logGamma(a + b);
}

/** The density of Beta(a, b) at x ∈ [0, 1]: x^(a−1) (1−x)^(b−1) / B(a, b); ∞ at an end where a or b < 1. */
export function betaPdf(x: number, a: number, b: number): number {
  if (x < 0 || x > 1) return 0;
  if (x === 0) return a < 1 ? Infinity : a === 1 ? Math.exp(-logBeta(a, b)) : 0;
  if (x === 1) return b < 1 ? Infinity : b === 1 ? Math.exp(-logBeta(a, b)) : 0;
  return Math.exp((a - 1) * Math.log(x) + (b - 1) * Math.log1p(-x) - logBeta(a, b));
}

const TINY = 1e-300;

/**
 * The continued fraction of I_x(a, b) (Numerical Recipes, betacf), evaluated by the modified
 * Lentz method; it converges fast for x < (a + 1)/(a + b + 2).
 */
function betaContinuedFraction(a: number, b: number, x: number): number {
  const qab = a + b;
  const qap = a + 1;
  const qam = a - 1;
  let c = 1;
  let d = 1 - (qab * x) / qap;
  if (Math.abs(d) < TINY) d = TINY;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 1000; m++) {
    const m2 = 2 * m;
    // the even step d_{2m}
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    h *= d * c;
    // the odd step d_{2m+1}
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const step = d * c;
    h *= step;
    if (Math.abs(step - 1) < 1e-15) break;
  }
  return h;
}

/** The regularized incomplete beta function I_x(a, b) = P(θ ≤ x) for θ ~ Beta(a, b). */
export function regularizedIncompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  // x^a (1−x)^b / B(a, b), the factor in front of both continued fractions
  const front = Math.exp(a * Math.log(x) + b * Math.log1p(-x) - logBeta(a, b));
  if (x < (a + 1) / (a + b + 2)) return (front * betaContinuedFraction(a, b, x)) / a;
  // I_x(a, b) = 1 − I_{1−x}(b, a), where that fraction converges fast
  return 1 - (front * betaContinuedFraction(b, a, 1 - x)) / b;
}

/** The p-quantile of Beta(a, b): the x with I_x(a, b) = p, by bisection (I is increasing in x). */
export function betaQuantile(p: number, a: number, b: number): number {
  if (p <= 0) return 0;
  if (p >= 1) return 1;
  let lo = 0;
  let hi = 1;
  for (let i = 0; i < 200 && hi - lo > 1e-15; i++) {
    const mid = (lo + hi) / 2;
    if (regularizedIncompleteBeta(mid, a, b) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/**
 * The mode of Beta(a, b), the MAP estimate: (a − 1)/(a + b − 2) when a, b > 1; at an end when
 * only one of them is ≤ 1; null when both are (no single peak: flat, or U-shaped).
 */
export function betaMode(a: number, b: number): number | null {
  if (a > 1 && b > 1) return (a - 1) / (a + b - 2);
  if (a <= 1 && b > 1) return 0;
  if (b <= 1 && a > 1) return 1;
  return null;
}

// --------------------------------------------------------------------------- Bayes on a coin

export interface CoinPosterior {
  /** the posterior Beta(a + h, b + t) */
  a: number;
  b: number;
  /** E[θ | x] = (a + h)/(a + b + n) */
  mean: number;
  /** the mode (MAP), null when the posterior has no single peak */
  map: number | null;
  /** h/n, null before the first flip */
  mle: number | null;
  /** the central credible interval: P(θ < low) = P(θ > high) = (1 − mass)/2 */
  low: number;
  high: number;
}

/** Prior Beta(a, b), h heads and t tails → the conjugate posterior and its summaries. */
export function coinPosterior(a: number, b: number, heads: number, tails: number, mass = 0.95): CoinPosterior {
  const pa = a + heads;
  const pb = b + tails;
  const n = heads + tails;
  return {
    a: pa,
    b: pb,
    mean: pa / (pa + pb),
    map: betaMode(pa, pb),
    mle: n > 0 ? heads / n : null,
    low: betaQuantile((1 - mass) / 2, pa, pb),
    high: betaQuantile((1 + mass) / 2, pa, pb),
  };
}

/** `points` evenly spaced values from lo to hi, both included. */
export function linspace(lo: number, hi: number, points: number): number[] {
  return Array.from({ length: points }, (_, i) => lo + ((hi - lo) * i) / (points - 1));
}

/** A density for a chart: null where it is infinite (at an end of [0, 1]), which uPlot leaves out. */
const drawable = (v: number): number | null => (Number.isFinite(v) ? v : null);

export interface CoinCurves {
  theta: number[];
  prior: (number | null)[];
  /** θ^h (1−θ)^t scaled to area 1: the density of Beta(h + 1, t + 1) */
  likelihood: (number | null)[];
  posterior: (number | null)[];
}

/** Prior, normalised likelihood and posterior densities on a grid over θ ∈ [0, 1]. */
export function coinCurves(a: number, b: number, heads: number, tails: number, points = 201): CoinCurves {
  const theta = linspace(0, 1, points);
  return {
    theta,
    prior: theta.map((x) => drawable(betaPdf(x, a, b))),
    likelihood: theta.map((x) => drawable(betaPdf(x, heads + 1, tails + 1))),
    posterior: theta.map((x) => drawable(betaPdf(x, a + heads, b + tails))),
  };
}

// --------------------------------------------------------------------------- KL between Gaussians

/** log N(x; μ, σ²). */
export function normalLogPdf(x: number, mean: number, std: number): number {
  const z = (x - mean) / std;
  return -0.5 * z * z - Math.log(std) - 0.5 * Math.log(2 * Math.PI);
}

/** KL(N(μ₁, σ₁²) ‖ N(μ₂, σ₂²)) = log(σ₂/σ₁) + (σ₁² + (μ₁ − μ₂)²)/(2σ₂²) − ½. */
export function klNormal(m1: number, s1: number, m2: number, s2: number): number {
  return Math.log(s2 / s1) + (s1 * s1 + (m1 - m2) ** 2) / (2 * s2 * s2) - 0.5;
}

/** A seeded generator of uniform numbers in [0, 1) (mulberry32: 32 bits of state, fast, good enough to sample with). */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n draws from N(μ, σ²) by the Box–Muller transform: two uniforms give two independent normals. */
export function normalSamples(n: number, mean: number, std: number, uniform: () => number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i += 2) {
    const radius = Math.sqrt(-2 * Math.log(1 - uniform())); // 1 − u ∈ (0, 1]: log never sees 0
    const angle = 2 * Math.PI * uniform();
    out[i] = mean + std * radius * Math.cos(angle);
    if (i + 1 < n) out[i + 1] = mean + std * radius * Math.sin(angle);
  }
  return out;
}

export interface MonteCarloEstimate {
  /** the mean of log p(x) − log q(x) over the draws x ~ p */
  estimate: number;
  /** s/√n, s the sample standard deviation (n − 1 in the denominator) of the log-ratio */
  stdError: number;
  n: number;
}

/** KL(p ‖ q) ≈ (1/n) Σ log p(xᵢ)/q(xᵢ) with xᵢ ~ p = N(μ₁, σ₁²), from `seed`; q = N(μ₂, σ₂²). */
export function klMonteCarlo(m1: number, s1: number, m2: number, s2: number, n: number, seed: number): MonteCarloEstimate {
  const x = normalSamples(n, m1, s1, mulberry32(seed));
  // Welford's running mean and sum of squared deviations
  let mean = 0;
  let squares = 0;
  for (let i = 0; i < n; i++) {
    const r = normalLogPdf(x[i]!, m1, s1) - normalLogPdf(x[i]!, m2, s2);
    const delta = r - mean;
    mean += delta / (i + 1);
    squares += delta * (r - mean);
  }
  const std = n > 1 ? Math.sqrt(squares / (n - 1)) : NaN;
  return { estimate: mean, stdError: std / Math.sqrt(n), n };
}

export interface GaussianCurves {
  x: number[];
  p: number[];
  q: number[];
}

/** The densities of p = N(μ₁, σ₁²) and q = N(μ₂, σ₂²) over a range that holds 4σ of each. */
export function gaussianCurves(m1: number, s1: number, m2: number, s2: number, points = 301): GaussianCurves {
  const x = linspace(Math.min(m1 - 4 * s1, m2 - 4 * s2), Math.max(m1 + 4 * s1, m2 + 4 * s2), points);
  return {
    x,
    p: x.map((v) => Math.exp(normalLogPdf(v, m1, s1))),
    q: x.map((v) => Math.exp(normalLogPdf(v, m2, s2))),
  };
}

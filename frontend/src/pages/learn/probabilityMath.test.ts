import { describe, expect, it } from "vitest";
import {
  betaMode,
  betaPdf,
  betaQuantile,
  coinCurves,
  coinPosterior,
  gaussianCurves,
  klMonteCarlo,
  klNormal,
  linspace,
  logGamma,
  mulberry32,
  normalSamples,
  regularizedIncompleteBeta,
} from "./probabilityMath";

/** The trapezoid rule over a grid, skipping no point (the curves must be finite). */
function integrate(x: readonly number[], y: readonly number[]): number {
  let sum = 0;
  for (let i = 1; i < x.length; i++) sum += ((x[i]! - x[i - 1]!) * (y[i]! + y[i - 1]!)) / 2;
  return sum;
}

// Reference numbers from scipy 1.x: scipy.special.gammaln / betainc, scipy.stats.beta.pdf / ppf.
describe("Beta distribution helpers", () => {
  it("computes log Γ as scipy's gammaln", () => {
    const cases: [number, number][] = [
      [0.5, 0.5723649429247],
      [1, 0],
      [2.5, 0.2846828704729192],
      [10, 12.801827480081469],
      [100.3, 360.5147057290581],
    ];
    for (const [x, want] of cases) expect(logGamma(x)).toBeCloseTo(want, 11);
  });

  it("computes the Beta density as scipy's beta.pdf", () => {
    expect(betaPdf(0.1, 3, 5)).toBeCloseTo(0.688905, 10);
    expect(betaPdf(0.5, 3, 5)).toBeCloseTo(1.640625, 10);
    expect(betaPdf(0.9, 3, 5)).toBeCloseTo(0.008505, 10);
    expect(betaPdf(0.3, 102, 198)).toBeCloseTo(5.100080045069694, 8);
    // the ends: infinite below a (or b) of 1, the constant b (or a) at 1, zero above
    expect(betaPdf(0, 0.5, 0.5)).toBe(Infinity);
    expect(betaPdf(0, 1, 4)).toBeCloseTo(4, 12);
    expect(betaPdf(1, 3, 1)).toBeCloseTo(3, 12);
    expect(betaPdf(1, 3, 5)).toBe(0);
  });

  it("computes the regularized incomplete beta function as scipy's betainc", () => {
    expect(regularizedIncompleteBeta(0.3, 3, 5)).toBeCloseTo(0.3529305, 12);
    expect(regularizedIncompleteBeta(0.1, 0.5, 0.5)).toBeCloseTo(0.20483276469913345, 12);
    expect(regularizedIncompleteBeta(0.9, 2.5, 0.7)).toBeCloseTo(0.6239321729007935, 12);
    expect(regularizedIncompleteBeta(0.33, 102, 198)).toBeCloseTo(0.3616313124826405, 10);
    expect(regularizedIncompleteBeta(0, 2, 2)).toBe(0);
    expect(regularizedIncompleteBeta(1, 2, 2)).toBe(1);
  });

  it("finds the quantiles scipy's beta.ppf gives", () => {
    const cases: [number, number, number[], number[]][] = [
      [3, 5, [0.025, 0.975], [0.09898827844250786, 0.7095791362626572]],
      [0.5, 0.5, [0.025, 0.975], [0.001541333133436012, 0.9984586668665639]],
      [1, 1, [0.025, 0.975], [0.025, 0.975]],
      [102, 198, [0.025, 0.975], [0.28754018566622147, 0.39448056009561416]],
      [2.5, 0.7, [0.025, 0.975], [0.2802152393343028, 0.9980948387817409]],
      [20, 3, [0.005, 0.5, 0.995], [0.6422871953304177, 0.8802959460341628, 0.984027001650539]],
      [1002, 3001, [0.025, 0.975], [0.23701368722786575, 0.263847157416633]],
    ];
    for (const [a, b, ps, want] of cases) {
      ps.forEach((p, i) => expect(betaQuantile(p, a, b)).toBeCloseTo(want[i]!, 9));
    }
  });

  it("puts the mode inside for a, b > 1, at an end when one is ≤ 1, and nowhere when both are", () => {
    expect(betaMode(3, 5)).toBeCloseTo(2 / 6, 15);
    expect(betaMode(0.5, 3)).toBe(0);
    expect(betaMode(1, 3)).toBe(0);
    expect(betaMode(4, 1)).toBe(1);
    expect(betaMode(1, 1)).toBeNull();
    expect(betaMode(0.5, 0.5)).toBeNull();
  });
});

describe("Bayes' rule on a coin", () => {
  it("adds the heads to a and the tails to b, and summarises the posterior", () => {
    const post = coinPosterior(2, 2, 7, 3);
    expect([post.a, post.b]).toEqual([9, 5]);
    expect(post.mean).toBeCloseTo(9 / 14, 15);
    expect(post.map).toBeCloseTo(8 / 12, 15);
    expect(post.mle).toBeCloseTo(0.7, 15);
    // scipy: beta.ppf([0.025, 0.975], 9, 5)
    expect(post.low).toBeCloseTo(0.3857383382492956, 9);
    expect(post.high).toBeCloseTo(0.8614206611098394, 9);
  });

  it("has no MLE before the first flip, and the interval's mass is the one asked for", () => {
    const flat = coinPosterior(1, 1, 0, 0);
    expect(flat.mle).toBeNull();
    expect(flat.map).toBeNull(); // Beta(1, 1) is flat
    expect([flat.low, flat.high].map((v) => Number(v.toFixed(12)))).toEqual([0.025, 0.975]);
    // scipy: beta.ppf([0.05, 0.95], 1, 11)
    const ninety = coinPosterior(1, 1, 0, 10, 0.9);
    expect(ninety.map).toBe(0);
    expect(ninety.low).toBeCloseTo(0.0046521717321972985, 9);
    expect(ninety.high).toBeCloseTo(0.2384041903808526, 9);
  });

  it("draws a posterior that is prior × likelihood, normalised, and a likelihood of area 1", () => {
    const c = coinCurves(3, 4, 6, 2, 2001);
    const product = c.theta.map((_, i) => c.prior[i]! * c.likelihood[i]!);
    const area = integrate(c.theta, product);
    const biggest = Math.max(...c.posterior.map((v) => Math.abs(v!)));
    product.forEach((v, i) => expect(Math.abs(v / area - c.posterior[i]!)).toBeLessThan(1e-5 * biggest));
    expect(integrate(c.theta, c.likelihood as number[])).toBeCloseTo(1, 5);
    expect(integrate(c.theta, c.posterior as number[])).toBeCloseTo(1, 5);
  });

  it("leaves out the infinite ends of a U-shaped prior", () => {
    const c = coinCurves(0.5, 0.5, 0, 0, 11);
    expect(c.prior[0]).toBeNull();
    expect(c.prior[10]).toBeNull();
    expect(c.prior[5]).toBeCloseTo(2 / Math.PI, 12);
    c.likelihood.forEach((v) => expect(v).toBeCloseTo(1, 12)); // no flips: a flat likelihood
  });
});

describe("KL divergence between Gaussians", () => {
  it("gives the closed form torch.distributions.kl_divergence gives", () => {
    // torch: kl_divergence(Normal(m1, s1), Normal(m2, s2)) in float64
    const cases: [number, number, number, number, number][] = [
      [0, 1, 1, 2, 0.4431471805599453],
      [1, 2, 0, 1, 1.3068528194400546],
      [0, 1, 0, 1, 0],
      [-1.5, 0.3, 2, 4, 2.475892165445827],
      [3, 5, -2, 0.5, 97.19741490700595],
    ];
    for (const [m1, s1, m2, s2, want] of cases) expect(klNormal(m1, s1, m2, s2)).toBeCloseTo(want, 12);
    expect(klNormal(0, 1, 1, 2)).not.toBeCloseTo(klNormal(1, 2, 0, 1), 3); // not symmetric
  });

  it("samples normals with the asked mean and spread, the same for the same seed", () => {
    const x = normalSamples(20001, 2, 3, mulberry32(7));
    const mean = x.reduce((s, v) => s + v, 0) / x.length;
    const variance = x.reduce((s, v) => s + (v - mean) ** 2, 0) / (x.length - 1);
    expect(Math.abs(mean - 2)).toBeLessThan(4 * (3 / Math.sqrt(x.length)));
    expect(Math.sqrt(variance)).toBeGreaterThan(2.9);
    expect(Math.sqrt(variance)).toBeLessThan(3.1);
    expect(normalSamples(5, 0, 1, mulberry32(7))).toEqual(normalSamples(5, 0, 1, mulberry32(7)));
    expect(normalSamples(5, 0, 1, mulberry32(8))).not.toEqual(normalSamples(5, 0, 1, mulberry32(7)));
  });

  it("estimates KL by Monte Carlo within 4 standard errors of the closed form", () => {
    const cases: [number, number, number, number][] = [
      [0, 1, 1, 2],
      [1, 2, 0, 1],
      [-1.5, 0.3, 2, 4],
      [3, 5, -2, 0.5],
    ];
    for (const [m1, s1, m2, s2] of cases) {
      const mc = klMonteCarlo(m1, s1, m2, s2, 10_000, 1);
      expect(mc.n).toBe(10_000);
      expect(mc.stdError).toBeGreaterThan(0);
      expect(Math.abs(mc.estimate - klNormal(m1, s1, m2, s2))).toBeLessThan(4 * mc.stdError);
    }
    // p = q: every log-ratio is zero
    expect(klMonteCarlo(0.5, 2, 0.5, 2, 100, 3)).toEqual({ estimate: 0, stdError: 0, n: 100 });
  });

  it("shrinks the standard error as 1/√n and repeats itself for a seed", () => {
    const small = klMonteCarlo(0, 1, 1, 2, 1_000, 5);
    const large = klMonteCarlo(0, 1, 1, 2, 100_000, 5);
    expect(small.stdError / large.stdError).toBeGreaterThan(8);
    expect(small.stdError / large.stdError).toBeLessThan(12.5);
    expect(klMonteCarlo(0, 1, 1, 2, 1_000, 5)).toEqual(small);
    expect(klMonteCarlo(0, 1, 1, 2, 1_000, 6).estimate).not.toBe(small.estimate);
  });

  it("draws both densities over a range holding 4σ of each", () => {
    const g = gaussianCurves(0, 1, 5, 0.5, 401);
    expect(g.x[0]).toBe(-4);
    expect(g.x[400]).toBe(7);
    expect(integrate(g.x, g.p)).toBeCloseTo(1, 4);
    expect(integrate(g.x, g.q)).toBeCloseTo(1, 4);
    expect(linspace(0, 1, 5)).toEqual([0, 0.25, 0.5, 0.75, 1]);
  });
});

import { describe, expect, it } from "vitest";
import { flatten, guidedEps, latentToRgba, predictX0, x0ForW, x0Shift, type CfgStep, type Latent } from "./cfgMath";

/** A (C, 1, 2) latent from per-channel pairs. */
const latent = (pairs: [number, number][]): Latent => pairs.map((p) => [p]);

const STEP: CfgStep = {
  step: 3,
  t: 500,
  alpha_bar: 0.36, // √ᾱ = 0.6, √(1−ᾱ) = 0.8
  diff_norm: 2,
  xt: latent([
    [1, -2],
    [0.5, 0],
  ]),
  eps_uncond: latent([
    [0.5, 1],
    [0, -1],
  ]),
  eps_cond: latent([
    [1.5, 1],
    [-1, -1],
  ]),
};

describe("classifier-free guidance math", () => {
  it("flattens a latent channel by channel, row by row", () => {
    expect([...flatten([[[1, 2], [3, 4]], [[5, 6], [7, 8]]])]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it("guides ε: w = 0 is ε(∅), w = 1 is ε(c), w = 3 goes twice as far again", () => {
    const u = [0.5, 1, 0, -1];
    const c = [1.5, 1, -1, -1];
    expect([...guidedEps(u, c, 0)]).toEqual(u);
    expect([...guidedEps(u, c, 1)]).toEqual(c);
    expect([...guidedEps(u, c, 3)]).toEqual([3.5, 1, -3, -1]);
  });

  it("inverts x_t = √ᾱ·x0 + √(1−ᾱ)·ε", () => {
    const x0 = [0.3, -1.2, 2];
    const eps = [1, 0.5, -0.7];
    const ab = 0.2;
    const xt = x0.map((v, i) => Math.sqrt(ab) * v + Math.sqrt(1 - ab) * eps[i]!);
    predictX0(xt, eps, ab).forEach((v, i) => expect(v).toBeCloseTo(x0[i]!, 12));
  });

  it("forms x̂0(w) from a stored step", () => {
    // ε̂(2) = [2.5, 1, -2, -1]; x̂0 = (x_t − 0.8·ε̂) / 0.6
    const want = [(1 - 2) / 0.6, (-2 - 0.8) / 0.6, (0.5 + 1.6) / 0.6, 0.8 / 0.6];
    x0ForW(STEP, 2).forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 12));
  });

  it("moves x̂0 linearly in w, by w·√(1−ᾱ)/√ᾱ·‖ε(c) − ε(∅)‖", () => {
    const step = { ...STEP, diff_norm: Math.hypot(1, 0, -1, 0) };
    const base = x0ForW(step, 0);
    for (const w of [1, 4.5]) {
      const moved = x0ForW(step, w);
      const dist = Math.hypot(...moved.map((v, i) => v - base[i]!));
      expect(x0Shift(step, w)).toBeCloseTo(dist, 12);
    }
  });

  it("draws a latent through the linear map as the backend's previews do", () => {
    // reference: LatentRGB(weight, bias).apply(z) then to_uint8, in backend/difflab/diffusion/previews.py
    const map = {
      weight: [
        [0.2, -0.1, 0.05, 0.3],
        [0.1, 0.25, -0.2, 0.0],
        [-0.15, 0.05, 0.3, 0.1],
      ],
      bias: [0.5, 0.45, 0.4],
    };
    const z = flatten(
      latent([
        [1, -2],
        [0.5, 3],
        [-1, 0.25],
        [2, -0.5],
      ]),
    );
    expect([...latentToRgba(z, [4, 1, 2], map)]).toEqual([255, 223, 45, 255, 0, 242, 223, 255]);
    // enlarged twice with nearest neighbour: 4×2 pixels, each latent pixel a 2×2 block
    const big = latentToRgba(z, [4, 1, 2], map, 2);
    expect(big.length).toBe(4 * 2 * 4);
    const px = (x: number, y: number) => [...big.slice((y * 4 + x) * 4, (y * 4 + x) * 4 + 4)];
    for (const [x, y] of [[0, 0], [1, 0], [0, 1], [1, 1]]) expect(px(x!, y!)).toEqual([255, 223, 45, 255]);
    for (const [x, y] of [[2, 0], [3, 1]]) expect(px(x!, y!)).toEqual([0, 242, 223, 255]);
  });
});

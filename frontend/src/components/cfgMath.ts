/**
 * Classifier-free guidance recomputed from the numbers lab.diffusion_internals stores in
 * cfg/steps.json (Ho & Salimans 2022, eq. 6): the guided noise prediction
 *
 *   ε̂(w) = ε(∅) + w·(ε(c) − ε(∅)),
 *
 * the clean latent it implies at x_t = √ᾱ_t·x0 + √(1−ᾱ_t)·ε,
 *
 *   x̂0 = (x_t − √(1−ᾱ_t)·ε̂(w)) / √ᾱ_t,
 *
 * and the model's linear latent→RGB map (rgb = W·z + b per latent pixel, clamped to [0, 1]),
 * the one the studio's approx previews use (backend/difflab/diffusion/previews.py).
 */

/** A (C, h, w) latent as nested lists. */
export type Latent = number[][][];

/** One denoising step of cfg/steps.json; ε(∅) and ε(c) are noise predictions (ε, not v). */
export interface CfgStep {
  step: number;
  t: number;
  alpha_bar: number;
  /** ‖ε(c) − ε(∅)‖ over the whole latent */
  diff_norm: number;
  xt: Latent;
  eps_uncond: Latent;
  eps_cond: Latent;
}

/** rgb = weight · z + bias, weight (3, C), rgb in [0, 1]. */
export interface LatentRgbMap {
  weight: number[][];
  bias: number[];
}

/** cfg/steps.json as `_cfg_steps` in backend/difflab/diffusion/internals.py writes it. */
export interface CfgData {
  title?: string;
  title_zh?: string;
  /** what the model predicts; the stored ε's are converted to ε already */
  prediction_type: string;
  guidance_scale: number;
  w_values: number[];
  /** the model's latent (C, h, w) and the (C, h', w') kept: every `stride`-th pixel */
  latent_shape: [number, number, number];
  stride: number;
  shape: [number, number, number];
  latent_rgb: LatentRgbMap;
  steps: CfgStep[];
}

/** A (C, h, w) latent as one channel-major array: index (c·h + y)·w + x. */
export function flatten(z: Latent): Float64Array {
  const out: number[] = [];
  for (const channel of z) for (const row of channel) out.push(...row);
  return Float64Array.from(out);
}

/** ε̂(w) = ε(∅) + w·(ε(c) − ε(∅)), element by element. */
export function guidedEps(uncond: ArrayLike<number>, cond: ArrayLike<number>, w: number): Float64Array {
  const out = new Float64Array(uncond.length);
  for (let i = 0; i < out.length; i++) out[i] = uncond[i]! + w * (cond[i]! - uncond[i]!);
  return out;
}

/** x̂0 = (x_t − √(1−ᾱ_t)·ε) / √ᾱ_t, element by element. */
export function predictX0(xt: ArrayLike<number>, eps: ArrayLike<number>, alphaBar: number): Float64Array {
  const a = Math.sqrt(alphaBar);
  const s = Math.sqrt(1 - alphaBar);
  const out = new Float64Array(xt.length);
  for (let i = 0; i < out.length; i++) out[i] = (xt[i]! - s * eps[i]!) / a;
  return out;
}

/** The clean latent step `step` predicts when guided with scale w. */
export function x0ForW(step: CfgStep, w: number): Float64Array {
  return predictX0(flatten(step.xt), guidedEps(flatten(step.eps_uncond), flatten(step.eps_cond), w), step.alpha_bar);
}

/**
 * ‖x̂0(w) − x̂0(0)‖ = w·√(1−ᾱ_t)/√ᾱ_t·‖ε(c) − ε(∅)‖: how far guidance moves the prediction,
 * linear in w (x̂0 is affine in ε̂, and ε̂ in w).
 */
export function x0Shift(step: CfgStep, w: number): number {
  return (Math.abs(w) * Math.sqrt(1 - step.alpha_bar) * step.diff_norm) / Math.sqrt(step.alpha_bar);
}

/**
 * A channel-major (C, h, w) latent through the latent→RGB map as RGBA bytes of an image
 * `scale` times larger in each direction (nearest neighbour: each latent pixel a block), row by
 * row, opaque. Bytes are round(255·clamp(rgb, 0, 1)), as the backend's previews.
 */
export function latentToRgba(z: ArrayLike<number>, shape: readonly [number, number, number], map: LatentRgbMap, scale = 1): Uint8ClampedArray<ArrayBuffer> {
  const [channels, h, w] = shape;
  const width = w * scale;
  const out = new Uint8ClampedArray(width * h * scale * 4);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const rgba = [0, 0, 0, 255];
      for (let r = 0; r < 3; r++) {
        let v = map.bias[r]!;
        for (let c = 0; c < channels; c++) v += map.weight[r]![c]! * z[(c * h + y) * w + x]!;
        rgba[r] = Math.round(255 * Math.min(1, Math.max(0, v)));
      }
      for (let dy = 0; dy < scale; dy++)
        for (let dx = 0; dx < scale; dx++) out.set(rgba, ((y * scale + dy) * width + x * scale + dx) * 4);
    }
  return out;
}

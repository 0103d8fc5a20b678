/** The studio form's values and their mapping to and from POST /generations bodies. */
import type { GenerationCreate } from "../../client/types";
import { randomSeed } from "../../lib/format";

export type Sampler = GenerationCreate["sampler"];
export type ScheduleType = NonNullable<GenerationCreate["scheduler"]>;
export const SCHEDULE_TYPES: ScheduleType[] = ["Automatic", "Uniform", "Karras", "Exponential", "Beta", "SGM Uniform"];
export type ResizeMode = GenerationCreate["resize_mode"];
export const RESIZE_MODES: ResizeMode[] = ["just_resize", "crop_and_resize", "resize_and_fill"];
export type InpaintingFill = GenerationCreate["inpainting_fill"];
export const INPAINTING_FILLS: InpaintingFill[] = ["fill", "original", "latent_noise", "latent_nothing"];

/** txt2img starts from noise; img2img from an init image; inpaint repaints the masked part of it. */
export type StudioMode = "txt2img" | "img2img" | "inpaint";
export const MODES: StudioMode[] = ["txt2img", "img2img", "inpaint"];

export interface StudioSettings {
  prompt: string;
  negative_prompt: string;
  /** "" until the model list arrives: the server's default model */
  model: string;
  /** "" until the sampler list arrives: the server's default sampler */
  sampler: string;
  scheduler: ScheduleType;
  steps: number;
  /** null: the model's own (GET /models default_guidance) */
  guidance_scale: number | null;
  seed: number;
  /** keep the seed between generations; unlocked, each generation rolls a new one */
  seedLocked: boolean;
  /** null: the model's native size */
  width: number | null;
  height: number | null;
  batch_size: number;
  eta: number;
  preview: "none" | "approx" | "full";
  preview_every: number;
  /** comma-separated guidance scales for a sweep; empty: no sweep */
  guidance_sweep: string;
  mode: StudioMode;
  /** img2img and inpaint: the share of the steps that run, from the init image noised to that point */
  strength: number;
  resize_mode: ResizeMode;
  /** inpaint: Gaussian blur of the mask, in pixels */
  mask_blur: number;
  /** inpaint: repaint what is not painted */
  mask_invert: boolean;
  inpainting_fill: InpaintingFill;
  /** inpaint: redraw only the masked region at full size ("only masked") */
  inpaint_full_res: boolean;
  inpaint_full_res_padding: number;
}

export const DEFAULT_SETTINGS: StudioSettings = {
  prompt: "",
  negative_prompt: "",
  model: "",
  sampler: "",
  scheduler: "Automatic",
  steps: 25,
  guidance_scale: null,
  seed: 0,
  seedLocked: false,
  width: null,
  height: null,
  batch_size: 1,
  eta: 0,
  preview: "full",
  preview_every: 1,
  guidance_sweep: "",
  mode: "txt2img",
  strength: 0.75,
  resize_mode: "just_resize",
  mask_blur: 4,
  mask_invert: false,
  inpainting_fill: "original",
  inpaint_full_res: false,
  inpaint_full_res_padding: 32,
};

// v2: the guidance scale became "the model's own" by default (stored 7s were the old default)
const STORE_KEY = "difflab.studio.v2";

export function loadSettings(): StudioSettings {
  try {
    const raw = localStorage.getItem(STORE_KEY);
    if (raw) return { ...DEFAULT_SETTINGS, ...(JSON.parse(raw) as Partial<StudioSettings>) };
  } catch {
    // unreadable storage: start from the defaults
  }
  return { ...DEFAULT_SETTINGS, seed: randomSeed() };
}

export function saveSettings(s: StudioSettings): void {
  try {
    localStorage.setItem(STORE_KEY, JSON.stringify(s));
  } catch {
    // storage full or unavailable: the form still works
  }
}

export function parseSweep(text: string): number[] | null {
  const parts = text.split(/[,\s]+/).filter(Boolean).map(Number);
  if (parts.length === 0) return null;
  return parts.every(Number.isFinite) ? parts : null;
}

/** The uploaded images (ids from POST /api/v1/images) a request in img2img or inpaint mode starts from. */
export interface RequestImages {
  init_image?: string | null;
  mask?: string | null;
}

/**
 * The request body; fields left at "server default" are left out so the API's defaults apply.
 * img2img fields go only with an init image, inpainting fields only with a mask too: the API
 * refuses them otherwise.
 */
export function toRequest(s: StudioSettings, images: RequestImages = {}): Partial<GenerationCreate> {
  const body: Partial<GenerationCreate> = {
    prompt: s.prompt,
    negative_prompt: s.negative_prompt,
    scheduler: s.scheduler,
    steps: s.steps,
    seed: s.seed,
    batch_size: s.batch_size,
    eta: s.eta,
    preview: s.preview,
    preview_every: s.preview_every,
    attention: true,
  };
  if (s.model) body.model = s.model;
  if (s.guidance_scale != null) body.guidance_scale = s.guidance_scale;
  if (s.sampler) body.sampler = s.sampler as Sampler;
  if (s.width != null) body.width = s.width;
  if (s.height != null) body.height = s.height;
  const sweep = parseSweep(s.guidance_sweep);
  if (sweep) body.guidance_sweep = sweep;
  if (s.mode === "txt2img" || !images.init_image) return body;
  body.init_image = images.init_image;
  body.strength = s.strength;
  body.resize_mode = s.resize_mode;
  if (s.mode !== "inpaint" || !images.mask) return body;
  body.mask = images.mask;
  body.mask_blur = s.mask_blur;
  body.mask_invert = s.mask_invert;
  body.inpainting_fill = s.inpainting_fill;
  body.inpaint_full_res = s.inpaint_full_res;
  if (s.inpaint_full_res) body.inpaint_full_res_padding = s.inpaint_full_res_padding;
  return body;
}

/**
 * How img2img splits the steps, as the API does: int(strength * steps) steps run, from the init
 * image noised to the step where they start; the first `skipped` steps are not run.
 */
export function img2imgSteps(strength: number, steps: number): { skipped: number; run: number } {
  const run = Math.min(steps, Math.max(0, Math.trunc(strength * steps)));
  return { skipped: steps - run, run };
}

/** Settings from a past generation's params ("use these settings again"); the seed is locked. */
export function fromParams(current: StudioSettings, params: Record<string, unknown>, seed?: number): StudioSettings {
  const next: StudioSettings = { ...current, seedLocked: true };
  const set = next as unknown as Record<string, unknown>;
  for (const k of ["prompt", "negative_prompt", "model", "sampler", "scheduler", "preview", "resize_mode", "inpainting_fill"] as const) {
    if (typeof params[k] === "string") set[k] = params[k];
  }
  for (const k of [
    "steps",
    "guidance_scale",
    "batch_size",
    "eta",
    "preview_every",
    "seed",
    "strength",
    "mask_blur",
    "inpaint_full_res_padding",
  ] as const) {
    if (typeof params[k] === "number") set[k] = params[k];
  }
  for (const k of ["mask_invert", "inpaint_full_res"] as const) {
    if (typeof params[k] === "boolean") set[k] = params[k];
  }
  for (const k of ["width", "height"] as const) {
    if (typeof params[k] === "number" || params[k] === null) set[k] = params[k];
  }
  if (seed != null && seed >= 0) next.seed = seed;
  const sweep = params.guidance_sweep;
  next.guidance_sweep = Array.isArray(sweep) ? sweep.join(", ") : "";
  return next;
}

/** The studio form's values and their mapping to and from POST /generations bodies. */
import type { GenerationCreate, LoraInfo, LoraWeight, PromptStyle } from "../../client/types";
import { randomSeed } from "../../lib/format";
import { applyStyles } from "./promptStyles";

export type Sampler = GenerationCreate["sampler"];
export type ScheduleType = NonNullable<GenerationCreate["scheduler"]>;
export const SCHEDULE_TYPES: ScheduleType[] = ["Automatic", "Uniform", "Karras", "Exponential", "Beta", "SGM Uniform"];
export type ResizeMode = GenerationCreate["resize_mode"];
export const RESIZE_MODES: ResizeMode[] = ["just_resize", "crop_and_resize", "resize_and_fill"];
export type InpaintingFill = GenerationCreate["inpainting_fill"];
export const INPAINTING_FILLS: InpaintingFill[] = ["fill", "original", "latent_noise", "latent_nothing"];
export type HrUpscaler = GenerationCreate["hr_upscaler"];
export const HR_UPSCALERS: HrUpscaler[] = [
  "Latent",
  "Latent (antialiased)",
  "Latent (bicubic)",
  "Latent (bicubic antialiased)",
  "Latent (nearest)",
  "Latent (nearest-exact)",
  "Lanczos",
  "Nearest",
];

/** A LoRA chosen in the studio and its weight (the API takes -4..4; the slider spans -1..2). */
export type LoraChoice = Required<LoraWeight>;
/** The API takes at most this many LoRAs in one request. */
export const MAX_LORAS = 8;

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
  /** hires fix (txt2img only): generate, upscale by hr_scale, then a second img2img pass */
  enable_hr: boolean;
  hr_scale: number;
  hr_upscaler: HrUpscaler;
  /** 0: as many as steps */
  hr_second_pass_steps: number;
  /** the second pass's denoising strength */
  hr_strength: number;
  /** variation seed (-1: random), mixed into the seed's noise by subseed_strength (txt2img only) */
  subseed: number;
  subseed_strength: number;
  /** conditioning from the N-th text-encoder layer from the end; 1: the last */
  clip_skip: number;
  /** saved styles (by name) merged into the prompts of the next request, in this order */
  styles: string[];
  /** LoRAs applied to the next request (sent as `loras`), in this order */
  loras: LoraChoice[];
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
  enable_hr: false,
  hr_scale: 2,
  hr_upscaler: "Latent",
  hr_second_pass_steps: 0,
  hr_strength: 0.7,
  subseed: -1,
  subseed_strength: 0,
  clip_skip: 1,
  styles: [],
  loras: [],
};

// v2: the guidance scale became "the model's own" by default (stored 7s were the old default)
const STORE_KEY = "difflab.studio.v2";

export function loadSettings(): StudioSettings {
  try {
    const raw = localStorage.getItem(STORE_KEY);
    if (raw) {
      const stored = JSON.parse(raw) as Partial<StudioSettings>;
      // settings saved before LoRAs existed have none
      return { ...DEFAULT_SETTINGS, ...stored, loras: parseLoras(stored.loras) };
    }
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

/** LoRA choices from stored settings or a past request's params: well-formed ones only. */
export function parseLoras(value: unknown): LoraChoice[] {
  if (!Array.isArray(value)) return [];
  const out: LoraChoice[] = [];
  for (const v of value as unknown[]) {
    if (typeof v !== "object" || v === null) continue;
    const { name, weight } = v as { name?: unknown; weight?: unknown };
    if (typeof name !== "string" || !name || out.some((x) => x.name === name)) continue;
    out.push({ name, weight: typeof weight === "number" && Number.isFinite(weight) ? weight : 1 });
  }
  return out.slice(0, MAX_LORAS);
}

/**
 * Why a LoRA cannot go with the model: "model" (trained on another base model; the API refuses
 * it) or "missing" (no longer installed); null when it can. `known` null: the list has not
 * arrived, nothing is known against it. A LoRA without a base model on its card, or a model
 * not chosen yet (the server's default), is not held against it.
 */
export function loraProblem(name: string, model: string, known: readonly LoraInfo[] | null): "model" | "missing" | null {
  if (known == null) return null;
  const info = known.find((l) => l.name === name);
  if (!info) return "missing";
  return info.base_model && model && info.base_model !== model ? "model" : null;
}

/** The chosen LoRAs that go into a request with this model (see loraProblem). */
export function activeLoras(s: Pick<StudioSettings, "loras" | "model">, known: readonly LoraInfo[] | null): LoraChoice[] {
  return s.loras.filter((l) => loraProblem(l.name, s.model, known) == null);
}

/**
 * The request body; fields left at "server default" are left out so the API's defaults apply.
 * img2img fields go only with an init image, inpainting fields only with a mask too: the API
 * refuses them otherwise. Hires fix and variation seeds go only in txt2img (hires fix not with
 * a guidance sweep either), Clip skip only when it is not 1. The chosen styles (looked up in
 * `saved`) are merged into the prompts here: the API's POST /generations takes no style names.
 * The chosen LoRAs go as `loras` when there are any, less those `knownLoras` (GET /loras) says
 * the model cannot take (another base model, or no longer installed).
 */
export function toRequest(
  s: StudioSettings,
  images: RequestImages = {},
  saved: readonly PromptStyle[] = [],
  knownLoras: readonly LoraInfo[] | null = null,
): Partial<GenerationCreate> {
  const body: Partial<GenerationCreate> = {
    ...applyStyles(s.prompt, s.negative_prompt, s.styles, saved),
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
  if (s.clip_skip !== 1) body.clip_skip = s.clip_skip;
  const loras = activeLoras(s, knownLoras);
  if (loras.length) body.loras = loras.map(({ name, weight }) => ({ name, weight }));
  if (s.mode === "txt2img") {
    if (hiresApplies(s)) {
      body.enable_hr = true;
      body.hr_scale = s.hr_scale;
      body.hr_upscaler = s.hr_upscaler;
      body.hr_second_pass_steps = s.hr_second_pass_steps;
      body.hr_strength = s.hr_strength;
    }
    if (s.subseed_strength > 0) {
      body.subseed_strength = s.subseed_strength;
      if (s.subseed >= 0) body.subseed = s.subseed;
    }
  }
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

/** Hires fix asks for something: switched on, in txt2img, without a guidance sweep. */
export function hiresApplies(s: StudioSettings): boolean {
  return s.enable_hr && s.mode === "txt2img" && !parseSweep(s.guidance_sweep);
}

/** The size hires fix ends at: the first pass's size times hr_scale (A1111 rounds down to 8). */
export function hiresSize(width: number, height: number, scale: number): { width: number; height: number } {
  return { width: Math.floor((width * scale) / 8) * 8, height: Math.floor((height * scale) / 8) * 8 };
}

/**
 * How img2img splits the steps, as the API does: int(strength * steps) steps run, from the init
 * image noised to the step where they start; the first `skipped` steps are not run.
 */
export function img2imgSteps(strength: number, steps: number): { skipped: number; run: number } {
  const run = Math.min(steps, Math.max(0, Math.trunc(strength * steps)));
  return { skipped: steps - run, run };
}

/**
 * Settings from a past generation's params ("use these settings again"); the seed is locked. No
 * style stays chosen: the recorded prompts already hold the styles they were made with. The
 * LoRAs are the generation's `loras` (none when it had none; `<lora:…>` tags stay in its prompt).
 */
export function fromParams(current: StudioSettings, params: Record<string, unknown>, seed?: number): StudioSettings {
  const next: StudioSettings = { ...current, seedLocked: true, styles: [] };
  const set = next as unknown as Record<string, unknown>;
  for (const k of [
    "prompt",
    "negative_prompt",
    "model",
    "sampler",
    "scheduler",
    "preview",
    "resize_mode",
    "inpainting_fill",
    "hr_upscaler",
  ] as const) {
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
    "hr_scale",
    "hr_second_pass_steps",
    "hr_strength",
    "subseed",
    "subseed_strength",
    "clip_skip",
  ] as const) {
    if (typeof params[k] === "number") set[k] = params[k];
  }
  for (const k of ["mask_invert", "inpaint_full_res", "enable_hr"] as const) {
    if (typeof params[k] === "boolean") set[k] = params[k];
  }
  for (const k of ["width", "height"] as const) {
    if (typeof params[k] === "number" || params[k] === null) set[k] = params[k];
  }
  if (seed != null && seed >= 0) next.seed = seed;
  next.loras = parseLoras(params.loras);
  const sweep = params.guidance_sweep;
  next.guidance_sweep = Array.isArray(sweep) ? sweep.join(", ") : "";
  return next;
}

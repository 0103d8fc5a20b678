/** The studio form's values and their mapping to and from POST /generations bodies. */
import type { GenerationCreate } from "../../client/types";
import { randomSeed } from "../../lib/format";

export type Sampler = GenerationCreate["sampler"];
export type ScheduleType = NonNullable<GenerationCreate["scheduler"]>;
export const SCHEDULE_TYPES: ScheduleType[] = ["Automatic", "Uniform", "Karras", "Exponential", "Beta", "SGM Uniform"];

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

/** The request body; fields left at "server default" are left out so the API's defaults apply. */
export function toRequest(s: StudioSettings): Partial<GenerationCreate> {
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
  return body;
}

/** Settings from a past generation's params ("use these settings again"); the seed is locked. */
export function fromParams(current: StudioSettings, params: Record<string, unknown>, seed?: number): StudioSettings {
  const next: StudioSettings = { ...current, seedLocked: true };
  const set = next as unknown as Record<string, unknown>;
  for (const k of ["prompt", "negative_prompt", "model", "sampler", "scheduler", "preview"] as const) {
    if (typeof params[k] === "string") set[k] = params[k];
  }
  for (const k of ["steps", "guidance_scale", "batch_size", "eta", "preview_every", "seed"] as const) {
    if (typeof params[k] === "number") set[k] = params[k];
  }
  for (const k of ["width", "height"] as const) {
    if (typeof params[k] === "number" || params[k] === null) set[k] = params[k];
  }
  if (seed != null && seed >= 0) next.seed = seed;
  const sweep = params.guidance_sweep;
  next.guidance_sweep = Array.isArray(sweep) ? sweep.join(", ") : "";
  return next;
}

/**
 * Studio settings from an A1111 infotext (a dropped PNG, or an image opened large): prompt,
 * negative prompt, steps, sampler, schedule type, CFG scale, seed, size, model, denoising
 * strength, hires fix (Hires upscale, Hires upscaler, Hires steps; Denoising strength is the
 * second pass's then), variation seed and strength, Clip skip. Keys A1111 leaves out when
 * they are off restore "off" (no Hires upscale: no hires fix; no Clip skip: 1; no variation
 * strength: 0), as A1111's own paste does. What does not fit this server (an unknown model or sampler, a bad number) is left
 * as it was and reported, so the banner can say so.
 */
import type { Infotext } from "../../lib/infotext";
import { DEFAULT_SETTINGS, HR_UPSCALERS, SCHEDULE_TYPES, type ScheduleType, type StudioSettings } from "./settings";

export interface SamplerNames {
  name: string;
  aliases?: readonly string[];
}

export interface Restored {
  settings: StudioSettings;
  /** infotext keys applied */
  applied: string[];
  /** infotext keys that were present but could not be used, with the value */
  skipped: { key: string; value: string }[];
}

function findSampler(name: string, samplers: readonly SamplerNames[]): string | null {
  const want = name.trim().toLowerCase();
  for (const s of samplers) {
    if (s.name.toLowerCase() === want || s.aliases?.some((a) => a.toLowerCase() === want)) return s.name;
  }
  return null;
}

function findSchedule(value: string): ScheduleType | null {
  const want = value.trim().toLowerCase();
  return SCHEDULE_TYPES.find((s) => s.toLowerCase() === want) ?? null;
}

/**
 * A1111 before 1.9 wrote the schedule into the sampler's name ("DPM++ 2M Karras"): a name
 * not found as it is is tried again without a schedule suffix.
 */
export function splitSampler(
  name: string,
  samplers: readonly SamplerNames[],
): { sampler: string; schedule: ScheduleType | null } | null {
  const exact = findSampler(name, samplers);
  if (exact) return { sampler: exact, schedule: null };
  for (const schedule of SCHEDULE_TYPES) {
    const suffix = ` ${schedule}`;
    if (schedule !== "Automatic" && name.toLowerCase().endsWith(suffix.toLowerCase())) {
      const base = findSampler(name.slice(0, -suffix.length), samplers);
      if (base) return { sampler: base, schedule };
    }
  }
  return null;
}

const INT = /^-?\d+$/;
const NUM = /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/;

export function settingsFromInfotext(
  current: StudioSettings,
  info: Infotext,
  context: { samplers: readonly SamplerNames[]; models: readonly string[] },
): Restored {
  // the infotext's prompts already hold the styles they were made with: none stays chosen
  const next: StudioSettings = { ...current, prompt: info.prompt, negative_prompt: info.negative_prompt, styles: [] };
  const applied = ["Prompt", "Negative prompt"];
  const skipped: Restored["skipped"] = [];
  const p = info.params;
  const use = (key: string, ok: boolean) => {
    if (p[key] === undefined) return;
    if (ok) applied.push(key);
    else skipped.push({ key, value: p[key]! });
  };
  const int = (key: string, min: number, max: number, set: (n: number) => void) => {
    const v = p[key]?.trim();
    if (v === undefined) return;
    const ok = INT.test(v) && Number(v) >= min && Number(v) <= max;
    if (ok) set(Number(v));
    use(key, ok);
  };
  const num = (key: string, min: number, max: number, set: (n: number) => void) => {
    const v = p[key]?.trim();
    if (v === undefined) return;
    const ok = NUM.test(v) && Number(v) >= min && Number(v) <= max;
    if (ok) set(Number(v));
    use(key, ok);
  };

  int("Steps", 1, 150, (n) => (next.steps = n));
  num("CFG scale", 0, 30, (n) => (next.guidance_scale = n));
  int("Seed", -1, Number.MAX_SAFE_INTEGER, (n) => (next.seed = n));
  num("Eta", 0, 1, (n) => (next.eta = n));

  // hires fix: A1111 writes its keys only when it was on; its denoising strength is then the
  // second pass's (an img2img image has no Hires upscale, and its strength is img2img's)
  next.enable_hr = false;
  if (p["Hires upscale"] !== undefined) {
    num("Hires upscale", 1.000001, 4, (n) => {
      next.enable_hr = true;
      next.hr_scale = n;
    });
  }
  if (next.enable_hr) {
    next.hr_upscaler = DEFAULT_SETTINGS.hr_upscaler;
    next.hr_second_pass_steps = 0;
    num("Denoising strength", 0, 1, (n) => (next.hr_strength = n));
    int("Hires steps", 0, 150, (n) => (next.hr_second_pass_steps = n));
    if (p["Hires upscaler"] !== undefined) {
      const want = p["Hires upscaler"].trim().toLowerCase();
      const found = HR_UPSCALERS.find((u) => u.toLowerCase() === want);
      if (found) next.hr_upscaler = found;
      use("Hires upscaler", !!found);
    }
  } else {
    num("Denoising strength", 0, 1, (n) => (next.strength = n));
    for (const key of ["Hires steps", "Hires upscaler"]) use(key, false);
  }

  next.subseed_strength = 0;
  int("Variation seed", -1, Number.MAX_SAFE_INTEGER, (n) => (next.subseed = n));
  num("Variation seed strength", 0, 1, (n) => (next.subseed_strength = n));
  next.clip_skip = 1;
  int("Clip skip", 1, 12, (n) => (next.clip_skip = n));

  // absent: the sampler's own schedule (A1111 writes none for Automatic)
  let schedule: ScheduleType = "Automatic";
  if (p["Sampler"] !== undefined) {
    const found = splitSampler(p["Sampler"], context.samplers);
    if (found) {
      next.sampler = found.sampler;
      if (found.schedule) schedule = found.schedule;
    }
    use("Sampler", !!found);
  }
  if (p["Schedule type"] !== undefined) {
    const found = findSchedule(p["Schedule type"]);
    if (found) schedule = found;
    use("Schedule type", !!found);
  }
  next.scheduler = schedule;

  if (p["Size"] !== undefined) {
    const m = /^\s*(\d+)\s*x\s*(\d+)\s*$/i.exec(p["Size"]);
    if (m) {
      next.width = Number(m[1]);
      next.height = Number(m[2]);
    }
    use("Size", !!m);
  }
  if (p["Model"] !== undefined) {
    const model = p["Model"].trim();
    const ok = context.models.includes(model);
    if (ok) next.model = model;
    use("Model", ok);
  }
  return { settings: next, applied, skipped };
}

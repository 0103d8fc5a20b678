import { describe, expect, it } from "vitest";
import type { LoraInfo } from "../../client/types";
import {
  DEFAULT_SETTINGS,
  fromParams,
  hiresSize,
  img2imgSteps,
  loadSettings,
  loraProblem,
  saveSettings,
  toRequest,
  type StudioSettings,
} from "./settings";

const INIT = "a".repeat(64);
const MASK = "b".repeat(64);
const IMG2IMG_KEYS = ["init_image", "strength", "resize_mode"];
const INPAINT_KEYS = ["mask", "mask_blur", "mask_invert", "inpainting_fill", "inpaint_full_res", "inpaint_full_res_padding"];

const settings = (over: Partial<StudioSettings>): StudioSettings => ({
  ...DEFAULT_SETTINGS,
  prompt: "a red circle",
  seed: 7,
  strength: 0.6,
  resize_mode: "crop_and_resize",
  mask_blur: 8,
  mask_invert: true,
  inpainting_fill: "latent_noise",
  ...over,
});
const HIRES_KEYS = ["hr_scale", "hr_upscaler", "hr_second_pass_steps", "hr_strength"];
const keys = (o: object) => Object.keys(o);

describe("studio request", () => {
  it("txt2img sends no img2img or inpainting field, whatever the form holds", () => {
    const body = toRequest(settings({ mode: "txt2img" }), { init_image: INIT, mask: MASK });
    for (const k of [...IMG2IMG_KEYS, ...INPAINT_KEYS]) expect(keys(body)).not.toContain(k);
    expect(body).toMatchObject({ prompt: "a red circle", seed: 7, steps: 25 });
  });

  it("img2img sends the init image, strength and resize mode, and no mask fields", () => {
    const body = toRequest(settings({ mode: "img2img" }), { init_image: INIT, mask: MASK });
    expect(body).toMatchObject({ init_image: INIT, strength: 0.6, resize_mode: "crop_and_resize" });
    for (const k of INPAINT_KEYS) expect(keys(body)).not.toContain(k);
  });

  it("inpaint sends the mask and its options too; the padding only with 'only masked'", () => {
    const body = toRequest(settings({ mode: "inpaint" }), { init_image: INIT, mask: MASK });
    expect(body).toMatchObject({
      init_image: INIT,
      strength: 0.6,
      mask: MASK,
      mask_blur: 8,
      mask_invert: true,
      inpainting_fill: "latent_noise",
      inpaint_full_res: false,
    });
    expect(keys(body)).not.toContain("inpaint_full_res_padding");
    const fullRes = toRequest(settings({ mode: "inpaint", inpaint_full_res: true, inpaint_full_res_padding: 48 }), {
      init_image: INIT,
      mask: MASK,
    });
    expect(fullRes).toMatchObject({ inpaint_full_res: true, inpaint_full_res_padding: 48 });
  });

  it("leaves out what it has no image for (the API refuses such fields)", () => {
    const noInit = toRequest(settings({ mode: "inpaint" }), {});
    for (const k of [...IMG2IMG_KEYS, ...INPAINT_KEYS]) expect(keys(noInit)).not.toContain(k);
    const noMask = toRequest(settings({ mode: "inpaint" }), { init_image: INIT });
    expect(noMask).toMatchObject({ init_image: INIT, strength: 0.6 });
    for (const k of INPAINT_KEYS) expect(keys(noMask)).not.toContain(k);
  });

  it("splits the steps as the API does: int(strength * steps) run", () => {
    expect(img2imgSteps(0.6, 25)).toEqual({ skipped: 10, run: 15 });
    expect(img2imgSteps(0.75, 25)).toEqual({ skipped: 7, run: 18 }); // 18.75 -> 18
    expect(img2imgSteps(1, 25)).toEqual({ skipped: 0, run: 25 });
    expect(img2imgSteps(0.01, 25)).toEqual({ skipped: 25, run: 0 });
  });

  it("takes img2img and inpainting options back from a past generation", () => {
    const next = fromParams(DEFAULT_SETTINGS, { strength: 0.3, resize_mode: "resize_and_fill", mask_blur: 0, inpaint_full_res: true });
    expect(next).toMatchObject({ strength: 0.3, resize_mode: "resize_and_fill", mask_blur: 0, inpaint_full_res: true });
  });

  it("sends no hires, variation or clip skip field while they ask for nothing", () => {
    const body = toRequest(settings({ mode: "txt2img", hr_scale: 3, hr_strength: 0.5, subseed: 5 }));
    for (const k of [...HIRES_KEYS, "subseed", "subseed_strength", "clip_skip"]) expect(keys(body)).not.toContain(k);
  });

  it("sends hires fix with its fields when it is on, in txt2img only and not with a sweep", () => {
    const on = { enable_hr: true, hr_scale: 1.5, hr_upscaler: "Lanczos" as const, hr_second_pass_steps: 4, hr_strength: 0.4 };
    expect(toRequest(settings({ mode: "txt2img", ...on }))).toMatchObject({
      enable_hr: true,
      hr_scale: 1.5,
      hr_upscaler: "Lanczos",
      hr_second_pass_steps: 4,
      hr_strength: 0.4,
    });
    for (const over of [{ mode: "img2img" as const }, { mode: "inpaint" as const }, { guidance_sweep: "3, 7" }]) {
      const body = toRequest(settings({ ...on, ...over }), { init_image: INIT, mask: MASK });
      for (const k of ["enable_hr", ...HIRES_KEYS]) expect(keys(body)).not.toContain(k);
    }
  });

  it("sends a variation seed only with a strength, in txt2img; -1 leaves the seed to the server", () => {
    expect(toRequest(settings({ subseed: 9, subseed_strength: 0.3 }))).toMatchObject({ subseed: 9, subseed_strength: 0.3 });
    const random = toRequest(settings({ subseed: -1, subseed_strength: 0.3 }));
    expect(random.subseed_strength).toBe(0.3);
    expect(keys(random)).not.toContain("subseed");
    const img = toRequest(settings({ mode: "img2img", subseed: 9, subseed_strength: 0.3 }), { init_image: INIT });
    expect(keys(img)).not.toContain("subseed_strength");
  });

  it("sends clip skip when it is not 1, in every mode", () => {
    expect(toRequest(settings({ clip_skip: 2 })).clip_skip).toBe(2);
    expect(toRequest(settings({ mode: "img2img", clip_skip: 2 }), { init_image: INIT }).clip_skip).toBe(2);
  });

  it("takes hires, variation and clip skip back from a past generation", () => {
    const next = fromParams(DEFAULT_SETTINGS, {
      enable_hr: true,
      hr_scale: 2.5,
      hr_upscaler: "Latent (nearest)",
      hr_second_pass_steps: 3,
      hr_strength: 0.55,
      subseed: 123,
      subseed_strength: 0.2,
      clip_skip: 2,
    });
    expect(next).toMatchObject({
      enable_hr: true,
      hr_scale: 2.5,
      hr_upscaler: "Latent (nearest)",
      hr_second_pass_steps: 3,
      hr_strength: 0.55,
      subseed: 123,
      subseed_strength: 0.2,
      clip_skip: 2,
    });
  });

  it("sizes the hires pass as the API does (down to a multiple of 8)", () => {
    expect(hiresSize(64, 64, 2)).toEqual({ width: 128, height: 128 });
    expect(hiresSize(64, 48, 1.3)).toEqual({ width: 80, height: 56 }); // 83.2 -> 80, 62.4 -> 56
  });
});

describe("studio request with saved styles", () => {
  const saved = [
    { name: "cinematic", prompt: "{prompt}, red", negative_prompt: "blurry" },
    { name: "plain", prompt: "circle", negative_prompt: "" },
  ];

  it("merges the chosen styles into the prompts, in order, and sends no style names", () => {
    const body = toRequest(settings({ prompt: "a square", negative_prompt: "dark", styles: ["cinematic", "plain"] }), {}, saved);
    expect(body).toMatchObject({ prompt: "a square, red, circle", negative_prompt: "dark, blurry" });
    expect(keys(body)).not.toContain("styles");
  });

  it("sends the prompts as typed with no style chosen, or before the list has arrived", () => {
    expect(toRequest(settings({ prompt: "a square" }), {}, saved).prompt).toBe("a square");
    expect(toRequest(settings({ prompt: "a square", styles: ["plain"] })).prompt).toBe("a square");
  });

  it("chooses no style when taking a past generation's settings (its prompt holds them already)", () => {
    const next = fromParams(settings({ styles: ["plain"] }), { prompt: "a square, circle" });
    expect(next).toMatchObject({ prompt: "a square, circle", styles: [] });
  });
});

const lora = (name: string, base_model: string | null): LoraInfo => ({
  name,
  base_model,
  size_bytes: 1000,
  hash: "0123456789ab",
  preview_url: null,
  validation_prompts: [],
});
const KNOWN = [lora("cats", "house"), lora("dogs", "house"), lora("other", "tiny"), lora("nocard", null)];

describe("studio request with LoRAs", () => {
  it("sends no loras field while none is chosen", () => {
    expect(keys(toRequest(settings({ model: "house" }), {}, [], KNOWN))).not.toContain("loras");
    expect(keys(toRequest(settings({ model: "house" })))).not.toContain("loras");
  });

  it("sends the chosen LoRAs with their weights, in order", () => {
    const body = toRequest(
      settings({ model: "house", loras: [{ name: "dogs", weight: 0.5 }, { name: "cats", weight: -1 }] }),
      {},
      [],
      KNOWN,
    );
    expect(body.loras).toEqual([
      { name: "dogs", weight: 0.5 },
      { name: "cats", weight: -1 },
    ]);
  });

  it("leaves out a LoRA of another base model or no longer installed; keeps one without a card", () => {
    const s = settings({
      model: "house",
      loras: [
        { name: "cats", weight: 1 },
        { name: "other", weight: 1 },
        { name: "gone", weight: 1 },
        { name: "nocard", weight: 0.8 },
      ],
    });
    expect(toRequest(s, {}, [], KNOWN).loras).toEqual([
      { name: "cats", weight: 1 },
      { name: "nocard", weight: 0.8 },
    ]);
    expect(loraProblem("other", "house", KNOWN)).toBe("model");
    expect(loraProblem("gone", "house", KNOWN)).toBe("missing");
    // before GET /loras has answered, the choice is sent as it is (the API judges it)
    expect(toRequest(s).loras).toHaveLength(4);
    // every LoRA leaves with a model change to one they were not trained on
    expect(keys(toRequest({ ...s, loras: [{ name: "cats", weight: 1 }], model: "tiny" }, {}, [], KNOWN))).not.toContain("loras");
  });

  it("takes the LoRAs back from a past generation, and none from one that had none", () => {
    const chosen = settings({ loras: [{ name: "cats", weight: 1 }] });
    const next = fromParams(chosen, { prompt: "a cat <lora:dogs:0.3>", loras: [{ name: "other", weight: 0.25 }, { name: "x" }] });
    expect(next.loras).toEqual([
      { name: "other", weight: 0.25 },
      { name: "x", weight: 1 },
    ]);
    expect(next.prompt).toBe("a cat <lora:dogs:0.3>");
    expect(fromParams(chosen, { prompt: "plain" }).loras).toEqual([]);
  });

  it("loads settings saved before LoRAs existed with none, and keeps saved ones", () => {
    const { loras: _gone, ...old } = settings({});
    localStorage.setItem("difflab.studio.v2", JSON.stringify(old));
    expect(loadSettings()).toMatchObject({ prompt: "a red circle", loras: [] });
    saveSettings(settings({ loras: [{ name: "cats", weight: 0.7 }] }));
    expect(loadSettings().loras).toEqual([{ name: "cats", weight: 0.7 }]);
    localStorage.setItem("difflab.studio.v2", JSON.stringify({ ...old, loras: "cats" }));
    expect(loadSettings().loras).toEqual([]);
  });
});

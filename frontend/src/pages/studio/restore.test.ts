import { describe, expect, it } from "vitest";
import { parseInfotext } from "../../lib/infotext";
import { settingsFromInfotext, splitSampler } from "./restore";
import { DEFAULT_SETTINGS } from "./settings";

const SAMPLERS = [
  { name: "Euler a", aliases: ["k_euler_a"] },
  { name: "DPM++ 2M", aliases: ["k_dpmpp_2m"] },
  { name: "LMS Karras", aliases: [] },
  { name: "LMS", aliases: [] },
];
const CONTEXT = { samplers: SAMPLERS, models: ["house", "v1-5"] };

describe("settings from an infotext", () => {
  it("restores what an AUTOMATIC1111 image says", () => {
    const info = parseInfotext(
      "masterpiece, 1girl\nNegative prompt: lowres\n" +
        "Steps: 20, Sampler: Euler a, Schedule type: Karras, CFG scale: 6.5, Seed: 42, Size: 512x768, " +
        "Model hash: 6ce0161689, Model: v1-5, Denoising strength: 0.4, Version: v1.9.0",
    );
    const { settings, applied, skipped } = settingsFromInfotext({ ...DEFAULT_SETTINGS, model: "house" }, info, CONTEXT);
    expect(settings).toMatchObject({
      prompt: "masterpiece, 1girl",
      negative_prompt: "lowres",
      steps: 20,
      sampler: "Euler a",
      scheduler: "Karras",
      guidance_scale: 6.5,
      seed: 42,
      width: 512,
      height: 768,
      model: "v1-5",
      strength: 0.4,
      mode: "txt2img",
    });
    expect(applied).toContain("Denoising strength");
    expect(skipped).toEqual([]);
  });

  it("reads an old sampler name with the schedule in it, and leaves what this server lacks", () => {
    const info = parseInfotext("x\nSteps: 500, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 3, Model: sdxl");
    const { settings, skipped } = settingsFromInfotext({ ...DEFAULT_SETTINGS, model: "house", steps: 9 }, info, CONTEXT);
    expect(settings.sampler).toBe("DPM++ 2M");
    expect(settings.scheduler).toBe("Karras");
    expect(settings.steps).toBe(9);
    expect(settings.model).toBe("house");
    expect(skipped).toEqual([
      { key: "Steps", value: "500" },
      { key: "Model", value: "sdxl" },
    ]);
  });

  it("prefers a sampler's own name to a schedule suffix; no schedule type is Automatic", () => {
    expect(splitSampler("LMS Karras", SAMPLERS)).toEqual({ sampler: "LMS Karras", schedule: null });
    expect(splitSampler("k_euler_a", SAMPLERS)).toEqual({ sampler: "Euler a", schedule: null });
    expect(splitSampler("Nope", SAMPLERS)).toBeNull();
    const info = parseInfotext("x\nSteps: 2, Sampler: Euler a, Seed: 1");
    expect(settingsFromInfotext({ ...DEFAULT_SETTINGS, scheduler: "Beta" }, info, CONTEXT).settings.scheduler).toBe(
      "Automatic",
    );
  });

  it("restores hires fix, its denoising strength, variation seed and clip skip", () => {
    const info = parseInfotext(
      "x\nSteps: 4, Sampler: Euler a, CFG scale: 7, Seed: 5, Variation seed: 77, Variation seed strength: 0.25, " +
        "Size: 64x64, Model: house, Denoising strength: 0.45, Clip skip: 2, Hires upscale: 1.5, Hires steps: 3, " +
        "Hires upscaler: Latent (bicubic), Version: v1.9.0",
    );
    const { settings, applied, skipped } = settingsFromInfotext({ ...DEFAULT_SETTINGS, strength: 0.6 }, info, CONTEXT);
    expect(settings).toMatchObject({
      enable_hr: true,
      hr_scale: 1.5,
      hr_second_pass_steps: 3,
      hr_upscaler: "Latent (bicubic)",
      hr_strength: 0.45,
      strength: 0.6, // the img2img strength is left as it was
      subseed: 77,
      subseed_strength: 0.25,
      clip_skip: 2,
    });
    expect(applied).toEqual(
      expect.arrayContaining(["Hires upscale", "Hires steps", "Hires upscaler", "Denoising strength", "Variation seed", "Clip skip"]),
    );
    expect(skipped).toEqual([]);
  });

  it("turns off what an infotext does not name, as A1111's paste does; an unknown upscaler is skipped", () => {
    const on = { ...DEFAULT_SETTINGS, enable_hr: true, subseed_strength: 0.5, clip_skip: 3 };
    const plain = settingsFromInfotext(on, parseInfotext("x\nSteps: 2, Seed: 1, Denoising strength: 0.3"), CONTEXT).settings;
    expect(plain).toMatchObject({ enable_hr: false, subseed_strength: 0, clip_skip: 1, strength: 0.3 });
    const odd = settingsFromInfotext(
      DEFAULT_SETTINGS,
      parseInfotext("x\nSteps: 2, Seed: 1, Hires upscale: 2, Hires upscaler: R-ESRGAN 4x+, Clip skip: 20"),
      CONTEXT,
    );
    expect(odd.settings).toMatchObject({ enable_hr: true, hr_scale: 2, hr_upscaler: "Latent", clip_skip: 1 });
    expect(odd.skipped).toEqual([
      { key: "Hires upscaler", value: "R-ESRGAN 4x+" },
      { key: "Clip skip", value: "20" },
    ]);
  });
});

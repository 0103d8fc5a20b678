import { describe, expect, it } from "vitest";
import { DEFAULT_SETTINGS, fromParams, img2imgSteps, toRequest, type StudioSettings } from "./settings";

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
});

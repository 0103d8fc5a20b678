// The same examples as tests/unit/diffusion/test_infotext.py, so both parsers agree.
import { describe, expect, it } from "vitest";
import { formatInfotext, parseInfotext } from "./infotext";

const PARAMS: Record<string, unknown> = {
  Steps: 25,
  Sampler: "DPM++ 2M",
  "CFG scale": 7,
  Seed: 1,
  Size: "64x64",
  Model: "house",
};

describe("infotext", () => {
  it("formats as AUTOMATIC1111 (and the backend) do", () => {
    expect(formatInfotext("a red circle on the left", "blurry", PARAMS)).toBe(
      "a red circle on the left\nNegative prompt: blurry\n" +
        "Steps: 25, Sampler: DPM++ 2M, CFG scale: 7, Seed: 1, Size: 64x64, Model: house",
    );
  });

  it.each([
    ["a red circle", "", {}],
    ["a red circle, on the left: big", "blurry, dark", { Version: 'difflab "0.1", beta' }],
    ["line one\nline two", "neg one\nneg two", { "Batch size": 2, "Batch pos": 1 }],
    ["ein roter Kreis ü €", "», «", { Model: "sd-1.5" }],
  ])("round-trips %j", (prompt, negative, extra) => {
    const params = { ...PARAMS, ...extra };
    const parsed = parseInfotext(formatInfotext(prompt, negative, params));
    const expected = Object.fromEntries(Object.entries(params).map(([k, v]) => [k, String(v)]));
    expect(parsed).toEqual({ prompt, negative_prompt: negative, params: expected });
  });

  it("parses an AUTOMATIC1111 infotext", () => {
    const parsed = parseInfotext(
      "masterpiece, 1girl\nNegative prompt: lowres, bad anatomy\n" +
        "Steps: 20, Sampler: Euler a, Schedule type: Karras, CFG scale: 7, Seed: 42, " +
        'Size: 512x768, Model hash: 6ce0161689, Model: v1-5, Lora hashes: "a: 1, b: 2", ' +
        "Version: v1.9.0",
    );
    expect(parsed.prompt).toBe("masterpiece, 1girl");
    expect(parsed.negative_prompt).toBe("lowres, bad anatomy");
    expect(parsed.params["Sampler"]).toBe("Euler a");
    expect(parsed.params["Size"]).toBe("512x768");
    expect(parsed.params["Lora hashes"]).toBe("a: 1, b: 2");
    expect(parsed.params["Model hash"]).toBe("6ce0161689");
    expect(parseInfotext("just a prompt: nothing else").params).toEqual({});
    expect(parseInfotext("just a prompt: nothing else").prompt).toBe("just a prompt: nothing else");
  });

  it("keeps a prompt with no parameter line whole, and reads keys in any script", () => {
    expect(parseInfotext("  two\n  lines  ")).toEqual({ prompt: "two\nlines", negative_prompt: "", params: {} });
    const parsed = parseInfotext("x\nSteps: 2, Sampler: DDIM, Größe: 64x64");
    expect(parsed.params).toEqual({ Steps: "2", Sampler: "DDIM", Größe: "64x64" });
  });
});

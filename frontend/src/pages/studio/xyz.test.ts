import { describe, expect, it } from "vitest";
import { axisErrors, axisLabel, cellCoords, cellCount, parseAxes, parseAxisValues, splitValues, variesLora, xyzJob } from "./xyz";

describe("X/Y/Z axis values", () => {
  it("parses numbers for numeric fields and keeps text for the others", () => {
    expect(parseAxisValues("steps", "2, 3,  5")).toEqual({ values: [2, 3, 5], error: null });
    expect(parseAxisValues("guidance_scale", "1, 4.5, 7.5")).toEqual({ values: [1, 4.5, 7.5], error: null });
    expect(parseAxisValues("seed", "-1, 42")).toEqual({ values: [-1, 42], error: null });
    expect(parseAxisValues("sampler", "Euler a, DPM++ 2M")).toEqual({ values: ["Euler a", "DPM++ 2M"], error: null });
    expect(parseAxisValues("prompt_sr", 'red, "deep, dark blue", green').values).toEqual(["red", "deep, dark blue", "green"]);
  });

  it("takes LoRA names as text and LoRA weights as numbers, like guidance", () => {
    expect(parseAxisValues("lora", "cats, dogs_v2")).toEqual({ values: ["cats", "dogs_v2"], error: null });
    expect(parseAxisValues("lora_weight", "-0.5, 0, 1.25")).toEqual({ values: [-0.5, 0, 1.25], error: null });
    expect(parseAxisValues("lora_weight", "0-1 [5]").values).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect(parseAxisValues("lora_weight", "0-1 (+0.5)").values).toEqual([0, 0.5, 1]);
    expect(parseAxisValues("lora_weight", "0-1").error).toMatch(/needs a step/);
    expect(parseAxisValues("lora_weight", "1, heavy").error).toBe('"heavy" is not a number');
    expect(variesLora("lora")).toBe(true);
    expect(variesLora("lora_weight")).toBe(true);
    expect(variesLora("model")).toBe(false);
    expect(variesLora("")).toBe(false);
  });

  it("expands A1111's ranges", () => {
    expect(parseAxisValues("steps", "1-5").values).toEqual([1, 2, 3, 4, 5]);
    expect(parseAxisValues("steps", "10-30 (+10)").values).toEqual([10, 20, 30]);
    expect(parseAxisValues("seed", "5-3").values).toEqual([5, 4, 3]);
    expect(parseAxisValues("guidance_scale", "1-2 (+0.25)").values).toEqual([1, 1.25, 1.5, 1.75, 2]);
    expect(parseAxisValues("strength", "0-1 [5]").values).toEqual([0, 0.25, 0.5, 0.75, 1]);
  });

  it("says what is wrong with a value", () => {
    expect(parseAxisValues("steps", "2, x").error).toBe('"x" is not a number');
    expect(parseAxisValues("steps", "2.5").error).toBe('"2.5" is not a whole number');
    expect(parseAxisValues("eta", "0-1").error).toMatch(/needs a step/);
    expect(parseAxisValues("steps", " , ").error).toBe("no values");
    expect(parseAxisValues("seed", "1-100000").error).toMatch(/more than 1000/);
  });

  it("splits on commas outside quotes, dropping empty values unless quoted", () => {
    expect(splitValues('a, , b,""')).toEqual(["a", "b", ""]);
    expect(splitValues('"say ""hi"", you"')).toEqual(['say "hi", you']);
  });
});

describe("X/Y/Z cells and request", () => {
  const axes = (x: string, y = "", z = "") => ({
    x: { field: "steps" as const, text: x },
    y: { field: y ? ("sampler" as const) : ("" as const), text: y },
    z: { field: z ? ("seed" as const) : ("" as const), text: z },
  });

  it("counts the cells as the product of the axes in use", () => {
    expect(cellCount(parseAxes(axes("2, 3")).specs)).toBe(2);
    expect(cellCount(parseAxes(axes("2, 3", "Euler, DDIM, LMS")).specs)).toBe(6);
    expect(cellCount(parseAxes(axes("1-10", "Euler, DDIM", "1-6")).specs)).toBe(120);
    expect(cellCount(parseAxes({ ...axes("2"), x: { field: "", text: "" } }).specs)).toBe(0);
  });

  it("reports bad and repeated axes, and needs X", () => {
    const { errors } = parseAxes({
      x: { field: "steps", text: "2" },
      y: { field: "steps", text: "3" },
      z: { field: "eta", text: "nope" },
    });
    expect(errors).toEqual({ y: "steps is already on X", z: '"nope" is not a number' });
    expect(parseAxes({ ...axes(""), x: { field: "", text: "1" } }).errors.x).toBe("choose a field for X");
  });

  it("builds the job with the form's request as the base, without a guidance sweep", () => {
    const { specs } = parseAxes(axes("2, 3"));
    const job = xyzJob({ prompt: "p", steps: 9, guidance_sweep: [1, 2] }, specs);
    expect(job).toEqual({
      kind: "xyz",
      params: { base: { prompt: "p", steps: 9 }, x: { field: "steps", values: [2, 3] }, y: null, z: null, draw_legend: true },
    });
  });

  it("sends LoRA axes as they are: the server puts them into base.loras[0]", () => {
    const { specs, errors } = parseAxes({
      x: { field: "lora", text: "cats, dogs" },
      y: { field: "lora_weight", text: "0.5, 1" },
      z: { field: "", text: "" },
    });
    expect(errors).toEqual({});
    expect(cellCount(specs)).toBe(4);
    const job = xyzJob({ prompt: "p", loras: [{ name: "cats", weight: 0.8 }] }, specs);
    expect(job.params).toEqual({
      base: { prompt: "p", loras: [{ name: "cats", weight: 0.8 }] },
      x: { field: "lora", values: ["cats", "dogs"] },
      y: { field: "lora_weight", values: [0.5, 1] },
      z: null,
      draw_legend: true,
    });
    const name = (f: string) => ({ lora: "LoRA", lora_weight: "LoRA weight" })[f] ?? f;
    expect(axisLabel(specs.y!, 0, name)).toBe("LoRA weight: 0.5");
    expect(axisLabel(specs.x!, 1, name)).toBe("LoRA: dogs");
  });

  it("puts a 422 next to the axis its loc names", () => {
    expect(axisErrors({ "x.values.1": "bad", y: "cell 0,1,0: unknown sampler", "base.steps": "too many", "": "params: 120 cells" })).toEqual({
      x: "bad",
      y: "cell 0,1,0: unknown sampler",
      "": "base.steps: too many; params: 120 cells",
    });
  });

  it("places cell k with x fastest, then y, then z", () => {
    expect(cellCoords(0, 2, 3)).toEqual({ x: 0, y: 0, z: 0 });
    expect(cellCoords(3, 2, 3)).toEqual({ x: 1, y: 1, z: 0 });
    expect(cellCoords(7, 2, 3)).toEqual({ x: 1, y: 0, z: 1 });
  });
});

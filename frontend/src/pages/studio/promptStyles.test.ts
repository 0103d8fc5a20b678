import { describe, expect, it } from "vitest";
import { applyStyles, mergePrompts, styleNameProblem } from "./promptStyles";

// the cases of the backend's merge_prompts (tests/integration/test_a1111_parity.py)
describe("merging a style into a prompt (A1111's rule)", () => {
  it("puts the prompt at {prompt}", () => {
    expect(mergePrompts("{prompt}, red", "a square")).toBe("a square, red");
    expect(mergePrompts("{prompt} and {prompt}", "x")).toBe("x and x");
  });

  it("appends a style without {prompt} after a comma, each side trimmed", () => {
    expect(mergePrompts("circle", "a square, red")).toBe("a square, red, circle");
    expect(mergePrompts("  circle ", " a square ")).toBe("a square, circle");
  });

  it("leaves out an empty side", () => {
    expect(mergePrompts("circle", "")).toBe("circle");
    expect(mergePrompts("", "a square")).toBe("a square");
    expect(mergePrompts("", "")).toBe("");
    expect(mergePrompts("{prompt}, red", "")).toBe(", red"); // as A1111: the text replaces {prompt} as it is
  });

  it("applies styles in the order chosen, the negative prompt the same way", () => {
    const saved = [
      { name: "cinematic", prompt: "{prompt}, red", negative_prompt: "blurry" },
      { name: "plain", prompt: "circle", negative_prompt: "" },
    ];
    expect(applyStyles("a square", "dark", ["cinematic", "plain"], saved)).toEqual({
      prompt: "a square, red, circle",
      negative_prompt: "dark, blurry",
    });
    expect(applyStyles("a square", "", ["plain", "cinematic"], saved).prompt).toBe("a square, circle, red");
    expect(applyStyles("a square", "dark", ["gone"], saved)).toEqual({ prompt: "a square", negative_prompt: "dark" });
  });

  it("checks a name as the API does", () => {
    expect(styleNameProblem("cinematic 2")).toBeNull();
    expect(styleNameProblem(" ")).toBe("empty");
    expect(styleNameProblem("x".repeat(101))).toBe("long");
    expect(styleNameProblem("a/b")).toBe("chars");
    expect(styleNameProblem("a\\b")).toBe("chars");
    expect(styleNameProblem("a\tb")).toBe("chars");
  });
});

import { describe, expect, it } from "vitest";
import { formatWeight, promptTokenWeights } from "./tokenWeights";

describe("token weights", () => {
  it("shows a weight only when it is not 1", () => {
    expect(formatWeight(1)).toBeNull();
    expect(formatWeight(undefined)).toBeNull();
    expect(formatWeight(1.3)).toBe("×1.3");
    expect(formatWeight(1.1 * 1.1)).toBe("×1.21");
    expect(formatWeight(1 / 1.1)).toBe("×0.909");
  });

  it("lines up tokens.json (start and end token per chunk) with the prompt's tokens", () => {
    const info = {
      tokens: ["<|startoftext|>", "red", "circle", "<|endoftext|>", "<|startoftext|>", "blue", "<|endoftext|>"],
      ids: [49406, 736, 2365, 49407, 49406, 1746, 49407],
      weights: [1, 1.3, 1, 1, 1, 0.9, 1],
    };
    expect(promptTokenWeights(info, ["red", "circle", "blue"])).toEqual([1.3, 1, 0.9]);
    expect(promptTokenWeights(info, ["red"])).toBeNull();
    expect(promptTokenWeights({ tokens: ["a"] }, ["a"])).toBeNull();
  });
});

import { describe, expect, it } from "vitest";
import type { ArtifactPayload } from "../client/events";
import { groupKey } from "./artifacts";
import { fillPattern } from "./pattern";

const a = (name: string, step: number | null): ArtifactPayload => ({
  name,
  step,
  kind: "image",
  mime: "image/png",
  size: 1,
  meta: {},
  url: "",
});

describe("artifact series", () => {
  it("groups the same picture over training by its name without the step", () => {
    expect(groupKey(a("boundary/step_000010.png", 10))).toBe("boundary");
    expect(groupKey(a("clusters/iter_003.json", 3))).toBe("clusters");
    expect(groupKey(a("samples/recon_0042.png", 42))).toBe("samples/recon");
    expect(groupKey(a("confusion_5.json", 5))).toBe("confusion");
    expect(groupKey(a("final/image_0.png", null))).toBe("final/image_0.png");
  });

  it("fills the attention map pattern like Python's format", () => {
    expect(fillPattern("attention/step_{step:03d}_tok_{tok:02d}.png", { step: 7, tok: 3 })).toBe(
      "attention/step_007_tok_03.png",
    );
  });
});

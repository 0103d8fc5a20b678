import { render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { eventsOfType, type JobEvent } from "../../client/events";
import { FrameStrip } from "./FrameStrip";
import { promptAt, promptSwitches } from "./promptSwitch";

// "[a red circle:a blue square:0.5]" over 4 steps, then alternation's "[a|b]"-like switch back
const events: JobEvent[] = [
  { seq: 1, type: "state", payload: { state: "running" }, created_at: "" },
  { seq: 2, type: "denoise", payload: { step: 0, total: 4, timestep: 999, prompt: "a red circle" }, created_at: "" },
  { seq: 3, type: "denoise", payload: { step: 1, total: 4, timestep: 749 }, created_at: "" },
  { seq: 4, type: "denoise", payload: { step: 2, total: 4, timestep: 499, prompt: "a blue square" }, created_at: "" },
  { seq: 5, type: "denoise", payload: { step: 3, total: 4, timestep: 249, prompt: "a red circle" }, created_at: "" },
] as JobEvent[];
const frames = eventsOfType(events, "denoise").map((e) => e.payload);

describe("prompt switches", () => {
  it("are the steps where the text in effect changed, not the first text", () => {
    expect(promptSwitches(frames)).toEqual([
      { index: 2, step: 2, prompt: "a blue square" },
      { index: 3, step: 3, prompt: "a red circle" },
    ]);
  });

  it("are none without prompt editing, or when the same text is sent again", () => {
    expect(promptSwitches(frames.map(({ prompt: _, ...f }) => f))).toEqual([]);
    expect(promptSwitches([frames[0]!, { ...frames[1]!, prompt: "a red circle" }])).toEqual([]);
  });

  it("give the text in effect at each step", () => {
    expect([0, 1, 2, 3].map((i) => promptAt(frames, i))).toEqual(["a red circle", "a red circle", "a blue square", "a red circle"]);
    expect(promptAt([], 0)).toBeNull();
  });

  it("are marked on the frame strip with the text as the tooltip", () => {
    render(<FrameStrip frames={frames} kind="xt" onKind={() => undefined} />);
    const marks = screen.getAllByTestId("prompt-switch");
    expect(marks.map((m) => m.getAttribute("data-step"))).toEqual(["2", "3"]);
    expect(marks[0]!.getAttribute("title")).toBe("step 3: the prompt becomes “a blue square”");
    expect(marks[0]!.closest("li")!.className).toContain("frame--switch");
  });
});

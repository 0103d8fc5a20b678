import { act, render, screen, within } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FakeEventSource, installFakeEventSource, installFetch } from "../../test/fakes";
import { Gallery } from "./Gallery";
import { GenerationView } from "./GenerationView";

const JOB = "job-1";
const art = (name: string) => `/api/v1/jobs/${JOB}/artifacts/${name}`;
const at = (s: number) => new Date(Date.UTC(2025, 0, 1, 0, 0, s)).toISOString();

async function emit(source: FakeEventSource, seq: number, type: string, payload: object) {
  await act(async () => {
    source.emit(type, { seq, type, payload, created_at: at(seq) }, seq);
    vi.advanceTimersByTime(200); // past the hook's batching of live events
  });
}

const HOSTILE = `<script>alert("x")</script><img src=x onerror=alert(1)> & "quotes"`;

describe("GenerationView", () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    installFakeEventSource();
    installFetch([]);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("adds one frame per denoise event as they arrive, then shows the result", async () => {
    render(<GenerationView jobId={JOB} prompt="a red circle" fresh initialState="queued" />);
    const source = FakeEventSource.latest();
    expect(source.url).toBe(`/api/v1/jobs/${JOB}/events?after=0`);
    expect(source.withCredentials).toBe(true);

    await emit(source, 1, "state", { state: "running" });
    expect(screen.getByTestId("frame-strip").children).toHaveLength(0);
    for (let step = 0; step < 3; step++) {
      await emit(source, 2 + 2 * step, "progress", { done: step + 1, total: 4, message: "" });
      await emit(source, 3 + 2 * step, "denoise", {
        step,
        total: 4,
        timestep: 999 - 250 * step,
        xt: art(`steps/xt_${step}.png`),
        x0: art(`steps/x0_${step}.png`),
      });
      const frames = within(screen.getByTestId("frame-strip")).getAllByTestId("frame");
      expect(frames).toHaveLength(step + 1);
      expect(frames[step]!.querySelector("img")!.getAttribute("src")).toBe(art(`steps/xt_${step}.png`));
    }
    expect(screen.getByTestId("progress").textContent).toContain("3/4");
    expect(screen.getByTestId("cancel")).toBeTruthy();
    expect(screen.queryByTestId("scrubber")).toBeNull();

    // x̂0 instead of x_t
    await act(async () => screen.getByTestId("frame-kind-x0").click());
    expect(screen.getAllByTestId("frame")[0]!.querySelector("img")!.getAttribute("src")).toBe(art("steps/x0_0.png"));

    await emit(source, 9, "artifact", {
      name: "final/image_0.png",
      kind: "image",
      step: null,
      mime: "image/png",
      size: 10,
      meta: { view: "image" },
      url: art("final/image_0.png"),
    });
    await emit(source, 10, "state", { state: "succeeded" });
    expect(source.readyState).toBe(2); // closed: no reconnect after the end
    expect(screen.getByTestId("final-image").getAttribute("src")).toBe(art("final/image_0.png"));
    expect(screen.queryByTestId("cancel")).toBeNull();
    const scrubber = screen.getByTestId("scrubber") as HTMLInputElement;
    expect(scrubber.max).toBe("2");
  });

  it("ignores a replayed event it already has", async () => {
    render(<GenerationView jobId={JOB} prompt="p" fresh />);
    const source = FakeEventSource.latest();
    const denoise = { step: 0, total: 2, timestep: 999, xt: art("a.png"), x0: art("b.png") };
    await emit(source, 1, "denoise", denoise);
    await emit(source, 1, "denoise", denoise);
    expect(screen.getAllByTestId("frame")).toHaveLength(1);
  });

  it("shows the prompt a user typed as text, never as markup", () => {
    const { container } = render(<GenerationView jobId={JOB} prompt={HOSTILE} negativePrompt={HOSTILE} fresh />);
    expect(screen.getByTestId("prompt-text").textContent).toBe(HOSTILE);
    expect(screen.getByTestId("negative-prompt-text").textContent).toBe(HOSTILE);
    expect(container.querySelector("script")).toBeNull();
    expect(container.querySelector('img[src="x"]')).toBeNull();
  });
});

describe("Gallery", () => {
  it("shows prompts as text and offers the settings again", () => {
    const used: unknown[] = [];
    const { container } = render(
      <Gallery
        items={[
          {
            id: "g1",
            job_id: JOB,
            owner: "ann",
            prompt: HOSTILE,
            params: { prompt: HOSTILE, steps: 20, sampler: "DDIM" },
            seed: 42,
            model: "house",
            state: "succeeded",
            progress: 1,
            error: null,
            images: [art("final/image_0.png")],
            created_at: at(0),
          },
        ]}
        count={1}
        onUse={(g) => used.push(g.id)}
        onOpen={() => undefined}
      />,
    );
    expect(container.querySelector(".gallery__prompt")!.textContent).toBe(HOSTILE);
    expect(container.querySelector("script")).toBeNull();
    expect(container.querySelector('img[src="x"]')).toBeNull();
    screen.getByTestId("use-settings").click();
    expect(used).toEqual(["g1"]);
  });
});

describe("GenerationView with hires fix", () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    installFakeEventSource();
    installFetch([]);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("marks the hires pass while its steps arrive, and in the replay", async () => {
    render(<GenerationView jobId={JOB} prompt="p" fresh initialState="queued" />);
    const source = FakeEventSource.latest();
    await emit(source, 1, "state", { state: "running" });
    await emit(source, 2, "denoise", { step: 0, total: 4, timestep: 999, xt: art("steps/xt_000.png") });
    expect(screen.queryByTestId("hires-badge")).toBeNull();
    await emit(source, 3, "denoise", { step: 1, total: 4, timestep: 999, xt: art("steps/xt_001.png") });
    await emit(source, 4, "denoise", { step: 2, total: 4, timestep: 600, phase: "hires", xt: art("steps/xt_002.png") });
    expect(screen.getByTestId("hires-badge").textContent).toBe("hires pass");
    const frames = screen.getAllByTestId("frame");
    expect(frames.map((f) => f.getAttribute("data-phase"))).toEqual([null, null, "hires"]);
    await emit(source, 5, "state", { state: "succeeded" });
    expect(screen.queryByTestId("hires-badge")).toBeNull();
    expect(screen.getByTestId("replay-phase").textContent).toBe("hires pass");
  });
});

describe("GenerationView with prompt editing", () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"] });
    installFakeEventSource();
    installFetch([]);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("shows the prompt in effect while it runs and in the replay, and marks the switch", async () => {
    render(<GenerationView jobId={JOB} prompt="[a red circle:a blue square:0.5]" fresh initialState="queued" />);
    const source = FakeEventSource.latest();
    await emit(source, 1, "state", { state: "running" });
    await emit(source, 2, "denoise", { step: 0, total: 2, timestep: 999, prompt: "a red circle", xt: art("steps/xt_000.png") });
    expect(screen.getByTestId("prompt-now").textContent).toBe("a red circle");
    expect(screen.queryByTestId("prompt-switch")).toBeNull();
    await emit(source, 3, "denoise", { step: 1, total: 2, timestep: 499, prompt: "a blue square", xt: art("steps/xt_001.png") });
    expect(screen.getByTestId("prompt-now").textContent).toBe("a blue square");
    expect(screen.getAllByTestId("prompt-switch").map((m) => m.getAttribute("data-step"))).toEqual(["1"]);
    await emit(source, 4, "state", { state: "succeeded" });
    act(() => screen.getAllByTestId("frame")[0]!.querySelector("button")!.click());
    expect(screen.getByTestId("prompt-now").textContent).toBe("a red circle");
  });
});

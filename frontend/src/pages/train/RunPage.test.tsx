import { act, render, screen, waitFor } from "@testing-library/react";
import { MemoryRouter, Route, Routes } from "react-router-dom";
import { afterEach, describe, expect, it, vi } from "vitest";
import { AuthProvider } from "../../auth/AuthContext";
import type { JobEvent } from "../../client/events";
import type { JobPublic } from "../../client/types";
import { FakeEventSource, installFakeEventSource, installFetch, type FetchCall, type Route as FakeRoute } from "../../test/fakes";
import { testQueryClient, withQueryClient } from "../../test/query";
import { queryKeys } from "../../lib/queries";
import type { QueryClient } from "@tanstack/react-query";
import { LossPanel } from "../learn/LossPanel";
import { RunPage } from "./RunPage";

vi.mock("uplot", () => ({ default: { paths: { points: () => () => null } } }));
vi.mock("../../components/UPlotChart", () => ({ colorAt: () => "#000", UPlotChart: () => <div data-testid="uplot" /> }));
vi.mock("./MediaPanel", () => ({ MediaPanel: () => <div data-testid="media" /> }));

const at = "2025-01-02T03:04:05Z";

function job(kind: string, params: Record<string, unknown>, result: Record<string, unknown> | null): JobPublic {
  return {
    id: "j1",
    kind,
    category: kind.startsWith("lab.") ? "lab" : "train",
    queue: "cpu",
    state: "succeeded",
    params,
    result,
    progress: 1,
    attempts: 1,
    max_attempts: 3,
    cancel_requested: false,
    created_at: at,
    started_at: at,
    finished_at: at,
    heartbeat_at: at,
    error: null,
    last_seq: 3,
    owner_id: 1,
    shared: false,
    worker: "w1",
  };
}

const EVENTS: JobEvent[] = [
  { seq: 1, type: "metric", created_at: at, payload: { step: 1, epoch: 1, values: { "train/loss": 0.9, "train/recon": 30.5, "train/kl": 4.25 } } },
  { seq: 2, type: "metric", created_at: at, payload: { step: 2, epoch: 2, values: { "train/loss": 0.7, "train/recon": 25.5, "train/kl": 4.5 } } },
  { seq: 3, type: "state", created_at: at, payload: { state: "succeeded" } },
];

function renderRun(kind: string, params: Record<string, unknown>, result: Record<string, unknown> | null = null) {
  installFetch([
    { path: "/api/v1/auth/me", body: { user: { id: 1, username: "ann", role: "learner", created_at: at }, csrf_token: "t" } },
    { path: "/api/v1/jobs/j1", body: job(kind, params, result) },
    { path: "/api/v1/jobs/j1/events", body: EVENTS },
    { path: "/api/v1/jobs", body: { data: [], count: 0 } },
  ]);
  return render(
    <AuthProvider>
      <MemoryRouter initialEntries={["/train/j1"]}>
        <Routes>
          <Route path="/train/:id" element={<RunPage />} />
        </Routes>
      </MemoryRouter>
    </AuthProvider>,
    { wrapper: withQueryClient() },
  );
}

describe("run page", () => {
  afterEach(() => vi.restoreAllMocks());

  it("shows a lab run's math with its newest numbers beside its curves and result", async () => {
    renderRun("lab.vae", { beta: 2, optimizer: "adam", lr: 0.005 }, { epochs: 2, val_loss: 35.5 });
    const math = await screen.findByTestId("run-math", {}, { timeout: 10_000 }); // KaTeX loads lazily
    await waitFor(() => expect(math.querySelector('[data-formula="termsTrain"]')).not.toBeNull());
    const terms = (math.querySelector('[data-formula="termsTrain"] .katex')?.textContent ?? "").replace(/[\s\u200b]/g, "");
    expect(terms).toContain("25.5"); // the newest epoch's reconstruction term
    expect(terms).toContain("=34.5"); // 25.5 + 2 × 4.5
    expect(screen.getByTestId("math-learn-link").getAttribute("href")).toBe("/learn#lab-vae");
    // the rest of the page is still there
    expect(screen.getByTestId("metric-summary").textContent).toContain("train/loss: 0.7");
    expect(screen.getByText("val_loss")).toBeTruthy();
    expect(screen.getByTestId("media")).toBeTruthy();
    // the owner may share the run
    await waitFor(() => expect(screen.getByTestId("share-toggle")).toBeTruthy());
  });

  it("has no math section for a run that is not a lab kind", async () => {
    renderRun("train.unet", { steps: 10 });
    await screen.findByTestId("metric-summary");
    expect(screen.queryByTestId("run-math")).toBeNull();
    expect(screen.queryByText("Loading…")).toBeNull(); // not even waiting for it
  });
});

describe("run page: live state from the event stream", () => {
  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });

  const running = (over: Partial<JobPublic> = {}): JobPublic => ({
    ...job("train.unet", { steps: 100 }, null),
    state: "running",
    progress: 0.1,
    finished_at: null,
    last_seq: 2,
    ...over,
  });
  const HISTORY: JobEvent[] = [
    { seq: 1, type: "state", created_at: at, payload: { state: "queued" } },
    { seq: 2, type: "state", created_at: at, payload: { state: "running" } },
  ];

  /** The page on a running job, on fake timers; `jobRoute.body` is what GET /jobs/j1 answers next. */
  function openRunning(client: QueryClient = testQueryClient()) {
    vi.useFakeTimers();
    installFakeEventSource();
    const jobRoute: FakeRoute = { path: "/api/v1/jobs/j1", body: running() };
    const calls = installFetch([
      { path: "/api/v1/auth/me", body: { user: { id: 1, username: "ann", role: "learner", created_at: at }, csrf_token: "t" } },
      jobRoute,
      { path: "/api/v1/jobs/j1/events", body: HISTORY },
      { path: "/api/v1/jobs", body: { data: [], count: 0 } },
    ]);
    render(
      <AuthProvider>
        <MemoryRouter initialEntries={["/train/j1"]}>
          <Routes>
            <Route path="/train/:id" element={<RunPage />} />
          </Routes>
        </MemoryRouter>
      </AuthProvider>,
      { wrapper: withQueryClient(undefined, client) },
    );
    return { calls, jobRoute };
  }
  const jobGets = (calls: FetchCall[]) => calls.filter((c) => c.method === "GET" && c.path === "/api/v1/jobs/j1").length;
  const wait = (ms: number) => act(() => vi.advanceTimersByTimeAsync(ms));
  const badge = () => document.querySelector("h1 .badge")?.getAttribute("data-state");

  it("reads the job once while its stream is open, and again on a state event", async () => {
    const { calls, jobRoute } = openRunning();
    await wait(100);
    expect(badge()).toBe("running");
    expect(FakeEventSource.latest().url).toBe("/api/v1/jobs/j1/events?after=2");

    // 30 s of live events: no timer reads the job again (it was read every 3 s before)
    for (let s = 1; s <= 30; s++) {
      act(() => FakeEventSource.latest().emit("progress", { seq: 2 + s, type: "progress", created_at: at, payload: { done: s, total: 100 } }, 2 + s));
      await wait(1000);
    }
    expect(jobGets(calls)).toBe(1);
    // everything the page asked for in those 30 s: the session, the job, its events, the runs to overlay
    expect(calls.map((c) => c.path).sort()).toEqual([
      "/api/v1/auth/me",
      "/api/v1/jobs/j1",
      "/api/v1/jobs/j1/events?after=0",
      "/api/v1/jobs/j1/events?after=2",
      "/api/v1/jobs?offset=0&limit=100",
    ]);
    expect(screen.getByTestId("progress")).toBeTruthy();

    // the job ends: the stream says so, the job is read once more and shows its result
    jobRoute.body = running({ state: "succeeded", progress: 1, finished_at: at, last_seq: 33, result: { val_loss: 0.25 } });
    act(() => FakeEventSource.latest().emit("state", { seq: 33, type: "state", created_at: at, payload: { state: "succeeded" } }, 33));
    await wait(200);
    expect(jobGets(calls)).toBe(2);
    expect(badge()).toBe("succeeded");
    expect(screen.getByText("val_loss")).toBeTruthy();
    expect(FakeEventSource.latest().readyState).toBe(2); // closed: an ended job's stream is not reopened
    await wait(60_000);
    expect(jobGets(calls)).toBe(2);
  });

  it("marks the model, LoRA and dataset lists stale when its job ends (a run may have made one)", async () => {
    const client = testQueryClient();
    for (const key of [queryKeys.models, queryKeys.loras, queryKeys.datasets]) client.setQueryData(key, []);
    const stale = () =>
      [queryKeys.models, queryKeys.loras, queryKeys.datasets].map((k) => client.getQueryState(k)?.isInvalidated);
    const { jobRoute } = openRunning(client);
    await wait(100);
    expect(stale()).toEqual([false, false, false]);
    jobRoute.body = running({ state: "succeeded", progress: 1, finished_at: at, last_seq: 3 });
    act(() => FakeEventSource.latest().emit("state", { seq: 3, type: "state", created_at: at, payload: { state: "succeeded" } }, 3));
    await wait(200);
    expect(stale()).toEqual([true, true, true]);
  });

  it("reads the job again when the stream ends without a state event", async () => {
    const { calls, jobRoute } = openRunning();
    await wait(100);
    jobRoute.body = running({ state: "failed", finished_at: at, last_seq: 3, error: "out of memory" });
    act(() => FakeEventSource.latest().emit("end", { state: "failed", last_seq: 3 }));
    await wait(100);
    expect(jobGets(calls)).toBe(2);
    expect(badge()).toBe("failed");
    expect(screen.getByText("out of memory")).toBeTruthy();
  });

  it("falls back to a slow read of the job while the stream is down, and stops once it is back", async () => {
    const { calls, jobRoute } = openRunning();
    await wait(100);
    act(() => FakeEventSource.latest().drop()); // the browser reconnects by itself
    await wait(30_000);
    expect(jobGets(calls)).toBe(3); // every 12 s
    act(() => FakeEventSource.latest().open());
    await wait(30_000);
    expect(jobGets(calls)).toBe(3);

    // it cannot be opened again (e.g. 429): read every 12 s until the job ends
    act(() => FakeEventSource.latest().fail());
    jobRoute.body = running({ state: "cancelled", finished_at: at, last_seq: 4 });
    await wait(12_100);
    expect(jobGets(calls)).toBe(4);
    expect(badge()).toBe("cancelled");
    await wait(60_000);
    expect(jobGets(calls)).toBe(4);
  });
});

describe("run page: the newest runs", () => {
  afterEach(() => vi.unstubAllGlobals());

  it("shares one request for the newest jobs with the learn page's loss panel", async () => {
    const unet = { ...job("train.unet", { steps: 10 }, null), id: "u1", category: "training" };
    const calls = installFetch([
      { path: "/api/v1/auth/me", body: { user: { id: 1, username: "ann", role: "learner", created_at: at }, csrf_token: "t" } },
      { path: "/api/v1/jobs/j1", body: job("train.unet", { steps: 10 }, null) },
      { path: /^\/api\/v1\/jobs\/(j1|u1)\/events/, body: EVENTS },
      { path: "/api/v1/jobs", body: { data: [unet], count: 1 } },
    ]);
    render(
      <AuthProvider>
        <MemoryRouter initialEntries={["/train/j1"]}>
          <Routes>
            <Route path="/train/:id" element={<RunPage />} />
          </Routes>
          <LossPanel kinds={[]} />
        </MemoryRouter>
      </AuthProvider>,
      { wrapper: withQueryClient() },
    );
    // the overlay offers the run, the loss panel follows it: both from one answer
    await waitFor(() => expect(screen.getByTestId("overlay-add").textContent).toContain("train.unet u1"));
    await waitFor(() => expect(screen.getByTestId("live-loss").textContent).toBe("0.7"));
    expect(calls.filter((c) => c.path === "/api/v1/jobs?offset=0&limit=100")).toHaveLength(1);
  });
});

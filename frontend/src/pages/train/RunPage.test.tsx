import { render, screen, waitFor } from "@testing-library/react";
import { MemoryRouter, Route, Routes } from "react-router-dom";
import { afterEach, describe, expect, it, vi } from "vitest";
import { AuthProvider } from "../../auth/AuthContext";
import type { JobEvent } from "../../client/events";
import type { JobPublic } from "../../client/types";
import { installFetch } from "../../test/fakes";
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

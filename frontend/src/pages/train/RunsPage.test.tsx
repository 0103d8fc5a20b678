import { act, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { MemoryRouter, Route, Routes, useParams } from "react-router-dom";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { AuthProvider } from "../../auth/AuthContext";
import type { JobKind, JobPublic, UserPublic } from "../../client/types";
import i18n from "../../i18n";
import { installFetch, type Route as FakeRoute } from "../../test/fakes";
import { withQueryClient } from "../../test/query";
import { RunsPage } from "./RunsPage";

const pca: JobKind = {
  name: "lab.pca",
  title: "PCA",
  title_zh: "主成分分析",
  description: "principal axes",
  description_zh: "主轴",
  queue: "cpu",
  category: "lab",
  admin_only: false,
  params_schema: {
    properties: { n_components: { default: 2, minimum: 1, maximum: 64, type: "integer", title: "N Components" } },
    type: "object",
  },
};
const unet: JobKind = {
  name: "unet",
  title: "Train the U-Net",
  description: "denoising",
  queue: "gpu",
  category: "training",
  admin_only: false,
  params_schema: {
    properties: {
      steps: { default: 500, minimum: 1, type: "integer", title: "Steps" },
      output: { default: "", type: "string", title: "Output" },
      overwrite: { default: false, type: "boolean", title: "Overwrite" },
    },
    type: "object",
  },
};
const house: JobKind = {
  name: "house",
  title: "Train the house model",
  description: "all stages",
  queue: "gpu",
  category: "training",
  admin_only: true,
  params_schema: { properties: {}, type: "object" },
};

const learner: UserPublic = { id: 7, username: "ada", role: "learner", created_at: "2025-01-01T00:00:00Z" };
const admin: UserPublic = { id: 1, username: "root", role: "admin", created_at: "2025-01-01T00:00:00Z" };

function job(id: string, kind: string, over: Partial<JobPublic> = {}): JobPublic {
  return {
    id,
    kind,
    category: "lab",
    queue: "cpu",
    state: "succeeded",
    params: {},
    result: null,
    error: null,
    progress: 1,
    attempts: 1,
    max_attempts: 1,
    cancel_requested: false,
    created_at: "2025-01-01T00:00:00Z",
    started_at: "2025-01-01T00:00:01Z",
    finished_at: "2025-01-01T00:00:05Z",
    heartbeat_at: null,
    last_seq: 3,
    owner: "ada",
    owner_id: 7,
    worker: "w1",
    shared: false,
    ...over,
  };
}

function RunPage() {
  return <p data-testid="run-page">{useParams().id}</p>;
}

/** `extra` routes come first: one of them may stand in for a route below */
function renderAt(path: string, user: UserPublic, extra: FakeRoute[] = []) {
  const calls = installFetch([
    ...extra,
    { path: "/api/v1/auth/me", body: { user, csrf_token: "tok-1" } },
    { path: "/api/v1/job-kinds", body: [pca, unet, house] },
    { path: "/api/v1/jobs", body: { data: [job("aaaa1111-0000", "lab.pca", { shared: true })], count: 1 } },
    { path: "/api/v1/datasets", body: [] },
  ]);
  render(
    <AuthProvider>
      <MemoryRouter initialEntries={[path]}>
        <Routes>
          <Route path="/train" element={<RunsPage />} />
          <Route path="/train/:id" element={<RunPage />} />
        </Routes>
      </MemoryRouter>
    </AuthProvider>,
    { wrapper: withQueryClient() },
  );
  return calls;
}

const kindOptions = () => [...(screen.getByTestId("launch-kind") as HTMLSelectElement).options].map((o) => o.value);
const fieldOf = (name: string) => within(document.querySelector(`[data-field="${name}"]`) as HTMLElement);

describe("RunsPage: launching", () => {
  beforeEach(() => vi.spyOn(window, "confirm").mockReturnValue(true));
  afterEach(() => vi.restoreAllMocks());

  it("offers a learner the kinds it may launch, without overwrite, and opens the new run", async () => {
    const calls = renderAt("/train", learner, [
      { method: "POST", path: "/api/v1/jobs", status: 202, body: job("bbbb2222-0000", "unet", { state: "queued" }) },
    ]);
    // the table names runs by their kind's title and marks shared ones
    const row = await screen.findByTestId("run-row");
    expect(within(row).getByRole("link").textContent).toBe("PCA");
    expect(row.textContent).toContain("shared");

    expect(screen.queryByTestId("launcher")).toBeNull();
    fireEvent.click(screen.getByTestId("new-run"));
    await screen.findByTestId("launch-form");
    expect(kindOptions()).toEqual(["lab.pca", "unet"]); // not the admin-only house
    expect(screen.getByTestId("launcher").textContent).toContain("caps");

    fireEvent.change(screen.getByTestId("launch-kind"), { target: { value: "unet" } });
    expect(screen.getByLabelText("Steps")).toBeTruthy();
    expect(screen.queryByLabelText("Overwrite")).toBeNull(); // a learner never replaces a model
    fireEvent.change(screen.getByLabelText("Output"), { target: { value: "mine" } });
    fireEvent.click(screen.getByTestId("launch-submit"));

    expect((await screen.findByTestId("run-page")).textContent).toBe("bbbb2222-0000");
    const post = calls.find((c) => c.method === "POST")!;
    expect(post.body).toEqual({ kind: "unet", params: { steps: 500, output: "mine" } });
    expect(post.headers.get("X-CSRF-Token")).toBe("tok-1");
  });

  it("preselects ?kind= in an open launcher and filters the runs by it", async () => {
    const calls = renderAt("/train?kind=unet", learner);
    await screen.findByTestId("launch-form");
    expect((screen.getByTestId("launch-kind") as HTMLSelectElement).value).toBe("unet");
    expect(screen.getByLabelText("Steps")).toBeTruthy();
    expect(calls.some((c) => c.method === "GET" && c.path.startsWith("/api/v1/jobs?") && c.path.includes("kind=unet"))).toBe(true);
  });

  it("leaves the launcher closed for a ?kind= the user may not launch", async () => {
    renderAt("/train?kind=house", learner);
    const row = await screen.findByTestId("run-row");
    await waitFor(() => expect(within(row).getByRole("link").textContent).toBe("PCA")); // the kinds are in
    expect(screen.getByTestId("new-run").getAttribute("aria-expanded")).toBe("false");
    expect(screen.queryByTestId("launcher")).toBeNull();
  });

  it("offers an admin every kind", async () => {
    renderAt("/train?kind=house", admin);
    await screen.findByTestId("launch-form");
    expect(kindOptions()).toEqual(["lab.pca", "unet", "house"]);
    expect((screen.getByTestId("launch-kind") as HTMLSelectElement).value).toBe("house");
  });

  it("names the kinds by their Chinese titles in Chinese", async () => {
    await act(() => i18n.changeLanguage("zh-CN"));
    try {
      renderAt("/train?kind=lab.pca", learner);
      const row = await screen.findByTestId("run-row");
      await waitFor(() => expect(within(row).getByRole("link").textContent).toBe("主成分分析"));
      expect(row.textContent).toContain("已分享");
      expect((screen.getByTestId("launch-kind") as HTMLSelectElement).selectedOptions[0]!.textContent).toBe("主成分分析");
      expect(screen.getByTestId("launch-description").textContent).toContain("主轴");
    } finally {
      await act(() => i18n.changeLanguage("en"));
    }
  });

  it("shows a learner's cap refused by the API (422) at the steps field", async () => {
    const message = "a learner's job may ask for at most 2000 steps (the server's LEARNER_MAX_STEPS)";
    renderAt("/train?kind=unet", learner, [
      {
        method: "POST",
        path: "/api/v1/jobs",
        status: 422,
        body: { detail: [{ loc: ["body", "params", "steps"], msg: message, type: "value_error" }] },
      },
    ]);
    await screen.findByTestId("launch-form");
    fireEvent.change(screen.getByLabelText("Steps"), { target: { value: "5000" } });
    fireEvent.click(screen.getByTestId("launch-submit"));
    expect((await fieldOf("steps").findByTestId("field-error")).textContent).toBe(message);
    expect(screen.getAllByTestId("field-error")).toHaveLength(1);
    expect(screen.queryByTestId("run-page")).toBeNull();
  });
});

describe("RunsPage: reading the list again", () => {
  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });

  it("reads the runs every 4 s while one is queued or running, every 30 s once none is", async () => {
    vi.useFakeTimers();
    const list: FakeRoute = {
      path: "/api/v1/jobs",
      body: { data: [job("aaaa1111-0000", "lab.pca", { state: "running", progress: 0.5 })], count: 1 },
    };
    const calls = renderAt("/train", learner, [list]);
    const reads = () => calls.filter((c) => c.method === "GET" && c.path.startsWith("/api/v1/jobs?")).length;
    const wait = (ms: number) => act(() => vi.advanceTimersByTimeAsync(ms));
    await wait(100);
    expect(reads()).toBe(1);
    expect(screen.getByTestId("run-row").getAttribute("data-state")).toBe("running");
    await wait(8000);
    expect(reads()).toBe(3);

    list.body = { data: [job("aaaa1111-0000", "lab.pca")], count: 1 };
    await wait(4000); // this read finds it ended
    expect(reads()).toBe(4);
    expect(screen.getByTestId("run-row").getAttribute("data-state")).toBe("succeeded");
    await wait(29_000);
    expect(reads()).toBe(4);
    await wait(1500);
    expect(reads()).toBe(5);
  });
});

import { act, render, screen } from "@testing-library/react";
import { MemoryRouter } from "react-router-dom";
import { afterEach, describe, expect, it, vi } from "vitest";
import { AuthProvider } from "../auth/AuthContext";
import type { JobKind } from "../client/types";
import { AdminPage } from "../pages/admin/AdminPage";
import { RunsPage } from "../pages/train/RunsPage";
import { installFetch, type FetchCall } from "../test/fakes";
import { testQueryClient, withQueryClient } from "../test/query";
import { ApiError, dataOf, jobsInterval, LIVE_JOBS_MS, IDLE_JOBS_MS } from "./queries";

const pca: JobKind = {
  name: "lab.pca",
  title: "PCA",
  description: "principal axes",
  queue: "cpu",
  category: "lab",
  admin_only: false,
  params_schema: { properties: {}, type: "object" },
};
const at = "2025-01-01T00:00:00Z";

function routes() {
  return installFetch([
    { path: "/api/v1/auth/me", body: { user: { id: 1, username: "root", role: "admin", created_at: at }, csrf_token: "t" } },
    { path: "/api/v1/job-kinds", body: [pca] },
    { path: "/api/v1/workers", body: { workers: [], queues: {}, running: [] } },
    { path: "/api/v1/jobs", body: { data: [], count: 0 } },
    { path: "/api/v1/users", body: { data: [], count: 0 } },
  ]);
}
const gets = (calls: FetchCall[], path: string) => calls.filter((c) => c.method === "GET" && c.path === path).length;

describe("the shared query cache", () => {
  afterEach(() => vi.unstubAllGlobals());

  it("gives two pages that ask for the job kinds one request", async () => {
    const calls = routes();
    const client = testQueryClient();
    render(
      <AuthProvider>
        <RunsPage />
        <AdminPage />
      </AuthProvider>,
      { wrapper: withQueryClient(MemoryRouter, client) },
    );
    await screen.findByTestId("launch-form"); // the admin page's launcher has the kinds
    expect(gets(calls, "/api/v1/job-kinds")).toBe(1);
    // each page its own list of jobs: the runs (200) and the admin's recent ones (30)
    expect(gets(calls, "/api/v1/jobs?offset=0&limit=200")).toBe(1);
    expect(gets(calls, "/api/v1/jobs?offset=0&limit=30")).toBe(1);
  });

  it("keeps the job kinds for the session: a page opened later reads them from the cache", async () => {
    const calls = routes();
    const client = testQueryClient();
    const first = render(
      <AuthProvider>
        <AdminPage />
      </AuthProvider>,
      { wrapper: withQueryClient(MemoryRouter, client) },
    );
    await screen.findByTestId("launch-form");
    first.unmount();
    render(
      <AuthProvider>
        <AdminPage />
      </AuthProvider>,
      { wrapper: withQueryClient(MemoryRouter, client) },
    );
    expect(screen.getByTestId("launch-form")).toBeTruthy(); // at once, from the cache
    await act(async () => undefined);
    expect(gets(calls, "/api/v1/job-kinds")).toBe(1);
  });
});

describe("query helpers", () => {
  it("reads a list of jobs often only while one of them is queued or running", () => {
    const job = (state: "queued" | "running" | "succeeded" | "failed") => ({ state }) as never;
    expect(jobsInterval([job("succeeded"), job("running")])).toBe(LIVE_JOBS_MS);
    expect(jobsInterval([job("queued")])).toBe(LIVE_JOBS_MS);
    expect(jobsInterval([job("succeeded"), job("failed")])).toBe(IDLE_JOBS_MS);
    expect(jobsInterval([], false)).toBe(false);
    expect(jobsInterval(undefined)).toBe(IDLE_JOBS_MS);
  });

  it("turns the API's error body into an ApiError with its message and status", () => {
    const response = new Response(null, { status: 409, statusText: "Conflict" });
    expect(dataOf({ data: [1], response })).toEqual([1]);
    let caught: unknown;
    try {
      dataOf({ error: { detail: "the last admin" }, response });
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(ApiError);
    expect((caught as ApiError).message).toBe("the last admin");
    expect((caught as ApiError).status).toBe(409);
  });
});

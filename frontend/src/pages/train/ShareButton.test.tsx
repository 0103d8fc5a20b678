import { act, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { setCsrfToken } from "../../client";
import type { JobPublic, UserPublic } from "../../client/types";
import { installFetch } from "../../test/fakes";
import { withQueryClient } from "../../test/query";
import { canChangeJob, ShareButton } from "./ShareButton";

const owner: UserPublic = { id: 7, username: "ada", role: "learner", created_at: "2025-01-01T00:00:00Z" };
const other: UserPublic = { id: 8, username: "bob", role: "learner", created_at: "2025-01-01T00:00:00Z" };
const admin: UserPublic = { id: 1, username: "root", role: "admin", created_at: "2025-01-01T00:00:00Z" };

const job = (shared: boolean): JobPublic => ({
  id: "cafe0000-1111",
  kind: "lab.pca",
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
  started_at: null,
  finished_at: null,
  heartbeat_at: null,
  last_seq: 0,
  owner: "ada",
  owner_id: 7,
  worker: null,
  shared,
});

/** jsdom has no clipboard: the test gives one for the time of a test. */
function stubClipboard(writeText: (text: string) => Promise<void>) {
  Object.defineProperty(navigator, "clipboard", { value: { writeText }, configurable: true });
}

describe("ShareButton", () => {
  beforeEach(() => setCsrfToken("tok-5"));
  afterEach(() => {
    delete (navigator as { clipboard?: unknown }).clipboard;
    vi.restoreAllMocks();
  });

  it("lets the owner share the run, copy its link, and stop sharing it", async () => {
    const calls = installFetch([
      { method: "PATCH", path: "/api/v1/jobs/cafe0000-1111", body: job(true) },
    ]);
    const writeText = vi.fn().mockResolvedValue(undefined);
    stubClipboard(writeText);
    const onChange = vi.fn();
    render(<ShareButton job={job(false)} user={owner} onChange={onChange} />, { wrapper: withQueryClient() });

    const toggle = screen.getByTestId("share-toggle");
    expect(toggle.textContent).toBe("Share");
    expect(screen.queryByTestId("shared-badge")).toBeNull();
    expect(screen.queryByTestId("share-copy")).toBeNull();
    fireEvent.click(toggle);

    await waitFor(() => expect(screen.getByTestId("share-toggle").textContent).toBe("Stop sharing"));
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ method: "PATCH", path: "/api/v1/jobs/cafe0000-1111", body: { shared: true } });
    expect(calls[0]!.headers.get("X-CSRF-Token")).toBe("tok-5");
    expect(screen.getByTestId("shared-badge").textContent).toBe("shared");
    expect(screen.getByTestId("share-toggle").getAttribute("aria-pressed")).toBe("true");
    expect(onChange).toHaveBeenCalledWith(expect.objectContaining({ shared: true }));

    await act(async () => {
      fireEvent.click(screen.getByTestId("share-copy"));
    });
    expect(writeText).toHaveBeenCalledWith(`${window.location.origin}/train/cafe0000-1111`);
    expect(await screen.findByTestId("share-copied")).toBeTruthy(); // the clipboard answers asynchronously

    installFetch([{ method: "PATCH", path: "/api/v1/jobs/cafe0000-1111", body: job(false) }]);
    fireEvent.click(screen.getByTestId("share-toggle"));
    await waitFor(() => expect(screen.getByTestId("share-toggle").textContent).toBe("Share"));
    expect(screen.queryByTestId("shared-badge")).toBeNull();
  });

  it("shows the link to copy by hand when the clipboard refuses", async () => {
    stubClipboard(vi.fn().mockRejectedValue(new Error("denied")));
    render(<ShareButton job={job(true)} user={owner} />, { wrapper: withQueryClient() });
    await act(async () => {
      fireEvent.click(screen.getByTestId("share-copy"));
    });
    expect((screen.getByTestId("share-link") as HTMLInputElement).value).toBe(`${window.location.origin}/train/cafe0000-1111`);
    expect(screen.queryByTestId("share-copied")).toBeNull();
  });

  it("keeps the state it had and says why when the API refuses", async () => {
    installFetch([{ method: "PATCH", path: "/api/v1/jobs/cafe0000-1111", status: 403, body: { detail: "not your job" } }]);
    render(<ShareButton job={job(false)} user={owner} />, { wrapper: withQueryClient() });
    fireEvent.click(screen.getByTestId("share-toggle"));
    expect((await screen.findByRole("alert")).textContent).toBe("not your job");
    expect(screen.getByTestId("share-toggle").textContent).toBe("Share");
  });

  it("hides the controls from a viewer who neither owns the run nor is an admin, and says it is read-only", () => {
    const calls = installFetch([]);
    render(<ShareButton job={job(true)} user={other} />, { wrapper: withQueryClient() });
    expect(screen.queryByTestId("share-toggle")).toBeNull();
    expect(screen.queryByTestId("share-copy")).toBeNull();
    expect(screen.getByTestId("read-only").textContent).toContain("ada's run");
    expect(calls).toHaveLength(0);
  });

  it("gives an admin the controls on anyone's run", () => {
    render(<ShareButton job={job(true)} user={admin} />, { wrapper: withQueryClient() });
    expect(screen.getByTestId("share-toggle").textContent).toBe("Stop sharing");
    expect(canChangeJob(job(true), admin)).toBe(true);
    expect(canChangeJob(job(true), owner)).toBe(true);
    expect(canChangeJob(job(true), other)).toBe(false);
    expect(canChangeJob(job(true), null)).toBe(false);
    expect(canChangeJob({ owner_id: null }, other)).toBe(false);
  });
});

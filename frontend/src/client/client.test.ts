import { afterEach, describe, expect, it } from "vitest";
import { installFetch } from "../test/fakes";
import { api, setCsrfToken } from "./index";

describe("API client", () => {
  afterEach(() => setCsrfToken(null));

  it("sends the session's CSRF token on state-changing requests only, with cookies", async () => {
    const calls = installFetch([
      { path: "/api/v1/auth/me", body: { user: { id: 1, username: "a", role: "admin", created_at: "" }, csrf_token: "c" } },
      { method: "POST", path: /\/cancel$/, body: {} },
    ]);
    setCsrfToken("secret-token");
    await api.GET("/api/v1/auth/me");
    await api.POST("/api/v1/jobs/{job_id}/cancel", { params: { path: { job_id: "j/1" } } });
    expect(calls.map((c) => [c.method, c.path])).toEqual([
      ["GET", "/api/v1/auth/me"],
      ["POST", "/api/v1/jobs/j%2F1/cancel"],
    ]);
    expect(calls[0]!.headers.get("X-CSRF-Token")).toBeNull();
    expect(calls[1]!.headers.get("X-CSRF-Token")).toBe("secret-token");
  });
});

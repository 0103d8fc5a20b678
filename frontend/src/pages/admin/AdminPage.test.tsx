import { act, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { MemoryRouter } from "react-router-dom";
import { afterEach, describe, expect, it } from "vitest";
import type { JobKind } from "../../client/types";
import i18n from "../../i18n";
import { installFetch } from "../../test/fakes";
import { withQueryClient } from "../../test/query";
import { AdminPage } from "./AdminPage";

const lora: JobKind = {
  name: "lora",
  title: "Train a LoRA",
  description: "low-rank adapters",
  queue: "gpu",
  category: "training",
  admin_only: false,
  params_schema: {
    properties: { processes: { default: 1, minimum: 1, maximum: 64, type: "integer", title: "Processes" } },
    type: "object",
  },
};

const seen = new Date().toISOString();
const worker = (name: string, queues: string[], device: string, devices: number) => ({
  name,
  queues,
  device,
  devices,
  pid: 10,
  started_at: seen,
  last_seen: seen,
  running_job_id: null,
});

describe("AdminPage", () => {
  it("lists the workers with their devices and bounds a kind's processes by them", async () => {
    installFetch([
      { path: "/api/v1/job-kinds", body: [lora] },
      {
        path: "/api/v1/workers",
        body: {
          workers: [worker("gpu-box", ["gpu"], "cuda", 2), worker("cpu-box", ["cpu"], "cpu", 16)],
          queues: { gpu: 0, cpu: 1 },
          running: [],
        },
      },
      { path: "/api/v1/jobs", body: { data: [], count: 0 } },
      { path: "/api/v1/datasets", body: [] },
    ]);
    render(<AdminPage />, { wrapper: withQueryClient(MemoryRouter) });

    const table = await screen.findByTestId("workers-table");
    expect(within(table).getByRole("columnheader", { name: "Devices" })).toBeTruthy();
    const rows = within(table).getAllByTestId("worker-row");
    expect(rows.map((r) => within(r).getByTestId("worker-devices").textContent)).toEqual(["2", "16"]);

    // the cpu worker's 16 cores do not count for the gpu queue
    await waitFor(() =>
      expect(document.querySelector('[data-field="processes"] [data-testid="field-hint"]')?.textContent).toBe(
        "up to 2 on the workers serving the gpu queue",
      ),
    );
    expect((screen.getByLabelText("Processes") as HTMLInputElement).max).toBe("2");
  });
});

const user = (id: number, username: string, role: "admin" | "learner", is_active = true) => ({
  id,
  username,
  role,
  is_active,
  created_at: "2025-01-01T00:00:00Z",
});

describe("AdminPage: users", () => {
  afterEach(async () => {
    await act(() => i18n.changeLanguage("en"));
  });

  const base = [
    { path: "/api/v1/job-kinds", body: [] },
    { path: "/api/v1/workers", body: { workers: [], queues: {}, running: [] } },
    { path: "/api/v1/jobs", body: { data: [], count: 0 } },
  ];
  const roles = () => screen.getAllByTestId("user-role").map((s) => (s as HTMLSelectElement).value);

  it("lists the users with their role, changes a role and says why the API refused one", async () => {
    const calls = installFetch([
      ...base,
      { path: "/api/v1/users", body: { data: [user(1, "root", "admin"), user(2, "ada", "learner")], count: 2 } },
      { method: "PATCH", path: "/api/v1/users/2", body: user(2, "ada", "admin") },
      { method: "PATCH", path: "/api/v1/users/1", status: 409, body: { detail: "'root' is the last active admin" } },
    ]);
    render(<AdminPage />, { wrapper: withQueryClient(MemoryRouter) });
    await screen.findByTestId("users-table");
    expect(roles()).toEqual(["admin", "learner"]);
    const [rootRole, adaRole] = screen.getAllByTestId("user-role") as HTMLSelectElement[];
    expect([...adaRole!.options].map((o) => [o.value, o.textContent])).toEqual([
      ["learner", "Learner"],
      ["admin", "Admin"],
    ]);

    fireEvent.change(adaRole!, { target: { value: "admin" } });
    await waitFor(() => expect(calls.filter((c) => c.method === "PATCH")).toHaveLength(1));
    expect(calls.find((c) => c.method === "PATCH")).toMatchObject({ path: "/api/v1/users/2", body: { role: "admin" } });

    fireEvent.change(rootRole!, { target: { value: "learner" } });
    expect((await screen.findByTestId("users-error")).textContent).toBe("'root' is the last active admin");
    // the list is read again: the row shows the role the server kept
    expect(calls.filter((c) => c.method === "GET" && c.path.startsWith("/api/v1/users")).length).toBeGreaterThanOrEqual(3);
    expect(roles()[0]).toBe("admin");

    fireEvent.click(screen.getAllByTestId("user-active")[1]!);
    await waitFor(() => expect(calls.filter((c) => c.method === "PATCH")).toHaveLength(3));
    expect(calls.filter((c) => c.method === "PATCH")[2]).toMatchObject({ path: "/api/v1/users/2", body: { is_active: false } });
  });

  it("adds a learner by default, an error at the field it names", async () => {
    const calls = installFetch([
      ...base,
      { path: "/api/v1/users", body: { data: [user(1, "root", "admin")], count: 1 } },
      {
        method: "POST",
        path: "/api/v1/users",
        status: 422,
        body: { detail: [{ loc: ["body", "password"], msg: "too common a password", type: "value_error" }] },
      },
    ]);
    render(<AdminPage />, { wrapper: withQueryClient(MemoryRouter) });
    await screen.findByTestId("users-table");
    const form = within(screen.getByTestId("add-user"));
    expect((screen.getByTestId("new-user-role") as HTMLSelectElement).value).toBe("learner");
    fireEvent.change(form.getByLabelText("Username"), { target: { value: "bob" } });
    fireEvent.change(form.getByLabelText("Password"), { target: { value: "password123" } });
    fireEvent.click(screen.getByTestId("add-user-submit"));
    const error = await within(document.querySelector('[data-field="password"]') as HTMLElement).findByTestId("field-error");
    expect(error.textContent).toBe("too common a password");
    expect(calls.find((c) => c.method === "POST")!.body).toEqual({ username: "bob", password: "password123", role: "learner" });
  });

  it("names the roles in Chinese", async () => {
    installFetch([...base, { path: "/api/v1/users", body: { data: [user(2, "ada", "learner")], count: 1 } }]);
    await act(() => i18n.changeLanguage("zh-CN"));
    render(<AdminPage />, { wrapper: withQueryClient(MemoryRouter) });
    const select = (await screen.findByTestId("user-role")) as HTMLSelectElement;
    expect([...select.options].map((o) => o.textContent)).toEqual(["学员", "管理员"]);
  });
});

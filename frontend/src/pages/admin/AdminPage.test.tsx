import { render, screen, waitFor, within } from "@testing-library/react";
import { MemoryRouter } from "react-router-dom";
import { describe, expect, it } from "vitest";
import type { JobKind } from "../../client/types";
import { installFetch } from "../../test/fakes";
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
    render(<AdminPage />, { wrapper: MemoryRouter });

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

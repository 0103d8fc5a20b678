import { act, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { MemoryRouter } from "react-router-dom";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { setCsrfToken } from "../../../client";
import i18n from "../../../i18n";
import type { JobKind, WorkerInfo } from "../../../client/types";
import { MLP_SCHEMA } from "../../../test/schemas";
import { installFetch } from "../../../test/fakes";
import { withQueryClient } from "../../../test/query";
import { LaunchForm, processesBound } from "./LaunchForm";
import { schemaFields, type JsonSchema } from "../../../lib/schemaForm";

const kinds: JobKind[] = [
  { name: "lab.mlp", title: "MLP", description: "a small MLP", queue: "cpu", category: "lab", admin_only: true, params_schema: MLP_SCHEMA },
  {
    name: "house",
    title: "Train the house model",
    description: "all stages",
    queue: "gpu",
    category: "training",
    admin_only: true,
    params_schema: {
      properties: {
        output: { default: "", type: "string", title: "Output" },
        overwrite: { default: false, type: "boolean", title: "Overwrite" },
      },
      type: "object",
    },
  },
  {
    name: "diag.sleep",
    title: "Sleep",
    description: "sleeps",
    queue: "cpu",
    category: "diagnostic",
    admin_only: false,
    params_schema: { properties: { seconds: { default: 1, type: "number", title: "Seconds" } }, type: "object" },
  },
];

function field(name: string): HTMLElement {
  return document.querySelector(`[data-field="${name}"]`) as HTMLElement;
}

describe("LaunchForm", () => {
  beforeEach(() => setCsrfToken("tok-123"));

  it("fills every field with its default, enums as selects", () => {
    render(<LaunchForm admin kinds={kinds} />, { wrapper: withQueryClient(MemoryRouter) });
    expect((screen.getByLabelText("Lr") as HTMLInputElement).value).toBe("0.01");
    expect((screen.getByLabelText("Epochs") as HTMLInputElement).value).toBe("50");
    expect((screen.getByLabelText("Hidden") as HTMLInputElement).value).toBe("16, 16");
    expect((screen.getByLabelText("Standardize") as HTMLInputElement).checked).toBe(true);
    const dataset = screen.getByLabelText("Dataset") as HTMLSelectElement;
    expect(dataset.tagName).toBe("SELECT");
    expect([...dataset.options].map((o) => o.textContent)).toEqual(["moons", "circles", "blobs"]);
    expect(dataset.selectedOptions[0]!.textContent).toBe("moons");

    // another kind: its own fields and defaults
    fireEvent.change(screen.getByTestId("launch-kind"), { target: { value: "diag.sleep" } });
    expect((screen.getByLabelText("Seconds") as HTMLInputElement).value).toBe("1");
    expect(screen.queryByLabelText("Lr")).toBeNull();
  });

  it("shows the API's 422 messages at the field they concern", async () => {
    const calls = installFetch([
      {
        method: "POST",
        path: "/api/v1/jobs",
        status: 422,
        body: {
          detail: [
            { loc: ["body", "params", "lr"], msg: "Input should be less than or equal to 1", type: "less_than_equal" },
          ],
        },
      },
    ]);
    render(<LaunchForm admin kinds={kinds} />, { wrapper: withQueryClient(MemoryRouter) });
    fireEvent.change(screen.getByLabelText("Lr"), { target: { value: "5" } });
    fireEvent.click(screen.getByTestId("launch-submit"));

    const error = await screen.findByTestId("field-error");
    expect(error.textContent).toBe("Input should be less than or equal to 1");
    expect(within(field("lr")).getByTestId("field-error")).toBe(error);
    expect(screen.getAllByTestId("field-error")).toHaveLength(1);

    expect(calls).toHaveLength(1);
    expect(calls[0]!.body).toEqual({
      kind: "lab.mlp",
      params: { dataset: "moons", hidden: [16, 16], lr: 5, epochs: 50, seed: null, standardize: true, activation: "relu" },
    });
    expect(calls[0]!.headers.get("X-CSRF-Token")).toBe("tok-123");
  });

  it("links to the run once launched", async () => {
    installFetch([
      { method: "POST", path: "/api/v1/jobs", status: 202, body: { id: "abcdef12-0000", kind: "lab.mlp", state: "queued" } },
    ]);
    render(<LaunchForm admin kinds={kinds} />, { wrapper: withQueryClient(MemoryRouter) });
    fireEvent.click(screen.getByTestId("launch-submit"));
    await waitFor(() => expect(screen.getByTestId("launched").querySelector("a")!.getAttribute("href")).toBe("/train/abcdef12-0000"));
  });

  it("asks before it sends overwrite: true, and sends nothing when the admin says no", async () => {
    const calls = installFetch([
      { method: "POST", path: "/api/v1/jobs", status: 202, body: { id: "abcdef12-0001", kind: "house", state: "queued" } },
    ]);
    const confirm = vi.spyOn(window, "confirm").mockReturnValue(false);
    render(<LaunchForm admin kinds={kinds} />, { wrapper: withQueryClient(MemoryRouter) });
    fireEvent.change(screen.getByTestId("launch-kind"), { target: { value: "house" } });
    fireEvent.change(screen.getByLabelText("Output"), { target: { value: "house" } });
    fireEvent.click(screen.getByLabelText("Overwrite"));
    fireEvent.click(screen.getByTestId("launch-submit"));
    expect(confirm).toHaveBeenCalledTimes(1);
    expect(confirm.mock.calls[0]![0]).toContain("house");
    expect(calls).toHaveLength(0);

    confirm.mockReturnValue(true);
    fireEvent.click(screen.getByTestId("launch-submit"));
    await waitFor(() => expect(calls).toHaveLength(1));
    expect(calls[0]!.body).toEqual({ kind: "house", params: { output: "house", overwrite: true } });
    confirm.mockRestore();
  });

  it("launches a training kind with its defaults without asking: a new output name", async () => {
    const calls = installFetch([
      { method: "POST", path: "/api/v1/jobs", status: 202, body: { id: "abcdef12-0002", kind: "house", state: "queued" } },
    ]);
    const confirm = vi.spyOn(window, "confirm");
    render(<LaunchForm admin kinds={kinds} />, { wrapper: withQueryClient(MemoryRouter) });
    fireEvent.change(screen.getByTestId("launch-kind"), { target: { value: "house" } });
    fireEvent.click(screen.getByTestId("launch-submit"));
    await waitFor(() => expect(calls).toHaveLength(1));
    expect(confirm).not.toHaveBeenCalled();
    expect(calls[0]!.body).toEqual({ kind: "house", params: { output: "", overwrite: false } });
    confirm.mockRestore();
  });

  it("offers the image datasets (and imagefolder) for a training kind's dataset field, any name still typed", async () => {
    const calls = installFetch([
      {
        path: "/api/v1/datasets",
        body: [
          { name: "shapes", kind: "images", description: "", sample_url: "/api/v1/datasets/shapes/sample.png" },
          { name: "cats", kind: "images", description: "", sample_url: "/api/v1/datasets/cats/sample.png", uploaded: true },
          { name: "moons", kind: "classification", description: "", sample_url: null },
        ],
      },
      { method: "POST", path: "/api/v1/jobs", status: 202, body: { id: "abcdef12-0003", kind: "lora", state: "queued" } },
    ]);
    const lora: JobKind = {
      name: "lora",
      title: "Train a LoRA",
      description: "low-rank adapters",
      queue: "gpu",
      category: "training",
      admin_only: false,
      params_schema: {
        properties: {
          dataset: { default: "shapes", pattern: "^[a-z0-9][a-z0-9_-]{0,63}$", type: "string", title: "Dataset" },
          data_path: { default: "", type: "string", title: "Data Path" },
        },
        type: "object",
      },
    };
    render(<LaunchForm admin kinds={[lora, ...kinds]} />, { wrapper: withQueryClient(MemoryRouter) });
    const input = screen.getByLabelText("Dataset") as HTMLInputElement;
    expect(input.tagName).toBe("INPUT");
    expect(input.value).toBe("shapes");
    const list = await screen.findByTestId("choices-dataset");
    await waitFor(() =>
      expect([...list.querySelectorAll("option")].map((o) => o.value)).toEqual(["shapes", "cats", "imagefolder"]),
    );
    expect(input.getAttribute("list")).toBe(list.id);
    expect(screen.getByLabelText("Data Path").getAttribute("list")).toBeNull();

    fireEvent.change(input, { target: { value: "imagefolder" } });
    fireEvent.change(screen.getByLabelText("Data Path"), { target: { value: "/data/cats" } });
    fireEvent.click(screen.getByTestId("launch-submit"));
    await waitFor(() => expect(calls.filter((c) => c.method === "POST")).toHaveLength(1));
    expect(calls.find((c) => c.method === "POST")!.body).toEqual({
      kind: "lora",
      params: { dataset: "imagefolder", data_path: "/data/cats" },
    });

    // a lab kind's dataset stays a select of its own choices
    fireEvent.change(screen.getByTestId("launch-kind"), { target: { value: "lab.mlp" } });
    expect(screen.getByLabelText("Dataset").tagName).toBe("SELECT");
    expect(screen.queryByTestId("choices-dataset")).toBeNull();
  });
});

const unet: JobKind = {
  name: "unet",
  title: "Train the U-Net",
  description: "denoising",
  queue: "gpu",
  category: "training",
  admin_only: true,
  params_schema: {
    properties: {
      batch_size: { default: 8, minimum: 1, type: "integer", title: "Batch Size" },
      processes: {
        default: 1,
        minimum: 1,
        maximum: 64,
        type: "integer",
        title: "Processes",
        description: "Data-parallel processes.",
      },
    },
    type: "object",
  },
};

function worker(name: string, queues: string[], devices: number): WorkerInfo {
  const at = "2025-01-01T00:00:00Z";
  return { name, queues, devices, device: devices > 1 ? "cuda" : "cpu", pid: 1, started_at: at, last_seen: at, running_job_id: null };
}

describe("LaunchForm: processes", () => {
  beforeEach(() => setCsrfToken("tok-123"));

  const fieldOf = (k: JobKind) => schemaFields(k.params_schema as JsonSchema).find((f) => f.name === "processes");

  it("bounds processes by the most devices of a live worker serving the kind's queue", () => {
    const workers = [worker("a", ["gpu"], 2), worker("b", ["gpu", "cpu"], 4), worker("c", ["cpu"], 16)];
    expect(processesBound(fieldOf(unet), "gpu", workers)).toBe(4);
    expect(processesBound(fieldOf(unet), "cpu", workers)).toBe(16);
    expect(processesBound(fieldOf(unet), "gpu", [worker("big", ["gpu"], 128)])).toBe(64); // the schema's own bound
    expect(processesBound(fieldOf(unet), "gpu", [worker("c", ["cpu"], 16)])).toBe("none");
    expect(processesBound(fieldOf(unet), "gpu", null)).toBeNull(); // not known yet
    expect(processesBound(undefined, "gpu", workers)).toBeNull(); // no such field
  });

  it("shows the bound under the field, refuses more, and keeps what was typed when the workers are polled again", async () => {
    const calls = installFetch([
      {
        method: "POST",
        path: "/api/v1/jobs",
        status: 422,
        body: { detail: [{ loc: ["body", "params", "batch_size"], msg: "8 does not split among 3 processes", type: "value_error" }] },
      },
    ]);
    const workers = [worker("a", ["gpu"], 2), worker("b", ["gpu", "cpu"], 4), worker("c", ["cpu"], 16)];
    const { rerender } = render(<LaunchForm admin kinds={[unet, ...kinds]} workers={workers} />, { wrapper: withQueryClient(MemoryRouter) });
    const processes = screen.getByLabelText("Processes") as HTMLInputElement;
    expect(processes.max).toBe("4");
    expect(within(field("processes")).getByTestId("field-hint").textContent).toBe("up to 4 on the workers serving the gpu queue");
    expect(field("processes").textContent).toContain("1 ≤ x ≤ 4");

    fireEvent.change(processes, { target: { value: "8" } });
    fireEvent.click(screen.getByTestId("launch-submit"));
    expect(within(field("processes")).getByTestId("field-error").textContent).toBe(
      "at most 4: the workers serving the gpu queue have no more devices",
    );
    expect(calls).toHaveLength(0);

    // the next poll of the workers (a new list, the same numbers) leaves the form alone
    rerender(<LaunchForm admin kinds={[unet, ...kinds]} workers={workers.map((w) => ({ ...w }))} />);
    expect((screen.getByLabelText("Processes") as HTMLInputElement).value).toBe("8");

    fireEvent.change(processes, { target: { value: "3" } });
    fireEvent.click(screen.getByTestId("launch-submit"));
    const error = await within(field("batch_size")).findByTestId("field-error");
    expect(error.textContent).toBe("8 does not split among 3 processes");
    expect(calls[0]!.body).toEqual({ kind: "unet", params: { batch_size: 8, processes: 3 } });
  });

  it("keeps the server's bound without a live worker for the queue, and shows no hint for other kinds", () => {
    const { rerender } = render(<LaunchForm admin kinds={[unet, ...kinds]} workers={[worker("c", ["cpu"], 16)]} />, { wrapper: withQueryClient(MemoryRouter) });
    expect((screen.getByLabelText("Processes") as HTMLInputElement).max).toBe("64");
    expect(within(field("processes")).getByTestId("field-hint").textContent).toBe("no live worker serves the gpu queue now");

    rerender(<LaunchForm admin kinds={[unet, ...kinds]} workers={null} />);
    expect((screen.getByLabelText("Processes") as HTMLInputElement).max).toBe("64");
    expect(screen.queryByTestId("field-hint")).toBeNull();

    rerender(<LaunchForm admin kinds={[unet, ...kinds]} workers={[worker("a", ["gpu"], 2)]} />);
    fireEvent.change(screen.getByTestId("launch-kind"), { target: { value: "lab.mlp" } });
    expect(screen.queryByTestId("field-hint")).toBeNull();
  });
});

describe("LaunchForm: who launches what", () => {
  const pca: JobKind = {
    name: "lab.pca",
    title: "PCA",
    title_zh: "主成分分析",
    description: "principal axes",
    description_zh: "主轴",
    queue: "cpu",
    category: "lab",
    admin_only: false,
    params_schema: { properties: { n_components: { default: 2, type: "integer", title: "N Components" } }, type: "object" },
  };
  const options = () => [...(screen.getByTestId("launch-kind") as HTMLSelectElement).options].map((o) => [o.value, o.textContent]);

  afterEach(async () => {
    await act(() => i18n.changeLanguage("en"));
  });

  it("offers a learner only the kinds that are not admin-only, and leaves overwrite out", () => {
    const learnerUnet: JobKind = { ...unet, admin_only: false, params_schema: kinds[1]!.params_schema };
    render(<LaunchForm kinds={[...kinds, pca, learnerUnet]} />, { wrapper: withQueryClient(MemoryRouter) });
    expect(options().map(([name]) => name)).toEqual(["diag.sleep", "lab.pca", "unet"]);
    fireEvent.change(screen.getByTestId("launch-kind"), { target: { value: "unet" } });
    expect(screen.getByLabelText("Output")).toBeTruthy();
    expect(screen.queryByLabelText("Overwrite")).toBeNull();
  });

  it("starts on the kind it is given and follows it when it changes", () => {
    const { rerender } = render(<LaunchForm admin kinds={[...kinds, pca]} initialKind="lab.pca" />, { wrapper: withQueryClient(MemoryRouter) });
    expect((screen.getByTestId("launch-kind") as HTMLSelectElement).value).toBe("lab.pca");
    expect(screen.getByLabelText("N Components")).toBeTruthy();
    rerender(<LaunchForm admin kinds={[...kinds, pca]} initialKind="diag.sleep" />);
    expect((screen.getByTestId("launch-kind") as HTMLSelectElement).value).toBe("diag.sleep");
    // a kind the user may not launch: the first one it may
    rerender(<LaunchForm kinds={[...kinds, pca]} initialKind="house" />);
    expect((screen.getByTestId("launch-kind") as HTMLSelectElement).value).toBe("diag.sleep");
  });

  it("names the kinds in Chinese where the API gives their Chinese title and description", async () => {
    render(<LaunchForm kinds={[pca, kinds[2]!]} />, { wrapper: withQueryClient(MemoryRouter) });
    expect(options()).toEqual([
      ["lab.pca", "PCA"],
      ["diag.sleep", "Sleep"],
    ]);
    expect(screen.getByTestId("launch-description").textContent).toContain("principal axes");
    await act(() => i18n.changeLanguage("zh-CN"));
    expect(options()).toEqual([
      ["lab.pca", "主成分分析"],
      ["diag.sleep", "Sleep"], // no Chinese title: the English one
    ]);
    expect(screen.getByTestId("launch-description").textContent).toContain("主轴");
  });
});

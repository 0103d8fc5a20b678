import { fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { MemoryRouter } from "react-router-dom";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { setCsrfToken } from "../../client";
import type { JobKind } from "../../client/types";
import { MLP_SCHEMA } from "../../test/schemas";
import { installFetch } from "../../test/fakes";
import { LaunchForm } from "./LaunchForm";

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
    render(<LaunchForm kinds={kinds} />, { wrapper: MemoryRouter });
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
    render(<LaunchForm kinds={kinds} />, { wrapper: MemoryRouter });
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
    render(<LaunchForm kinds={kinds} />, { wrapper: MemoryRouter });
    fireEvent.click(screen.getByTestId("launch-submit"));
    await waitFor(() => expect(screen.getByTestId("launched").querySelector("a")!.getAttribute("href")).toBe("/train/abcdef12-0000"));
  });

  it("asks before it sends overwrite: true, and sends nothing when the admin says no", async () => {
    const calls = installFetch([
      { method: "POST", path: "/api/v1/jobs", status: 202, body: { id: "abcdef12-0001", kind: "house", state: "queued" } },
    ]);
    const confirm = vi.spyOn(window, "confirm").mockReturnValue(false);
    render(<LaunchForm kinds={kinds} />, { wrapper: MemoryRouter });
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
    render(<LaunchForm kinds={kinds} />, { wrapper: MemoryRouter });
    fireEvent.change(screen.getByTestId("launch-kind"), { target: { value: "house" } });
    fireEvent.click(screen.getByTestId("launch-submit"));
    await waitFor(() => expect(calls).toHaveLength(1));
    expect(confirm).not.toHaveBeenCalled();
    expect(calls[0]!.body).toEqual({ kind: "house", params: { output: "", overwrite: false } });
    confirm.mockRestore();
  });
});

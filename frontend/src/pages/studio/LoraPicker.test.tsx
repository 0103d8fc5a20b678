import { act, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { useState } from "react";
import { MemoryRouter } from "react-router-dom";
import { describe, expect, it } from "vitest";
import type { ModelInfo } from "../../client/types";
import { installFetch } from "../../test/fakes";
import { withQueryClient } from "../../test/query";
import { GenerateForm } from "./GenerateForm";
import { DEFAULT_SETTINGS, toRequest, type StudioSettings } from "./settings";
import { useLoras } from "./useLoras";

const MODELS = [
  { name: "house", default: true, default_guidance: 5, resolution: { min: 32, max: 128, multiple: 8, native: 64 } },
  { name: "tiny", default: false, default_guidance: 5, resolution: { min: 32, max: 64, multiple: 8, native: 32 } },
] as unknown as ModelInfo[];

const LORAS = [
  {
    name: "cats",
    base_model: "house",
    dataset: "cats",
    steps: 300,
    rank: 4,
    size_bytes: 10_000,
    hash: "0123456789ab",
    preview_url: "/api/v1/loras/cats/preview.png",
    validation_prompts: ["a cat"],
  },
  { name: "pixel", base_model: "tiny", size_bytes: 10_000, hash: "ba9876543210", preview_url: null, validation_prompts: [] },
];

let latest: { settings: StudioSettings; request: () => ReturnType<typeof toRequest> } | null = null;

function Studio({ initial, errors = {} }: { initial: Partial<StudioSettings>; errors?: Record<string, string> }) {
  const [settings, setSettings] = useState<StudioSettings>({ ...DEFAULT_SETTINGS, model: "house", ...initial });
  const loras = useLoras();
  latest = { settings, request: () => toRequest(settings, {}, [], loras.loaded ? loras.list : null) };
  return (
    <GenerateForm
      settings={settings}
      onChange={setSettings}
      onSubmit={() => undefined}
      models={MODELS}
      samplers={[]}
      busy={false}
      errors={errors}
      loras={loras}
    />
  );
}

const item = (name: string) => within(screen.getByTestId("loras-list").querySelector(`[data-name="${name}"]`) as HTMLElement);
const chosen = (name: string) => screen.getByTestId("loras-chosen").querySelector(`[data-name="${name}"]`) as HTMLElement;

describe("LoRAs in the studio form", () => {
  it("adds a LoRA of the selected model, weights it, and sends it; another model's stays out", async () => {
    installFetch([{ path: "/api/v1/loras", body: LORAS }]);
    render(<Studio initial={{}} />, { wrapper: withQueryClient() });
    await waitFor(() => expect(screen.getAllByTestId("lora-item")).toHaveLength(2));

    // each with its base model and validation grid; another model's cannot be added, and says why
    expect(item("cats").getByRole("img").getAttribute("src")).toBe("/api/v1/loras/cats/preview.png");
    expect(item("cats").getByText("base: house")).toBeTruthy();
    expect((item("pixel").getByTestId("lora-add") as HTMLButtonElement).disabled).toBe(true);
    expect(item("pixel").getByTestId("lora-note").textContent).toBe(
      "Trained on tiny, not on the selected model house: it is left out.",
    );

    act(() => item("cats").getByTestId("lora-add").click());
    expect(latest!.settings.loras).toEqual([{ name: "cats", weight: 1 }]);
    expect(screen.getByTestId("loras-active").textContent).toBe("1");
    const row = within(chosen("cats"));
    const range = row.getByTestId("lora-weight-range") as HTMLInputElement;
    expect([range.min, range.max, range.step, range.value]).toEqual(["-1", "2", "0.05", "1"]);
    fireEvent.change(range, { target: { value: "0.55" } });
    expect(latest!.settings.loras).toEqual([{ name: "cats", weight: 0.55 }]);
    fireEvent.change(row.getByTestId("lora-weight"), { target: { value: "-3" } });
    expect(latest!.settings.loras[0]!.weight).toBe(-3);
    fireEvent.change(row.getByTestId("lora-weight"), { target: { value: "9" } }); // the API takes -4..4
    expect(latest!.settings.loras[0]!.weight).toBe(4);
    expect(latest!.request().loras).toEqual([{ name: "cats", weight: 4 }]);

    // the model changes: the chosen LoRA is greyed out with both models named, and not sent
    fireEvent.change(screen.getByTestId("model"), { target: { value: "tiny" } });
    expect(chosen("cats").dataset.active).toBe("false");
    expect(within(chosen("cats")).getByTestId("lora-note").textContent).toBe(
      "Trained on house, not on the selected model tiny: it is left out.",
    );
    expect((within(chosen("cats")).getByTestId("lora-weight") as HTMLInputElement).disabled).toBe(true);
    expect(screen.queryByTestId("loras-active")).toBeNull();
    expect(Object.keys(latest!.request())).not.toContain("loras");
    expect((item("pixel").getByTestId("lora-add") as HTMLButtonElement).disabled).toBe(false);

    act(() => within(chosen("cats")).getByTestId("lora-remove").click());
    expect(latest!.settings.loras).toEqual([]);
    expect(screen.queryByTestId("loras-chosen")).toBeNull();
  });

  it("keeps a chosen LoRA that is no longer installed on show, left out, and shows the API's 422", async () => {
    installFetch([{ path: "/api/v1/loras", body: LORAS }]);
    render(<Studio initial={{ loras: [{ name: "gone", weight: 0.5 }] }} errors={{ "loras.0.weight": "at most 4" }} />, { wrapper: withQueryClient() });
    await waitFor(() => expect(within(chosen("gone")).getByTestId("lora-note").textContent).toBe("No longer installed: it is left out."));
    expect(Object.keys(latest!.request())).not.toContain("loras");
    expect(within(screen.getByTestId("lora-section")).getByTestId("field-error").textContent).toBe("at most 4");
    expect((screen.getByTestId("lora-section") as HTMLDetailsElement).open).toBe(true);
  });

  it("says when no LoRA is installed", async () => {
    installFetch([{ path: "/api/v1/loras", body: [] }]);
    render(<Studio initial={{}} />, { wrapper: withQueryClient(MemoryRouter) });
    const empty = await screen.findByTestId("loras-empty");
    expect(empty.textContent).toContain("No LoRA is installed yet.");
    expect(empty.querySelector("a")!.getAttribute("href")).toBe("/datasets");
  });
});

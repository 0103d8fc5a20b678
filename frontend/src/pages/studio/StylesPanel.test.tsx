import { act, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { useState } from "react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { installFetch } from "../../test/fakes";
import { withQueryClient } from "../../test/query";
import { GenerateForm } from "./GenerateForm";
import { DEFAULT_SETTINGS, toRequest, type StudioSettings } from "./settings";
import { useStyles } from "./useStyles";

let latest: { settings: StudioSettings; request: () => ReturnType<typeof toRequest> } | null = null;

function Studio({ initial }: { initial: Partial<StudioSettings> }) {
  const [settings, setSettings] = useState<StudioSettings>({ ...DEFAULT_SETTINGS, ...initial });
  const styles = useStyles();
  latest = { settings, request: () => toRequest(settings, {}, styles.list) };
  return (
    <GenerateForm
      settings={settings}
      onChange={setSettings}
      onSubmit={() => undefined}
      models={[]}
      samplers={[]}
      busy={false}
      errors={{}}
      styles={styles}
    />
  );
}

const CINEMATIC = { name: "cinematic", prompt: "{prompt}, red", negative_prompt: "blurry" };

describe("styles in the studio form", () => {
  afterEach(() => vi.restoreAllMocks());

  it("saves the prompt as a style, chooses it, previews and sends the merged prompt", async () => {
    const calls = installFetch([
      { path: "/api/v1/styles", body: [CINEMATIC] },
      { method: "PUT", path: "/api/v1/styles/plain%20circle", body: { name: "plain circle", prompt: "circle", negative_prompt: "" } },
    ]);
    render(<Studio initial={{ prompt: "circle", negative_prompt: "" }} />, { wrapper: withQueryClient() });
    await waitFor(() => expect(screen.getByTestId("style-add").querySelectorAll("option")).toHaveLength(2));

    act(() => screen.getByTestId("style-save-current").click());
    expect((screen.getByTestId("style-prompt") as HTMLTextAreaElement).value).toBe("circle");
    act(() => screen.getByTestId("style-save").click());
    expect(screen.getByTestId("style-error").textContent).toBe("Give the style a name.");
    fireEvent.change(screen.getByTestId("style-name"), { target: { value: "plain circle" } });
    await act(async () => screen.getByTestId("style-save").click());
    expect(calls.find((c) => c.method === "PUT")!.body).toEqual({ prompt: "circle", negative_prompt: "" });
    expect(screen.queryByTestId("style-editor")).toBeNull();

    fireEvent.change(screen.getByTestId("prompt"), { target: { value: "a square" } });
    fireEvent.change(screen.getByTestId("style-add"), { target: { value: "cinematic" } });
    fireEvent.change(screen.getByTestId("style-add"), { target: { value: "plain circle" } });
    expect(latest!.settings.styles).toEqual(["cinematic", "plain circle"]);
    expect(screen.getAllByTestId("style-chip").map((c) => c.textContent)).toEqual(["cinematic×", "plain circle×"]);
    expect(screen.getByTestId("styles-preview-prompt").textContent).toBe("a square, red, circle");
    expect(screen.getByTestId("styles-preview-negative").textContent).toBe("blurry");
    expect(latest!.request()).toMatchObject({ prompt: "a square, red, circle", negative_prompt: "blurry" });

    act(() => screen.getAllByTestId("style-unchoose")[0]!.click());
    expect(latest!.settings.styles).toEqual(["plain circle"]);
  });

  it("deletes a style only when confirmed, and no longer chooses it", async () => {
    const calls = installFetch([
      { path: "/api/v1/styles", body: [CINEMATIC] },
      { method: "DELETE", path: "/api/v1/styles/cinematic", body: null }, // 204 in the API; the fake answers 200
    ]);
    render(<Studio initial={{ styles: ["cinematic"] }} />, { wrapper: withQueryClient() });
    await waitFor(() => expect(screen.getByTestId("styles-manage")).toBeTruthy());
    act(() => screen.getByTestId("styles-manage").click());
    const confirm = vi.spyOn(window, "confirm").mockReturnValue(false);
    await act(async () => screen.getByTestId("style-delete").click());
    expect(confirm.mock.calls[0]![0]).toContain("cinematic");
    expect(calls.some((c) => c.method === "DELETE")).toBe(false);
    confirm.mockReturnValue(true);
    await act(async () => screen.getByTestId("style-delete").click());
    expect(calls.filter((c) => c.method === "DELETE")).toHaveLength(1);
    expect(latest!.settings.styles).toEqual([]);
    expect(screen.queryByTestId("styles-list")).toBeNull();
  });

  it("forgets a chosen style that is no longer saved", async () => {
    installFetch([{ path: "/api/v1/styles", body: [CINEMATIC] }]);
    render(<Studio initial={{ styles: ["gone", "cinematic"] }} />, { wrapper: withQueryClient() });
    await waitFor(() => expect(latest!.settings.styles).toEqual(["cinematic"]));
  });
});

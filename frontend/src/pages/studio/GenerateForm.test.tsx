import { act, render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { GenerateForm } from "./GenerateForm";
import { DEFAULT_SETTINGS, type StudioSettings } from "./settings";

function Form({ settings, onChange }: { settings: StudioSettings; onChange: (s: StudioSettings) => void }) {
  return (
    <GenerateForm settings={settings} onChange={onChange} onSubmit={() => undefined} models={[]} samplers={[]} busy={false} errors={{}} />
  );
}

describe("GenerateForm modes", () => {
  it("shows img2img's strength with the steps it runs, and inpainting options only in inpaint mode", () => {
    let changed: StudioSettings | null = null;
    const { rerender } = render(<Form settings={DEFAULT_SETTINGS} onChange={(s) => (changed = s)} />);
    expect(screen.queryByTestId("strength")).toBeNull();
    act(() => screen.getByTestId("mode-img2img").click());
    expect(changed!.mode).toBe("img2img");

    rerender(<Form settings={{ ...DEFAULT_SETTINGS, mode: "img2img", strength: 0.6, steps: 25 }} onChange={() => undefined} />);
    expect(screen.getByTestId("strength-help").textContent).toBe(
      "strength 0.6 of 25 steps: starts from your image noised to step 10 and runs the last 15",
    );
    expect(screen.getByTestId("resize-mode")).toBeTruthy();
    expect(screen.queryByTestId("mask-blur")).toBeNull();

    rerender(<Form settings={{ ...DEFAULT_SETTINGS, mode: "inpaint", inpaint_full_res: true }} onChange={() => undefined} />);
    expect(screen.getByTestId("mask-blur")).toBeTruthy();
    expect(screen.getByTestId("inpainting-fill")).toBeTruthy();
    expect(screen.getByTestId("inpaint-padding")).toBeTruthy();
  });

  it("offers hires fix and variation seeds in txt2img only, with a note otherwise", () => {
    const { rerender } = render(<Form settings={{ ...DEFAULT_SETTINGS, enable_hr: true }} onChange={() => undefined} />);
    expect((screen.getByTestId("enable-hr") as HTMLInputElement).disabled).toBe(false);
    expect((screen.getByTestId("hr-scale") as HTMLInputElement).closest("fieldset")!.disabled).toBe(false);
    expect(screen.getByTestId("hires-on").textContent).toBe("×2");
    expect(screen.queryByTestId("hires-note")).toBeNull();

    rerender(<Form settings={{ ...DEFAULT_SETTINGS, enable_hr: true, mode: "img2img" }} onChange={() => undefined} />);
    const box = screen.getByTestId("enable-hr") as HTMLInputElement;
    expect(box.disabled).toBe(true);
    expect(box.checked).toBe(false);
    expect(screen.getByTestId("hires-note").textContent).toMatch(/not with an init image/);
    expect((screen.getByTestId("subseed-strength") as HTMLInputElement).closest("fieldset")!.disabled).toBe(true);
    expect(screen.getByTestId("variation-note")).toBeTruthy();

    rerender(<Form settings={{ ...DEFAULT_SETTINGS, enable_hr: true, guidance_sweep: "3, 7" }} onChange={() => undefined} />);
    expect(screen.getByTestId("hires-note").textContent).toMatch(/guidance sweep/);
  });
});

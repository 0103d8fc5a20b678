import { fireEvent, render, screen, within } from "@testing-library/react";
import { useState } from "react";
import { describe, expect, it, vi } from "vitest";
import { DEFAULT_AXES, type AxisName, type AxisSpec } from "./xyz";
import { XyzPanel } from "./XyzPanel";

interface PanelProps {
  onRun: (s: Partial<Record<AxisName, AxisSpec>>) => void;
  errors?: Partial<Record<AxisName | "", string>>;
  baseLora?: string | null;
  chosenLoras?: number;
}

function Panel({ onRun, errors = {}, baseLora = null, chosenLoras = 0 }: PanelProps) {
  const [axes, setAxes] = useState(DEFAULT_AXES);
  return (
    <XyzPanel
      axes={axes}
      onAxes={setAxes}
      onRun={onRun}
      samplers={["Euler a", "DDIM"]}
      models={["house"]}
      loras={["cats", "dogs, wet"]}
      baseLora={baseLora}
      chosenLoras={chosenLoras}
      busy={false}
      errors={errors}
    />
  );
}

describe("XyzPanel", () => {
  it("counts the cells as you type, refuses more than 100, and runs the parsed axes", () => {
    const onRun = vi.fn();
    render(<Panel onRun={onRun} />);
    fireEvent.change(screen.getByTestId("xyz-values-x"), { target: { value: "2, 3" } });
    fireEvent.change(screen.getByTestId("xyz-field-y"), { target: { value: "sampler" } });
    // the sampler names the API serves, a click adds one
    fireEvent.click(screen.getByText("Euler a"));
    fireEvent.click(screen.getByText("DDIM"));
    expect((screen.getByTestId("xyz-values-y") as HTMLInputElement).value).toBe("Euler a, DDIM");
    expect(screen.getByTestId("xyz-count").textContent).toBe("Cells: 4");

    fireEvent.change(screen.getByTestId("xyz-field-z"), { target: { value: "seed" } });
    fireEvent.change(screen.getByTestId("xyz-values-z"), { target: { value: "1-26" } });
    expect(screen.getByTestId("xyz-count").textContent).toBe("104 cells: a plot has at most 100");
    expect((screen.getByTestId("xyz-run") as HTMLButtonElement).disabled).toBe(true);

    fireEvent.change(screen.getByTestId("xyz-values-z"), { target: { value: "1, x" } });
    expect(screen.getByTestId("xyz-axis-z").textContent).toContain('"x" is not a number');
    fireEvent.change(screen.getByTestId("xyz-values-z"), { target: { value: "7" } });
    fireEvent.click(screen.getByTestId("xyz-run"));
    expect(onRun).toHaveBeenCalledWith({
      x: { field: "steps", values: [2, 3] },
      y: { field: "sampler", values: ["Euler a", "DDIM"] },
      z: { field: "seed", values: [7] },
    });
  });

  it("shows the server's 422 at the axis it names", () => {
    render(<Panel onRun={() => undefined} errors={{ x: "cell 1,0,0: steps must be at most 150" }} />);
    expect(screen.getByTestId("xyz-axis-x").textContent).toContain("steps must be at most 150");
  });

  it("varies the first chosen LoRA: its name from the installed ones, its weight as numbers", () => {
    const onRun = vi.fn();
    render(<Panel onRun={onRun} baseLora="cats" chosenLoras={1} />);
    fireEvent.change(screen.getByTestId("xyz-field-x"), { target: { value: "lora" } });
    fireEvent.change(screen.getByTestId("xyz-values-x"), { target: { value: "" } });
    const choices = within(screen.getByTestId("xyz-choices-x"));
    fireEvent.click(choices.getByText("cats"));
    fireEvent.click(choices.getByText("dogs, wet"));
    expect((screen.getByTestId("xyz-values-x") as HTMLInputElement).value).toBe('cats, "dogs, wet"');
    expect(within(screen.getByTestId("xyz-axis-x")).getByTestId("xyz-lora-target").textContent).toBe("Varies cats, the first LoRA chosen.");
    expect(screen.queryByTestId("xyz-lora-note")).toBeNull();

    fireEvent.change(screen.getByTestId("xyz-field-y"), { target: { value: "lora_weight" } });
    expect(screen.getByTestId("xyz-field-y").textContent).toContain("LoRA weight");
    expect(screen.queryByTestId("xyz-choices-y")).toBeNull();
    fireEvent.change(screen.getByTestId("xyz-values-y"), { target: { value: "0-1 [3], x" } });
    expect(screen.getByTestId("xyz-axis-y").textContent).toContain('"x" is not a number');
    fireEvent.change(screen.getByTestId("xyz-values-y"), { target: { value: "0-1 [3], 1.5" } });
    expect(screen.getByTestId("xyz-count").textContent).toBe("Cells: 8");
    fireEvent.click(screen.getByTestId("xyz-run"));
    expect(onRun).toHaveBeenCalledWith({
      x: { field: "lora", values: ["cats", "dogs, wet"] },
      y: { field: "lora_weight", values: [0, 0.5, 1, 1.5] },
    });
  });

  it("says a LoRA must be chosen first when the request has none, and keeps the API's 422 at the axis", () => {
    const { rerender } = render(<Panel onRun={() => undefined} />);
    expect(screen.queryByTestId("xyz-lora-note")).toBeNull(); // not on other fields
    fireEvent.change(screen.getByTestId("xyz-field-z"), { target: { value: "lora_weight" } });
    const z = within(screen.getByTestId("xyz-axis-z"));
    expect(z.getByTestId("xyz-lora-note").textContent).toBe("Choose a LoRA in the LoRAs section first: this axis varies the first one chosen.");

    // chosen, but none applies to the selected model: the request still has none
    rerender(<Panel onRun={() => undefined} chosenLoras={2} errors={{ z: "needs a LoRA in base.loras to vary" }} />);
    expect(z.getByTestId("xyz-lora-note").textContent).toMatch(/^None of the chosen LoRAs applies/);
    expect(z.getByTestId("field-error").textContent).toBe("needs a LoRA in base.loras to vary");
  });
});

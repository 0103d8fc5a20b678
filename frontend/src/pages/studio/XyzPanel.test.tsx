import { fireEvent, render, screen } from "@testing-library/react";
import { useState } from "react";
import { describe, expect, it, vi } from "vitest";
import { DEFAULT_AXES, type AxisName, type AxisSpec } from "./xyz";
import { XyzPanel } from "./XyzPanel";

function Panel({ onRun, errors = {} }: { onRun: (s: Partial<Record<AxisName, AxisSpec>>) => void; errors?: Partial<Record<AxisName | "", string>> }) {
  const [axes, setAxes] = useState(DEFAULT_AXES);
  return <XyzPanel axes={axes} onAxes={setAxes} onRun={onRun} samplers={["Euler a", "DDIM"]} models={["house"]} busy={false} errors={errors} />;
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
});

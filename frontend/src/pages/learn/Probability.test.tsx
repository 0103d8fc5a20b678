import { act, fireEvent, render, screen, within } from "@testing-library/react";
import type uPlot from "uplot";
import { MemoryRouter } from "react-router-dom";
import { afterEach, describe, expect, it, vi } from "vitest";
import i18n from "../../i18n";
import { Probability } from "./Probability";

/** The data each chart was last given, by its test id (uPlot itself needs a real canvas). */
const charts = new Map<string, uPlot.AlignedData>();
vi.mock("../../components/UPlotChart", () => ({
  colorAt: () => "#4f46e5",
  UPlotChart: ({ data, testId }: { data: uPlot.AlignedData; testId: string }) => {
    charts.set(testId, data);
    return <div data-testid={testId} />;
  },
}));

function show() {
  return render(
    <MemoryRouter>
      <Probability />
    </MemoryRouter>,
  );
}

const text = (testId: string) => screen.getByTestId(testId).textContent;
const slide = (testId: string, value: number) => fireEvent.change(screen.getByTestId(testId), { target: { value: String(value) } });
/** Closed form and Monte-Carlo text of one KL direction. */
function direction(testId: string) {
  const box = screen.getByTestId(testId);
  return {
    closed: Number(box.querySelector('[data-role="closed"]')!.textContent),
    mc: box.querySelector('[data-role="mc"]')!.textContent!,
  };
}
const mcNumbers = (s: string) => s.split("±").map((v) => Number(v.trim()));

describe("the probability section of the learn page", () => {
  afterEach(async () => {
    charts.clear();
    await act(() => i18n.changeLanguage("en"));
  });

  it("updates the coin's posterior as the prior and the flips change", () => {
    show();
    expect(document.getElementById("probability")).not.toBeNull();
    // Beta(2, 2) prior, 7 heads and 3 tails
    expect(text("coin-posterior")).toBe("Beta(9, 5)");
    expect(text("coin-mean")).toBe("0.6429");
    expect(text("coin-map")).toBe("0.6667");
    expect(text("coin-mle")).toBe("0.7");
    expect(text("coin-interval")).toBe("[0.3857, 0.8614]"); // scipy: beta.ppf([0.025, 0.975], 9, 5)

    slide("coin-a", 10);
    expect(text("coin-posterior")).toBe("Beta(17, 5)");
    expect(text("coin-mean")).toBe("0.7727");
    expect(text("coin-mle")).toBe("0.7"); // the MLE ignores the prior

    fireEvent.click(screen.getByText("+ tails"));
    fireEvent.click(screen.getByText("+ heads"));
    fireEvent.click(screen.getByText("+ tails"));
    expect(text("coin-posterior")).toBe("Beta(18, 7)");
    expect(text("coin-mle")).toBe("0.6154"); // 8 / 13

    fireEvent.click(screen.getByText("Reset flips"));
    slide("coin-a", 1);
    slide("coin-b", 1);
    expect(text("coin-posterior")).toBe("Beta(1, 1)");
    expect(text("coin-map")).toBe("no single peak");
    expect(text("coin-mle")).toBe("no flips yet");
    expect(text("coin-interval")).toBe("[0.025, 0.975]");

    fireEvent.change(screen.getByTestId("coin-heads"), { target: { value: "3" } });
    expect(text("coin-posterior")).toBe("Beta(4, 1)");
    expect(text("coin-map")).toBe("1");
  });

  it("draws prior, likelihood, posterior and the interval over θ, and writes the numbers into the formulas", () => {
    show();
    const [theta, prior, likelihood, posterior, inside] = charts.get("coin-chart")!;
    expect(theta).toHaveLength(201);
    expect(prior![100]).toBeCloseTo(1.5, 10); // Beta(2, 2) at ½
    expect(likelihood![100]).toBeCloseTo(betaAtHalf(8, 4), 10);
    expect(posterior![100]).toBeCloseTo(betaAtHalf(9, 5), 10);
    expect(inside![10]).toBeNull(); // θ = 0.05, outside [0.386, 0.861]
    expect(inside![100]).toBe(posterior![100]);

    const part = document.querySelector('[data-part="coin"]') as HTMLElement;
    const tex = part.querySelector(".prob__live")!.textContent!.replace(/[\s\u200b]/g, "");
    expect(tex).toContain("Beta(9,5)");
    expect(tex).toContain("=0.643");
    slide("coin-b", 7);
    expect(part.querySelector(".prob__live")!.textContent!.replace(/[\s\u200b]/g, "")).toContain("Beta(9,10)");
  });

  it("shows KL in both directions, closed form beside a Monte-Carlo estimate that moves with the sliders", () => {
    show();
    // torch: kl_divergence(Normal(0, 1), Normal(1, 2)) = 0.44315, and the other way 1.30685
    expect(direction("kl-pq").closed).toBe(0.4431);
    expect(direction("kl-qp").closed).toBe(1.307);
    const [estimate, stdError] = mcNumbers(direction("kl-pq").mc);
    expect(Math.abs(estimate! - 0.44315)).toBeLessThan(4 * stdError!);
    expect(screen.getByTestId("kl-pq").querySelector(".katex")!.textContent).toContain("0.443");

    slide("kl-s2", 1);
    expect(direction("kl-pq").closed).toBe(0.5); // equal widths: ½ (μ₁ − μ₂)²/σ², the same both ways
    expect(direction("kl-qp").closed).toBe(0.5);
    const [, q] = charts.get("kl-chart")!;
    expect(Math.max(...(q as number[]))).toBeCloseTo(1 / Math.sqrt(2 * Math.PI), 4);
  });

  it("resamples with a new seed and fewer samples give a larger standard error", () => {
    show();
    const first = direction("kl-pq").mc;
    expect(text("kl-seed")).toBe("seed 0");
    fireEvent.click(screen.getByText("Resample"));
    expect(text("kl-seed")).toBe("seed 2");
    expect(direction("kl-pq").mc).not.toBe(first);

    const [, seBig] = mcNumbers(direction("kl-pq").mc);
    fireEvent.change(screen.getByTestId("kl-n"), { target: { value: "100" } });
    expect(within(screen.getByTestId("kl-pq")).getByText("Monte Carlo, n = 100")).toBeTruthy();
    const [, seSmall] = mcNumbers(direction("kl-pq").mc);
    expect(seSmall! / seBig!).toBeGreaterThan(5); // √(10000/100) = 10, up to sampling noise
  });

  it("links to the lab.probability kind and speaks Chinese", async () => {
    await act(() => i18n.changeLanguage("zh-CN"));
    show();
    expect(screen.getByTestId("probability-run").getAttribute("href")).toBe("/train?kind=lab.probability");
    expect(screen.getByRole("heading", { level: 2 }).textContent).toBe("概率：贝叶斯公式与 KL 散度");
    expect(screen.getByText("95% 可信区间")).toBeTruthy();
    expect(text("coin-map")).toBe("0.6667");
  });
});

/** The Beta(a, b) density at ½ for whole a, b: Γ(a + b)/(Γ(a) Γ(b)) · 2^(2 − a − b). */
function betaAtHalf(a: number, b: number): number {
  const factorial = (k: number): number => (k <= 1 ? 1 : k * factorial(k - 1));
  return (factorial(a + b - 1) / (factorial(a - 1) * factorial(b - 1))) * 2 ** (2 - a - b);
}

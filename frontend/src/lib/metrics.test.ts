import { describe, expect, it } from "vitest";
import type { JobEvent } from "../client/events";
import { alignSeries, bestOf, emaSmooth, metricPoints, seriesOf } from "./metrics";

describe("emaSmooth", () => {
  it("is the identity at weight 0", () => {
    expect(emaSmooth([3, 1, 2], 0)).toEqual([3, 1, 2]);
  });

  it("debiases, so a constant series stays constant from its first point", () => {
    for (const v of emaSmooth([5, 5, 5, 5], 0.9)) expect(v).toBeCloseTo(5, 12);
  });

  it("follows m_i = w m_(i-1) + (1 - w) v_i, divided by 1 - w^i", () => {
    // w = 0.5: m = 0.5, 1.25, 2.125; 1 - w^i = 0.5, 0.75, 0.875
    const s = emaSmooth([1, 2, 3], 0.5);
    expect(s[0]).toBeCloseTo(1, 12);
    expect(s[1]).toBeCloseTo(1.25 / 0.75, 12);
    expect(s[2]).toBeCloseTo(2.125 / 0.875, 12);
  });

  it("smooths noise: a smoothed alternating series varies less than the raw one", () => {
    const raw = Array.from({ length: 200 }, (_, i) => (i % 2 ? 1 : -1));
    const smooth = emaSmooth(raw, 0.95).slice(50);
    expect(Math.max(...smooth) - Math.min(...smooth)).toBeLessThan(0.2);
  });

  it("passes non-finite values through without poisoning the average", () => {
    const s = emaSmooth([1, NaN, 1], 0.5);
    expect(Number.isNaN(s[1])).toBe(true);
    expect(s[2]).toBeCloseTo(1, 12);
  });
});

describe("metric series", () => {
  const ev = (seq: number, step: number, values: Record<string, number>, epoch?: number): JobEvent => ({
    seq,
    type: "metric",
    payload: { step, values, ...(epoch != null ? { epoch } : {}) },
    created_at: new Date(Date.UTC(2025, 0, 1, 0, 0, seq)).toISOString(),
  });

  it("takes x from step, epoch or wall time", () => {
    const points = metricPoints([ev(1, 10, { "train/loss": 2 }, 0.5), ev(3, 20, { "train/loss": 1, "val/loss": 1.5 }, 1)]);
    expect(seriesOf(points, "train/loss", "step")).toEqual({ x: [10, 20], y: [2, 1] });
    expect(seriesOf(points, "train/loss", "epoch").x).toEqual([0.5, 1]);
    expect(seriesOf(points, "train/loss", "time").x).toEqual([0, 2]);
    expect(seriesOf(points, "val/loss", "step")).toEqual({ x: [20], y: [1.5] });
  });

  it("aligns series on a shared sorted x with gaps as null", () => {
    expect(alignSeries([{ x: [1, 3], y: [10, 30] }, { x: [2, 3], y: [20, 31] }])).toEqual([
      [1, 2, 3],
      [10, null, 30],
      [null, 20, 31],
    ]);
  });

  it("picks the best value by the metric's direction", () => {
    expect(bestOf("val/loss", [3, 1, 2])).toBe(1);
    expect(bestOf("val/accuracy", [0.3, 0.9, 0.5])).toBe(0.9);
  });
});

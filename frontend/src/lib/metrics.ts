/** Metric events -> chart series: x choice, EMA smoothing and alignment of several series. */
import type { JobEvent } from "../client/events";
import { parseTime } from "./format";

export type XAxis = "step" | "epoch" | "time";

export interface MetricPoint {
  step: number;
  epoch: number | null;
  /** seconds since the run's first event */
  time: number;
  values: Record<string, number>;
}

export function metricPoints(events: readonly JobEvent[]): MetricPoint[] {
  const t0 = events.length ? (parseTime(events[0]!.created_at) ?? 0) : 0;
  const out: MetricPoint[] = [];
  for (const e of events) {
    if (e.type !== "metric") continue;
    const p = e.payload;
    out.push({
      step: p.step,
      epoch: p.epoch ?? null,
      time: ((parseTime(e.created_at) ?? t0) - t0) / 1000,
      values: p.values ?? {},
    });
  }
  return out;
}

/** Every metric key seen, in first-seen order. */
export function metricKeys(points: readonly MetricPoint[]): string[] {
  const keys = new Set<string>();
  for (const p of points) for (const k of Object.keys(p.values)) keys.add(k);
  return [...keys];
}

export interface Series {
  x: number[];
  y: number[];
}

/** The (x, value) pairs of one key; points without that key or without the x are skipped. */
export function seriesOf(points: readonly MetricPoint[], key: string, xAxis: XAxis): Series {
  const x: number[] = [];
  const y: number[] = [];
  for (const p of points) {
    const v = p.values[key];
    const xv = xAxis === "step" ? p.step : xAxis === "epoch" ? p.epoch : p.time;
    if (v == null || xv == null || !Number.isFinite(v)) continue;
    x.push(xv);
    y.push(v);
  }
  return { x, y };
}

/**
 * Exponential moving average with TensorBoard's debiasing:
 *   m_i = w * m_{i-1} + (1 - w) * v_i,  m_0 = 0,   s_i = m_i / (1 - w^i)
 * so the first points are not pulled towards zero. w = 0 returns the values unchanged;
 * non-finite values are passed through and do not enter the average.
 */
export function emaSmooth(values: readonly number[], weight: number): number[] {
  if (!(weight > 0)) return [...values];
  const w = Math.min(weight, 0.999);
  let m = 0;
  let n = 0;
  return values.map((v) => {
    if (!Number.isFinite(v)) return v;
    n += 1;
    m = w * m + (1 - w) * v;
    return m / (1 - w ** n);
  });
}

/**
 * Put several (x, y) series on one shared, sorted x: the table uPlot draws. A series has null
 * where it has no point at that x. For equal x within a series the last point wins.
 */
export function alignSeries(series: readonly Series[]): [number[], ...(number | null)[][]] {
  const xs = new Set<number>();
  for (const s of series) for (const x of s.x) xs.add(x);
  const x = [...xs].sort((a, b) => a - b);
  const index = new Map(x.map((v, i) => [v, i]));
  const ys = series.map((s) => {
    const col: (number | null)[] = new Array<number | null>(x.length).fill(null);
    s.x.forEach((xv, i) => {
      col[index.get(xv)!] = s.y[i]!;
    });
    return col;
  });
  return [x, ...ys];
}

/** The best value of a key: max for accuracy-like names, min otherwise (losses, errors). */
export function bestOf(key: string, values: readonly number[]): number | null {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return null;
  return higherIsBetter(key) ? Math.max(...finite) : Math.min(...finite);
}

export function higherIsBetter(key: string): boolean {
  return /acc|accuracy|f1|auc|precision|recall|r2|score|psnr|ssim|clip/i.test(key);
}

/** Reading a run's numbers for the formulas: the newest metrics, parameters, the result. */
import type { MetricPoint } from "../../../lib/metrics";
import type { MathInput } from "./types";

/** The newest value of every metric key, and the step of the newest metric point. */
export function latestMetrics(points: readonly MetricPoint[]): { metrics: Record<string, number>; step: number | null } {
  const metrics: Record<string, number> = {};
  for (const p of points) for (const [k, v] of Object.entries(p.values)) if (Number.isFinite(v)) metrics[k] = v;
  return { metrics, step: points.length ? points[points.length - 1]!.step : null };
}

/** A metric's newest finite value. */
export function metric(input: MathInput, key: string): number | null {
  const v = input.metrics[key];
  return v != null && Number.isFinite(v) ? v : null;
}

/** Every (step, value) of a key, in the order reported. */
export function series(input: MathInput, key: string): { step: number; value: number }[] {
  const out: { step: number; value: number }[] = [];
  for (const p of input.points) {
    const v = p.values[key];
    if (v != null && Number.isFinite(v)) out.push({ step: p.step, value: v });
  }
  return out;
}

/** `prefix1`, `prefix2`, … (from `start`) while present: a vector reported one entry per key. */
export function indexed(values: Record<string, number>, prefix: string, start = 1): number[] {
  const out: number[] = [];
  for (let i = start; values[`${prefix}${i}`] != null; i++) out.push(values[`${prefix}${i}`]!);
  return out;
}

export function numParam(input: MathInput, key: string): number | null {
  const v = input.params[key];
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

export function strParam(input: MathInput, key: string): string | null {
  const v = input.params[key];
  return typeof v === "string" ? v : null;
}

export function listParam(input: MathInput, key: string): unknown[] | null {
  const v = input.params[key];
  return Array.isArray(v) ? v : null;
}

export function resultNum(input: MathInput, key: string): number | null {
  const v = input.result?.[key];
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

export function resultNums(input: MathInput, key: string): number[] | null {
  const v = input.result?.[key];
  return Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === "number") ? (v as number[]) : null;
}

/** The defaults in a kind's JSON schema: what the learn page shows its formulas with. */
export function schemaDefaults(schema: unknown): Record<string, unknown> {
  const props = (schema as { properties?: Record<string, { default?: unknown }> } | null)?.properties ?? {};
  const out: Record<string, unknown> = {};
  for (const [k, p] of Object.entries(props)) if (p && "default" in p) out[k] = p.default;
  return out;
}

/** Data sets whose task is regression (difflab.datasets.toy.RegressionName). */
export const REGRESSION_SETS: readonly string[] = ["diabetes", "linear", "plane", "sine", "poly"];

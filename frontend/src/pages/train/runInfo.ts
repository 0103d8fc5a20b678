/** What the runs table shows of a job: dataset, key hyperparameters, best metric, duration. */
import type { JobPublic } from "../../client/types";
import { parseTime } from "../../lib/format";
import { higherIsBetter } from "../../lib/metrics";

export const RUN_CATEGORIES = ["training", "evaluation", "lab"] as const;

export function isRun(job: Pick<JobPublic, "category">): boolean {
  return (RUN_CATEGORIES as readonly string[]).includes(job.category);
}

export function datasetOf(params: Record<string, unknown>): string | null {
  for (const k of ["dataset", "data", "dataset_name"]) if (typeof params[k] === "string") return params[k] as string;
  return null;
}

const PREFERRED = ["lr", "learning_rate", "epochs", "steps", "max_steps", "batch_size", "hidden", "hidden_sizes", "model", "n_components", "k", "C"];

/** Up to `n` parameters worth a glance, preferred names first, then the other scalars. */
export function keyHyperparameters(params: Record<string, unknown>, n = 4): [string, unknown][] {
  const scalar = (v: unknown) => ["number", "string", "boolean"].includes(typeof v) || Array.isArray(v);
  const skip = new Set(["dataset", "data", "dataset_name", "seed"]);
  const entries = Object.entries(params).filter(([k, v]) => !skip.has(k) && scalar(v));
  const preferred = PREFERRED.flatMap((k) => entries.filter(([key]) => key === k));
  const rest = entries.filter(([k]) => !PREFERRED.includes(k));
  return [...preferred, ...rest].slice(0, n);
}

/** The numbers of a job result, flattened one level deep ({"final": {"val/loss": 1}} too). */
export function resultNumbers(result: Record<string, unknown> | null | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  if (!result) return out;
  for (const [k, v] of Object.entries(result)) {
    if (typeof v === "number" && Number.isFinite(v)) out[k] = v;
    else if (v && typeof v === "object" && !Array.isArray(v)) {
      for (const [k2, v2] of Object.entries(v as Record<string, unknown>))
        if (typeof v2 === "number" && Number.isFinite(v2) && !(k2 in out)) out[k2] = v2;
    }
  }
  return out;
}

// counts and settings in a result, not measures of quality
const NOT_A_METRIC = /epoch|step|iteration|n_|count|size|seed|stopped|components/i;

/**
 * The metric a run is judged by, from its result: validation accuracy, then validation loss,
 * then any accuracy, then other measures of fit (loss, error, score, inertia).
 */
export function bestMetric(result: Record<string, unknown> | null | undefined): [string, number] | null {
  const nums = resultNumbers(result);
  const keys = Object.keys(nums).filter((k) => !NOT_A_METRIC.test(k));
  const order = [
    (k: string) => /val.*acc/i.test(k),
    (k: string) => /val.*loss/i.test(k),
    (k: string) => /^val[/_]/i.test(k),
    (k: string) => /^test[/_]/i.test(k),
    (k: string) => /acc/i.test(k),
    (k: string) => /loss|mse|error|score|inertia|rand|ratio/i.test(k),
  ];
  for (const match of order) {
    const hit = keys.find(match);
    if (hit) return [hit, nums[hit]!];
  }
  return null;
}

/** Seconds from start to finish (or to `now` while running). */
export function durationOf(job: Pick<JobPublic, "started_at" | "finished_at">, now = Date.now()): number | null {
  const start = parseTime(job.started_at);
  if (start == null) return null;
  const end = parseTime(job.finished_at) ?? now;
  return (end - start) / 1000;
}

export { higherIsBetter };

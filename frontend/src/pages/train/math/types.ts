/** What a lab kind's formulas are made of, and the run values they may be bound to. */
import type { MetricPoint } from "../../../lib/metrics";

/** A run's values as the math section sees them. Every field may be empty: the learn page
 * passes only a kind's default parameters, a run that just started has no metrics yet. */
export interface MathInput {
  params: Record<string, unknown>;
  /** the newest value of every metric key */
  metrics: Record<string, number>;
  /** the step of the newest metric event, if any */
  step: number | null;
  /** every metric point, for values reported once per step of something (PCA's axes) */
  points: readonly MetricPoint[];
  /** the job's result, once it has succeeded */
  result: Record<string, unknown> | null;
  /** the newest JSON artifact the kind asked for (`KindMath.artifact`), once loaded */
  artifact: unknown;
}

export const EMPTY_INPUT: MathInput = { params: {}, metrics: {}, step: null, points: [], result: null, artifact: null };

/**
 * model: what the kind computes; loss: what training lowers (or the objective a classic method
 * optimizes); update: one step of training; solution: a closed form or what a library solves;
 * live: a formula with the run's numbers in it.
 */
export type Role = "model" | "loss" | "update" | "solution" | "live";
export const ROLES: readonly Role[] = ["model", "loss", "update", "solution", "live"];

export interface Formula {
  /** the explanatory sentence is `math.<kind id>.<id>` (or `note` when given) */
  id: string;
  role: Role;
  /** TeX built from our own strings and the run's numbers (through `num` and `text`) */
  tex: string;
  /** an i18n key shared between kinds (the optimizers' sentences) instead of the kind's own */
  note?: string;
  /** interpolation values for the sentence */
  vars?: Record<string, string | number>;
}

/** An artifact event's payload as the math section needs it. */
export interface ArtifactRef {
  name: string;
  url?: string | null;
  step?: number | null;
  seq: number;
}

export interface KindMath {
  /** Learn-page anchors of concepts the kind builds on, beside its own section ("forward"). */
  concepts?: readonly string[];
  /** The JSON artifact whose data the live formulas read: picked from the run's artifacts. */
  artifact?: (artifacts: readonly ArtifactRef[]) => ArtifactRef | null;
  formulas: (input: MathInput) => Formula[];
}

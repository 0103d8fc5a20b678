/**
 * The X/Y/Z plot's pure parts: axis values typed as text (AUTOMATIC1111's forms), the cell
 * count, the request body of POST /api/v1/jobs {kind: "xyz"}, and its 422s per axis.
 */
import type { GenerationCreate } from "../../client/types";

/** The fields an axis can vary (backend/difflab/diffusion/xyz.py AxisField). */
export type AxisField =
  | "seed"
  | "steps"
  | "guidance_scale"
  | "sampler"
  | "scheduler"
  | "strength"
  | "model"
  | "prompt_sr"
  | "clip_skip"
  | "subseed_strength"
  | "hr_strength"
  | "eta"
  | "lora"
  | "lora_weight";

export const AXIS_FIELDS: AxisField[] = [
  "seed",
  "steps",
  "guidance_scale",
  "sampler",
  "scheduler",
  "model",
  "prompt_sr",
  "strength",
  "clip_skip",
  "subseed_strength",
  "hr_strength",
  "eta",
  "lora",
  "lora_weight",
];

const INT_FIELDS: ReadonlySet<AxisField> = new Set(["seed", "steps", "clip_skip"]);
const FLOAT_FIELDS: ReadonlySet<AxisField> = new Set([
  "guidance_scale",
  "strength",
  "subseed_strength",
  "hr_strength",
  "eta",
  "lora_weight",
]);

/** The fields that vary the first LoRA of the base request (the API refuses them without one). */
export function variesLora(field: AxisField | ""): boolean {
  return field === "lora" || field === "lora_weight";
}

export type AxisValue = string | number;
export type AxisName = "x" | "y" | "z";
export const AXIS_NAMES: AxisName[] = ["x", "y", "z"];

/** An axis as the form holds it: a field ("" = unused) and its values as typed. */
export interface AxisInput {
  field: AxisField | "";
  text: string;
}

export const DEFAULT_AXES: Record<AxisName, AxisInput> = {
  x: { field: "steps", text: "10, 20, 30" },
  y: { field: "", text: "" },
  z: { field: "", text: "" },
};

export function isNumeric(field: AxisField): boolean {
  return INT_FIELDS.has(field) || FLOAT_FIELDS.has(field);
}

/** Values separated by commas; a value in double quotes may hold commas ("a, b"; "" is a quote). */
export function splitValues(text: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quoted = false; // inside quotes now
  let wasQuoted = false; // this value was quoted (kept as it is, even empty)
  const end = () => {
    if (wasQuoted || cur.trim() !== "") out.push(wasQuoted ? cur : cur.trim());
    cur = "";
    wasQuoted = false;
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"' && !wasQuoted && cur.trim() === "") {
      quoted = true;
      wasQuoted = true;
      cur = "";
    } else if (c === ",") end();
    else if (!(wasQuoted && /\s/.test(c))) cur += c;
  }
  end();
  return out;
}

const NUM = String.raw`[-+]?\d+(?:\.\d+)?`;
// A1111's ranges: 1-5 (integers), 1-5 (+2), 1-5 (-0.5), 1-5 [3] (3 values, evenly spaced)
const RANGE = new RegExp(String.raw`^(${NUM})\s*-\s*(${NUM})(?:\s*\(\s*([-+]\s*\d+(?:\.\d+)?)\s*\)|\s*\[\s*(\d+)\s*\])?$`);
const PLAIN = new RegExp(String.raw`^${NUM}$|^[-+]?\d*\.\d+$|^[-+]?\d+(?:\.\d*)?[eE][-+]?\d+$`);
const MAX_RANGE = 1000;

export interface ParsedAxis {
  values: AxisValue[];
  /** why the text is not a list of values for the field; null: it is */
  error: string | null;
}

function round(n: number): number {
  return Number(n.toPrecision(12));
}

function expandRange(m: RegExpExecArray, int: boolean): number[] | string {
  const a = Number(m[1]);
  const b = Number(m[2]);
  if (m[4] !== undefined) {
    const n = Number(m[4]);
    if (n < 1 || n > MAX_RANGE) return `[${m[4]}]: between 1 and ${MAX_RANGE} values`;
    const vals = Array.from({ length: n }, (_, i) => (n === 1 ? a : a + ((b - a) * i) / (n - 1)));
    return vals.map((v) => (int ? Math.trunc(v) : round(v)));
  }
  if (m[3] === undefined && !int) return "a range of decimals needs a step, (+0.5), or a count, [5]";
  const step = m[3] === undefined ? (b >= a ? 1 : -1) : Number(m[3].replace(/\s/g, ""));
  if (step === 0 || Math.sign(step) !== Math.sign(b - a || step)) return `${m[0]}: the step does not lead from ${a} to ${b}`;
  const n = Math.floor(round((b - a) / step)) + 1;
  if (n > MAX_RANGE) return `${m[0]}: more than ${MAX_RANGE} values`;
  const vals = Array.from({ length: n }, (_, i) => round(a + i * step));
  return int && vals.some((v) => !Number.isInteger(v)) ? `${m[0]}: not whole numbers` : vals;
}

/**
 * The values of an axis from its text: comma-separated, numbers for numeric fields (integer
 * fields also take ranges such as 1-5 or 10-30 (+10), any numeric field 0-1 [5]), text as
 * typed for the others (double quotes keep a comma inside a value).
 */
export function parseAxisValues(field: AxisField, text: string): ParsedAxis {
  const parts = splitValues(text);
  if (parts.length === 0) return { values: [], error: "no values" };
  if (!isNumeric(field)) return { values: parts, error: null };
  const int = INT_FIELDS.has(field);
  const values: number[] = [];
  for (const part of parts) {
    const range = RANGE.exec(part);
    if (range && !PLAIN.test(part)) {
      const got = expandRange(range, int);
      if (typeof got === "string") return { values: [], error: got };
      values.push(...got);
      continue;
    }
    const n = PLAIN.test(part) ? Number(part) : NaN;
    if (!Number.isFinite(n)) return { values: [], error: `"${part}" is not a number` };
    if (int && !Number.isInteger(n)) return { values: [], error: `"${part}" is not a whole number` };
    values.push(n);
  }
  return { values, error: null };
}

export interface AxisSpec {
  field: AxisField;
  values: AxisValue[];
}

/** The axes in use, parsed; errors per axis (an axis with a field and bad or no values). */
export function parseAxes(axes: Record<AxisName, AxisInput>): {
  specs: Partial<Record<AxisName, AxisSpec>>;
  errors: Partial<Record<AxisName, string>>;
} {
  const specs: Partial<Record<AxisName, AxisSpec>> = {};
  const errors: Partial<Record<AxisName, string>> = {};
  const seen = new Map<AxisField, AxisName>();
  for (const name of AXIS_NAMES) {
    const { field, text } = axes[name];
    if (!field) continue;
    const parsed = parseAxisValues(field, text);
    if (parsed.error) errors[name] = parsed.error;
    else if (seen.has(field)) errors[name] = `${field} is already on ${seen.get(field)!.toUpperCase()}`;
    else specs[name] = { field, values: parsed.values };
    seen.set(field, name);
  }
  if (!axes.x.field) errors.x = "choose a field for X";
  return { specs, errors };
}

/** How many cells the axes make: the product of their lengths (0 without X). */
export function cellCount(specs: Partial<Record<AxisName, AxisSpec>>): number {
  if (!specs.x) return 0;
  return AXIS_NAMES.reduce((n, a) => n * (specs[a]?.values.length ?? 1), 1);
}

export const MAX_CELLS = 100;

/** The body of POST /api/v1/jobs for the plot; the base is a generation request. */
export function xyzJob(base: Partial<GenerationCreate>, specs: Partial<Record<AxisName, AxisSpec>>) {
  // a guidance sweep is refused in a plot: a guidance_scale axis does that
  const { guidance_sweep: _sweep, ...rest } = base;
  return {
    kind: "xyz",
    params: {
      base: rest,
      x: specs.x ?? null,
      y: specs.y ?? null,
      z: specs.z ?? null,
      draw_legend: true,
    },
  };
}

/**
 * A 422's field messages (errors.fieldErrors under ["body", "params"]) split by where they go:
 * "x", "y", "z" (loc params.x...), the rest under "" (the base generation, the whole plot).
 */
export function axisErrors(fields: Record<string, string>): Partial<Record<AxisName | "", string>> {
  const out: Partial<Record<AxisName | "", string>> = {};
  for (const [key, msg] of Object.entries(fields)) {
    const head = key.split(".")[0] ?? "";
    const to: AxisName | "" = head === "x" || head === "y" || head === "z" ? head : "";
    const text = to || !key ? msg : `${key}: ${msg}`;
    out[to] = out[to] ? `${out[to]}; ${text}` : text;
  }
  return out;
}

/** Cell k's place in the grid: x fastest, then y, then z (the server's plot order). */
export function cellCoords(k: number, nx: number, ny: number): { x: number; y: number; z: number } {
  return { x: k % nx, y: Math.floor(k / nx) % ny, z: Math.floor(k / (nx * ny)) };
}

/** A label for value i of an axis ("Steps: 20"; Prompt S/R shows the text alone). */
export function axisLabel(spec: AxisSpec, i: number, fieldName: (f: AxisField) => string): string {
  const v = spec.values[i];
  return spec.field === "prompt_sr" ? String(v) : `${fieldName(spec.field)}: ${String(v)}`;
}

const AXES_KEY = "difflab.studio.xyz.v1";

/** The axes as last typed (kept in localStorage like the form's settings). */
export function loadAxes(): Record<AxisName, AxisInput> {
  try {
    const raw = localStorage.getItem(AXES_KEY);
    if (raw) {
      const got = JSON.parse(raw) as Partial<Record<AxisName, AxisInput>>;
      const ok = (a: AxisInput | undefined): a is AxisInput =>
        !!a && typeof a.text === "string" && (a.field === "" || AXIS_FIELDS.includes(a.field));
      return {
        x: ok(got.x) && got.x.field ? got.x : DEFAULT_AXES.x,
        y: ok(got.y) ? got.y : DEFAULT_AXES.y,
        z: ok(got.z) ? got.z : DEFAULT_AXES.z,
      };
    }
  } catch {
    // unreadable storage: the defaults
  }
  return DEFAULT_AXES;
}

export function saveAxes(axes: Record<AxisName, AxisInput>): void {
  try {
    localStorage.setItem(AXES_KEY, JSON.stringify(axes));
  } catch {
    // storage full or unavailable
  }
}

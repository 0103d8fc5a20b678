/**
 * AUTOMATIC1111's "parameters" infotext, parsed as backend/difflab/diffusion/infotext.py
 * parse_infotext does (which follows A1111's parse_generation_parameters):
 *
 *     a red circle on the left
 *     Negative prompt: blurry
 *     Steps: 25, Sampler: DPM++ 2M, CFG scale: 7, Seed: 1, Size: 64x64, Model: house
 *
 * The last line is the parameters only if it holds at least three "Key: value" pairs; a value
 * holding a comma, colon or newline is a JSON string.
 */

export interface Infotext {
  prompt: string;
  negative_prompt: string;
  /** "Steps": "25", "Size": "64x64", ... (values as text) */
  params: Record<string, string>;
}

// A1111's re_param_code; Python's \w is Unicode-aware, hence the property classes.
const PARAM = /\s*([\p{L}\p{N}_][\p{L}\p{N}_ \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)/gu;
const NEGATIVE = "Negative prompt:";

function unquote(value: string): string {
  if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
    try {
      return String(JSON.parse(value));
    } catch {
      return value;
    }
  }
  return value;
}

function pairs(line: string): [string, string][] {
  return [...line.matchAll(PARAM)].map((m) => [m[1]!, m[2]!]);
}

export function parseInfotext(text: string): Infotext {
  const lines = text.trim().split("\n");
  let last = lines.pop() ?? "";
  if (pairs(last).length < 3) {
    // no parameter line: all of it is prompt
    lines.push(last);
    last = "";
  }
  const prompt: string[] = [];
  const negative: string[] = [];
  let inNegative = false;
  for (let line of lines) {
    line = line.trim();
    if (line.startsWith(NEGATIVE)) {
      inNegative = true;
      line = line.slice(NEGATIVE.length).trim();
    }
    (inNegative ? negative : prompt).push(line);
  }
  const params: Record<string, string> = {};
  for (const [key, value] of pairs(last)) params[key] = unquote(value);
  return { prompt: prompt.join("\n"), negative_prompt: negative.join("\n"), params };
}

/** "7.0" -> "7", as the backend's format_value writes numbers. */
function formatValue(value: unknown): string {
  if (typeof value === "boolean") return value ? "True" : "False";
  return String(value);
}

function quote(value: string): string {
  return /[,\n:]/.test(value) ? JSON.stringify(value) : value;
}

/** An infotext from key/value pairs in display order; null and undefined values are left out. */
export function formatInfotext(prompt: string, negative: string, params: Record<string, unknown>): string {
  const line = Object.entries(params)
    .filter(([, v]) => v != null && v !== "")
    .map(([k, v]) => `${k}: ${quote(formatValue(v))}`)
    .join(", ");
  const neg = negative ? `\n${NEGATIVE} ${negative}` : "";
  return `${prompt}${neg}\n${line}`.trim();
}

/** Small formatting helpers shared by the pages. */

export function parseTime(iso: string | null | undefined): number | null {
  if (!iso) return null;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? null : ms;
}

/** 75 -> "1m 15s", 3700 -> "1h 1m", 4.2 -> "4s" */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds == null || !Number.isFinite(seconds) || seconds < 0) return "–";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  return `${h}h ${m % 60}m`;
}

export function formatDateTime(iso: string | null | undefined, locale?: string): string {
  const ms = parseTime(iso);
  if (ms == null) return "–";
  return new Date(ms).toLocaleString(locale, {
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  });
}

/** A number short enough for a table cell: 4 significant digits, exponent when tiny or huge. */
export function formatNumber(value: unknown): string {
  if (typeof value !== "number") return value == null ? "–" : String(value);
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value) && Math.abs(value) < 1e9) return String(value);
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) return value.toExponential(2);
  return String(Number(value.toPrecision(4)));
}

/** Any JSON value as short text for a parameter table. */
export function formatValue(value: unknown): string {
  if (typeof value === "number") return formatNumber(value);
  if (typeof value === "string") return value;
  if (value == null) return "–";
  return JSON.stringify(value);
}

/**
 * Remaining time from the work done so far: with `done` of `total` finished after `elapsed`
 * seconds, the rest takes elapsed / done * (total - done) at the same rate.
 */
export function estimateRemaining(done: number, total: number, elapsedS: number): number | null {
  if (done <= 0 || total <= 0 || elapsedS <= 0 || done > total) return null;
  return (elapsedS / done) * (total - done);
}

export function randomSeed(): number {
  // uniform over [0, 2^32): the seed range torch.Generator.manual_seed takes here
  const buf = new Uint32Array(1);
  crypto.getRandomValues(buf);
  return buf[0]!;
}

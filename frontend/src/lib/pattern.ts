/**
 * Fill a Python format pattern such as "attention/step_{step:03d}_tok_{tok:02d}.png" with
 * values: {name} and {name:0Nd} (zero-padded integer) are supported, which is what the
 * generation job writes.
 */
export function fillPattern(pattern: string, values: Record<string, number | string>): string {
  return pattern.replace(/\{(\w+)(?::0?(\d+)d)?\}/g, (whole, name: string, width?: string) => {
    const v = values[name];
    if (v === undefined) return whole;
    const text = String(v);
    return width ? text.padStart(Number(width), "0") : text;
  });
}

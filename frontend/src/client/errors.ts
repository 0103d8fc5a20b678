/** Turning the API's error bodies ({detail: str} or FastAPI's 422 list) into text for people. */

export interface ValidationIssue {
  loc: (string | number)[];
  msg: string;
  type?: string;
}

function isIssueList(detail: unknown): detail is ValidationIssue[] {
  return (
    Array.isArray(detail) &&
    detail.every((d) => typeof d === "object" && d !== null && "loc" in d && "msg" in d)
  );
}

/** One plain sentence for any error the API (or the network) produced. */
export function errorMessage(error: unknown, fallback = "Request failed"): string {
  if (error == null) return fallback;
  if (typeof error === "string") return error;
  if (error instanceof Error) return error.message || fallback;
  if (typeof error === "object" && "detail" in error) {
    const detail = (error as { detail: unknown }).detail;
    if (typeof detail === "string") return detail;
    if (isIssueList(detail)) {
      return detail.map((d) => `${d.loc.filter((p) => p !== "body").join(".")}: ${d.msg}`).join("; ");
    }
  }
  return fallback;
}

/**
 * Field-level messages from a 422 body. A prefix is the part of `loc` before the field name,
 * e.g. ["body", "params"] for the params of POST /jobs; the first prefix that matches wins.
 * Issues under no prefix (or at a prefix itself) are returned under the key "" so the form can
 * show them at its top.
 */
export function fieldErrors(
  error: unknown,
  prefixes: string[][] = [["body"]],
): Record<string, string> {
  const out: Record<string, string> = {};
  if (typeof error !== "object" || error === null || !("detail" in error)) return out;
  const detail = (error as { detail: unknown }).detail;
  if (!isIssueList(detail)) return out;
  for (const issue of detail) {
    const loc = issue.loc.map(String);
    const prefix = prefixes.find(
      (p) => loc.length > p.length && p.every((part, i) => loc[i] === part),
    );
    const key = prefix ? loc.slice(prefix.length).join(".") : "";
    const msg = prefix ? issue.msg : `${loc.filter((p) => p !== "body").join(".")}: ${issue.msg}`;
    out[key] = out[key] ? `${out[key]}; ${msg}` : msg;
  }
  return out;
}

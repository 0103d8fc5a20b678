import { useEffect, useState } from "react";

/**
 * A JSON artifact by the URL the API gave for it in an artifact event (the route is
 * GET /api/v1/jobs/{job_id}/artifacts/{name}; the file is served as it was stored).
 */
export function useJson<T>(url: string | null): { data: T | null; error: string | null } {
  const [state, setState] = useState<{ data: T | null; error: string | null }>({ data: null, error: null });
  useEffect(() => {
    if (!url) return;
    let cancelled = false;
    setState({ data: null, error: null });
    fetch(url, { credentials: "include", headers: { Accept: "application/json" } })
      .then(async (r) => {
        if (!r.ok) throw new Error(`${r.status} ${r.statusText}`);
        return (await r.json()) as T;
      })
      .then((data) => !cancelled && setState({ data, error: null }))
      .catch((e: unknown) => !cancelled && setState({ data: null, error: e instanceof Error ? e.message : String(e) }));
    return () => {
      cancelled = true;
    };
  }, [url]);
  return state;
}

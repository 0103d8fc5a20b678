/** The gallery's filters and page, as GET /api/v1/generations query parameters. */

export interface GalleryFilters {
  /** a case-insensitive substring of the prompt */
  q: string;
  model: string;
  sampler: string;
  /** "WxH" or "" */
  size: string;
  /** dates as an <input type="date"> gives them (YYYY-MM-DD, local), or "" */
  from: string;
  to: string;
}

export const NO_FILTERS: GalleryFilters = { q: "", model: "", sampler: "", size: "", from: "", to: "" };

export interface GalleryQuery {
  offset: number;
  limit: number;
  q?: string;
  model?: string;
  sampler?: string;
  size?: string;
  since?: string;
  until?: string;
}

/** Local midnight of a YYYY-MM-DD date plus `days`, as an ISO instant; null for anything else. */
export function localMidnight(date: string, days = 0): string | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  if (!m) return null;
  const d = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + days);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

/** Empty filters are left out; "to" includes that whole day (until the next local midnight). */
export function galleryQuery(f: GalleryFilters, offset: number, limit: number): GalleryQuery {
  const query: GalleryQuery = { offset, limit };
  const q = f.q.trim();
  if (q) query.q = q;
  if (f.model) query.model = f.model;
  if (f.sampler) query.sampler = f.sampler;
  const size = f.size.replace(/\s+/g, "");
  if (size) query.size = size;
  const since = f.from ? localMidnight(f.from) : null;
  if (since) query.since = since;
  const until = f.to ? localMidnight(f.to, 1) : null;
  if (until) query.until = until;
  return query;
}

export function hasFilters(f: GalleryFilters): boolean {
  return Object.values(f).some((v) => v.trim() !== "");
}

/** "13–24 of 40": the 1-based range a page shows; a page past the end shows 0 of count. */
export function pageRange(offset: number, shown: number, count: number): { first: number; last: number } {
  if (shown === 0) return { first: 0, last: 0 };
  return { first: offset + 1, last: Math.min(count, offset + shown) };
}

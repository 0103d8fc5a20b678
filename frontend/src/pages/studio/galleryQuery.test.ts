import { describe, expect, it } from "vitest";
import { galleryQuery, hasFilters, localMidnight, NO_FILTERS, pageRange } from "./galleryQuery";

describe("gallery query", () => {
  it("leaves empty filters out", () => {
    expect(galleryQuery(NO_FILTERS, 0, 24)).toEqual({ offset: 0, limit: 24 });
    expect(hasFilters(NO_FILTERS)).toBe(false);
  });

  it("sends the filters given, the end date including its whole day", () => {
    const f = { q: "  red ", model: "house", sampler: "Euler a", size: " 64 x 48", from: "2026-03-01", to: "2026-03-02" };
    expect(hasFilters(f)).toBe(true);
    expect(galleryQuery(f, 24, 24)).toEqual({
      offset: 24,
      limit: 24,
      q: "red",
      model: "house",
      sampler: "Euler a",
      size: "64x48",
      since: new Date(2026, 2, 1).toISOString(),
      until: new Date(2026, 2, 3).toISOString(),
    });
    expect(localMidnight("2026-12-31", 1)).toBe(new Date(2027, 0, 1).toISOString());
    expect(localMidnight("yesterday")).toBeNull();
  });

  it("says which rows a page shows", () => {
    expect(pageRange(0, 24, 40)).toEqual({ first: 1, last: 24 });
    expect(pageRange(24, 16, 40)).toEqual({ first: 25, last: 40 });
    expect(pageRange(48, 0, 40)).toEqual({ first: 0, last: 0 });
  });
});

import { describe, expect, it } from "vitest";
import { itemPosition, itemRect, itemStyle, tokenCrop } from "./batchCrop";

/** Where CSS object-fit: cover + object-position puts the picture's left edge, in box widths. */
function leftEdge(index: number, count: number): number {
  const box = 1;
  const picture = count * box; // scaled to the box's height: B boxes wide
  return (box - picture) * (itemPosition(index, count) / 100);
}

describe("batch item crop", () => {
  it("shows item i of B by shifting the picture i boxes left", () => {
    for (const count of [2, 3, 4, 16]) {
      for (let i = 0; i < count; i++) expect(leftEdge(i, count)).toBeCloseTo(-i);
    }
    expect(itemPosition(0, 1)).toBe(0);
    expect(itemPosition(7, 4)).toBe(100); // clamped to the last item
    expect(itemPosition(-1, 4)).toBe(0);
  });

  it("gives the pixel rectangle of an item and the img style", () => {
    expect(itemRect(2, 4, 256, 64)).toEqual({ x: 128, y: 0, width: 64, height: 64 });
    expect(itemRect(0, 1, 64, 48)).toEqual({ x: 0, y: 0, width: 64, height: 48 });
    expect(itemStyle(0, 1)).toEqual({});
    expect(itemStyle(1, 3, 64, 48)).toEqual({ aspectRatio: "64 / 48", objectFit: "cover", objectPosition: "50% 0%" });
  });

  it("places token i's map of a padded row in the box", () => {
    // 3 maps 8 wide with 1 column either side: the row is 30 columns, map 1 starts at 11
    const crop = tokenCrop(1, 3, 8, 1);
    expect(parseFloat(crop.width)).toBeCloseTo((30 / 8) * 100);
    expect(parseFloat(crop.left)).toBeCloseTo((-11 / 8) * 100);
    // no padding: plain tiles, one box per map
    expect(tokenCrop(2, 4, 8, 0)).toEqual({ width: "400%", left: "-200%" });
  });
});

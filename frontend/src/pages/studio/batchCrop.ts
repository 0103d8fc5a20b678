/**
 * A step preview of a batch is one PNG with the B items side by side (steps/xt_XXX.png is B
 * images wide). Item i is shown by an <img> in a box of one item's aspect ratio with
 * object-fit: cover (the picture scales to the box's height, so it is B boxes wide) and
 * object-position x = i / (B - 1) * 100%: CSS places the point x% of the picture at x% of the
 * box, an offset of (box - B * box) * x = -i boxes.
 *
 * A step's attention maps are one PNG too: the tokens' maps side by side, each with edge
 * columns repeated beside it (so smooth scaling never blends in the next map); tokenCrop
 * places such a row in a box that one map fills.
 */
import type { CSSProperties } from "react";

export function itemPosition(index: number, count: number): number {
  if (count <= 1) return 0;
  const i = Math.min(Math.max(0, Math.trunc(index)), count - 1);
  return (i / (count - 1)) * 100;
}

/** The left edge of item i in the picture, in its pixels (for a canvas crop). */
export function itemRect(
  index: number,
  count: number,
  naturalWidth: number,
  naturalHeight: number,
): { x: number; y: number; width: number; height: number } {
  const n = Math.max(1, count);
  const width = naturalWidth / n;
  return { x: Math.min(Math.max(0, index), n - 1) * width, y: 0, width, height: naturalHeight };
}

/** Style of an <img> that shows item `index` of `count`; item width / height gives the box. */
export function itemStyle(index: number, count: number, width?: number | null, height?: number | null): CSSProperties {
  if (count <= 1) return {};
  return {
    aspectRatio: width && height ? `${width} / ${height}` : "1 / 1",
    objectFit: "cover",
    objectPosition: `${itemPosition(index, count)}% 0%`,
  };
}

/** Where token `index`'s map lies in a row of `count` maps `width` columns wide with `pad`
 * columns either side of each: the row's width and left offset, in percent of the box one map
 * fills. */
export function tokenCrop(index: number, count: number, width: number, pad: number): { width: string; left: string } {
  const tile = width + 2 * pad;
  return { width: `${((count * tile) / width) * 100}%`, left: `${(-(index * tile + pad) / width) * 100}%` };
}

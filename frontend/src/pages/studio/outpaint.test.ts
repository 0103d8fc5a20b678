import { describe, expect, it } from "vitest";
import { RasterCanvas } from "../../test/rasterCanvas";
import { exportMask, type MaskCanvas, type Stroke } from "./mask";
import {
  borderStrokes,
  extendPlan,
  margins,
  outpaint,
  renderExtended,
  sizeAfterExtend,
  sizeProblem,
  type Blit,
  type ExtendCanvas,
} from "./outpaint";

const TINY = { native: 64, min: 32, max: 128, multiple: 8 };

/** The mask the strokes export to, as rows of "#" (white, repainted) and "." (kept). */
async function maskRows(strokes: Stroke[], width: number, height: number): Promise<string[]> {
  const canvas = new RasterCanvas();
  await exportMask(strokes, width, height, () => canvas as unknown as MaskCanvas);
  return Array.from({ length: height }, (_, y) =>
    Array.from({ length: width }, (_, x) => (canvas.at(x, y) === 255 ? "#" : ".")).join(""),
  );
}

/** Where each target pixel's colour comes from in the old picture, by running the plan. */
function sourceOf(plan: Blit[], width: number, height: number): ([number, number] | null)[][] {
  const out: ([number, number] | null)[][] = Array.from({ length: height }, () => Array<null>(width).fill(null));
  for (const b of plan)
    for (let y = b.dy; y < b.dy + b.dh; y++)
      for (let x = b.dx; x < b.dx + b.dw; x++)
        out[y]![x] = [b.sx + Math.floor(((x - b.dx) * b.sw) / b.dw), b.sy + Math.floor(((y - b.dy) * b.sh) / b.dh)];
  return out;
}

describe("outpainting", () => {
  it("makes the picture larger on the side asked for", () => {
    expect(outpaint({ width: 64, height: 48 }, [], "right", 32).size).toEqual({ width: 96, height: 48 });
    expect(outpaint({ width: 64, height: 48 }, [], "left", 64).size).toEqual({ width: 128, height: 48 });
    expect(outpaint({ width: 64, height: 48 }, [], "up", 32).size).toEqual({ width: 64, height: 80 });
    expect(outpaint({ width: 64, height: 48 }, [], "down", 128).size).toEqual({ width: 64, height: 176 });
    expect(margins("up", 32)).toEqual({ left: 0, right: 0, top: 32, bottom: 0 });
  });

  it("places the old picture at the left and top extension and stretches its edges outward", () => {
    const size = { width: 4, height: 3 };
    const left = sourceOf(extendPlan(size, margins("left", 2)), 6, 3);
    // the old picture at x 2..5, unchanged; the new columns repeat its first column
    expect(left[1]!.map((p) => p?.join(","))).toEqual(["0,1", "0,1", "0,1", "1,1", "2,1", "3,1"]);
    const down = sourceOf(extendPlan(size, margins("down", 2)), 4, 5);
    expect(down.map((row) => row[3]?.join(","))).toEqual(["3,0", "3,1", "3,2", "3,2", "3,2"]);
    // every new pixel is drawn, and the old picture is drawn first, once
    for (const row of [...left, ...down]) expect(row.every((p) => p !== null)).toBe(true);
    expect(extendPlan(size, margins("right", 8))[0]).toEqual({ sx: 0, sy: 0, sw: 4, sh: 3, dx: 0, dy: 0, dw: 4, dh: 3 });
    expect(extendPlan(size, margins("right", 8))).toHaveLength(2);
  });

  it("paints the new border and a seam into the old picture white in the mask", async () => {
    const size = { width: 8, height: 4 };
    const right = await maskRows(borderStrokes(size, margins("right", 4), 2), 12, 4);
    expect(right).toEqual(Array(4).fill("......######"));
    const up = await maskRows(borderStrokes(size, margins("up", 2), 1), 8, 6);
    expect(up).toEqual(["########", "########", "########", "........", "........", "........"]);
    // the seam never reaches further than the old picture itself
    const wide = await maskRows(borderStrokes({ width: 2, height: 2 }, margins("left", 2), 8), 4, 2);
    expect(wide).toEqual(["####", "####"]);
  });

  it("moves the strokes painted so far with the picture, then adds the border", async () => {
    const dot: Stroke = { erase: false, size: 2, points: [2, 1, 3, 1] };
    const done = outpaint({ width: 6, height: 4 }, [dot], "left", 4, 0);
    expect(done.strokes[0]).toEqual({ erase: false, size: 2, points: [6, 1, 7, 1] });
    expect(done.strokes).toHaveLength(2);
    const rows = await maskRows(done.strokes, 10, 4);
    expect(rows[0]).toBe("####.###..");
    expect(rows[3]).toBe("####......");
    const up = outpaint({ width: 6, height: 4 }, [dot], "up", 8);
    expect(up.strokes[0]!.points).toEqual([2, 9, 3, 9]);
  });

  it("says which sizes a model makes", () => {
    expect(sizeProblem({ width: 96, height: 64 }, TINY)).toBeNull();
    expect(sizeProblem({ width: 160, height: 64 }, TINY)).toBe("tooLarge");
    expect(sizeProblem({ width: 24, height: 64 }, TINY)).toBe("tooSmall");
    expect(sizeProblem({ width: 100, height: 64 }, TINY)).toBe("notMultiple");
  });

  it("follows the extended size from auto only when the model makes it, and keeps a size the user set", () => {
    const auto = { width: null, height: null };
    const followed = sizeAfterExtend(auto, null, { width: 96, height: 64 }, TINY);
    expect(followed).toEqual({ width: 96, height: 64, followed: { width: 96, height: 64 }, outcome: "follows" });
    // still on the size the last extension set: follows the next one
    const again = sizeAfterExtend(followed, followed.followed, { width: 128, height: 64 }, TINY);
    expect(again).toMatchObject({ width: 128, height: 64, outcome: "follows" });
    // too large: back to auto (the model's size); the resize mode brings the picture to it
    expect(sizeAfterExtend(again, again.followed, { width: 160, height: 64 }, TINY)).toEqual({
      width: null,
      height: null,
      followed: null,
      outcome: "tooLarge",
    });
    expect(sizeAfterExtend(auto, null, { width: 100, height: 64 }, TINY).outcome).toBe("notMultiple");
    expect(sizeAfterExtend(auto, null, { width: 96, height: 64 }, undefined)).toMatchObject({ width: null, outcome: "kept" });
    // a size the user chose stays
    expect(sizeAfterExtend({ width: 64, height: 64 }, null, { width: 96, height: 64 }, TINY)).toEqual({
      width: 64,
      height: 64,
      followed: null,
      outcome: "kept",
    });
  });

  it("draws the plan without smoothing onto a canvas of the new size and encodes a PNG", async () => {
    const calls: number[][] = [];
    const ctx = { imageSmoothingEnabled: true, drawImage: (_: unknown, ...args: number[]) => void calls.push(args) };
    const canvas = {
      width: 0,
      height: 0,
      getContext: () => ctx,
      toBlob: (cb: (b: Blob | null) => void, type?: string) => cb(new Blob([], { type })),
    };
    const done = outpaint({ width: 4, height: 4 }, [], "down", 8);
    const blob = await renderExtended({} as CanvasImageSource, done.size, done.plan, () => canvas as unknown as ExtendCanvas);
    expect(blob.type).toBe("image/png");
    expect([canvas.width, canvas.height]).toEqual([4, 12]);
    expect(ctx.imageSmoothingEnabled).toBe(false);
    expect(calls).toEqual([
      [0, 0, 4, 4, 0, 0, 4, 4],
      [0, 3, 4, 1, 0, 4, 4, 8],
    ]);
  });
});

import { describe, expect, it } from "vitest";
import { binarize, exportMask, hasPaint, type MaskCanvas, type Stroke } from "./mask";

/**
 * A canvas that really rasterizes what the mask draws: fillRect, and strokes as round-capped
 * segments (a pixel is covered when its centre is within lineWidth/2 of the path).
 */
class RasterCanvas {
  width = 0;
  height = 0;
  pixels = new Uint8ClampedArray(0);
  blobType: string | undefined;

  getContext() {
    const canvas = this;
    let path: [number, number][] = [];
    const rgb = (style: unknown) => (style === "#fff" ? 255 : 0);
    const paint = (covered: (x: number, y: number) => boolean, v: number) => {
      if (canvas.pixels.length !== canvas.width * canvas.height * 4) canvas.pixels = new Uint8ClampedArray(canvas.width * canvas.height * 4);
      for (let y = 0; y < canvas.height; y++)
        for (let x = 0; x < canvas.width; x++)
          if (covered(x + 0.5, y + 0.5)) canvas.pixels.set([v, v, v, 255], (y * canvas.width + x) * 4);
    };
    const ctx = {
      fillStyle: "" as unknown,
      strokeStyle: "" as unknown,
      lineWidth: 1,
      lineCap: "butt",
      lineJoin: "miter",
      fillRect: (x0: number, y0: number, w: number, h: number) =>
        paint((x, y) => x >= x0 && x < x0 + w && y >= y0 && y < y0 + h, rgb(ctx.fillStyle)),
      beginPath: () => void (path = []),
      moveTo: (x: number, y: number) => void path.push([x, y]),
      lineTo: (x: number, y: number) => void path.push([x, y]),
      stroke: () => {
        const r = ctx.lineWidth / 2;
        const near = (px: number, py: number) =>
          path.some(([ax, ay], i) => {
            const [bx, by] = path[i + 1] ?? [ax, ay];
            const len2 = (bx - ax) ** 2 + (by - ay) ** 2;
            const t = len2 ? Math.max(0, Math.min(1, ((px - ax) * (bx - ax) + (py - ay) * (by - ay)) / len2)) : 0;
            return Math.hypot(px - (ax + t * (bx - ax)), py - (ay + t * (by - ay))) <= r;
          });
        paint(near, rgb(ctx.strokeStyle));
      },
      getImageData: () => ({ data: new Uint8ClampedArray(canvas.pixels) }),
      putImageData: (image: { data: Uint8ClampedArray }) => void (canvas.pixels = new Uint8ClampedArray(image.data)),
    };
    return ctx;
  }

  toBlob(callback: (blob: Blob | null) => void, type?: string) {
    this.blobType = type;
    callback(new Blob([this.pixels], { type }));
  }

  at(x: number, y: number): number {
    return this.pixels[(y * this.width + x) * 4]!;
  }
}

describe("inpainting mask", () => {
  it("is a black-and-white PNG of the init image's size, white where painted, black where erased", async () => {
    const canvas = new RasterCanvas();
    const strokes: Stroke[] = [
      { erase: false, size: 2, points: [0, 3, 8, 3] }, // a line across rows 2 and 3
      { erase: true, size: 2, points: [4, 3] }, // a click: a dot erased in its middle
    ];
    const blob = await exportMask(strokes, 8, 6, () => canvas as unknown as MaskCanvas);

    expect(blob.type).toBe("image/png");
    expect(canvas.blobType).toBe("image/png");
    expect([canvas.width, canvas.height]).toEqual([8, 6]);
    expect([canvas.at(0, 2), canvas.at(1, 3), canvas.at(7, 3)]).toEqual([255, 255, 255]);
    expect([canvas.at(3, 2), canvas.at(4, 3)]).toEqual([0, 0]); // erased
    expect([canvas.at(0, 0), canvas.at(5, 5)]).toEqual([0, 0]); // never painted
    const values = new Set(canvas.pixels.filter((_, i) => i % 4 !== 3));
    expect([...values].sort()).toEqual([0, 255]);
    expect(canvas.pixels.filter((_, i) => i % 4 === 3).every((a) => a === 255)).toBe(true);
  });

  it("turns antialiased edges into black or white, opaque", () => {
    const rgba = new Uint8ClampedArray([127, 127, 127, 40, 128, 128, 128, 200, 0, 0, 0, 0, 255, 255, 255, 255]);
    binarize(rgba);
    expect([...rgba]).toEqual([0, 0, 0, 255, 255, 255, 255, 255, 0, 0, 0, 255, 255, 255, 255, 255]);
  });

  it("counts only brush strokes as something to repaint", () => {
    expect(hasPaint([])).toBe(false);
    expect(hasPaint([{ erase: true, size: 4, points: [1, 1] }])).toBe(false);
    expect(hasPaint([{ erase: false, size: 4, points: [1, 1] }])).toBe(true);
  });
});

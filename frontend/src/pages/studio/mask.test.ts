import { describe, expect, it } from "vitest";
import { RasterCanvas } from "../../test/rasterCanvas";
import { binarize, exportMask, hasPaint, type MaskCanvas, type Stroke } from "./mask";

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

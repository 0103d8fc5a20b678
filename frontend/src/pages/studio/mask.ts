/**
 * The inpainting mask: strokes painted over the init image, in its pixel coordinates, and their
 * export as the PNG the API takes (POST /api/v1/images, kind=mask): the init image's size, white
 * where the picture is repainted, black where it is kept. "Invert" is not baked in: it is sent as
 * mask_invert, so the file is always what was painted.
 */

export interface Stroke {
  /** the eraser paints black (keep) over earlier strokes */
  erase: boolean;
  /** line width in image pixels */
  size: number;
  /** x0, y0, x1, y1, … in image pixels; a click is one point, a dot */
  points: number[];
}

/**
 * The points to stroke (Konva's Line `points`). A canvas skips zero-length segments, caps and
 * all, so a dot is drawn as a segment too short to see, whose round caps make the disc.
 */
export function linePoints(points: readonly number[]): number[] {
  if (points.length !== 2) return [...points];
  const [x, y] = points as [number, number];
  return [x, y, x + 0.01, y];
}

/** The part of a 2D canvas context the mask is drawn with. */
export type MaskContext = Pick<
  CanvasRenderingContext2D,
  "fillStyle" | "strokeStyle" | "lineWidth" | "lineCap" | "lineJoin" | "fillRect" | "beginPath" | "moveTo" | "lineTo" | "stroke"
>;

/** Draw the mask, black background then each stroke in order, onto a width x height context. */
export function drawMask(ctx: MaskContext, strokes: readonly Stroke[], width: number, height: number): void {
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, width, height);
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  for (const s of strokes) {
    if (s.points.length < 2) continue;
    ctx.strokeStyle = s.erase ? "#000" : "#fff";
    ctx.lineWidth = s.size;
    const points = linePoints(s.points);
    ctx.beginPath();
    ctx.moveTo(points[0]!, points[1]!);
    for (let i = 2; i + 1 < points.length; i += 2) ctx.lineTo(points[i]!, points[i + 1]!);
    ctx.stroke();
  }
}

/** Antialiased edges to pure black or white, fully opaque (RGBA pixels, in place). */
export function binarize(rgba: Uint8ClampedArray): void {
  for (let i = 0; i + 3 < rgba.length; i += 4) {
    const v = rgba[i]! >= 128 ? 255 : 0;
    rgba[i] = v;
    rgba[i + 1] = v;
    rgba[i + 2] = v;
    rgba[i + 3] = 255;
  }
}

/** Whether anything would be repainted: some brush stroke (an eraser-only mask is all black). */
export function hasPaint(strokes: readonly Stroke[]): boolean {
  return strokes.some((s) => !s.erase && s.points.length >= 2);
}

/** A canvas the mask can be drawn on; `document.createElement("canvas")` in the browser. */
export interface MaskCanvas {
  width: number;
  height: number;
  getContext(kind: "2d"): (MaskContext & Pick<CanvasRenderingContext2D, "getImageData" | "putImageData">) | null;
  toBlob(callback: (blob: Blob | null) => void, type?: string): void;
}

/** The mask as a black-and-white PNG of the init image's pixel size. */
export function exportMask(
  strokes: readonly Stroke[],
  width: number,
  height: number,
  createCanvas: () => MaskCanvas = () => document.createElement("canvas"),
): Promise<Blob> {
  const canvas = createCanvas();
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext("2d");
  if (!ctx) return Promise.reject(new Error("this browser cannot draw on a canvas"));
  drawMask(ctx, strokes, width, height);
  const pixels = ctx.getImageData(0, 0, width, height);
  binarize(pixels.data);
  ctx.putImageData(pixels, 0, 0);
  return new Promise((resolve, reject) =>
    canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error("the mask could not be encoded"))), "image/png"),
  );
}

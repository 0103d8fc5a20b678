/**
 * Outpainting, done in the browser as inpainting: the init image is extended on one side (the
 * old picture placed inside a larger canvas, the new border filled by stretching its edge
 * pixels), and the new border, plus a few pixels into the old picture so the seam is redrawn
 * too, is painted white in the mask. The larger picture is uploaded as the new init image; the
 * API only ever sees an ordinary inpainting request.
 */
import type { Stroke } from "./mask";

export type Side = "left" | "right" | "up" | "down";
export const SIDES: Side[] = ["left", "right", "up", "down"];
/** How far a click extends, in pixels: multiples of 8, as the models' sizes are. */
export const EXTEND_BY = [32, 64, 128];
/** How far the repainted border reaches into the old picture, so the seam is redrawn. */
export const SEAM = 8;

export interface Size {
  width: number;
  height: number;
}

/** Pixels added on each side. */
export interface Margins {
  left: number;
  right: number;
  top: number;
  bottom: number;
}

export function margins(side: Side, by: number): Margins {
  return {
    left: side === "left" ? by : 0,
    right: side === "right" ? by : 0,
    top: side === "up" ? by : 0,
    bottom: side === "down" ? by : 0,
  };
}

export function extendedSize(size: Size, m: Margins): Size {
  return { width: m.left + size.width + m.right, height: m.top + size.height + m.bottom };
}

/** One drawImage call: the source rectangle (in the old picture) drawn stretched into the target. */
export interface Blit {
  sx: number;
  sy: number;
  sw: number;
  sh: number;
  dx: number;
  dy: number;
  dw: number;
  dh: number;
}

/**
 * How the larger picture is drawn: the old one at (left, top), each new side strip from the
 * old picture's one-pixel edge stretched across it, each new corner from the corner pixel.
 * Drawn without smoothing, a stretched pixel stays its own colour.
 */
export function extendPlan(size: Size, m: Margins): Blit[] {
  const { width: w, height: h } = size;
  // columns and rows of the new canvas: [offset, length, source offset, source length]
  const cols: [number, number, number, number][] = [
    [0, m.left, 0, 1],
    [m.left, w, 0, w],
    [m.left + w, m.right, w - 1, 1],
  ];
  const rows: [number, number, number, number][] = [
    [0, m.top, 0, 1],
    [m.top, h, 0, h],
    [m.top + h, m.bottom, h - 1, 1],
  ];
  // the old picture first, then the border around it
  const plan: Blit[] = [{ sx: 0, sy: 0, sw: w, sh: h, dx: m.left, dy: m.top, dw: w, dh: h }];
  rows.forEach(([dy, dh, sy, sh], r) =>
    cols.forEach(([dx, dw, sx, sw], c) => {
      if ((r !== 1 || c !== 1) && dw > 0 && dh > 0) plan.push({ sx, sy, sw, sh, dx, dy, dw, dh });
    }),
  );
  return plan;
}

/** Strokes moved with the picture: (dx, dy) added to every point. */
export function shiftStrokes(strokes: readonly Stroke[], dx: number, dy: number): Stroke[] {
  if (dx === 0 && dy === 0) return [...strokes];
  return strokes.map((s) => ({ ...s, points: s.points.map((v, i) => v + (i % 2 === 0 ? dx : dy)) }));
}

/**
 * The new border and `seam` pixels into the old picture, as brush strokes over the new canvas:
 * one straight stroke per extended side, as wide as the band, running past both ends of the
 * canvas so its round caps fall outside. As strokes, the band shows in the mask editor like
 * painted ones, can be erased or undone, and is exported with them.
 */
export function borderStrokes(size: Size, m: Margins, seam: number = SEAM): Stroke[] {
  const next = extendedSize(size, m);
  const { width: W, height: H } = next;
  const strokes: Stroke[] = [];
  const band = (by: number, across: number) => by + Math.min(seam, across);
  if (m.left > 0) {
    const s = band(m.left, size.width);
    strokes.push({ erase: false, size: s, points: [s / 2, -s, s / 2, H + s] });
  }
  if (m.right > 0) {
    const s = band(m.right, size.width);
    strokes.push({ erase: false, size: s, points: [W - s / 2, -s, W - s / 2, H + s] });
  }
  if (m.top > 0) {
    const s = band(m.top, size.height);
    strokes.push({ erase: false, size: s, points: [-s, s / 2, W + s, s / 2] });
  }
  if (m.bottom > 0) {
    const s = band(m.bottom, size.height);
    strokes.push({ erase: false, size: s, points: [-s, H - s / 2, W + s, H - s / 2] });
  }
  return strokes;
}

export interface Outpaint {
  size: Size;
  margins: Margins;
  plan: Blit[];
  /** the strokes painted so far, moved with the picture, then the new border */
  strokes: Stroke[];
}

/** Everything one "extend" does to the init image and its mask. */
export function outpaint(size: Size, strokes: readonly Stroke[], side: Side, by: number, seam: number = SEAM): Outpaint {
  const m = margins(side, by);
  return {
    size: extendedSize(size, m),
    margins: m,
    plan: extendPlan(size, m),
    strokes: [...shiftStrokes(strokes, m.left, m.top), ...borderStrokes(size, m, seam)],
  };
}

/** A model's resolution range, as GET /api/v1/models reports it. */
export interface Resolution {
  native: number;
  min: number;
  max: number;
  multiple: number;
}

/** Why a model does not make a size: a side over its max, under its min, or not a multiple. */
export type SizeProblem = "tooLarge" | "tooSmall" | "notMultiple";

export function sizeProblem(size: Size, res: Resolution): SizeProblem | null {
  const sides = [size.width, size.height];
  if (sides.some((v) => v > res.max)) return "tooLarge";
  if (sides.some((v) => v < res.min)) return "tooSmall";
  if (sides.some((v) => v % (res.multiple || 1) !== 0)) return "notMultiple";
  return null;
}

/** The form's width and height (null: auto, the model's native size). */
export interface FormSize {
  width: number | null;
  height: number | null;
}

export interface SizeChoice extends FormSize {
  /** the size an extension set in the form (so the next extension may change it again), or null */
  followed: Size | null;
  /**
   * follows: the generation is made at the extended size; kept: at the size the user set;
   * otherwise the model cannot make the extended size and generates at its native size
   */
  outcome: "follows" | "kept" | SizeProblem;
}

/**
 * The generation's size after an extension. A form on auto, or still on the size an earlier
 * extension set, follows the extended picture when the model makes that size; when it does not
 * the form goes back to auto, the model's native size, and the resize mode brings the picture to
 * it. A size the user chose is kept, and so is the form when the model's range is unknown.
 */
export function sizeAfterExtend(form: FormSize, followed: Size | null, next: Size, res: Resolution | undefined): SizeChoice {
  const auto = form.width == null && form.height == null;
  const following = auto || (followed != null && form.width === followed.width && form.height === followed.height);
  if (!following || !res) return { ...form, followed: null, outcome: "kept" };
  const problem = sizeProblem(next, res);
  if (problem) return { width: null, height: null, followed: null, outcome: problem };
  return { width: next.width, height: next.height, followed: next, outcome: "follows" };
}

/** The part of a canvas the extended picture is drawn on; `document.createElement("canvas")`. */
export interface ExtendCanvas {
  width: number;
  height: number;
  getContext(kind: "2d"): Pick<CanvasRenderingContext2D, "imageSmoothingEnabled" | "drawImage"> | null;
  toBlob(callback: (blob: Blob | null) => void, type?: string): void;
}

/** Draw the plan from `source` (the old picture) onto a canvas of `size`, as a PNG. */
export function renderExtended(
  source: CanvasImageSource,
  size: Size,
  plan: readonly Blit[],
  createCanvas: () => ExtendCanvas = () => document.createElement("canvas"),
): Promise<Blob> {
  const canvas = createCanvas();
  canvas.width = size.width;
  canvas.height = size.height;
  const ctx = canvas.getContext("2d");
  if (!ctx) return Promise.reject(new Error("this browser cannot draw on a canvas"));
  ctx.imageSmoothingEnabled = false;
  for (const b of plan) ctx.drawImage(source, b.sx, b.sy, b.sw, b.sh, b.dx, b.dy, b.dw, b.dh);
  return new Promise((resolve, reject) =>
    canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error("the image could not be encoded"))), "image/png"),
  );
}

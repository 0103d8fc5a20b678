/**
 * A test double for the inpainting mask's canvas that really rasterizes what the mask draws:
 * fillRect, and strokes as round-capped segments (a pixel is covered when its centre is within
 * lineWidth/2 of the path).
 */
export class RasterCanvas {
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

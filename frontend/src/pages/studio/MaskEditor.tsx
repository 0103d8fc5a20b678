/**
 * The inpainting mask, painted over the init image (react-konva). The stage is scaled so that
 * strokes are kept in the image's own pixel coordinates, the size the mask is exported at.
 * The overlay shows what will be repainted: the painted strokes, or with "invert" all the rest.
 */
import type Konva from "konva";
import { useEffect, useState } from "react";
import { useTranslation } from "react-i18next";
import { Circle, Image as KonvaImage, Layer, Line, Rect, Stage } from "react-konva";
import { linePoints, type Stroke } from "./mask";

/** The longer side of the image at zoom 1 ("fit"), in CSS pixels. */
const VIEW = 512;
const ZOOMS = [0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4];
// white, as in the exported mask
const OVERLAY = "#fff";

export interface MaskEditorProps {
  image: { url: string; width: number; height: number };
  strokes: readonly Stroke[];
  onStrokes: (next: Stroke[]) => void;
  invert: boolean;
  onInvert: (invert: boolean) => void;
}

function useImageElement(url: string): HTMLImageElement | null {
  const [el, setEl] = useState<HTMLImageElement | null>(null);
  useEffect(() => {
    const img = new window.Image();
    let live = true;
    img.onload = () => live && setEl(img);
    img.src = url;
    return () => {
      live = false;
    };
  }, [url]);
  return el;
}

export default function MaskEditor({ image, strokes, onStrokes, invert, onInvert }: MaskEditorProps) {
  const { t } = useTranslation();
  const el = useImageElement(image.url);
  const [erase, setErase] = useState(false);
  const [size, setSize] = useState(() => Math.max(2, Math.round(Math.max(image.width, image.height) / 16)));
  const [zoom, setZoom] = useState(1);
  // the stroke being drawn stays here until the pointer is released, then goes to the page
  const [drawing, setDrawing] = useState<Stroke | null>(null);
  const [pointer, setPointer] = useState<{ x: number; y: number } | null>(null);

  const scale = (VIEW / Math.max(image.width, image.height)) * zoom;
  const maxSize = Math.max(8, Math.round(Math.max(image.width, image.height) / 2));
  const at = (e: Konva.KonvaEventObject<PointerEvent>) => {
    const p = e.target.getStage()?.getPointerPosition();
    return p ? { x: p.x / scale, y: p.y / scale } : null;
  };
  const finish = () => {
    if (drawing) onStrokes([...strokes, drawing]);
    setDrawing(null);
  };
  const zoomBy = (dir: 1 | -1) => {
    const i = ZOOMS.indexOf(zoom);
    setZoom(ZOOMS[Math.min(ZOOMS.length - 1, Math.max(0, i + dir))] ?? 1);
  };
  const shown = drawing ? [...strokes, drawing] : strokes;

  return (
    <div className="mask-editor">
      <div className="toolbar mask-editor__tools" role="group" aria-label={t("studio.maskTools")}>
        <div className="segmented">
          <button type="button" data-testid="mask-brush" aria-pressed={!erase} onClick={() => setErase(false)}>
            {t("studio.brush")}
          </button>
          <button type="button" data-testid="mask-eraser" aria-pressed={erase} onClick={() => setErase(true)}>
            {t("studio.eraser")}
          </button>
        </div>
        <label>
          {t("studio.brushSize")}
          <input
            type="range"
            data-testid="mask-size"
            min={1}
            max={maxSize}
            value={Math.min(size, maxSize)}
            onChange={(e) => setSize(Number(e.target.value))}
          />
          <span className="muted small">{size}px</span>
        </label>
        <label title={t("studio.invertMaskHelp")}>
          <input type="checkbox" data-testid="mask-invert" checked={invert} onChange={(e) => onInvert(e.target.checked)} />
          {t("studio.invertMask")}
        </label>
        <button type="button" data-testid="mask-undo" disabled={strokes.length === 0} onClick={() => onStrokes(strokes.slice(0, -1))}>
          {t("studio.undo")}
        </button>
        <button type="button" data-testid="mask-clear" disabled={strokes.length === 0} onClick={() => onStrokes([])}>
          {t("studio.clearMask")}
        </button>
        <div className="segmented">
          <button type="button" aria-label={t("studio.zoomOut")} title={t("studio.zoomOut")} onClick={() => zoomBy(-1)}>
            −
          </button>
          <button type="button" title={t("studio.zoomFit")} onClick={() => setZoom(1)}>
            {Math.round(zoom * 100)}%
          </button>
          <button type="button" aria-label={t("studio.zoomIn")} title={t("studio.zoomIn")} onClick={() => zoomBy(1)}>
            +
          </button>
        </div>
      </div>
      <div className="mask-editor__view" data-testid="mask-canvas" data-strokes={strokes.length}>
        <Stage
          width={Math.round(image.width * scale)}
          height={Math.round(image.height * scale)}
          scaleX={scale}
          scaleY={scale}
          onPointerDown={(e) => {
            const p = at(e);
            if (!p) return;
            e.evt.preventDefault();
            setDrawing({ erase, size, points: [p.x, p.y] });
          }}
          onPointerMove={(e) => {
            const p = at(e);
            setPointer(p);
            if (p && drawing) setDrawing({ ...drawing, points: [...drawing.points, p.x, p.y] });
          }}
          onPointerUp={finish}
          onPointerLeave={() => {
            finish();
            setPointer(null);
          }}
        >
          <Layer imageSmoothingEnabled={false} listening={false}>
            {el && <KonvaImage image={el} width={image.width} height={image.height} />}
          </Layer>
          <Layer opacity={0.7} listening={false}>
            {invert && <Rect width={image.width} height={image.height} fill={OVERLAY} />}
            {shown.map((s, i) => (
              <Line
                key={i}
                points={linePoints(s.points)}
                stroke={OVERLAY}
                strokeWidth={s.size}
                lineCap="round"
                lineJoin="round"
                // painting adds to the overlay and erasing removes from it; inverted, the other way
                globalCompositeOperation={s.erase !== invert ? "destination-out" : "source-over"}
              />
            ))}
          </Layer>
          <Layer listening={false}>
            {pointer && (
              <Circle x={pointer.x} y={pointer.y} radius={size / 2} stroke="#000" strokeWidth={1.5 / scale} shadowColor="#fff" shadowBlur={2} />
            )}
          </Layer>
        </Stage>
      </div>
      <small className="muted">{t("studio.maskHelp")}</small>
    </div>
  );
}

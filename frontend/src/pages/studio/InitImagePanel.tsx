/** img2img's init image (a file, a drop, or a result sent here) and, in inpaint mode, its mask. */
import { lazy, Suspense, useState } from "react";
import { useTranslation } from "react-i18next";
import type { StoredImage } from "../../client/types";
import type { Stroke } from "./mask";
import { EXTEND_BY, SEAM, SIDES, type Side } from "./outpaint";

// konva is only loaded once someone inpaints
const MaskEditor = lazy(() => import("./MaskEditor"));

export const IMAGE_TYPES = ["image/png", "image/jpeg", "image/webp"];

export interface InitImagePanelProps {
  image: StoredImage | null;
  inpaint: boolean;
  uploading: boolean;
  error: string | undefined;
  onFile: (file: File) => void;
  onRemove: () => void;
  strokes: readonly Stroke[];
  onStrokes: (next: Stroke[]) => void;
  invert: boolean;
  onInvert: (invert: boolean) => void;
  /** inpaint: outpaint, extending the picture on one side by some pixels */
  onExtend: (side: Side, by: number) => void;
  /** what the last extension did to the generation's size */
  extendNote: string | null;
}

const ARROWS: Record<Side, string> = { left: "←", right: "→", up: "↑", down: "↓" };

/** Outpainting: a larger init image whose new border is painted in the mask. */
function ExtendControls({ onExtend, busy, note }: { onExtend: (side: Side, by: number) => void; busy: boolean; note: string | null }) {
  const { t } = useTranslation();
  const [by, setBy] = useState(EXTEND_BY[1] ?? 64);
  return (
    <div className="init-image__extend" data-testid="outpaint">
      <div className="toolbar" role="group" aria-label={t("studio.outpaint")}>
        <strong>{t("studio.outpaint")}</strong>
        <label>
          {t("studio.outpaintBy")}{" "}
          <select data-testid="extend-by" value={by} disabled={busy} onChange={(e) => setBy(Number(e.target.value))}>
            {EXTEND_BY.map((n) => (
              <option key={n} value={n}>
                {n} px
              </option>
            ))}
          </select>
        </label>
        {SIDES.map((side) => (
          <button key={side} type="button" data-testid={`extend-${side}`} disabled={busy} onClick={() => onExtend(side, by)}>
            {ARROWS[side]} {t(`studio.extend_${side}`)}
          </button>
        ))}
      </div>
      <small className="muted">{t("studio.outpaintHelp", { seam: SEAM })}</small>
      {note && (
        <p className="small" data-testid="outpaint-note" role="status">
          {note}
        </p>
      )}
    </div>
  );
}

export function InitImagePanel({
  image,
  inpaint,
  uploading,
  error,
  onFile,
  onRemove,
  strokes,
  onStrokes,
  invert,
  onInvert,
  onExtend,
  extendNote,
}: InitImagePanelProps) {
  const { t } = useTranslation();
  return (
    <section className="card init-image" data-testid="init-image-panel">
      <header className="toolbar init-image__head">
        <strong>{t("studio.initImage")}</strong>
        {image && (
          <span className="muted small" data-testid="init-image-size">
            {t("studio.imageSize", { width: image.width, height: image.height })}
          </span>
        )}
        <label className="button">
          {uploading ? t("studio.uploading") : t("studio.chooseImage")}
          <input
            type="file"
            hidden
            data-testid="init-image-file"
            accept={IMAGE_TYPES.join(",")}
            disabled={uploading}
            onChange={(e) => {
              const file = e.target.files?.[0];
              if (file) onFile(file);
              e.target.value = ""; // choosing the same file again still uploads it
            }}
          />
        </label>
        {image && (
          <button type="button" data-testid="init-image-remove" onClick={onRemove}>
            {t("studio.removeImage")}
          </button>
        )}
      </header>
      {error && (
        <p className="error" role="alert" data-testid="field-error">
          {error}
        </p>
      )}
      {!image && <p className="muted">{t("studio.dropHint")}</p>}
      {image && !inpaint && (
        <img className="init-image__preview pixelated" data-testid="init-image" src={image.url} alt={t("studio.initImage")} />
      )}
      {image && inpaint && <ExtendControls onExtend={onExtend} busy={uploading} note={extendNote} />}
      {image && inpaint && (
        <Suspense fallback={<p className="muted">{t("common.loading")}</p>}>
          <MaskEditor image={image} strokes={strokes} onStrokes={onStrokes} invert={invert} onInvert={onInvert} />
        </Suspense>
      )}
    </section>
  );
}

/** img2img's init image (a file, a drop, or a result sent here) and, in inpaint mode, its mask. */
import { lazy, Suspense } from "react";
import { useTranslation } from "react-i18next";
import type { StoredImage } from "../../client/types";
import type { Stroke } from "./mask";

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
      {image && inpaint && (
        <Suspense fallback={<p className="muted">{t("common.loading")}</p>}>
          <MaskEditor image={image} strokes={strokes} onStrokes={onStrokes} invert={invert} onInvert={onInvert} />
        </Suspense>
      )}
    </section>
  );
}

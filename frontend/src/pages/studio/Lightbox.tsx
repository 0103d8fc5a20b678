/**
 * An image opened large, with its full infotext (the "parameters" chunk read from the PNG
 * itself, or, for an image without one, the text made from the gallery record), a copy
 * button and "use these settings".
 */
import { useEffect, useRef, useState } from "react";
import { useTranslation } from "react-i18next";
import { pngParameters } from "../../lib/png";
import "./gallery.css";

export interface LightboxProps {
  urls: readonly string[];
  index: number;
  onIndex: (i: number) => void;
  alt: string;
  /** shown when the PNG carries no infotext (made from the generation's params) */
  fallback?: string;
  onUse: (infotext: string) => void;
  onClose: () => void;
}

type Loaded = { url: string; text: string | null };

export function Lightbox({ urls, index, onIndex, alt, fallback, onUse, onClose }: LightboxProps) {
  const { t } = useTranslation();
  const url = urls[index] ?? urls[0] ?? "";
  const [loaded, setLoaded] = useState<Loaded | null>(null);
  const [copied, setCopied] = useState(false);
  const closeRef = useRef<HTMLButtonElement>(null);

  useEffect(() => {
    let cancelled = false;
    setCopied(false);
    fetch(url, { credentials: "include" })
      .then(async (r) => (r.ok ? pngParameters(new Uint8Array(await r.arrayBuffer())) : null))
      .catch(() => null)
      .then((text) => !cancelled && setLoaded({ url, text }));
    return () => {
      cancelled = true;
    };
  }, [url]);

  useEffect(() => {
    closeRef.current?.focus();
    const key = (e: KeyboardEvent) => {
      if (e.key === "Escape") onClose();
      if (e.key === "ArrowLeft" && index > 0) onIndex(index - 1);
      if (e.key === "ArrowRight" && index < urls.length - 1) onIndex(index + 1);
    };
    window.addEventListener("keydown", key);
    return () => window.removeEventListener("keydown", key);
  }, [index, urls.length, onClose, onIndex]);

  const ready = loaded?.url === url;
  const text = ready ? (loaded.text ?? fallback ?? "") : null;
  const copy = async () => {
    if (!text) return;
    try {
      await navigator.clipboard.writeText(text);
      setCopied(true);
    } catch {
      setCopied(false); // no clipboard (insecure origin): the text can still be selected
    }
  };

  return (
    <div
      className="lightbox"
      data-testid="lightbox"
      role="dialog"
      aria-modal="true"
      aria-label={t("studio.lightbox")}
      onClick={(e) => {
        if (e.target === e.currentTarget) onClose();
      }}
    >
      <div className="lightbox__panel">
        <img className="lightbox__image pixelated" data-testid="lightbox-image" src={url} alt={alt} />
        <div className="lightbox__side">
          <div className="lightbox__actions">
            {urls.length > 1 && (
              <>
                <button type="button" aria-label={t("studio.prevImage")} disabled={index === 0} onClick={() => onIndex(index - 1)}>
                  ‹
                </button>
                <span className="muted small">{t("studio.imageN", { n: index + 1, count: urls.length })}</span>
                <button
                  type="button"
                  aria-label={t("studio.nextImage")}
                  disabled={index >= urls.length - 1}
                  onClick={() => onIndex(index + 1)}
                >
                  ›
                </button>
              </>
            )}
            <span style={{ flex: 1 }} />
            <button type="button" ref={closeRef} data-testid="lightbox-close" onClick={onClose}>
              {t("studio.close")}
            </button>
          </div>
          <strong>{t("studio.infotext")}</strong>
          {ready && !loaded.text && fallback && <p className="muted small">{t("studio.noInfotext")}</p>}
          <pre className="lightbox__infotext" data-testid="lightbox-infotext">
            {text ?? t("common.loading")}
          </pre>
          <div className="lightbox__actions">
            <button type="button" data-testid="lightbox-copy" disabled={!text} onClick={() => void copy()}>
              {copied ? t("studio.copied") : t("studio.copy")}
            </button>
            <button type="button" className="primary" data-testid="lightbox-use" disabled={!text} onClick={() => text && onUse(text)}>
              {t("studio.useSettings")}
            </button>
            <a className="button" href={url} download={url.split("/").pop()}>
              {t("studio.download")}
            </a>
          </div>
        </div>
      </div>
    </div>
  );
}

import { useTranslation } from "react-i18next";
import type { GenerationPublic } from "../../client/types";
import { StateBadge } from "../../components/StateBadge";
import { formatDateTime, formatValue } from "../../lib/format";
import { SendButtons } from "./SendButtons";
import type { StudioMode } from "./settings";

const SHOWN_PARAMS = ["model", "sampler", "steps", "guidance_scale", "width", "height", "batch_size"];

export function Gallery({
  items,
  count,
  onUse,
  onOpen,
  onMore,
  onSend,
}: {
  items: readonly GenerationPublic[];
  count: number;
  onUse: (g: GenerationPublic) => void;
  onOpen: (g: GenerationPublic) => void;
  onMore?: () => void;
  /** "Send to img2img / inpaint" with the generation's first image */
  onSend?: (url: string, mode: StudioMode) => void;
}) {
  const { t, i18n } = useTranslation();
  if (items.length === 0) return <p className="muted">{t("studio.galleryEmpty")}</p>;
  return (
    <>
      <ul className="gallery" data-testid="gallery">
        {items.map((g) => {
          const params = g.params as Record<string, unknown>;
          const prompt = g.prompt;
          return (
            <li key={g.id} className="gallery__item" data-testid="gallery-item">
              <button type="button" className="gallery__thumb" onClick={() => onOpen(g)} title={t("studio.open")}>
                {g.images[0] ? <img className="pixelated" src={g.images[0]} alt={prompt} loading="lazy" /> : <span className="gallery__empty" />}
              </button>
              <div className="gallery__body">
                <p className="gallery__prompt">{prompt}</p>
                <dl className="params">
                  <dt>{t("studio.seed")}</dt>
                  <dd>{g.seed}</dd>
                  {SHOWN_PARAMS.filter((k) => params[k] != null).map((k) => (
                    <div key={k} className="params__pair">
                      <dt>{t(`params.${k}`, { defaultValue: k })}</dt>
                      <dd>{formatValue(params[k])}</dd>
                    </div>
                  ))}
                </dl>
                <div className="gallery__meta">
                  <StateBadge state={g.state} />
                  <span className="muted small">{formatDateTime(g.created_at, i18n.language)}</span>
                </div>
                <div className="gallery__actions">
                  <button type="button" data-testid="use-settings" onClick={() => onUse(g)}>
                    {t("studio.useSettings")}
                  </button>
                  {g.images.map((url, i) => (
                    <a key={url} href={url} download={`difflab-${g.id.slice(0, 8)}-${i}.png`} className="button">
                      {g.images.length > 1 ? t("studio.downloadN", { n: i + 1 }) : t("studio.download")}
                    </a>
                  ))}
                  {onSend && g.images[0] && <SendButtons onSend={(mode) => onSend(g.images[0]!, mode)} />}
                </div>
              </div>
            </li>
          );
        })}
      </ul>
      {onMore && items.length < count && (
        <button type="button" className="more" onClick={onMore}>
          {t("common.more", { shown: items.length, count })}
        </button>
      )}
    </>
  );
}

import { useTranslation } from "react-i18next";
import type { GenerationPublic } from "../../client/types";
import { StateBadge } from "../../components/StateBadge";
import { formatDateTime, formatValue } from "../../lib/format";
import "./gallery.css";
import { hasFilters, NO_FILTERS, pageRange, type GalleryFilters } from "./galleryQuery";
import { SendButtons } from "./SendButtons";
import type { StudioMode } from "./settings";

const SHOWN_PARAMS = ["model", "sampler", "steps", "guidance_scale", "width", "height", "batch_size"];
const SIZES = ["32x32", "48x48", "64x64", "96x96", "128x128", "256x256", "512x512", "512x768", "768x512", "1024x1024"];

/** Search box, model, sampler, size and date range; the page owns the values (and debounces). */
export function GalleryFilterBar({
  filters,
  onChange,
  models,
  samplers,
}: {
  filters: GalleryFilters;
  onChange: (f: GalleryFilters) => void;
  models: readonly string[];
  samplers: readonly string[];
}) {
  const { t } = useTranslation();
  const set = (key: keyof GalleryFilters) => (e: { target: { value: string } }) => onChange({ ...filters, [key]: e.target.value });
  return (
    <div className="gallery-filters" role="search">
      <label>
        <span>{t("studio.searchLabel")}</span>
        <input type="search" data-testid="gallery-search" value={filters.q} placeholder={t("studio.searchPlaceholder")} onChange={set("q")} />
      </label>
      <label>
        <span>{t("studio.filterModel")}</span>
        <select data-testid="gallery-model" value={filters.model} onChange={set("model")}>
          <option value="">{t("studio.filterAny")}</option>
          {models.map((m) => (
            <option key={m} value={m}>
              {m}
            </option>
          ))}
        </select>
      </label>
      <label>
        <span>{t("studio.filterSampler")}</span>
        <select data-testid="gallery-sampler" value={filters.sampler} onChange={set("sampler")}>
          <option value="">{t("studio.filterAny")}</option>
          {samplers.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
      </label>
      <label>
        <span>{t("studio.filterSize")}</span>
        <input
          className="gallery-filters__size"
          data-testid="gallery-size"
          list="gallery-sizes"
          value={filters.size}
          placeholder={t("studio.filterSizePlaceholder")}
          onChange={set("size")}
        />
        <datalist id="gallery-sizes">
          {SIZES.map((s) => (
            <option key={s} value={s} />
          ))}
        </datalist>
      </label>
      <label>
        <span>{t("studio.filterFrom")}</span>
        <input type="date" data-testid="gallery-from" value={filters.from} max={filters.to || undefined} onChange={set("from")} />
      </label>
      <label>
        <span>{t("studio.filterTo")}</span>
        <input type="date" data-testid="gallery-to" value={filters.to} min={filters.from || undefined} onChange={set("to")} />
      </label>
      {hasFilters(filters) && (
        <button type="button" data-testid="gallery-clear" onClick={() => onChange(NO_FILTERS)}>
          {t("studio.clearFilters")}
        </button>
      )}
    </div>
  );
}

export function Gallery({
  items,
  count,
  countCapped = false,
  offset = 0,
  pageSize = 24,
  onPage,
  filtered = false,
  onUse,
  onOpen,
  onZoom,
  onSend,
}: {
  items: readonly GenerationPublic[];
  /** how many pass the filters, over all pages (the API counts up to a cap) */
  count: number;
  /** more than `count` pass the filters: the API stopped counting (shown as "10000+") */
  countCapped?: boolean;
  offset?: number;
  pageSize?: number;
  /** previous / next page; without it, no page buttons */
  onPage?: (offset: number) => void;
  /** some filter is set: an empty list says "no match" rather than "nothing yet" */
  filtered?: boolean;
  onUse: (g: GenerationPublic) => void;
  /** the generation's steps, attention and sweep (GenerationView) */
  onOpen: (g: GenerationPublic) => void;
  /** image `index` of the generation, large, with its infotext */
  onZoom?: (g: GenerationPublic, index: number) => void;
  /** "Send to img2img / inpaint" with the generation's first image */
  onSend?: (url: string, mode: StudioMode) => void;
}) {
  const { t, i18n } = useTranslation();
  // past a capped count the page's own rows say where it ends
  const { first, last } = pageRange(offset, items.length, countCapped ? Infinity : count);
  const pages = onPage && (
    <div className="gallery-pages">
      <button type="button" data-testid="gallery-prev" disabled={offset === 0} onClick={() => onPage(Math.max(0, offset - pageSize))}>
        {t("studio.pagePrev")}
      </button>
      <span className="muted small" data-testid="gallery-range">
        {t("studio.pageRange", { first, last, count: countCapped ? `${count}+` : count })}
      </span>
      <button
        type="button"
        data-testid="gallery-next"
        disabled={!countCapped && offset + items.length >= count}
        onClick={() => onPage(offset + pageSize)}
      >
        {t("studio.pageNext")}
      </button>
    </div>
  );
  if (items.length === 0) {
    return (
      <>
        <p className="muted" data-testid="gallery-empty">
          {filtered ? t("studio.galleryNoMatch") : t("studio.galleryEmpty")}
        </p>
        {offset > 0 && pages}
      </>
    );
  }
  return (
    <>
      <ul className="gallery" data-testid="gallery">
        {items.map((g) => {
          const params = g.params as Record<string, unknown>;
          const prompt = g.prompt;
          return (
            <li key={g.id} className="gallery__item" data-testid="gallery-item">
              <button
                type="button"
                className="gallery__thumb"
                data-testid="gallery-thumb"
                disabled={!g.images[0] || !onZoom}
                onClick={() => onZoom?.(g, 0)}
                title={t("studio.openLarge")}
              >
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
                  <button type="button" data-testid="gallery-open" title={t("studio.openStepsHelp")} onClick={() => onOpen(g)}>
                    {t("studio.openSteps")}
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
      {pages}
    </>
  );
}

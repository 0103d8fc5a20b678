/**
 * One image dataset: its sample grid and, for an uploaded one, its stats (caption lengths,
 * distinct words, the words the model's tokenizer lacks, image sizes), a page of images whose
 * captions are edited in place, removing an image or the whole dataset; and a form that trains
 * a LoRA on it.
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { useTranslation } from "react-i18next";
import { Link, useNavigate, useParams, useSearchParams } from "react-router-dom";
import { api } from "../../client";
import { errorMessage } from "../../client/errors";
import type { DatasetDetail, DatasetInfo, DatasetItem, ModelInfo } from "../../client/types";
import { formatDateTime, formatNumber } from "../../lib/format";
import { datasetQuery, datasetsQuery, modelsQuery, queryKeys } from "../../lib/queries";
import { CaptionEditor } from "./CaptionEditor";
import { imageDatasets } from "./DatasetsPage";
import { formatBytes } from "./files";
import { TrainLoraForm } from "./TrainLoraForm";
import "./datasets.css";

/**
 * An image of an uploaded dataset (GET /api/v1/datasets/{name}/files/{file_name}, the item's
 * `url`), each path segment encoded: a file name may hold "#", "?" or "%".
 */
export function fileUrl(dataset: string, fileName: string): string {
  return `/api/v1/datasets/${encodeURIComponent(dataset)}/files/${fileName.split("/").map(encodeURIComponent).join("/")}`;
}

/** Images per page of the grid. */
export const PAGE = 60;

type Loaded =
  | { kind: "uploaded"; detail: DatasetDetail }
  | { kind: "builtin"; info: DatasetInfo }
  | { kind: "missing" };

function Stats({ detail }: { detail: DatasetDetail }) {
  const { t } = useTranslation();
  const { stats } = detail;
  const sizes = Object.entries(stats.sizes).sort((a, b) => b[1] - a[1]);
  return (
    <section className="card dataset-stats" data-testid="dataset-stats">
      <h2>{t("datasets.statsTitle")}</h2>
      <dl className="kv">
        <dt>{t("datasets.statImages")}</dt>
        <dd data-testid="stat-images">{stats.images}</dd>
        <dt>{t("datasets.statWords")}</dt>
        <dd data-testid="stat-words">
          {t("datasets.statWordsValue", {
            min: stats.caption_words.min,
            mean: formatNumber(Number(stats.caption_words.mean.toFixed(1))),
            max: stats.caption_words.max,
          })}
        </dd>
        <dt>{t("datasets.statDistinct")}</dt>
        <dd data-testid="stat-distinct">{stats.distinct_words}</dd>
        <dt>{t("datasets.statSizes")}</dt>
        <dd className="chips" data-testid="stat-sizes">
          {sizes.map(([size, count]) => (
            <span key={size} className="chip">
              {size.replace("x", "×")} <span className="muted">×{count}</span>
            </span>
          ))}
        </dd>
      </dl>
      <h3>{t("datasets.unknownTitle", { model: stats.model })}</h3>
      {stats.unknown_words == null ? (
        <p className="muted small" data-testid="unknown-words-none">
          {t("datasets.noTokenizer", { model: stats.model })}
        </p>
      ) : stats.unknown_words.length === 0 ? (
        <p className="muted small" data-testid="unknown-words-none">
          {t("datasets.allKnown", { model: stats.model })}
        </p>
      ) : (
        <>
          <p className="muted small">{t("datasets.unknownHelp")}</p>
          <div className="chips" data-testid="unknown-words">
            {stats.unknown_words.map((w) => (
              <span key={w.word} className="chip" data-testid="unknown-word">
                {w.word} <span className="muted">×{w.count}</span>
              </span>
            ))}
          </div>
        </>
      )}
    </section>
  );
}

export function DatasetPage() {
  const { t, i18n } = useTranslation();
  const navigate = useNavigate();
  const { name = "" } = useParams();
  const [search, setSearch] = useSearchParams();
  const offset = Math.max(0, Number(search.get("offset")) || 0);
  const queryClient = useQueryClient();
  const modelList = useQuery(modelsQuery());
  const models: readonly ModelInfo[] = modelList.data ?? [];
  const [chosenModel, setModel] = useState("");
  const model = chosenModel || ((models.find((x) => x.default) ?? models[0])?.name ?? "");
  const [seed, setSeed] = useState(0);
  const [edited, setEdited] = useState<Record<string, string>>({});
  const [error, setError] = useState<string | null>(null);

  useEffect(() => setEdited({}), [name]);

  // the unknown words are counted with the model's tokenizer: asked once the model is known
  // (another page of the same dataset, or another model: the page shown stays until the next is in)
  const page = useQuery({
    ...datasetQuery(name, offset, PAGE, model),
    enabled: !modelList.isPending,
    placeholderData: (previous, previousQuery) => (previousQuery?.queryKey[1] === name ? previous : undefined),
  });
  // a built-in dataset has no pages of items (the query above answers null): only its sample grid
  const list = useQuery({ ...datasetsQuery(), select: imageDatasets, enabled: page.data === null });
  const loadError = page.error ?? list.error;
  let data: Loaded | undefined;
  if (page.data) data = { kind: "uploaded", detail: page.data };
  else if (page.data === null && list.data) {
    const info = list.data.find((d) => d.name === name && !d.uploaded);
    data = info ? { kind: "builtin", info } : { kind: "missing" };
  }
  const loading = !data && !loadError;
  const detail = data?.kind === "uploaded" ? data.detail : null;
  // the page and its stats changed: read again (the list too: its image counts and sizes)
  const reload = () => queryClient.invalidateQueries({ queryKey: queryKeys.datasets });

  const setOffset = (next: number) => {
    const params = new URLSearchParams(search);
    if (next > 0) params.set("offset", String(next));
    else params.delete("offset");
    setSearch(params, { replace: true });
  };
  // the last image of a later page removed: back to the page before
  useEffect(() => {
    if (detail && detail.items.length === 0 && offset > 0 && detail.total > 0)
      setOffset(Math.max(0, Math.floor((detail.total - 1) / PAGE) * PAGE));
  }, [detail, offset]);

  const removeItem = useMutation({
    mutationFn: (item: DatasetItem) =>
      api.DELETE("/api/v1/datasets/{name}/items/{file_name}", { params: { path: { name, file_name: item.file_name } } }),
    onSuccess: ({ error: err, response }) => {
      if (!response.ok) setError(errorMessage(err, `${response.status}`));
    },
    onError: (err) => setError(errorMessage(err)),
    onSettled: () => void reload(),
  });
  const askRemoveItem = (item: DatasetItem) => {
    if (!window.confirm(t("datasets.confirmRemove", { file: item.file_name }))) return;
    setError(null);
    removeItem.mutate(item);
  };

  const removeDataset = useMutation({
    mutationFn: () => api.DELETE("/api/v1/datasets/{name}", { params: { path: { name } } }),
    onSuccess: ({ error: err, response }) => {
      if (!response.ok) {
        setError(errorMessage(err, `${response.status}`));
        return;
      }
      queryClient.removeQueries({ queryKey: queryKeys.datasetPages(name) });
      void queryClient.invalidateQueries({ queryKey: queryKeys.datasets });
      navigate("/datasets");
    },
    onError: (err) => setError(errorMessage(err)),
  });
  const askRemoveDataset = () => {
    if (!window.confirm(t("datasets.confirmDelete", { name }))) return;
    setError(null);
    removeDataset.mutate();
  };

  const saved = (item: DatasetItem) => {
    setEdited((e) => ({ ...e, [item.file_name]: item.text }));
    void reload(); // the stats count words
  };

  const info: DatasetInfo | null = detail ?? (data?.kind === "builtin" ? data.info : null);
  const sample = info?.sample_url ? `${info.sample_url}?n=16&seed=${seed}` : null;

  return (
    <div className="page dataset" data-testid="dataset-page">
      <div className="page__head">
        <div>
          <p className="muted small">
            <Link to="/datasets">← {t("datasets.title")}</Link>
          </p>
          <h1>{name}</h1>
          {info && (
            <p className="muted" data-testid="dataset-meta">
              <span className={info.uploaded ? "badge" : "badge badge--queued"}>
                {info.uploaded ? t("datasets.uploadedBy", { owner: info.owner ?? "?" }) : t("datasets.builtIn")}
              </span>{" "}
              {info.description}
              {info.uploaded && ` · ${formatBytes(info.bytes)} · ${formatDateTime(info.created_at, i18n.language)}`}
            </p>
          )}
        </div>
        {detail && (
          <button type="button" className="danger" data-testid="dataset-delete" onClick={askRemoveDataset}>
            {t("datasets.delete")}
          </button>
        )}
      </div>
      {(error || loadError) && (
        <p className="error" role="alert" data-testid="dataset-error">
          {error ?? loadError?.message}
        </p>
      )}
      {loading && <p className="muted">{t("common.loading")}</p>}
      {data?.kind === "missing" && <p className="muted">{t("datasets.missing", { name })}</p>}

      {info && (
        <div className="dataset__top">
          {sample && (
            <figure className="card dataset__sample">
              <img className="pixelated" src={sample} alt={t("datasets.sampleOf", { name })} data-testid="dataset-sample" />
              <figcaption>
                <button type="button" data-testid="dataset-resample" onClick={() => setSeed((s) => s + 1)}>
                  {t("datasets.resample")}
                </button>
              </figcaption>
            </figure>
          )}
          {detail && <Stats detail={detail} />}
          {data?.kind === "builtin" && <p className="muted">{t("datasets.builtInNoItems")}</p>}
        </div>
      )}

      {detail && (
        <section className="dataset__items">
          <div className="toolbar">
            <h2>{t("datasets.imagesTitle")}</h2>
            <span className="muted" data-testid="page-range">
              {t("datasets.range", {
                from: detail.total ? detail.offset + 1 : 0,
                to: detail.offset + detail.items.length,
                total: detail.total,
              })}
            </span>
            <button type="button" data-testid="page-prev" disabled={offset <= 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>
              {t("datasets.prev")}
            </button>
            <button
              type="button"
              data-testid="page-next"
              disabled={offset + PAGE >= detail.total}
              onClick={() => setOffset(offset + PAGE)}
            >
              {t("datasets.next")}
            </button>
          </div>
          <p className="muted small">{t("datasets.captionHint")}</p>
          <ul className="dataset-items" data-testid="dataset-items">
            {detail.items.map((item) => {
              const shown = edited[item.file_name] != null ? { ...item, text: edited[item.file_name]! } : item;
              return (
                <li key={item.file_name} className="dataset-item" data-testid="dataset-item" data-file={item.file_name}>
                  <img className="pixelated" src={fileUrl(name, item.file_name)} alt={item.file_name} loading="lazy" />
                  <CaptionEditor dataset={name} item={shown} onSaved={saved} />
                  <div className="dataset-item__meta">
                    <small className="muted" title={item.file_name}>
                      {item.file_name} · {item.width}×{item.height}
                    </small>
                    <button
                      type="button"
                      className="link danger"
                      data-testid="item-remove"
                      aria-label={t("datasets.removeImage", { file: item.file_name })}
                      onClick={() => askRemoveItem(item)}
                    >
                      {t("datasets.remove")}
                    </button>
                  </div>
                </li>
              );
            })}
          </ul>
        </section>
      )}

      {info && <TrainLoraForm dataset={name} models={models} model={model} onModel={setModel} />}
    </div>
  );
}

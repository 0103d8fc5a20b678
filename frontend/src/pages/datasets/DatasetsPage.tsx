/** The image datasets a user can train on (built in, and uploaded), and the upload form. */
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useTranslation } from "react-i18next";
import { Link, useNavigate } from "react-router-dom";
import type { DatasetInfo } from "../../client/types";
import { formatDateTime } from "../../lib/format";
import { datasetsQuery, queryKeys } from "../../lib/queries";
import { formatBytes } from "./files";
import { UploadPanel } from "./UploadPanel";
import "./datasets.css";

/** The image datasets of GET /api/v1/datasets (the lab's tabular sets are not for these pages). */
export const imageDatasets = (all: readonly DatasetInfo[]): DatasetInfo[] => all.filter((d) => d.kind === "images");

export function DatasetsPage() {
  const { t, i18n } = useTranslation();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const list = useQuery({ ...datasetsQuery(), select: imageDatasets });

  return (
    <div className="page datasets">
      <div className="page__head">
        <h1>{t("datasets.title")}</h1>
        <p className="muted">{t("datasets.intro")}</p>
      </div>
      <UploadPanel
        onUploaded={(d) => {
          void queryClient.invalidateQueries({ queryKey: queryKeys.datasets });
          navigate(`/datasets/${encodeURIComponent(d.name)}`);
        }}
      />
      {list.error && (
        <p className="error" role="alert">
          {list.error.message}
        </p>
      )}
      {list.isPending && <p className="muted">{t("common.loading")}</p>}
      {list.data && (
        <ul className="dataset-cards" data-testid="datasets-list">
          {list.data.map((d) => (
            <li key={d.name} className="dataset-card" data-testid="dataset-card" data-name={d.name}>
              <Link to={`/datasets/${encodeURIComponent(d.name)}`} className="dataset-card__thumb">
                {d.sample_url ? (
                  <img className="pixelated" src={`${d.sample_url}?n=16`} alt={t("datasets.sampleOf", { name: d.name })} loading="lazy" />
                ) : (
                  <span className="dataset-card__none" />
                )}
              </Link>
              <div className="dataset-card__body">
                <Link to={`/datasets/${encodeURIComponent(d.name)}`} className="dataset-card__name">
                  {d.name}
                </Link>
                <span className={d.uploaded ? "badge" : "badge badge--queued"}>
                  {d.uploaded ? t("datasets.uploadedBy", { owner: d.owner ?? "?" }) : t("datasets.builtIn")}
                </span>
                <small className="muted">{d.description}</small>
                {d.uploaded && (
                  <small className="muted" data-testid="dataset-card-meta">
                    {t("datasets.imagesCount", { count: d.images ?? 0 })} · {formatBytes(d.bytes)} ·{" "}
                    {formatDateTime(d.created_at, i18n.language)}
                  </small>
                )}
              </div>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

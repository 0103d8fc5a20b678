/** The same seed at several guidance scales, side by side. */
import { useTranslation } from "react-i18next";
import { artifactUrl } from "../../client";
import { useJson } from "../../hooks/useJson";

export interface SweepIndex {
  scales: number[];
  images: string[];
}

export function SweepView({ indexUrl, jobId }: { indexUrl: string; jobId: string }) {
  const { t } = useTranslation();
  const { data, error } = useJson<SweepIndex>(indexUrl);
  if (error) return <p className="error">{error}</p>;
  if (!data) return <p className="muted">{t("common.loading")}</p>;
  return (
    <div className="sweep" data-testid="sweep">
      {data.scales.map((scale, i) => {
        const name = data.images[i];
        return name ? (
          <figure key={`${scale}-${i}`}>
            <img className="pixelated" src={artifactUrl(jobId, name)} alt={`w = ${scale}`} />
            <figcaption>w = {scale}</figcaption>
          </figure>
        ) : null;
      })}
      <p className="muted small">{t("studio.sweepHelp")}</p>
    </div>
  );
}

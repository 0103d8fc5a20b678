/** A short section per lab kind, each linking to its runs. */
import { useTranslation } from "react-i18next";
import { Link } from "react-router-dom";
import { api } from "../../client";
import type { JobKind } from "../../client/types";
import { usePolling } from "../../hooks/usePolling";

export function LabKinds({ kinds }: { kinds: readonly JobKind[] }) {
  const { t } = useTranslation();
  const lab = kinds.filter((k) => k.category === "lab" || k.category === "evaluation");
  const counts = usePolling(
    async () => {
      const { data } = await api.GET("/api/v1/jobs", { params: { query: { offset: 0, limit: 500 } } });
      const out: Record<string, number> = {};
      for (const j of data?.data ?? []) out[j.kind] = (out[j.kind] ?? 0) + 1;
      return out;
    },
    0,
    [],
  );
  if (lab.length === 0) return null;
  return (
    <section id="lab">
      <h2>{t("learn.labTitle")}</h2>
      <div className="lab-grid">
        {lab.map((k) => (
          <article key={k.name} className="card lab-kind" data-kind={k.name}>
            <h3>{k.title || k.name}</h3>
            <p className="small">{k.description}</p>
            <p className="small">
              <Link to={`/train?kind=${encodeURIComponent(k.name)}`}>{t("learn.runsOf", { count: counts.data?.[k.name] ?? 0 })}</Link>
              <span className="muted"> · {k.queue}</span>
            </p>
          </article>
        ))}
      </div>
    </section>
  );
}

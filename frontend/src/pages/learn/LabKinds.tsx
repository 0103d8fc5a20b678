/** A short section per lab kind: its formulas, and a link to its runs. */
import { useQuery } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { useTranslation } from "react-i18next";
import { Link, useLocation } from "react-router-dom";
import type { JobKind, JobPublic } from "../../client/types";
import { jobListQuery } from "../../lib/queries";
import { docsSection, learnAnchor } from "../train/math";
import { KindFormulas } from "../train/math/KindFormulas";
import { EMPTY_INPUT } from "../train/math/types";
import { schemaDefaults } from "../train/math/values";

/** How many of `jobs` are of each kind. */
function countByKind(jobs: readonly JobPublic[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const j of jobs) out[j.kind] = (out[j.kind] ?? 0) + 1;
  return out;
}

function KindCard({ kind, runs, target }: { kind: JobKind; runs: number; target: boolean }) {
  const { t, i18n } = useTranslation();
  const [open, setOpen] = useState(target);
  useEffect(() => {
    if (target) setOpen(true);
  }, [target]);
  const zh = i18n.language.startsWith("zh");
  const title = (zh && kind.title_zh) || kind.title || kind.name;
  const description = (zh && kind.description_zh) || kind.description;
  return (
    <article id={learnAnchor(kind.name)} className={`card lab-kind${open ? " lab-kind--open" : ""}`} data-kind={kind.name}>
      <h3>{title}</h3>
      <p className="small">{description}</p>
      {kind.category === "lab" && (
        <details open={open}>
          <summary
            className="small"
            onClick={(e) => {
              e.preventDefault(); // React owns `open`: the browser's own toggle would undo it
              setOpen((o) => !o);
            }}
          >
            {t("math.formulas")}
          </summary>
          {open && (
            <>
              <KindFormulas kind={kind.name} input={{ ...EMPTY_INPUT, params: schemaDefaults(kind.params_schema) }} live={false} />
              <p className="small muted">
                {t("math.docs")} <code>{docsSection(kind.name)}</code>
              </p>
            </>
          )}
        </details>
      )}
      <p className="small">
        <Link to={`/train?kind=${encodeURIComponent(kind.name)}`}>{t("learn.runsOf", { count: runs })}</Link>
        <span className="muted"> · {kind.queue}</span>
      </p>
    </article>
  );
}

export function LabKinds({ kinds }: { kinds: readonly JobKind[] }) {
  const { t } = useTranslation();
  const { hash } = useLocation();
  const lab = kinds.filter((k) => k.category === "lab" || k.category === "evaluation");
  // the runs of each kind among the newest 500: read when the page opens, not by a timer
  const counts = useQuery({ ...jobListQuery({ offset: 0, limit: 500 }), select: countByKind });
  // the kinds arrive after the page: scroll to a kind's section once it exists (/learn#lab-vae)
  const target = hash.slice(1);
  const ready = lab.length > 0;
  useEffect(() => {
    if (ready && target) document.getElementById(target)?.scrollIntoView?.({ block: "start" });
  }, [ready, target]);
  if (!ready) return null;
  return (
    <section id="lab">
      <h2>{t("learn.labTitle")}</h2>
      <div className="lab-grid">
        {lab.map((k) => (
          <KindCard key={k.name} kind={k} runs={counts.data?.[k.name] ?? 0} target={target === learnAnchor(k.name)} />
        ))}
      </div>
    </section>
  );
}

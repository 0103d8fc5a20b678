/** The run page's math: the kind's model, loss and update rule with the run's numbers in them. */
import { useMemo } from "react";
import { useTranslation } from "react-i18next";
import { eventsOfType, type JobEvent } from "../../../client/events";
import type { JobPublic } from "../../../client/types";
import { useJson } from "../../../hooks/useJson";
import { metricPoints } from "../../../lib/metrics";
import { mathOf } from "./index";
import { KindFormulas, MathLinks } from "./KindFormulas";
import type { ArtifactRef, MathInput } from "./types";
import { latestMetrics } from "./values";

export function RunMath({ job, events }: { job: Pick<JobPublic, "kind" | "params" | "result">; events: readonly JobEvent[] }) {
  const { t } = useTranslation();
  const { math } = mathOf(job.kind);
  const points = useMemo(() => metricPoints(events), [events]);
  const latest = useMemo(() => latestMetrics(points), [points]);
  const artifacts: ArtifactRef[] = useMemo(
    () => eventsOfType(events, "artifact").map((e) => ({ name: e.payload.name, url: e.payload.url, step: e.payload.step, seq: e.seq })),
    [events],
  );
  const picked = math.artifact ? math.artifact(artifacts) : null;
  const { data } = useJson<unknown>(picked?.url ?? null);
  const input: MathInput = {
    params: (job.params ?? {}) as Record<string, unknown>,
    metrics: latest.metrics,
    step: latest.step,
    points,
    result: (job.result ?? null) as Record<string, unknown> | null,
    artifact: picked ? data : null,
  };
  return (
    <section className="card run-math" id="math" data-testid="run-math">
      <h2>{t("math.title")}</h2>
      <KindFormulas kind={job.kind} input={input} />
      <MathLinks kind={job.kind} />
    </section>
  );
}

export default RunMath;

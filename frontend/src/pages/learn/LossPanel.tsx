/** The U-Net stage's training loss as its equation, beside the live number of a unet job. */
import { useQuery } from "@tanstack/react-query";
import { useCallback, useMemo } from "react";
import { useTranslation } from "react-i18next";
import { Link } from "react-router-dom";
import type { JobKind, JobPublic } from "../../client/types";
import { StateBadge } from "../../components/StateBadge";
import { Tex } from "../../components/Tex";
import { useJobEvents } from "../../hooks/useJobEvents";
import { formatNumber } from "../../lib/format";
import { metricPoints, seriesOf } from "../../lib/metrics";
import { jobListQuery, jobsInterval } from "../../lib/queries";
import { MetricsChart } from "../train/MetricsChart";
import { TEX } from "./math";

const isUnetKind = (name: string) => /unet/i.test(name);

export function LossPanel({ kinds }: { kinds: readonly JobKind[] }) {
  const { t } = useTranslation();
  const unetKinds = kinds.filter((k) => isUnetKind(k.name)).map((k) => k.name).join(",");
  const unetJobs = useCallback(
    (list: readonly JobPublic[]) => {
      const names = new Set(unetKinds.split(","));
      return list.filter((j) => isUnetKind(j.kind) || names.has(j.kind));
    },
    [unetKinds],
  );
  // the newest jobs (the run page's overlay list is the same one): read every few seconds while a
  // U-Net job is queued or running, every half minute otherwise (one launched elsewhere shows up)
  const jobs = useQuery({
    ...jobListQuery({ offset: 0, limit: 100 }),
    select: unetJobs,
    refetchInterval: (q) => jobsInterval(q.state.data && unetJobs(q.state.data)),
  });
  // the running one if any, else the newest
  const job: JobPublic | undefined = jobs.data?.find((j) => j.state === "running") ?? jobs.data?.[0];
  const { events } = useJobEvents(job?.id ?? null);
  const points = useMemo(() => metricPoints(events), [events]);
  const loss = useMemo(() => seriesOf(points, "train/loss", "step"), [points]);
  const last = loss.y[loss.y.length - 1];
  const lastStep = loss.x[loss.x.length - 1];

  return (
    <section className="card" id="loss">
      <h2>{t("learn.lossTitle")}</h2>
      <div className="loss">
        <div>
          <Tex block tex={TEX.loss} />
          <Tex block tex={TEX.latent} />
          <p className="muted small">{t("learn.lossExplain")}</p>
        </div>
        <div className="loss__live">
          {job ? (
            <>
              <p>
                <Link to={`/train/${job.id}`}>{job.kind}</Link> <StateBadge state={job.state} heartbeatAt={job.heartbeat_at} />
              </p>
              <p className="big-number" data-testid="live-loss">
                {last != null ? formatNumber(last) : "–"}
              </p>
              <p className="muted small">{lastStep != null ? t("train.atStep", { step: lastStep }) : t("train.noMetrics")}</p>
              {loss.x.length > 1 && <MetricsChart curves={[{ label: "train/loss", ...loss }]} smoothing={0.6} logY={false} xAxis="step" />}
            </>
          ) : (
            <p className="muted">{t("learn.noUnetJob")}</p>
          )}
        </div>
      </div>
    </section>
  );
}

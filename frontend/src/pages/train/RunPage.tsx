/** One run (and any runs overlaid to compare): live curves, media, hyperparameters, result. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { lazy, Suspense, useCallback, useEffect, useMemo, useReducer, useRef, useState } from "react";
import { useTranslation } from "react-i18next";
import { Link, useParams, useSearchParams } from "react-router-dom";
import { useAuth } from "../../auth/AuthContext";
import { api } from "../../client";
import { eventsOfType, type JobEvent } from "../../client/events";
import { isTerminal } from "../../client/types";
import { ProgressBar } from "../../components/ProgressBar";
import { StateBadge } from "../../components/StateBadge";
import { useJobEvents } from "../../hooks/useJobEvents";
import { artifactItems, groupArtifacts } from "../../lib/artifacts";
import { formatDateTime, formatDuration, formatNumber, formatValue, parseTime } from "../../lib/format";
import { bestOf, metricKeys, metricPoints, seriesOf, type XAxis } from "../../lib/metrics";
import { jobListQuery, jobQuery, queryKeys, STREAM_DOWN_MS } from "../../lib/queries";
import { MediaPanel } from "./MediaPanel";
import { MetricsChart, type CurveInput } from "./MetricsChart";
import { durationOf, isRun, resultNumbers } from "./runInfo";
import { canChangeJob, ShareButton } from "./ShareButton";

// KaTeX comes with the math section: loaded when a lab run is first opened
const RunMath = lazy(() => import("./math/RunMath"));

/** Loads one overlaid run's events and hands them up; renders nothing. */
function OverlayLoader({ id, onEvents }: { id: string; onEvents: (id: string, events: JobEvent[]) => void }) {
  const { events } = useJobEvents(id);
  useEffect(() => onEvents(id, events), [id, events, onEvents]);
  return null;
}

function curves0Lengths(points: ReturnType<typeof metricPoints>, keys: readonly string[]): number[] {
  return keys.map((k) => points.filter((p) => p.values[k] != null).length);
}

function defaultKeys(keys: readonly string[]): string[] {
  const losses = keys.filter((k) => /loss/.test(k));
  return losses.length ? losses : keys.slice(0, 2);
}

export function RunPage() {
  const { t, i18n } = useTranslation();
  const { user } = useAuth();
  const { id = "" } = useParams();
  const [search, setSearch] = useSearchParams();
  const compareIds = useMemo(() => (search.get("compare") ?? "").split(",").filter((x) => x && x !== id), [search, id]);

  const queryClient = useQueryClient();
  const { jobId: eventsOf, events, ended, stream, error: eventsError } = useJobEvents(id);
  // The job's state comes from its event stream, not from a timer: while the stream is open the
  // job is read again only when a state event (running, succeeded, ...) or the stream's end
  // arrives. While the stream is down (it could not be opened, or dropped and is reconnecting)
  // the job is read every STREAM_DOWN_MS until it ends, so the page never goes stale.
  const jobQ = useQuery({
    ...jobQuery(id),
    refetchInterval: (q) =>
      (stream === "retrying" || stream === "failed") && !isTerminal(q.state.data?.state) ? STREAM_DOWN_MS : false,
  });
  const job = jobQ.data;
  // a running job's duration and heartbeat age move with the clock, not only with its events
  const [, tick] = useReducer((n: number) => n + 1, 0);
  const live = !!job && !isTerminal(job.state);
  useEffect(() => {
    if (!live) return;
    const timer = setInterval(tick, 3000);
    return () => clearInterval(timer);
  }, [live]);
  const newestState = useMemo(() => {
    for (let i = events.length - 1; i >= 0; i--) if (events[i]!.type === "state") return events[i]!.seq;
    return 0;
  }, [events]);
  // what was already asked for, so each state event and the end cost one read at most
  const refreshed = useRef({ id, seq: 0, end: false });
  useEffect(() => {
    if (!job || job.id !== id || eventsOf !== id) return;
    if (refreshed.current.id !== id) refreshed.current = { id, seq: 0, end: false };
    const done = refreshed.current;
    // a state event newer than the job as read (its last_seq), or the end of a job read as unfinished
    const newer = newestState > job.last_seq && newestState > done.seq;
    const endedUnseen = ended && !isTerminal(job.state) && !done.end;
    if (!newer && !endedUnseen) return;
    done.seq = Math.max(done.seq, newestState);
    done.end ||= ended;
    void queryClient.invalidateQueries({ queryKey: queryKeys.job(id), exact: true });
  }, [job, id, eventsOf, newestState, ended, queryClient]);
  // what a run that ended may have made (a model, a LoRA, a dataset): lists shown now read again
  const endedState = job && job.id === id && isTerminal(job.state) ? job.state : null;
  useEffect(() => {
    if (!endedState) return;
    for (const key of [queryKeys.models, queryKeys.loras, queryKeys.datasets]) {
      void queryClient.invalidateQueries({ queryKey: key });
    }
  }, [endedState, queryClient]);
  // the job is not read again while its stream is open, so its heartbeat_at ages: the newest event
  // says the worker is alive as well as a heartbeat does
  const lastEventAt = events.length ? events[events.length - 1]!.created_at : null;
  const heartbeatAt =
    (parseTime(lastEventAt) ?? -Infinity) > (parseTime(job?.heartbeat_at) ?? -Infinity) ? lastEventAt : (job?.heartbeat_at ?? null);
  const liveProgress = useMemo(() => {
    for (let i = events.length - 1; i >= 0; i--) {
      const e = events[i]!;
      if (e.type === "progress") {
        const p = e.payload;
        if (p.total > 0) return Math.min(1, p.done / p.total);
      }
    }
    return null;
  }, [events]);

  const [overlay, setOverlay] = useState<Record<string, JobEvent[]>>({});
  const onOverlay = useCallback((oid: string, ev: JobEvent[]) => setOverlay((o) => ({ ...o, [oid]: ev })), []);

  // null: automatic, 0.6 once a curve is long enough to be noisy, none for a handful of points
  const [smoothingChoice, setSmoothing] = useState<number | null>(null);
  const [logY, setLogY] = useState(false);
  const [xAxis, setXAxis] = useState<XAxis>("step");
  const [chosenKeys, setChosenKeys] = useState<string[] | null>(null);
  // the runs to overlay: read when the page opens (the same list as the learn page's loss panel)
  const recent = useQuery(jobListQuery({ offset: 0, limit: 100 }));
  const candidates = useMemo(() => (recent.data ?? []).filter((j) => isRun(j) && j.id !== id), [recent.data, id]);
  const overlayJobs = useMemo(() => candidates.filter((c) => compareIds.includes(c.id)), [candidates, compareIds]);

  const points = useMemo(() => metricPoints(events), [events]);
  const overlayPoints = useMemo(
    () => compareIds.map((cid) => ({ id: cid, points: metricPoints(overlay[cid] ?? []) })),
    [compareIds, overlay],
  );
  const allKeys = useMemo(() => {
    const keys = new Set(metricKeys(points));
    for (const o of overlayPoints) for (const k of metricKeys(o.points)) keys.add(k);
    return [...keys];
  }, [points, overlayPoints]);
  const keys = chosenKeys ?? defaultKeys(allKeys);
  const hasEpoch = points.some((p) => p.epoch != null);

  const longest = Math.max(0, ...curves0Lengths(points, keys));
  const smoothing = smoothingChoice ?? (longest >= 50 ? 0.6 : 0);

  const runLabel = (rid: string, kind?: string) => `${kind ?? "run"} ${rid.slice(0, 6)}`;
  const curves: CurveInput[] = useMemo(() => {
    const out: CurveInput[] = [];
    const comparing = compareIds.length > 0;
    for (const k of keys) {
      out.push({ label: comparing ? `${runLabel(id, job?.kind)} ${k}` : k, ...seriesOf(points, k, xAxis) });
      for (const o of overlayPoints) {
        const kind = overlayJobs.find((j) => j.id === o.id)?.kind;
        const s = seriesOf(o.points, k, xAxis);
        if (s.x.length) out.push({ label: `${runLabel(o.id, kind)} ${k}`, ...s });
      }
    }
    return out;
  }, [keys, points, overlayPoints, xAxis, compareIds.length, id, job?.kind, overlayJobs]);

  const groups = useMemo(() => groupArtifacts(artifactItems(events)), [events]);
  const logs = useMemo(() => eventsOfType(events, "log").slice(-30), [events]);

  const setCompare = (ids: string[]) => {
    const next = new URLSearchParams(search);
    if (ids.length) next.set("compare", ids.join(","));
    else next.delete("compare");
    setSearch(next, { replace: true });
  };
  const toggleKey = (k: string) => {
    const cur = keys;
    setChosenKeys(cur.includes(k) ? cur.filter((x) => x !== k) : [...cur, k]);
  };

  const cancel = useMutation({
    mutationFn: () => api.POST("/api/v1/jobs/{job_id}/cancel", { params: { path: { job_id: id } } }),
    // the job shows cancel_requested at once; the lists show it on their next read
    onSettled: () => queryClient.invalidateQueries({ queryKey: queryKeys.jobs }),
  });

  if (jobQ.error && !job) return <p className="page error">{jobQ.error.message}</p>;
  if (!job) return <p className="page muted">{t("common.loading")}</p>;
  const params = job.params as Record<string, unknown>;
  const result = job.result as Record<string, unknown> | null;

  return (
    <div className="page run">
      <div className="page__head">
        <div>
          <p className="muted small">
            <Link to="/train">{t("train.title")}</Link> / {job.id}
          </p>
          <h1>
            {job.kind} <StateBadge state={job.state} heartbeatAt={heartbeatAt} />
          </h1>
          <p className="muted small">
            {t("train.started")}: {formatDateTime(job.started_at, i18n.language)} · {t("train.duration")}:{" "}
            {formatDuration(durationOf(job))} · {job.worker ?? "–"} · {t("train.attempts", { n: job.attempts, max: job.max_attempts })}
          </p>
        </div>
        <div className="toolbar">
          <ShareButton job={job} user={user} />
          {!isTerminal(job.state) && canChangeJob(job, user) && (
            <button type="button" className="danger" onClick={() => cancel.mutate()} data-testid="cancel">
              {t("common.cancel")}
            </button>
          )}
        </div>
      </div>
      {!isTerminal(job.state) && <ProgressBar value={liveProgress ?? job.progress} testId="progress" />}
      {job.error && <pre className="error pre">{job.error}</pre>}
      {eventsError && <p className="error">{eventsError}</p>}

      <section className="card">
        <div className="chart-controls">
          <fieldset className="metric-keys">
            <legend>{t("train.metrics")}</legend>
            {allKeys.map((k) => (
              <label key={k} className="chip chip--toggle">
                <input type="checkbox" checked={keys.includes(k)} onChange={() => toggleKey(k)} />
                {k}
              </label>
            ))}
          </fieldset>
          <label>
            {t("train.smoothing")} <strong>{smoothing.toFixed(2)}</strong>
            <input
              type="range"
              min={0}
              max={0.99}
              step={0.01}
              value={smoothing}
              onChange={(e) => setSmoothing(Number(e.target.value))}
              data-testid="smoothing"
            />
          </label>
          <label>
            {t("train.yScale")}{" "}
            <select value={logY ? "log" : "linear"} onChange={(e) => setLogY(e.target.value === "log")} data-testid="y-scale">
              <option value="linear">{t("train.linear")}</option>
              <option value="log">{t("train.log")}</option>
            </select>
          </label>
          <label>
            {t("train.xAxis")}{" "}
            <select value={xAxis} onChange={(e) => setXAxis(e.target.value as XAxis)} data-testid="x-axis">
              <option value="step">{t("train.x_step")}</option>
              <option value="epoch" disabled={!hasEpoch}>
                {t("train.x_epoch")}
              </option>
              <option value="time">{t("train.x_time")}</option>
            </select>
          </label>
          <label>
            {t("train.overlay")}{" "}
            <select
              value=""
              onChange={(e) => e.target.value && setCompare([...compareIds, e.target.value])}
              data-testid="overlay-add"
            >
              <option value="">{t("train.addRun")}</option>
              {candidates
                .filter((c) => !compareIds.includes(c.id))
                .map((c) => (
                  <option key={c.id} value={c.id}>
                    {c.kind} {c.id.slice(0, 6)} · {t(`state.${c.state}`)}
                  </option>
                ))}
            </select>
          </label>
        </div>
        {compareIds.length > 0 && (
          <div className="chips">
            {compareIds.map((cid) => (
              <span key={cid} className="chip">
                <Link to={`/train/${cid}`}>{runLabel(cid, overlayJobs.find((j) => j.id === cid)?.kind)}</Link>
                <button type="button" className="link" aria-label={t("train.remove")} onClick={() => setCompare(compareIds.filter((x) => x !== cid))}>
                  ×
                </button>
              </span>
            ))}
          </div>
        )}
        {compareIds.map((cid) => (
          <OverlayLoader key={cid} id={cid} onEvents={onOverlay} />
        ))}
        <MetricsChart curves={curves} smoothing={smoothing} logY={logY} xAxis={xAxis} />
        {keys.length > 0 && points.length > 0 && (
          <p className="muted small" data-testid="metric-summary">
            {keys.map((k) => {
              const s = seriesOf(points, k, "step");
              const last = s.y[s.y.length - 1];
              return (
                <span key={k} className="chip">
                  {k}: {formatNumber(last)} ({t("train.bestShort")} {formatNumber(bestOf(k, s.y))}, n={s.y.length})
                </span>
              );
            })}
          </p>
        )}
      </section>

      {job.kind.startsWith("lab.") && (
        <Suspense fallback={<p className="muted">{t("common.loading")}</p>}>
          <RunMath job={job} events={events} />
        </Suspense>
      )}

      <section>
        <h2>{t("train.media")}</h2>
        <MediaPanel groups={groups} jobId={id} />
      </section>

      <div className="grid2">
        <section className="card">
          <h2>{t("train.hyperparameters")}</h2>
          <table className="table table--kv">
            <tbody>
              {Object.entries(params).map(([k, v]) => (
                <tr key={k}>
                  <th>{k}</th>
                  <td className="mono">{formatValue(v)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
        <section className="card">
          <h2>{t("train.result")}</h2>
          {result ? (
            <table className="table table--kv">
              <tbody>
                {Object.entries(resultNumbers(result)).map(([k, v]) => (
                  <tr key={k}>
                    <th>{k}</th>
                    <td className="mono">{formatNumber(v)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : (
            <p className="muted">{t("train.noResult")}</p>
          )}
          {logs.length > 0 && (
            <>
              <h3>{t("train.logTitle")}</h3>
              <pre className="pre log">{logs.map((l) => l.payload.message).join("\n")}</pre>
            </>
          )}
        </section>
      </div>
    </div>
  );
}

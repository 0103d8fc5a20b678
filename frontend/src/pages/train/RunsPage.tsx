/**
 * The runs: a table of training, evaluation and lab jobs to filter, open and compare, and a
 * launcher for the kinds the user may run. `?kind=` filters the table and preselects the kind.
 */
import { useQuery } from "@tanstack/react-query";
import { useCallback, useMemo, useState } from "react";
import { useTranslation } from "react-i18next";
import { Link, useNavigate, useSearchParams } from "react-router-dom";
import { useAuth } from "../../auth/AuthContext";
import type { JobPublic } from "../../client/types";
import { StateBadge } from "../../components/StateBadge";
import { formatDateTime, formatDuration, formatNumber, formatValue } from "../../lib/format";
import { jobKindsQuery, jobListQuery, jobsInterval, type JobListQuery } from "../../lib/queries";
import { kindTitle, launchableKinds } from "./launch/kinds";
import { LaunchForm } from "./launch/LaunchForm";
import { bestMetric, datasetOf, durationOf, isRun, keyHyperparameters } from "./runInfo";

const STATES = ["queued", "running", "succeeded", "failed", "cancelled"] as const;
const runsOf = (jobs: readonly JobPublic[]) => jobs.filter(isRun);

export function RunsPage() {
  const { t, i18n } = useTranslation();
  const navigate = useNavigate();
  const [search, setSearch] = useSearchParams();
  const kind = search.get("kind") ?? "";
  const state = search.get("state") ?? "";
  const [selected, setSelected] = useState<string[]>([]);
  const { user } = useAuth();
  const admin = user?.role === "admin";

  const jobKinds = useQuery(jobKindsQuery());
  const kindsByName = useMemo(() => new Map((jobKinds.data ?? []).map((k) => [k.name, k])), [jobKinds.data]);
  const titleOf = useCallback(
    (name: string) => {
      const k = kindsByName.get(name);
      return k ? kindTitle(k, i18n.language) : name;
    },
    [kindsByName, i18n.language],
  );
  // the launcher opens by itself when ?kind= names a kind the user may launch (the learn page's links)
  const [launcherChoice, setLauncher] = useState<boolean | null>(null);
  const preselected = !!kind && launchableKinds(jobKinds.data ?? [], admin).some((k) => k.name === kind);
  const launcherOpen = launcherChoice ?? preselected;

  const query: JobListQuery = { offset: 0, limit: 200 };
  if (kind) query.kind = kind;
  if (state) query.state = state as JobListQuery["state"];
  // read every few seconds while a listed run is queued or running, every half minute otherwise
  // (a run launched elsewhere shows up); a run's own page follows it by its event stream instead
  const jobs = useQuery({
    ...jobListQuery(query),
    select: runsOf,
    refetchInterval: (q) => jobsInterval(q.state.data && runsOf(q.state.data)),
  });
  // durations and heartbeats are as of the last read
  const now = jobs.dataUpdatedAt || Date.now();

  const runs = useMemo(() => jobs.data ?? [], [jobs.data]);
  const kinds = useMemo(() => [...new Set(runs.map((r) => r.kind))].sort(), [runs]);

  const setFilter = (key: string, value: string) => {
    const next = new URLSearchParams(search);
    if (value) next.set(key, value);
    else next.delete(key);
    setSearch(next, { replace: true });
  };
  const toggle = (id: string) => setSelected((s) => (s.includes(id) ? s.filter((x) => x !== id) : [...s, id]));
  const compare = () => {
    const [first, ...rest] = selected;
    if (first) navigate(`/train/${first}${rest.length ? `?compare=${rest.join(",")}` : ""}`);
  };

  return (
    <div className="page">
      <div className="page__head">
        <h1>{t("train.title")}</h1>
        <div className="toolbar">
          <button
            type="button"
            className="primary"
            aria-expanded={launcherOpen}
            onClick={() => setLauncher(!launcherOpen)}
            data-testid="new-run"
          >
            {t("train.newRun")}
          </button>
          <label>
            {t("train.kind")}{" "}
            <select value={kind} onChange={(e) => setFilter("kind", e.target.value)}>
              <option value="">{t("common.all")}</option>
              {[...new Set([...kinds, ...(kind ? [kind] : [])])].map((k) => (
                <option key={k} value={k}>
                  {titleOf(k)}
                </option>
              ))}
            </select>
          </label>
          <label>
            {t("train.state")}{" "}
            <select value={state} onChange={(e) => setFilter("state", e.target.value)}>
              <option value="">{t("common.all")}</option>
              {STATES.map((s) => (
                <option key={s} value={s}>
                  {t(`state.${s}`)}
                </option>
              ))}
            </select>
          </label>
          <button type="button" disabled={selected.length < 1} onClick={compare} data-testid="compare">
            {selected.length > 1 ? t("train.compare", { count: selected.length }) : t("train.open")}
          </button>
        </div>
      </div>
      {launcherOpen && (
        <section className="runs__launcher" data-testid="launcher">
          <h2>{t("train.launchTitle")}</h2>
          {!admin && <p className="muted small">{t("train.learnerCaps")}</p>}
          {jobKinds.error && <p className="error">{jobKinds.error.message}</p>}
          {jobKinds.data && (
            <LaunchForm kinds={jobKinds.data} admin={admin} initialKind={kind} onLaunched={(job) => navigate(`/train/${job.id}`)} />
          )}
        </section>
      )}
      {jobs.error && <p className="error">{jobs.error.message}</p>}
      {!jobs.isPending && runs.length === 0 && <p className="muted">{t("train.empty")}</p>}
      {runs.length > 0 && (
        <div className="table-wrap">
          <table className="table" data-testid="runs-table">
            <thead>
              <tr>
                <th aria-label={t("train.select")} />
                <th>{t("train.kind")}</th>
                <th>{t("train.dataset")}</th>
                <th>{t("train.state")}</th>
                <th>{t("train.started")}</th>
                <th>{t("train.duration")}</th>
                <th>{t("train.hyperparameters")}</th>
                <th>{t("train.best")}</th>
              </tr>
            </thead>
            <tbody>
              {runs.map((job: JobPublic) => {
                const params = job.params as Record<string, unknown>;
                const best = bestMetric(job.result as Record<string, unknown> | null);
                return (
                  <tr key={job.id} data-testid="run-row" data-job={job.id} data-state={job.state}>
                    <td>
                      <input
                        type="checkbox"
                        aria-label={t("train.select")}
                        checked={selected.includes(job.id)}
                        onChange={() => toggle(job.id)}
                      />
                    </td>
                    <td>
                      <Link to={`/train/${job.id}`} title={job.kind}>
                        {titleOf(job.kind)}
                      </Link>
                      {job.shared && <span className="chip">{t("share.shared")}</span>}
                    </td>
                    <td>{datasetOf(params) ?? "–"}</td>
                    <td>
                      <StateBadge state={job.state} heartbeatAt={job.heartbeat_at} now={now} />
                      {job.state === "running" && <span className="muted small"> {Math.round(job.progress * 100)}%</span>}
                    </td>
                    <td className="nowrap">{formatDateTime(job.started_at, i18n.language)}</td>
                    <td className="nowrap">{formatDuration(durationOf(job, now))}</td>
                    <td className="small">
                      {keyHyperparameters(params).map(([k, v]) => (
                        <span key={k} className="chip">
                          {k}={formatValue(v)}
                        </span>
                      ))}
                    </td>
                    <td className="nowrap">{best ? `${best[0]} ${formatNumber(best[1])}` : "–"}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { Link } from "react-router-dom";
import { api } from "../../client";
import { errorMessage } from "../../client/errors";
import { isTerminal, type JobPublic } from "../../client/types";
import { StateBadge } from "../../components/StateBadge";
import { formatDateTime, formatDuration, parseTime } from "../../lib/format";
import { jobKindsQuery, jobListQuery, jobsInterval, queryKeys, workersQuery } from "../../lib/queries";
import { LaunchForm } from "../train/launch/LaunchForm";
import { UsersPanel } from "./UsersPanel";

function JobActions({ job, onDone }: { job: JobPublic; onDone: (message: string | null) => void }) {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  // cancel or retry; then every job and the workers (their running jobs) are read again
  const act = useMutation({
    mutationFn: async (action: "cancel" | "retry") => {
      const path = action === "cancel" ? "/api/v1/jobs/{job_id}/cancel" : "/api/v1/jobs/{job_id}/retry";
      const { error } = await api.POST(path, { params: { path: { job_id: job.id } } });
      return error ? errorMessage(error) : null;
    },
    onSettled: (message, failure) => {
      onDone(failure ? errorMessage(failure) : (message ?? null));
      void queryClient.invalidateQueries({ queryKey: queryKeys.jobs });
      void queryClient.invalidateQueries({ queryKey: queryKeys.workers });
    },
  });
  return (
    <span className="actions">
      {!isTerminal(job.state) && (
        <button type="button" className="danger small" onClick={() => act.mutate("cancel")} data-testid="job-cancel">
          {t("common.cancel")}
        </button>
      )}
      {(job.state === "failed" || job.state === "cancelled") && (
        <button type="button" className="small" onClick={() => act.mutate("retry")} data-testid="job-retry">
          {t("admin.retry")}
        </button>
      )}
    </span>
  );
}

function JobsTable({ jobs, onChanged, now }: { jobs: readonly JobPublic[]; onChanged: (m: string | null) => void; now: number }) {
  const { t, i18n } = useTranslation();
  if (jobs.length === 0) return <p className="muted">{t("admin.noJobs")}</p>;
  return (
    <div className="table-wrap">
      <table className="table">
        <thead>
          <tr>
            <th>{t("admin.job")}</th>
            <th>{t("train.kind")}</th>
            <th>{t("admin.owner")}</th>
            <th>{t("train.state")}</th>
            <th>{t("admin.created")}</th>
            <th>{t("admin.worker")}</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {jobs.map((j) => (
            <tr key={j.id} data-job={j.id} data-state={j.state}>
              <td className="mono">
                <Link to={`/train/${j.id}`}>{j.id.slice(0, 8)}</Link>
              </td>
              <td>{j.kind}</td>
              <td>{j.owner ?? "–"}</td>
              <td>
                <StateBadge state={j.state} heartbeatAt={j.heartbeat_at} now={now} />
                {j.error && <span className="muted small" title={j.error}> ⚠</span>}
              </td>
              <td className="nowrap">{formatDateTime(j.created_at, i18n.language)}</td>
              <td className="small">{j.worker ?? "–"}</td>
              <td>
                <JobActions job={j} onDone={onChanged} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function AdminPage() {
  const { t } = useTranslation();
  const queryClient = useQueryClient();
  const [message, setMessage] = useState<string | null>(null);

  const kinds = useQuery(jobKindsQuery());
  // the workers' heartbeats ("last seen") and queue lengths: read every 3 s while the page is open
  const workers = useQuery({ ...workersQuery(), refetchInterval: 3000 });
  // "last seen" is as of the last read
  const now = workers.dataUpdatedAt || Date.now();
  // read every few seconds while one of the listed jobs is queued or running, every half minute otherwise
  const recent = useQuery({
    ...jobListQuery({ offset: 0, limit: 30 }),
    refetchInterval: (q) => jobsInterval(q.state.data),
  });

  const info = workers.data;
  return (
    <div className="page admin">
      <h1>{t("admin.title")}</h1>
      {message && <p className="error">{message}</p>}
      <div className="admin__grid">
        <section>
          <h2>{t("admin.launchTitle")}</h2>
          {kinds.error && <p className="error">{kinds.error.message}</p>}
          {kinds.data && (
            <LaunchForm
              admin
              kinds={kinds.data}
              workers={workers.data?.workers ?? null}
              onLaunched={() => void queryClient.invalidateQueries({ queryKey: queryKeys.jobLists })}
            />
          )}
        </section>
        <section>
          <h2>{t("admin.workers")}</h2>
          {workers.error && <p className="error">{workers.error.message}</p>}
          {info && (
            <>
              <div className="queues" data-testid="queues">
                {Object.entries(info.queues).map(([q, n]) => (
                  <div key={q} className="stat">
                    <span className="stat__value">{n ?? "–"}</span>
                    <span className="stat__label">{t("admin.queued", { queue: q })}</span>
                  </div>
                ))}
              </div>
              <div className="table-wrap">
                <table className="table" data-testid="workers-table">
                  <thead>
                    <tr>
                      <th>{t("admin.worker")}</th>
                      <th>{t("admin.queues")}</th>
                      <th>{t("admin.device")}</th>
                      <th title={t("admin.devicesHelp")}>{t("admin.devices")}</th>
                      <th>{t("admin.lastSeen")}</th>
                      <th>{t("admin.running")}</th>
                    </tr>
                  </thead>
                  <tbody>
                    {info.workers.length === 0 && (
                      <tr>
                        <td colSpan={6} className="muted">
                          {t("admin.noWorkers")}
                        </td>
                      </tr>
                    )}
                    {info.workers.map((w) => {
                      const seen = parseTime(w.last_seen);
                      return (
                        <tr key={w.name} data-testid="worker-row">
                          <td className="mono small">{w.name}</td>
                          <td>{w.queues.join(", ")}</td>
                          <td>{w.device}</td>
                          <td className="mono" data-testid="worker-devices">
                            {w.devices}
                          </td>
                          <td className="nowrap">
                            {seen == null ? "–" : t("admin.ago", { time: formatDuration((now - seen) / 1000) })}
                          </td>
                          <td className="mono small">
                            {w.running_job_id ? <Link to={`/train/${w.running_job_id}`}>{w.running_job_id.slice(0, 8)}</Link> : "–"}
                          </td>
                        </tr>
                      );
                    })}
                  </tbody>
                </table>
              </div>
              <h3>{t("admin.runningJobs")}</h3>
              <JobsTable jobs={info.running} onChanged={setMessage} now={now} />
            </>
          )}
        </section>
      </div>
      <section>
        <h2>{t("admin.recentJobs")}</h2>
        {recent.error && <p className="error">{recent.error.message}</p>}
        {recent.data && <JobsTable jobs={recent.data} onChanged={setMessage} now={now} />}
      </section>
      <UsersPanel />
    </div>
  );
}

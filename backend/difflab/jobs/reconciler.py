"""The reconciler: no job stuck running, no queued job forgotten.

- A running job whose heartbeat stopped (its worker died, was killed -9, lost power) goes back
  to queued while attempts remain, and is failed with the reason when they are spent.
- A queued job whose message may be gone (broker restarted without persistence) is published
  again after a while; duplicate messages are harmless because claiming a job is atomic.
- Workers that stopped beating are removed from the workers table.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, select, update

from difflab.config import get_settings
from difflab.db.engine import session_scope
from difflab.db.models import Job, Worker, utcnow
from difflab.db.unit_of_work import after_commit
from difflab.jobs import notify
from difflab.jobs.events import append_event
from difflab.jobs.lifecycle import as_utc
from difflab.jobs.publish import BrokerUnavailable, publish_job, queue_depths
from difflab.jobs.registry import all_kinds

log = logging.getLogger(__name__)


@dataclass
class ReconcileReport:
    requeued: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    republished: list[str] = field(default_factory=list)
    workers_removed: int = 0


def _time_limit(kind: str) -> int:
    spec = all_kinds().get(kind)
    return spec.time_limit_s if spec else get_settings().job_time_limit_s


def reconcile_once() -> ReconcileReport:
    settings = get_settings()
    now = utcnow()
    report = ReconcileReport()
    stale = now - timedelta(seconds=settings.stale_after_s)
    with session_scope() as s:
        dead = s.execute(
            select(Job.id, Job.attempts, Job.max_attempts).where(
                Job.state == "running", Job.heartbeat_at < stale
            )
        ).all()
    for job_id, attempts, max_attempts in dead:
        reason = (
            f"worker lost: no heartbeat for {settings.stale_after_s:.0f} s (attempt {attempts})"
        )
        _requeue_or_fail(job_id, attempts, max_attempts, reason, Job.heartbeat_at < stale, report)
    for job_id in report.requeued:
        _republish(job_id, report)

    for job_id in _missing_messages(now - timedelta(seconds=settings.requeue_after_s)):
        _republish(job_id, report)

    with session_scope() as s:
        res = s.execute(delete(Worker).where(Worker.last_seen < stale))
        report.workers_removed = int(res.rowcount or 0)  # type: ignore[attr-defined]
    if report.requeued or report.failed or report.republished:
        log.info("reconciler: %s", report)
    return report


def _requeue_or_fail(
    job_id: str,
    attempts: int,
    max_attempts: int,
    reason: str,
    still: ColumnElement[bool],
    report: ReconcileReport,
) -> None:
    """Give a lost attempt's job back to the queue while attempts remain, else fail it.

    `still` is the condition that made the attempt lost; it is checked again in the UPDATE, so a
    job that beat or ended meanwhile is left alone.
    """
    now = utcnow()
    owned = (Job.id == job_id, Job.state == "running", Job.attempts == attempts, still)
    with session_scope() as s:
        if attempts < max_attempts:
            res = s.execute(
                update(Job)
                .where(*owned)
                .values(state="queued", worker=None, enqueued_at=now, error=reason)
            )
            if res.rowcount:  # type: ignore[attr-defined]
                append_event(s, job_id, "state", {"state": "queued", "reason": reason})
                report.requeued.append(job_id)
        else:
            res = s.execute(
                update(Job)
                .where(*owned)
                .values(
                    state="failed",
                    finished_at=now,
                    error=f"{reason}; no attempts left ({attempts}/{max_attempts})",
                )
            )
            if res.rowcount:  # type: ignore[attr-defined]
                append_event(s, job_id, "state", {"state": "failed", "error": reason})
                after_commit(s, notify.publish, job_id, True)
                report.failed.append(job_id)


def release_worker_jobs(worker: str, reason: str) -> ReconcileReport:
    """The worker `worker` is known dead (its process was stopped or is gone): requeue the jobs
    it was running at once, without waiting for their heartbeats to go stale, and drop its row."""
    report = ReconcileReport()
    with session_scope() as s:
        held = s.execute(
            select(Job.id, Job.attempts, Job.max_attempts).where(
                Job.state == "running", Job.worker == worker
            )
        ).all()
    for job_id, attempts, max_attempts in held:
        why = f"{reason} (attempt {attempts})"
        _requeue_or_fail(job_id, attempts, max_attempts, why, Job.worker == worker, report)
    for job_id in report.requeued:
        _republish(job_id, report)
    with session_scope() as s:
        res = s.execute(delete(Worker).where(Worker.name == worker))
        report.workers_removed = int(res.rowcount or 0)  # type: ignore[attr-defined]
    if report.requeued or report.failed:
        log.info("released the jobs of worker %s: %s", worker, report)
    return report


def _missing_messages(forgotten: datetime) -> list[str]:
    """Queued jobs, waiting since before `forgotten`, whose message may be gone.

    Every queued job has one message in its queue; a message runs any queued job of its kind
    (lifecycle.fair_next). So a queue holding as many messages as it has queued jobs lost
    nothing, however long they wait behind a long job: nothing is published again. Only the
    shortfall is, oldest first (all of them where the broker cannot count its messages).
    """
    with session_scope() as s:
        waiting = s.execute(
            select(Job.id, Job.queue, Job.enqueued_at)
            .where(Job.state == "queued", Job.cancel_requested.is_(False))
            .order_by(Job.enqueued_at)
        ).all()

    def overdue(at: datetime | None) -> bool:
        when = as_utc(at)
        return when is not None and when < forgotten

    if not any(overdue(at) for _, _, at in waiting):
        return []
    depths = queue_depths()
    out: list[str] = []
    for queue in {q for _, q, _ in waiting}:
        jobs = [(j, at) for j, q, at in waiting if q == queue]
        depth = depths.get(queue)
        shortfall = len(jobs) if depth is None else max(0, len(jobs) - depth)
        out += [j for j, at in jobs if overdue(at)][:shortfall]
    return out


def _republish(job_id: str, report: ReconcileReport) -> None:
    with session_scope() as s:
        job = s.get(Job, job_id)
        if job is None or job.state != "queued":
            return
        queue, kind = job.queue, job.kind
        job.enqueued_at = utcnow()
    try:
        publish_job(job_id, queue, _time_limit(kind))
        notify.ring_workers()
        report.republished.append(job_id)
    except BrokerUnavailable:
        log.warning("reconciler: broker down, job %s stays queued", job_id)

"""The job lifecycle: queued -> running -> succeeded | failed | cancelled.

Every transition is one conditional UPDATE, so two workers (or a worker and the reconciler)
can never both move a job: whoever's WHERE clause matches wins, the other sees rowcount 0.

The functions that change a job's state own their commit (db/unit_of_work.py): each commits at
the point its guarantee needs (a new job once the broker took its message, a claim before the
work starts), along with whatever the caller's session holds; callers do not commit for them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from difflab.config import get_settings
from difflab.db.engine import advisory_lock
from difflab.db.models import TERMINAL_STATES, Job, User, Worker, utcnow
from difflab.db.unit_of_work import after_commit
from difflab.jobs import notify
from difflab.jobs.events import add_event, append_event
from difflab.jobs.publish import publish_job
from difflab.runtime import KindSpec


class QueueFull(RuntimeError):
    pass


class ServerBusy(RuntimeError):
    """Too many jobs wait in all queues together: backpressure, 503 with Retry-After."""


class IdempotencyConflict(RuntimeError):
    """The idempotency key names an earlier job whose request was different."""


def request_digest(kind: str, params: dict[str, Any]) -> str:
    """A fingerprint of a request as the client sent it (validated, before prepare)."""
    canonical = json.dumps({"kind": kind, "params": params}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _same_request(existing: Job, digest: str | None) -> Job:
    if digest and existing.request_digest and existing.request_digest != digest:
        raise IdempotencyConflict(
            f"idempotency key already used for job {existing.id} with other parameters"
        )
    return existing


def as_utc(dt: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    if dt is None:
        return None
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def submit_job(
    session: Session,
    spec: KindSpec,
    params: BaseModel,
    owner: User | None,
    idempotency_key: str | None = None,
    digest: str | None = None,
    wall_limit_s: int | None = None,
    capped: bool = True,
) -> tuple[Job, bool]:
    """Create the job row and publish its id. Returns (job, created). `wall_limit_s` caps
    each attempt's running time below the kind's own limit (a learner's job). `capped=False`:
    the queue caps (the owner's, the server's) do not apply, for the cells a running X/Y/Z plot
    submits: the plot counted already, a plot holds a bounded number of cells queued at once,
    and a plot whose cells waited on a cap its own job fills would wait forever.

    Owns its commit: the row is committed only once the broker took the message, so with the
    broker down the caller gets BrokerUnavailable and no row is left behind.
    """
    settings = get_settings()
    owner_id = owner.id if owner is not None else None
    if idempotency_key:
        existing = session.scalar(
            select(Job).where(Job.owner_id == owner_id, Job.idempotency_key == idempotency_key)
        )
        if existing is not None:
            return _same_request(existing, digest), False
    if owner is not None and capped:
        advisory_lock(session, "submit", str(owner_id))  # one user's submits count in turn
        waiting = session.scalar(
            select(func.count())
            .select_from(Job)
            .where(Job.owner_id == owner_id, Job.state.in_(("queued", "running")))
        )
        if (waiting or 0) >= settings.max_queued_per_user:
            raise QueueFull(
                f"you already have {waiting} queued or running jobs (limit "
                f"{settings.max_queued_per_user}); try again when one has ended"
            )
    queued = (
        session.scalar(select(func.count()).select_from(Job).where(Job.state == "queued"))
        if capped
        else 0
    )
    if (queued or 0) >= settings.max_queued_total:
        raise ServerBusy(
            f"{queued} jobs are waiting (the server's limit is {settings.max_queued_total}); "
            "try again shortly"
        )
    job = Job(
        kind=spec.name,
        category=spec.category,
        queue=spec.queue,
        params=params.model_dump(mode="json"),
        owner_id=owner_id,
        state="queued",
        max_attempts=settings.max_attempts,
        idempotency_key=idempotency_key or None,
        request_digest=digest if idempotency_key else None,
        enqueued_at=utcnow(),
        wall_limit_s=wall_limit_s if wall_limit_s and wall_limit_s < spec.time_limit_s else None,
    )
    session.add(job)
    try:
        session.flush()
    except IntegrityError:
        # the same idempotency key arrived concurrently and the other request won the insert
        session.rollback()
        existing = session.scalar(
            select(Job).where(Job.owner_id == owner_id, Job.idempotency_key == idempotency_key)
        )
        if existing is None:
            raise
        return _same_request(existing, digest), False
    append_event(session, job.id, "state", {"state": "queued"})
    try:
        publish_job(job.id, spec.queue, spec.time_limit_s)
    except Exception:
        session.rollback()
        raise
    session.commit()
    notify.ring_workers()  # the embedded broker's workers wake now, not at their next poll
    return job, True


@dataclass(frozen=True)
class Claim:
    job_id: str
    attempt: int
    kind: str
    params: dict[str, Any]
    wall_limit_s: int | None = None  # this attempt stops after so many seconds of running


def claim_job_if_cancelled(session: Session, job_id: str) -> bool:
    """A queued job whose cancel was requested before any worker took it ends cancelled.
    Commits."""
    res = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.state == "queued", Job.cancel_requested.is_(True))
        .values(state="cancelled", finished_at=utcnow())
    )
    if res.rowcount:  # type: ignore[attr-defined]
        append_event(session, job_id, "state", {"state": "cancelled"})
        after_commit(session, notify.publish, job_id, True)
    session.commit()
    return bool(res.rowcount)  # type: ignore[attr-defined]


def fair_next(session: Session, token_job_id: str) -> str | None:
    """The queued job a message should run: fair between users.

    A message is a token for its kind, not for one job: of the queued jobs of that kind (so
    the message's queue and time limit fit), the one whose owner was served least recently
    (never served first), then the oldest. One user's long line of jobs therefore cannot hold
    the workers: another user's job starts next. Each queued job keeps a message of its own,
    so there are never fewer messages than queued jobs; a message that finds none is dropped.
    """
    # the message's kind, read in the same statement (none when its job is gone)
    token = aliased(Job)  # an alias: the subquery must not correlate with the jobs it picks
    kind = select(token.kind).where(token.id == token_job_id).scalar_subquery()
    other = aliased(Job)
    owner_served = (
        select(func.max(other.started_at))
        .where(other.owner_id == Job.owner_id)
        .correlate(Job)
        .scalar_subquery()
    )
    return session.scalar(
        select(Job.id)
        .where(Job.state == "queued", Job.kind == kind, Job.cancel_requested.is_(False))
        .order_by(owner_served.asc().nulls_first(), Job.created_at, Job.id)
        .limit(1)
    )


def name_worker_job(session: Session, worker: str, job_id: str | None) -> None:
    """The job the worker's row says it runs (None: none), in the session's transaction."""
    session.execute(update(Worker).where(Worker.name == worker).values(running_job_id=job_id))


def claim_job(
    session: Session, job_id: str, worker: str, *, on_worker_row: bool = False
) -> Claim | None:
    """Move a queued job to running for this worker; None if someone else has it or it ended.
    Commits the claim before the work starts; with `on_worker_row`, the worker's row names the
    job from the same commit."""
    now = utcnow()
    res = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.state == "queued", Job.cancel_requested.is_(False))
        .values(
            state="running",
            attempts=Job.attempts + 1,
            started_at=func.coalesce(Job.started_at, now),
            heartbeat_at=now,
            worker=worker,
            error=None,
            last_seq=Job.last_seq + 1,  # the seq of the "running" event below
        )
        .returning(Job.attempts, Job.kind, Job.params, Job.wall_limit_s, Job.last_seq)
    ).first()
    if res is None:
        session.commit()
        claim_job_if_cancelled(session, job_id)
        return None
    attempt, kind, params, wall_limit_s, seq = res
    add_event(
        session, job_id, int(seq), "state", {"state": "running", "attempt": attempt,
                                              "worker": worker},
    )  # fmt: skip
    if on_worker_row:
        name_worker_job(session, worker, job_id)
    # streams following the job see it running now, not at the job's first stored event
    after_commit(session, notify.publish, job_id)
    session.commit()
    return Claim(job_id, int(attempt), kind, dict(params), wall_limit_s)


def finish_job(
    session: Session,
    claim: Claim,
    state: str,
    *,
    result: dict[str, Any] | None = None,
    error: str | None = None,
    worker_row: str | None = None,
) -> bool:
    """Record the end of this attempt; False if the job was taken away from it meanwhile.
    Commits (rolls back when it was taken away). `worker_row`: the worker whose row stops
    naming the job in the same commit."""
    assert state in TERMINAL_STATES
    values: dict[str, Any] = {
        "state": state,
        "finished_at": utcnow(),
        "error": error,
        "result": result,
    }
    if state == "succeeded":
        values["progress"] = 1.0
    seq = session.execute(
        update(Job)
        .where(Job.id == claim.job_id, Job.state == "running", Job.attempts == claim.attempt)
        .values(**values, last_seq=Job.last_seq + 1)  # the end event's seq
        .returning(Job.last_seq)
    ).scalar()
    if seq is None:  # taken away from this attempt
        session.rollback()
        return False
    payload: dict[str, Any] = {"state": state}
    if error:
        payload["error"] = error
    add_event(session, claim.job_id, int(seq), "state", payload)
    if worker_row is not None:
        name_worker_job(session, worker_row, None)
    session.commit()
    return True


def request_cancel(session: Session, job: Job) -> Job:
    """Queued: cancelled at once. Running: flagged; the worker stops at its next step.

    Commits, with whatever else the session holds (an audit row); once committed, the job's
    streams are notified, so a queued job's end reaches them without waiting for a poll."""
    if job.state in TERMINAL_STATES:
        return job
    after_commit(session, notify.publish, job.id, True)  # a queued job ends here and now
    if job.state == "queued":
        res = session.execute(
            update(Job)
            .where(Job.id == job.id, Job.state == "queued")
            .values(state="cancelled", cancel_requested=True, finished_at=utcnow())
        )
        if res.rowcount:  # type: ignore[attr-defined]
            append_event(session, job.id, "state", {"state": "cancelled"})
            session.commit()
            session.refresh(job)
            return job
    session.execute(update(Job).where(Job.id == job.id).values(cancel_requested=True))
    append_event(session, job.id, "log", {"message": "cancel requested"})
    session.commit()
    session.refresh(job)
    return job


def beat(session: Session, claim: Claim) -> bool:
    """Heartbeat of a running attempt; False once the attempt no longer owns the job. Commits."""
    res = session.execute(
        update(Job)
        .where(Job.id == claim.job_id, Job.state == "running", Job.attempts == claim.attempt)
        .values(heartbeat_at=utcnow())
    )
    session.commit()
    return bool(res.rowcount)  # type: ignore[attr-defined]

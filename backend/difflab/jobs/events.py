"""Event rows: every progress step, metric point, artifact and state change of a job.

`append_event` numbers events per job with an atomic counter on the job row, so seq is dense
and ordered and an SSE client can resume from any Last-Event-ID.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, insert, select, update
from sqlalchemy.orm import Session

from difflab.db.models import Job, JobEvent, utcnow
from difflab.event_types import check_payload


def append_event(session: Session, job_id: str, type: str, payload: Mapping[str, Any]) -> int:
    """Store one event; its payload must match its type's model (event_types.py)."""
    seq = session.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(last_seq=Job.last_seq + 1)
        .returning(Job.last_seq)
    ).scalar_one()
    add_event(session, job_id, int(seq), type, payload)
    return int(seq)


def add_event(
    session: Session, job_id: str, seq: int, type: str, payload: Mapping[str, Any]
) -> None:
    """Store one event at a seq the caller took from the job row's counter (an update that
    also set `last_seq = last_seq + 1`, returning it); its payload is checked here."""
    stored = check_payload(type, payload)
    session.add(JobEvent(job_id=job_id, seq=seq, type=type, payload=stored, created_at=utcnow()))


def append_checked(
    session: Session,
    job_id: str,
    events: Sequence[tuple[str, Mapping[str, Any], datetime]],
    **job_values: Any,
) -> int:
    """Store several events already checked against their types, in order: one update of the
    job row (its counter, and `job_values` with it) and one multi-row insert. Returns the last
    seq."""
    last = session.execute(
        update(Job)
        .where(Job.id == job_id)
        .values(last_seq=Job.last_seq + len(events), **job_values)
        .returning(Job.last_seq)
    ).scalar_one()
    if events:
        first = int(last) - len(events) + 1
        session.execute(
            insert(JobEvent),
            [
                {"job_id": job_id, "seq": first + i, "type": t, "payload": dict(p),
                 "created_at": at}
                for i, (t, p, at) in enumerate(events)
            ],
        )  # fmt: skip
    return int(last)


_EVENT_COLUMNS = (JobEvent.job_id, JobEvent.seq, JobEvent.type, JobEvent.payload,
                  JobEvent.created_at)  # fmt: skip


# built once: the event pages and streams run it all the time
_EVENTS_AFTER = (
    select(*_EVENT_COLUMNS)
    .where(JobEvent.job_id == bindparam("job_id"), JobEvent.seq > bindparam("after"))
    .order_by(JobEvent.seq)
    .limit(bindparam("limit"))
)


def events_after(session: Session, job_id: str, after: int, limit: int = 1000) -> list[Row[Any]]:
    """The job's events after seq `after`, oldest first, as rows of their columns (job_id, seq,
    type, payload, created_at): a page of a thousand is read without building an entity each."""
    return list(session.execute(_EVENTS_AFTER, {"job_id": job_id, "after": after, "limit": limit}))

"""Turning rows into API shapes: jobs with their owner's name, events with artifact URLs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fastapi import HTTPException, status
from pydantic import TypeAdapter
from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from difflab.api.schemas import EventPublic, JobPublic
from difflab.db.models import Job, JobEvent, User

# keys of event payloads that hold artifact names, per event type
ARTIFACT_KEYS = {"denoise": ("xt", "x0", "eps")}


def artifact_url(job_id: str, name: str) -> str:
    return f"/api/v1/jobs/{job_id}/artifacts/{name}"


def owner_names(
    session: Session, owner_ids: Iterable[int | None], viewer: User | None = None
) -> dict[int, str]:
    """Usernames of these users, in one query (a list page must not ask once per row); the
    viewer's own name is known already (a learner's pages hold only their own rows: no query)."""
    wanted = {i for i in owner_ids if i is not None}
    names: dict[int, str] = {}
    if viewer is not None and viewer.id in wanted:
        names[viewer.id] = viewer.username
        wanted.discard(viewer.id)
    if wanted:
        rows = session.execute(select(User.id, User.username).where(User.id.in_(wanted)))
        names.update((int(i), str(name)) for i, name in rows)
    return names


def job_public(
    session: Session, job: Job | Row[Any], names: Mapping[int, str] | None = None
) -> JobPublic:
    """A job: an entity, or a row of the jobs table's columns (validated as a dict, not
    attribute by attribute). `names`: owner names fetched for a whole page (owner_names);
    else looked up here."""
    out = JobPublic.model_validate(job._asdict() if isinstance(job, Row) else job)
    if job.owner_id is not None:
        if names is None:
            names = owner_names(session, [job.owner_id])
        out.owner = names.get(job.owner_id)
    return out


def jobs_public(
    session: Session, jobs: Sequence[Job | Row[Any]], viewer: User | None = None
) -> list[JobPublic]:
    names = owner_names(session, (j.owner_id for j in jobs), viewer)
    return [job_public(session, j, names) for j in jobs]


def event_public(ev: JobEvent | Row[Any]) -> EventPublic:
    """An event (an entity, or a row of events_after's columns) with its artifacts' URLs."""
    payload: dict[str, Any] = dict(ev.payload)
    if ev.type == "artifact" and "name" in payload:
        payload["url"] = artifact_url(ev.job_id, payload["name"])
    for key in ARTIFACT_KEYS.get(ev.type, ()):
        if isinstance(payload.get(key), str):
            payload[key] = artifact_url(ev.job_id, payload[key])
    raw = {"seq": ev.seq, "type": ev.type, "payload": payload, "created_at": ev.created_at}
    return _EVENT.validate_python(raw)


_EVENT: TypeAdapter[EventPublic] = TypeAdapter(EventPublic)


def job_not_found() -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, detail="job not found")


def may_see(user: User, owner_id: int | None, shared: bool) -> bool:
    """Whether `user` may see a job with this owner: its owner, an admin, or anyone signed in
    when it is shared."""
    return user.role == "admin" or owner_id == user.id or shared


def visible_job(session: Session, job_id: str, user: User, *, write: bool = False) -> Job:
    """The job if this user may see it (may_see); 404 otherwise, so ids don't leak. `write`:
    the user must also be allowed to change it (403 for a shared job of someone else's)."""
    job = session.get(Job, job_id)
    if job is None or not may_see(user, job.owner_id, job.shared):
        raise job_not_found()
    if write and not may_see(user, job.owner_id, shared=False):
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="this run is shared read-only")
    return job

"""Turning rows into API shapes: jobs with their owner's name, events with artifact URLs."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, status
from pydantic import TypeAdapter
from sqlalchemy import select
from sqlalchemy.orm import Session

from difflab.api.schemas import EventPublic, JobPublic
from difflab.db.models import Job, JobEvent, User

# keys of event payloads that hold artifact names, per event type
ARTIFACT_KEYS = {"denoise": ("xt", "x0", "eps")}


def artifact_url(job_id: str, name: str) -> str:
    return f"/api/v1/jobs/{job_id}/artifacts/{name}"


def job_public(session: Session, job: Job) -> JobPublic:
    out = JobPublic.model_validate(job)
    if job.owner_id is not None:
        out.owner = session.scalar(select(User.username).where(User.id == job.owner_id))
    return out


def event_public(ev: JobEvent) -> EventPublic:
    payload: dict[str, Any] = dict(ev.payload)
    if ev.type == "artifact" and "name" in payload:
        payload["url"] = artifact_url(ev.job_id, payload["name"])
    for key in ARTIFACT_KEYS.get(ev.type, ()):
        if isinstance(payload.get(key), str):
            payload[key] = artifact_url(ev.job_id, payload[key])
    raw = {"seq": ev.seq, "type": ev.type, "payload": payload, "created_at": ev.created_at}
    return _EVENT.validate_python(raw)


_EVENT: TypeAdapter[EventPublic] = TypeAdapter(EventPublic)


def visible_job(session: Session, job_id: str, user: User) -> Job:
    """The job if this user may see it (owner or admin); 404 otherwise, so ids don't leak."""
    job = session.get(Job, job_id)
    if job is None or (user.role != "admin" and job.owner_id != user.id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="job not found")
    return job

"""Jobs: kinds, submit, list, show, cancel, retry, events (SSE or JSON) and artifacts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy import func, select
from sse_starlette.sse import EventSourceResponse

from difflab.accounts import audit
from difflab.api.deps import CurrentUser, SessionDep
from difflab.api.presenters import event_public, job_public, visible_job
from difflab.api.schemas import (
    EventPublic,
    JobCreate,
    JobKindPublic,
    JobPublic,
    JobState,
    ListPublic,
)
from difflab.api.submit import kind_for, submit, validate_params
from difflab.config import get_settings
from difflab.db.engine import session_scope
from difflab.db.models import TERMINAL_STATES, Job, User
from difflab.jobs.events import events_after
from difflab.jobs.lifecycle import request_cancel
from difflab.jobs.registry import all_kinds
from difflab.runtime import check_artifact_name, mime_type

router = APIRouter(tags=["jobs"])


@router.get("/job-kinds", response_model=list[JobKindPublic])
def list_kinds(user: CurrentUser) -> list[JobKindPublic]:
    return [
        JobKindPublic(
            name=s.name,
            title=s.title or s.name,
            description=s.description,
            queue=s.queue,
            category=s.category,
            admin_only=s.admin_only,
            params_schema=s.params.model_json_schema(),
        )
        for s in all_kinds().values()
    ]


@router.post("/jobs", response_model=JobPublic, status_code=status.HTTP_202_ACCEPTED)
def create_job(body: JobCreate, session: SessionDep, user: CurrentUser) -> JobPublic:
    spec = kind_for(user, body.kind)
    params = validate_params(spec, body.params)
    job, created = submit(session, user, spec, params, body.idempotency_key)
    if created and spec.admin_only:
        audit(session, user, "job.create", job.id, kind=spec.name)
    return job_public(session, job)


@router.get("/jobs", response_model=ListPublic[JobPublic])
def list_jobs(
    session: SessionDep,
    user: CurrentUser,
    kind: str | None = None,
    state: JobState | None = None,
    category: str | None = None,
    owner: str | None = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> ListPublic[JobPublic]:
    q = select(Job)
    if user.role != "admin":
        q = q.where(Job.owner_id == user.id)
    if kind:
        q = q.where(Job.kind == kind)
    if state:
        q = q.where(Job.state == state)
    if category:
        q = q.where(Job.category == category)
    if owner:
        q = q.join(User, User.id == Job.owner_id).where(User.username == owner)
    count = session.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = session.scalars(q.order_by(Job.created_at.desc()).offset(offset).limit(limit))
    return ListPublic[JobPublic](data=[job_public(session, j) for j in rows], count=count)


@router.get("/jobs/{job_id}", response_model=JobPublic)
def get_job(job_id: str, session: SessionDep, user: CurrentUser) -> JobPublic:
    return job_public(session, visible_job(session, job_id, user))


@router.post("/jobs/{job_id}/cancel", response_model=JobPublic)
def cancel_job(job_id: str, session: SessionDep, user: CurrentUser) -> JobPublic:
    job = request_cancel(session, visible_job(session, job_id, user))
    return job_public(session, job)


@router.post("/jobs/{job_id}/retry", response_model=JobPublic, status_code=status.HTTP_202_ACCEPTED)
def retry_job(job_id: str, session: SessionDep, user: CurrentUser) -> JobPublic:
    old = visible_job(session, job_id, user)
    if old.state not in TERMINAL_STATES:
        raise HTTPException(
            status.HTTP_409_CONFLICT, detail=f"job is {old.state}; only ended jobs can be retried"
        )
    spec = kind_for(user, old.kind)
    job, _ = submit(session, user, spec, validate_params(spec, dict(old.params)))
    return job_public(session, job)


def _events_since(job_id: str, after: int) -> tuple[list[EventPublic], str]:
    with session_scope() as s:
        rows = events_after(s, job_id, after)
        state = s.scalar(select(Job.state).where(Job.id == job_id)) or "failed"
        return [event_public(e) for e in rows], state


@router.get(
    "/jobs/{job_id}/events",
    response_model=list[EventPublic],
    responses={200: {"content": {"text/event-stream": {}, "application/json": {}}}},
)
async def job_events(
    job_id: str,
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    after: Annotated[int, Query(ge=0)] = 0,
    last_event_id: Annotated[str | None, Header()] = None,
    accept: Annotated[str | None, Header()] = None,
) -> Any:
    """Server-Sent Events (id = seq; reconnect with Last-Event-ID) or, with Accept:
    application/json, the events after `after` as a list."""
    await run_in_threadpool(visible_job, session, job_id, user)
    await run_in_threadpool(session.commit)  # hold no transaction while streaming
    start = after
    if last_event_id and last_event_id.isdigit():
        start = max(start, int(last_event_id))
    if accept and "application/json" in accept and "text/event-stream" not in accept:
        events, _ = await run_in_threadpool(_events_since, job_id, start)
        return JSONResponse([e.model_dump(mode="json") for e in events])
    poll = get_settings().event_poll_s

    async def stream() -> AsyncIterator[dict[str, str]]:
        last = start
        while True:
            events, state = await run_in_threadpool(_events_since, job_id, last)
            for e in events:
                last = e.seq
                yield {
                    "id": str(e.seq),
                    "event": e.type,
                    "data": json.dumps(e.model_dump(mode="json")),
                }
            if not events and state in TERMINAL_STATES:
                yield {"event": "end", "data": json.dumps({"state": state, "last_seq": last})}
                return
            if await request.is_disconnected():
                return
            await asyncio.sleep(poll)

    return EventSourceResponse(stream(), ping=15, headers={"Cache-Control": "no-store"})


def artifact_path(job_id: str, name: str) -> Path:
    try:
        check_artifact_name(name)
    except ValueError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="artifact not found") from None
    root = (get_settings().artifacts_dir / job_id).resolve()
    path = (root / name).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="artifact not found")
    return path


@router.get("/jobs/{job_id}/artifacts/{name:path}", response_class=FileResponse)
def get_artifact(job_id: str, name: str, session: SessionDep, user: CurrentUser) -> FileResponse:
    visible_job(session, job_id, user)
    path = artifact_path(job_id, name)
    return FileResponse(
        path,
        media_type=mime_type(name),
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=3600"},
    )

"""Jobs: kinds, submit, list, show, cancel, retry, delete, events (SSE or JSON) and artifacts.

Users see, cancel, retry and delete their own jobs; admins everyone's (audited when the job
is someone else's). Anyone else's job answers 404, so job ids do not leak. Launching a
training or evaluation kind needs an admin.
"""

from __future__ import annotations

import json
import logging
import shutil
import weakref
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Header, HTTPException, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response
from pydantic import TypeAdapter
from sqlalchemy import select
from sse_starlette.sse import EventSourceResponse

from difflab import i18n
from difflab.accounts import audit
from difflab.api.cache import built_once
from difflab.api.deps import (
    CurrentUser,
    DbRoute,
    LaterUser,
    SessionDep,
    SignIn,
    end_transaction,
)
from difflab.api.feeds import EVENTS_PAGE, End, events_page, follow, sse_bytes
from difflab.api.pages import (
    CursorParam,
    OffsetParam,
    keyset_page,
    next_link,
    page_count,
    start_of,
)
from difflab.api.presenters import job_public, jobs_public, visible_job
from difflab.api.ratelimit import check_prompts
from difflab.api.schemas import (
    EventPublic,
    JobCreate,
    JobKindPublic,
    JobPublic,
    JobState,
    JobUpdate,
    PagePublic,
)
from difflab.api.stream_slots import StreamSlots
from difflab.api.submit import check_role, kind_for, prepare_params, submit, validate_params
from difflab.config import get_settings
from difflab.db.models import TERMINAL_STATES, Job, User
from difflab.db.unit_of_work import after_commit
from difflab.jobs.lifecycle import request_cancel
from difflab.jobs.registry import all_kinds
from difflab.runtime import KindSpec, check_artifact_name, mime_type

log = logging.getLogger(__name__)

router = APIRouter(tags=["jobs"], route_class=DbRoute)


def _kinds_body() -> bytes:
    kinds = [
        JobKindPublic(
            name=s.name,
            title=s.title or s.name,
            description=s.description,
            title_zh=i18n.kind_text(s.name).get("title"),
            description_zh=i18n.kind_text(s.name).get("description"),
            queue=s.queue,
            category=s.category,
            admin_only=s.admin_only,
            params_schema=i18n.schema_with_zh(s.name, s.params),
        ).model_dump(mode="json")
        for s in all_kinds().values()
    ]
    return json.dumps(kinds, separators=(",", ":")).encode()


_kinds = built_once(_kinds_body)


@router.get("/job-kinds", response_model=list[JobKindPublic])
def list_kinds(request: Request, user: CurrentUser) -> Response:
    """Every job kind with its parameters' JSON schema (built once; ETag, 304 when unchanged)."""
    return _kinds().answer(request)


def _generation_limits(session: SessionDep, user: User, spec: KindSpec, params: dict) -> None:
    """Generation kinds get the same prompt cap here as on /generations."""
    if spec.category == "generation":
        check_prompts(params, ("body", "params"), get_settings().max_prompt_chars)


def _audit_if_others(session: SessionDep, user: User, job: Job, action: str) -> None:
    if user.role == "admin" and job.owner_id != user.id:
        audit(session, user, action, job.id, kind=job.kind, owner_id=job.owner_id)


@router.post("/jobs", response_model=JobPublic, status_code=status.HTTP_202_ACCEPTED)
def create_job(body: JobCreate, session: SessionDep, user: CurrentUser) -> JobPublic:
    spec = kind_for(user, body.kind)
    _generation_limits(session, user, spec, body.params)
    requested = validate_params(spec, body.params)
    check_role(user, spec, requested)  # before prepare looks at the world
    params = prepare_params(session, spec, requested)
    job, created = submit(session, user, spec, params, body.idempotency_key, requested)
    if created and (spec.admin_only or spec.writes_model):
        audit(session, user, "job.create", job.id, kind=spec.name)
    return job_public(session, job)


# the jobs' columns, built once (each page only adds its filters): a page is read as rows,
# without an entity each
_JOB_ROWS = select(*Job.__table__.columns)


@router.get("/jobs", response_model=PagePublic[JobPublic])
def list_jobs(
    request: Request,
    response: Response,
    session: SessionDep,
    user: CurrentUser,
    kind: str | None = None,
    state: JobState | None = None,
    category: str | None = None,
    owner: str | None = None,
    cursor: CursorParam = None,
    offset: OffsetParam = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> PagePublic[JobPublic]:
    """Jobs newest first (ties by id): the user's own (an admin's view holds everyone's),
    narrowed by the filters given. Go on with `cursor` set to the page's `next`; `count` is
    how many pass the filters, up to a cap."""
    # kind, state, category and owner each have an index on (column, created_at, id) (models.py):
    # a page reads its rows in index order, however many the table holds
    after = start_of(cursor, offset)
    q = _JOB_ROWS
    if user.role != "admin":
        q = q.where(Job.owner_id == user.id)
    if kind:
        q = q.where(Job.kind == kind)
    if state:
        q = q.where(Job.state == state)
    if category:
        q = q.where(Job.category == category)
    if owner:  # one owner_id (usernames are unique), so the owner's index serves the page
        q = q.where(Job.owner_id == select(User.id).where(User.username == owner).scalar_subquery())
    rows, next_cursor = keyset_page(
        session, q, Job, after=after, offset=offset, limit=limit, columns=True
    )
    count, capped = page_count(
        session, q, Job, rows, after=after, offset=offset, next_cursor=next_cursor
    )
    if next_cursor is not None:
        response.headers["Link"] = next_link(request, next_cursor)
    return PagePublic[JobPublic](
        data=jobs_public(session, rows, user), count=count, count_capped=capped, next=next_cursor
    )


@router.get("/jobs/{job_id}", response_model=JobPublic)
def get_job(job_id: str, session: SessionDep, user: CurrentUser) -> JobPublic:
    return job_public(session, visible_job(session, job_id, user))


@router.post("/jobs/{job_id}/cancel", response_model=JobPublic)
def cancel_job(job_id: str, session: SessionDep, user: CurrentUser) -> JobPublic:
    job = visible_job(session, job_id, user, write=True)
    if job.state not in TERMINAL_STATES:
        _audit_if_others(session, user, job, "job.cancel")
    job = request_cancel(session, job)  # commits; the job's streams are told after the commit
    return job_public(session, job)


@router.patch("/jobs/{job_id}", response_model=JobPublic)
def update_job(job_id: str, body: JobUpdate, session: SessionDep, user: CurrentUser) -> JobPublic:
    """Share a run read-only by its link with every signed-in user, or stop sharing it."""
    job = visible_job(session, job_id, user, write=True)
    if job.shared != body.shared:
        job.shared = body.shared
        _audit_if_others(session, user, job, "job.share" if body.shared else "job.unshare")
    return job_public(session, job)


@router.delete(
    "/jobs/{job_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={404: {"description": "no such job"}, 409: {"description": "job not ended"}},
)
def delete_job(job_id: str, session: SessionDep, user: CurrentUser) -> None:
    """Delete an ended job with its events, artifacts, checkpoints and generation record."""
    job = visible_job(session, job_id, user, write=True)
    if job.state not in TERMINAL_STATES:
        raise HTTPException(
            status.HTTP_409_CONFLICT, detail=f"job is {job.state}; cancel it before deleting it"
        )
    _audit_if_others(session, user, job, "job.delete")
    session.delete(job)  # events and the generation row go with it (ON DELETE CASCADE)
    after_commit(session, _remove_files, job_id)  # only once the row is gone


def _remove_files(job_id: str) -> None:
    """A deleted job's artifacts and checkpoints. The job is gone already: what cannot be
    removed is logged for the operator, not answered to the user."""
    settings = get_settings()
    for root in (settings.artifacts_dir, settings.jobs_dir):
        base = root.resolve()
        target = (base / job_id).resolve()
        if target.parent == base and target.is_dir():  # job ids are uuids: one plain segment
            shutil.rmtree(target, ignore_errors=True)
            if target.exists():
                log.warning("files of deleted job %s are left in %s", job_id, target)


@router.post("/jobs/{job_id}/retry", response_model=JobPublic, status_code=status.HTTP_202_ACCEPTED)
def retry_job(job_id: str, session: SessionDep, user: CurrentUser) -> JobPublic:
    old = visible_job(session, job_id, user)
    if old.state not in TERMINAL_STATES:
        raise HTTPException(
            status.HTTP_409_CONFLICT, detail=f"job is {old.state}; only ended jobs can be retried"
        )
    spec = kind_for(user, old.kind)
    _generation_limits(session, user, spec, dict(old.params))
    params = prepare_params(session, spec, validate_params(spec, dict(old.params)))
    job, _ = submit(session, user, spec, params)
    return job_public(session, job)


def _check_visible(session: SessionDep, job_id: str, viewer: SignIn) -> User:
    """The viewer, once they may see the job (else 404); ends the transaction in the same
    thread, so no lock is held while the stream waits (see deps.end_transaction)."""
    try:
        user = viewer.user()
        visible_job(session, job_id, user)
        return user
    finally:
        end_transaction(session)


def _visible_page(
    session: SessionDep, job_id: str, viewer: SignIn, after: int, limit: int
) -> tuple[list[EventPublic], str, int]:
    """A page of the job's events (feeds.events_page) if the viewer may see the job, else 404."""
    try:
        return events_page(session, job_id, after, limit, viewer=viewer.user())
    finally:
        end_transaction(session)


_EVENTS_JSON: TypeAdapter[list[EventPublic]] = TypeAdapter(list[EventPublic])


@router.get(
    "/jobs/{job_id}/events",
    response_model=list[EventPublic],
    responses={200: {"content": {"text/event-stream": {}, "application/json": {}}}},
)
async def job_events(
    job_id: str,
    request: Request,
    session: SessionDep,
    viewer: LaterUser,
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=EVENTS_PAGE)] = EVENTS_PAGE,
    last_event_id: Annotated[str | None, Header()] = None,
    accept: Annotated[str | None, Header()] = None,
) -> Any:
    """Server-Sent Events (id = seq; reconnect with Last-Event-ID) or, with Accept:
    application/json, a page of at most `limit` events after `after`. A page that does not
    reach the job's last event carries `Link: <...?after=SEQ>; rel="next"`; X-Last-Seq is the
    job's last event so far."""
    start = after
    if last_event_id and last_event_id.isdigit():
        start = max(start, int(last_event_id))
    if accept and "application/json" in accept and "text/event-stream" not in accept:
        # who is asking, the check and the page: one transaction, in one hop to a thread
        events, _, last_seq = await run_in_threadpool(
            _visible_page, session, job_id, viewer, start, limit
        )
        headers = {"X-Last-Seq": str(last_seq)}
        if events and events[-1].seq < last_seq:
            next_url = request.url.include_query_params(after=events[-1].seq)
            headers["Link"] = f'<{next_url.path}?{next_url.query}>; rel="next"'
        return Response(
            _EVENTS_JSON.dump_json(events, exclude_none=True),
            media_type="application/json",
            headers=headers,
        )
    user = await run_in_threadpool(_check_visible, session, job_id, viewer)
    cap = get_settings().max_streams_per_user
    slots: StreamSlots = request.app.state.stream_slots
    # a slot of the user's cap across every API process (api/stream_slots.py)
    user_id = user.id
    slot = await run_in_threadpool(slots.acquire, user_id, cap)
    if slot is None:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            detail=f"you have {cap} event streams open (the limit); close one, or read "
            "events as JSON pages (Accept: application/json)",
            headers={"Retry-After": "5"},
        )

    async def stream() -> AsyncIterator[dict[str, str] | bytes]:
        try:
            # one reader per job in this process hands every stream its events (api/feeds.py)
            async for item in follow(job_id, start):
                if isinstance(item, End):
                    end = {"state": item.state, "last_seq": item.last_seq}
                    yield {"event": "end", "data": json.dumps(end)}
                    return
                # each event encoded once for every stream of the job; a batch in one write
                yield b"".join(sse_bytes(job_id, e) for e in item)
        finally:
            if orphaned.detach() is not None:  # a round trip on PostgreSQL: on a thread
                with anyio.CancelScope(shield=True):
                    await run_in_threadpool(slots.release, user_id, slot)

    feed = stream()
    # a generator that never starts (the client left before the response began) never runs
    # its finally: its slot is let go after it is collected
    orphaned = weakref.finalize(feed, slots.release_later, user_id, slot)
    return EventSourceResponse(feed, ping=15, headers={"Cache-Control": "no-store"})


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

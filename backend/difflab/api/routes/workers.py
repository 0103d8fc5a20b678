"""Workers online, queue depths, running jobs; and the health check."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import func, select, text

from difflab.api.deps import CurrentUser, DbRoute, SessionDep
from difflab.api.presenters import jobs_public
from difflab.api.schemas import DiskPublic, HealthPublic, WorkerPublic, WorkersPublic
from difflab.api.submit import free_disk_mb
from difflab.config import get_settings
from difflab.db.engine import read_scope
from difflab.db.models import Job, Worker, utcnow
from difflab.jobs.celery_app import QUEUES
from difflab.jobs.publish import broker_ok, queue_depths

router = APIRouter(tags=["workers"], route_class=DbRoute)


def _alive_workers() -> list[Worker]:
    cutoff = utcnow() - timedelta(seconds=get_settings().stale_after_s)
    with read_scope() as s:
        return list(
            s.scalars(select(Worker).where(Worker.last_seen >= cutoff).order_by(Worker.name))
        )


@router.get("/workers", response_model=WorkersPublic)
async def list_workers(session: SessionDep, user: CurrentUser) -> WorkersPublic:
    workers = await run_in_threadpool(_alive_workers)
    depths = await run_in_threadpool(queue_depths)

    def running() -> list:
        q = select(Job).where(Job.state == "running")
        if user.role != "admin":
            q = q.where(Job.owner_id == user.id)
        return jobs_public(session, list(session.scalars(q.order_by(Job.started_at))))

    jobs = await run_in_threadpool(running)
    mine = {j.id for j in jobs}
    shown = [WorkerPublic.model_validate(w) for w in workers]
    if user.role != "admin":  # another user's job id is not this user's to see
        for w in shown:
            if w.running_job_id not in mine:
                w.running_job_id = None
    return WorkersPublic(workers=shown, queues=depths, running=jobs)


def _database_ok() -> bool:
    try:
        with read_scope() as s:
            s.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


def _model_names() -> list[str]:
    root = get_settings().models_dir
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "model_index.json").is_file())


def _job_counts() -> tuple[dict[str, int], int]:
    with read_scope() as s:
        rows = s.execute(
            select(Job.queue, Job.state, func.count())
            .where(Job.state.in_(("queued", "running")))
            .group_by(Job.queue, Job.state)
        ).all()
    queued = {q: 0 for q in QUEUES}
    running = 0
    for queue, state, n in rows:
        if state == "queued":
            queued[queue] = queued.get(queue, 0) + int(n)
        else:
            running += int(n)
    return queued, running


def _disk() -> DiskPublic:
    settings = get_settings()
    free = free_disk_mb(settings.data_dir)
    floor = settings.min_free_disk_mb
    return DiskPublic(free_mb=int(free), min_free_mb=floor, low=free < floor)


HEALTH_TTL_S = 0.5  # callers within this long of a check share its answer


def _health_now() -> tuple[dict[str, Any], int]:
    db = _database_ok()
    broker = broker_ok()
    workers = len(_alive_workers()) if db else 0
    queued, running = _job_counts() if db else ({}, 0)
    disk = _disk()
    status: Literal["ok", "degraded", "down"] = (
        "down" if not (db and broker) else ("ok" if workers and not disk.low else "degraded")
    )
    body = HealthPublic(
        status=status,
        database=db,
        broker=broker,
        workers=workers,
        queued=queued,
        running=running,
        disk=disk,
        models=_model_names(),
    )
    return body.model_dump(mode="json"), 200 if db and broker else 503


_health_cache: tuple[float, dict[str, Any], int] | None = None
_health_locks: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}


def _health_lock() -> asyncio.Lock:
    """The running loop's lock (tests run several apps, each on its own loop)."""
    loop = asyncio.get_running_loop()
    lock = _health_locks.get(loop)
    if lock is None:
        for old in [k for k in _health_locks if k.is_closed()]:
            del _health_locks[old]
        lock = _health_locks[loop] = asyncio.Lock()
    return lock


@router.get("/health", response_model=HealthPublic, responses={503: {"model": HealthPublic}})
async def health() -> JSONResponse:
    """Database, broker, live workers, queue and disk. Many callers at once (every open page,
    load balancers) share one check per HEALTH_TTL_S."""
    global _health_cache
    async with _health_lock():  # one check at a time; the others then read its answer
        cached = _health_cache
        if cached is None or time.monotonic() - cached[0] > HEALTH_TTL_S:
            body, code = await run_in_threadpool(_health_now)
            cached = _health_cache = (time.monotonic(), body, code)
    return JSONResponse(cached[1], status_code=cached[2])

"""The one door every job comes in by: /jobs, /generations, the A1111 routes (and so the
studio, the admin and lab pages, and the CLI through a server).

For the same mistake every door answers the same 422 naming the same field, and nothing the
worker would refuse is accepted: the kind's parameters are validated (its pydantic model), then
its `prepare` checks what needs the world (the model exists, the dataset opens, the output name
is free) and resolves what the request left open (seed, output name, the model's guidance).
The worker runs the same `prepare` again before it starts.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from fastapi import HTTPException, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from difflab.config import get_settings
from difflab.db.models import TERMINAL_STATES, Job, User
from difflab.jobs.lifecycle import (
    IdempotencyConflict,
    QueueFull,
    ServerBusy,
    request_digest,
    submit_job,
)
from difflab.jobs.publish import BrokerUnavailable
from difflab.jobs.registry import UnknownKind, all_kinds, get_kind
from difflab.runtime import KindSpec, ParamError, SubmitContext


def kind_for(user: User, kind: str) -> KindSpec:
    try:
        spec = get_kind(kind)
    except UnknownKind:
        raise RequestValidationError(
            [
                {
                    "loc": ("body", "kind"),
                    "msg": f"unknown job kind {kind!r}",
                    "type": "value_error",
                    "input": kind,
                }
            ]
        ) from None
    if spec.admin_only and user.role != "admin":
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, detail=f"only admins may launch {kind!r} jobs"
        )
    return spec


def validate_params(
    spec: KindSpec, params: dict[str, Any], loc: tuple[str, ...] = ("body", "params")
) -> BaseModel:
    try:
        return spec.params.model_validate(params)
    except ValidationError as exc:
        errors = [{**e, "loc": (*loc, *e["loc"])} for e in exc.errors(include_url=False)]
        for e in errors:  # ctx may hold exceptions, which are not JSON
            e.pop("ctx", None)
        raise RequestValidationError(errors) from None


def field_error(
    loc: tuple[str | int, ...], message: str, value: Any = None
) -> RequestValidationError:
    return RequestValidationError(
        [{"loc": loc, "msg": message, "type": "value_error", "input": value}]
    )


def reserved_outputs(session: Session) -> dict[str, str]:
    """Model names that unfinished jobs are going to write -> the job's id."""
    writers = {s.name: s.writes_model for s in all_kinds().values() if s.writes_model}
    if not writers:
        return {}
    rows = session.execute(
        select(Job.id, Job.kind, Job.params).where(
            Job.kind.in_(writers), Job.state.not_in(TERMINAL_STATES)
        )
    ).all()
    names: dict[str, str] = {}
    for job_id, kind, params in rows:
        for field in writers[kind]:
            value = (params or {}).get(field)
            if isinstance(value, str) and value:
                names[value] = job_id
    return names


def prepare_params(
    session: Session, spec: KindSpec, params: BaseModel, loc: tuple[str, ...] = ("body", "params")
) -> BaseModel:
    """The kind's own checks that need the world; a ParamError becomes 422 at loc + field."""
    settings = get_settings()
    reserved = reserved_outputs(session) if spec.writes_model else {}
    ctx = SubmitContext(
        models_dir=settings.models_dir, data_dir=settings.data_dir, reserved=reserved.get
    )
    try:
        params = spec.check(params, ctx)
    except ParamError as exc:
        value = getattr(params, exc.field, None)
        raise field_error((*loc, exc.field), exc.message, value) from None
    # the worker validates the stored JSON again: what it would refuse is refused here
    return validate_params(spec, params.model_dump(mode="json"), loc)


INSUFFICIENT_STORAGE = 507


def free_disk_mb(path: Path) -> float:
    """Free space where `path` lives (its nearest existing parent)."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free / 2**20


def check_storage(session: Session, user: User) -> None:
    """507 when the disk is nearly full (for everyone) or this user's artifacts fill their
    quota (users, not admins): a job that could not store its results is not accepted."""
    settings = get_settings()
    free = free_disk_mb(settings.data_dir)
    if free < settings.min_free_disk_mb:
        raise HTTPException(
            INSUFFICIENT_STORAGE,
            detail=f"the server's disk is nearly full ({free:.0f} MB free, "
            f"{settings.min_free_disk_mb} MB kept free); no new jobs until space is freed",
            headers={"Retry-After": "300"},
        )
    if user.role == "admin" or not settings.user_storage_mb:
        return
    used = session.scalar(
        select(func.coalesce(func.sum(Job.artifact_bytes), 0)).where(Job.owner_id == user.id)
    )
    used_mb = int(used or 0) / 2**20
    if used_mb >= settings.user_storage_mb:
        raise HTTPException(
            INSUFFICIENT_STORAGE,
            detail=f"your jobs keep {used_mb:.0f} MB of results, your quota is "
            f"{settings.user_storage_mb} MB: delete old jobs to start new ones",
        )


def check_role(user: User, spec: KindSpec, params: BaseModel) -> None:
    """What a learner may not ask for: overwriting a model (403), more steps or processes than
    the learner caps (422 naming the field). Admins are not capped."""
    if user.role == "admin":
        return
    if getattr(params, "overwrite", False):
        raise HTTPException(  # learners write new names only; shipped models stay as they are
            status.HTTP_403_FORBIDDEN, detail="only admins may overwrite (params.overwrite)"
        )
    settings = get_settings()
    caps = {
        "processes": (settings.learner_max_processes, "LEARNER_MAX_PROCESSES"),
        **({"steps": (settings.learner_max_steps, "LEARNER_MAX_STEPS")}
           if spec.category == "training" else {}),
    }  # fmt: skip
    for field, (cap, setting) in caps.items():
        value = getattr(params, field, None)
        if isinstance(value, int) and value > cap:
            raise field_error(
                ("body", "params", field),
                f"a learner's job may ask for at most {cap} {field} (the server's {setting})",
                value,
            )


def submit(
    session: Session,
    user: User,
    spec: KindSpec,
    params: BaseModel,
    idempotency_key: str | None = None,
    requested: BaseModel | None = None,
) -> tuple[Job, bool]:
    """Store and enqueue; `requested` is the request before prepare (for idempotency)."""
    check_role(user, spec, params)
    check_storage(session, user)
    digest = None
    if idempotency_key and requested is not None:
        digest = request_digest(spec.name, requested.model_dump(mode="json"))
    try:
        wall = None if user.role == "admin" else get_settings().learner_max_wall_s
        return submit_job(session, spec, params, user, idempotency_key, digest, wall)
    except IdempotencyConflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from None
    except BrokerUnavailable as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(exc), headers={"Retry-After": "5"}
        ) from None
    except QueueFull as exc:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS, detail=str(exc), headers={"Retry-After": "10"}
        ) from None
    except ServerBusy as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(exc), headers={"Retry-After": "10"}
        ) from None

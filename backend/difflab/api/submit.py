"""Validating and submitting a job: shared by /jobs, /generations and the A1111 routes."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from difflab.db.models import Job, User
from difflab.jobs.lifecycle import QueueFull, submit_job
from difflab.jobs.publish import BrokerUnavailable
from difflab.jobs.registry import UnknownKind, get_kind
from difflab.runtime import KindSpec


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


def submit(
    session: Session,
    user: User,
    spec: KindSpec,
    params: BaseModel,
    idempotency_key: str | None = None,
) -> tuple[Job, bool]:
    try:
        return submit_job(session, spec, params, user, idempotency_key)
    except BrokerUnavailable as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(exc), headers={"Retry-After": "5"}
        ) from None
    except QueueFull as exc:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS, detail=str(exc), headers={"Retry-After": "30"}
        ) from None

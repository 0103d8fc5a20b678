"""Submitting generations: shared by /api/v1/generations and the AUTOMATIC1111-compatible routes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime as _datetime
from typing import Any, cast

from pydantic import BaseModel
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from difflab.api.presenters import artifact_url, job_public, owner_names
from difflab.api.schemas import JobPublic, datetime
from difflab.api.submit import kind_for, prepare_params, submit
from difflab.db.models import Generation, Job, User
from difflab.diffusion.generate import GenerateParams
from difflab.jobs.generations import record_generation


class GenerationPublic(BaseModel):
    id: str
    job_id: str
    owner: str | None
    model: str
    prompt: str
    seed: int
    params: dict[str, Any]
    state: str
    progress: float
    error: str | None
    images: list[str]
    created_at: datetime


class GenerationCreated(BaseModel):
    generation: GenerationPublic
    job: JobPublic


def create_generation(
    session: Session, user: User, params: GenerateParams, idempotency_key: str | None = None
) -> tuple[Generation, Job]:
    spec = kind_for(user, "generate")
    requested = params
    params = cast(GenerateParams, prepare_params(session, spec, params, ("body",)))
    job, created = submit(session, user, spec, params, idempotency_key, requested)
    if not created:
        gen = session.scalar(select(Generation).where(Generation.job_id == job.id))
        if gen is not None:
            return gen, job
    return record_generation(session, job, user.id, params), job


@dataclass(frozen=True)
class GalleryFilter:
    """What the gallery is narrowed to; None: no condition. Times are aware (UTC)."""

    text: str | None = None  # a case-insensitive substring of the prompt
    model: str | None = None
    sampler: str | None = None  # the registry name (aliases resolved by the caller)
    width: int | None = None
    height: int | None = None
    since: _datetime | None = None  # created_at >= since
    until: _datetime | None = None  # created_at < until


def as_utc(dt: _datetime) -> _datetime:
    """An aware time in UTC; a naive one is taken to be UTC already (as stored times are)."""
    return dt.astimezone(UTC) if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def gallery_select(user: User, f: GalleryFilter) -> Select[Generation]:
    """The user's generations (an admin's: everyone's) that pass the filter; unordered.

    Columns only (no JSON paths), so SQLite and PostgreSQL answer alike. The prompt match is
    ILIKE on PostgreSQL and LIKE on SQLite, whose case folding covers ASCII only.
    """
    q = select(Generation)
    if user.role != "admin":
        q = q.where(Generation.owner_id == user.id)
    if f.text:
        q = q.where(Generation.prompt.icontains(f.text, autoescape=True))
    if f.model:
        q = q.where(Generation.model == f.model)
    if f.sampler:
        q = q.where(Generation.sampler == f.sampler)
    if f.width is not None:
        q = q.where(Generation.width == f.width)
    if f.height is not None:
        q = q.where(Generation.height == f.height)
    if f.since is not None:
        q = q.where(Generation.created_at >= f.since)
    if f.until is not None:
        q = q.where(Generation.created_at < f.until)
    return q


def generation_public(
    session: Session,
    gen: Generation,
    job: Job | None = None,
    names: Mapping[int, str] | None = None,
) -> GenerationPublic:
    """`job` and `names` (owner_names) when the caller fetched them for a whole page."""
    job = job or session.get(Job, gen.job_id)
    if names is None:
        names = owner_names(session, [gen.owner_id])
    owner = names.get(gen.owner_id) if gen.owner_id else None
    result = (job.result or {}) if job else {}
    return GenerationPublic(
        id=gen.id,
        job_id=gen.job_id,
        owner=owner,
        model=gen.model,
        prompt=gen.prompt,
        seed=gen.seed,
        params=dict(gen.params),
        state=job.state if job else "failed",
        progress=job.progress if job else 0.0,
        error=job.error if job else "job missing",
        images=[artifact_url(gen.job_id, n) for n in result.get("images", [])],
        created_at=gen.created_at,
    )


def generations_public(
    session: Session, gens: Sequence[Generation], viewer: User | None = None
) -> list[GenerationPublic]:
    """A page of generations in three queries at most, whatever its length (two when every
    row is the viewer's)."""
    jobs = {
        j.id: j for j in session.scalars(select(Job).where(Job.id.in_([g.job_id for g in gens])))
    }
    names = owner_names(session, (g.owner_id for g in gens), viewer)
    return [generation_public(session, g, jobs.get(g.job_id), names) for g in gens]


def created_public(session: Session, gen: Generation, job: Job) -> GenerationCreated:
    return GenerationCreated(
        generation=generation_public(session, gen, job), job=job_public(session, job)
    )

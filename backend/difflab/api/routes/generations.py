"""Generations (text-to-image jobs with a gallery record), samplers and models."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from difflab.api.cache import Cached, KeyedCache, models_fingerprint
from difflab.api.deps import CurrentUser, DbRoute, SessionDep
from difflab.api.generation_service import (
    GalleryFilter,
    GenerationCreated,
    GenerationPublic,
    as_utc,
    create_generation,
    created_public,
    gallery_select,
    generation_public,
    generations_public,
)
from difflab.api.pages import (
    CursorParam,
    OffsetParam,
    keyset_page,
    next_link,
    page_count,
    start_of,
)
from difflab.api.ratelimit import GenerationLimit
from difflab.api.schemas import PagePublic
from difflab.api.submit import field_error
from difflab.config import get_settings
from difflab.db.models import Generation
from difflab.diffusion.generate import GenerateParams
from difflab.diffusion.models import ModelError, list_models, resolve_model
from difflab.diffusion.schedulers import list_samplers, resolve_sampler

router = APIRouter(tags=["generations"], route_class=DbRoute)


class SamplerPublic(BaseModel):
    name: str
    aliases: list[str]
    options: dict[str, Any]


class ResolutionPublic(BaseModel):
    native: int
    min: int
    max: int
    multiple: int


class ModelPublic(BaseModel):
    name: str
    default: bool
    scheduler: str
    resolution: ResolutionPublic
    default_guidance: float = Field(
        description="The guidance scale used when a request leaves it out (the model's own)."
    )
    prompt_words: list[str] = Field(
        default_factory=list,
        description="Words of the captions the model was trained on (empty: not known)",
    )
    prompt_examples: list[str] = Field(
        default_factory=list, description="Prompts of the forms the model was trained on"
    )


class SchedulePublic(BaseModel):
    num_train_timesteps: int
    beta_schedule: str
    prediction_type: str
    betas: list[float]
    alphas_cumprod: list[float]
    snr: list[float]


@router.post("/generations", response_model=GenerationCreated, status_code=status.HTTP_202_ACCEPTED)
def create(
    body: GenerateParams, session: SessionDep, user: CurrentUser, _limits: GenerationLimit
) -> GenerationCreated:
    """Queue a text-to-image job; follow it at /api/v1/jobs/{job.id}/events."""
    gen, job = create_generation(session, user, body)
    return created_public(session, gen, job)


_SIZE = re.compile(r"^\s*(\d{1,5})\s*[xX×]\s*(\d{1,5})\s*$")


def _gallery_filter(
    q: str | None,
    model: str | None,
    sampler: str | None,
    width: int | None,
    height: int | None,
    size: str | None,
    since: datetime | None,
    until: datetime | None,
) -> GalleryFilter:
    """The query parameters checked and combined; a bad one is a 422 naming it."""
    if sampler:
        try:
            sampler = resolve_sampler(sampler)
        except ValueError as exc:
            raise field_error(("query", "sampler"), str(exc), sampler) from None
    if size:
        found = _SIZE.match(size)
        if found is None:
            raise field_error(("query", "size"), "size must be WIDTHxHEIGHT, e.g. 512x768", size)
        w, h = int(found[1]), int(found[2])
        if (width is not None and width != w) or (height is not None and height != h):
            raise field_error(("query", "size"), "size disagrees with width/height", size)
        width, height = w, h
    since = as_utc(since) if since is not None else None
    until = as_utc(until) if until is not None else None
    if since is not None and until is not None and until < since:
        raise field_error(("query", "until"), "until is before since", until.isoformat())
    return GalleryFilter(
        text=q or None, model=model or None, sampler=sampler or None,
        width=width, height=height, since=since, until=until,
    )  # fmt: skip


@router.get("/generations", response_model=PagePublic[GenerationPublic])
def gallery(
    request: Request,
    response: Response,
    session: SessionDep,
    user: CurrentUser,
    cursor: CursorParam = None,
    offset: OffsetParam = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 24,
    q: Annotated[
        str | None, Query(max_length=500, description="A case-insensitive substring of the prompt.")
    ] = None,
    model: Annotated[str | None, Query(max_length=128, description="A model name.")] = None,
    sampler: Annotated[
        str | None, Query(max_length=64, description="A sampler name or alias (GET /samplers).")
    ] = None,
    width: Annotated[int | None, Query(ge=1, le=65535, description="Image width, pixels.")] = None,
    height: Annotated[
        int | None, Query(ge=1, le=65535, description="Image height, pixels.")
    ] = None,
    size: Annotated[
        str | None, Query(max_length=16, description="WIDTHxHEIGHT, e.g. 64x64.")
    ] = None,
    since: Annotated[
        datetime | None, Query(description="Created at or after (ISO 8601; no zone: UTC).")
    ] = None,
    until: Annotated[
        datetime | None, Query(description="Created before (ISO 8601; no zone: UTC).")
    ] = None,
) -> PagePublic[GenerationPublic]:
    """Past generations, newest first (ties by id): the user's own (an admin's view holds
    everyone's), narrowed by the filters given. Go on with `cursor` set to the page's `next`;
    `count` is how many pass the filters, up to a cap."""
    f = _gallery_filter(q, model, sampler, width, height, size, since, until)
    after = start_of(cursor, offset)
    query = gallery_select(user, f)
    rows, next_cursor = keyset_page(
        session, query, Generation, after=after, offset=offset, limit=limit
    )
    count, capped = page_count(
        session, query, Generation, rows, after=after, offset=offset, next_cursor=next_cursor
    )
    if next_cursor is not None:
        response.headers["Link"] = next_link(request, next_cursor)
    return PagePublic[GenerationPublic](
        data=generations_public(session, rows, user),
        count=count,
        count_capped=capped,
        next=next_cursor,
    )


@router.get("/generations/{generation_id}", response_model=GenerationPublic)
def get_generation(generation_id: str, session: SessionDep, user: CurrentUser) -> GenerationPublic:
    gen = session.get(Generation, generation_id)
    if gen is None or (user.role != "admin" and gen.owner_id != user.id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="generation not found")
    return generation_public(session, gen)


@router.get("/samplers", response_model=list[SamplerPublic])
def samplers(user: CurrentUser) -> list[dict[str, Any]]:
    """The samplers (diffusers schedulers under AUTOMATIC1111's names)."""
    return list_samplers()


def _models() -> list[dict[str, Any]]:
    return [m.to_public() for m in list_models(get_settings().models_dir)]


def _models_body() -> bytes:
    listed = [ModelPublic.model_validate(m).model_dump(mode="json") for m in _models()]
    return json.dumps(listed, separators=(",", ":")).encode()


_MODELS = KeyedCache(_models_body)


def _models_cached() -> Cached:
    return _MODELS.get(models_fingerprint(get_settings().models_dir))


@router.get("/models", response_model=list[ModelPublic])
async def models(request: Request, user: CurrentUser) -> Response:
    """Model directories found in the models dir (safetensors diffusers pipelines). Listed
    again only when the models directory changes; ETag, 304 when unchanged."""
    return (await run_in_threadpool(_models_cached)).answer(request)


def noise_schedule(name: str) -> dict[str, Any]:
    """The model's training noise schedule: β_t, ᾱ_t and SNR(t) = ᾱ_t / (1 − ᾱ_t)."""
    from diffusers import DDPMScheduler

    try:
        path = resolve_model(get_settings().models_dir, name)
    except ModelError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from None
    sched = DDPMScheduler.from_pretrained(path, subfolder="scheduler")
    abar = sched.alphas_cumprod
    snr = abar / (1 - abar)
    return {
        "num_train_timesteps": int(sched.config.num_train_timesteps),
        "beta_schedule": sched.config.beta_schedule,
        "prediction_type": sched.config.prediction_type,
        "betas": [round(float(b), 8) for b in sched.betas],
        "alphas_cumprod": [round(float(a), 8) for a in abar],
        "snr": [float(f"{float(s):.6g}") for s in snr],
    }


@router.get("/models/{name}/schedule", response_model=SchedulePublic)
async def schedule(name: str, user: CurrentUser) -> dict[str, Any]:
    return await run_in_threadpool(noise_schedule, name)

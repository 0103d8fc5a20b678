"""Generations: the gallery record of a generate job, written beside its job row."""

from __future__ import annotations

from sqlalchemy.orm import Session

from difflab.db.models import Generation, Job
from difflab.diffusion.generate import GenerateParams


def record_generation(
    session: Session, job: Job, owner_id: int | None, params: GenerateParams
) -> Generation:
    """The generation row of a new generate job, flushed; the caller's unit of work commits
    it (the request's, or the worker's session_scope)."""
    gen = Generation(
        job_id=job.id,
        owner_id=owner_id,
        model=params.model,
        prompt=params.prompt,
        seed=params.seed,
        params=params.model_dump(mode="json"),
        sampler=params.sampler,
        width=params.width,
        height=params.height,
    )
    session.add(gen)
    session.flush()
    return gen

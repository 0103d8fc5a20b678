"""The `xyz` job kind (the X/Y/Z plot of difflab.diffusion.xyz): submit its cells as ordinary
generate jobs, run those no other worker took, draw the grid.

Each cell goes in as any generation does (a job row, its message, a gallery entry), with the
idempotency key "xyz:<parent>:<k>", so a parent run again after its worker died finds the cells
it had already made. Cells are submitted a few ahead of the one the parent waits for
(LOOKAHEAD): idle GPU workers take those from the queue, and the parent claims and runs in its
own process every cell still queued when its turn comes (jobs.runner.run_here_if_queued), so a
plot never waits on a worker that is busy running the plot. A full queue (the owner's cap, the
server's) does not hold a running plot's cells back (the plot itself counted, and it keeps at
most LOOKAHEAD + 1 cells queued); an absent broker is waited out, not failed. Cancelling the
plot cancels its unfinished cells.
"""

from __future__ import annotations

import time
from typing import Any

from PIL import Image

from difflab.config import get_settings
from difflab.db.engine import session_scope
from difflab.db.models import TERMINAL_STATES, Job, User
from difflab.diffusion.generate import GenerateParams
from difflab.diffusion.infotext import png_with_parameters
from difflab.diffusion.xyz import LABELS, XYZParams, cell_params, cells, draw_grid, prepare_xyz
from difflab.jobs.generations import record_generation
from difflab.jobs.lifecycle import QueueFull, ServerBusy, request_cancel, submit_job
from difflab.jobs.publish import BrokerUnavailable
from difflab.jobs.registry import get_kind
from difflab.jobs.runner import run_here_if_queued
from difflab.runtime import KindSpec, RunContext, Sink, SubmitContext

LOOKAHEAD = 8  # cells queued ahead of the one the parent runs, for idle workers to take


def _submit_cell(parent_id: str, owner_id: int | None, k: int, cell: GenerateParams) -> str | None:
    """The cell's generate job (idempotent per parent and index); None while the owner's
    queue, the server's queue or the broker is full or away (the caller tries again)."""
    with session_scope() as s:
        user = s.get(User, owner_id) if owner_id is not None else None
        if user is None:
            raise RuntimeError("an X/Y/Z plot needs an owner")
        try:
            job, created = submit_job(
                s,
                get_kind("generate"),
                cell,
                user,
                idempotency_key=f"xyz:{parent_id}:{k}",
                capped=False,  # the plot counted against the caps; its cells are bounded
            )
        except (QueueFull, ServerBusy, BrokerUnavailable):
            return None
        if created:
            record_generation(s, job, user.id, cell)
        return job.id


def _state(job_id: str) -> tuple[str, dict[str, Any], str | None]:
    with session_scope() as s:
        job = s.get(Job, job_id)
        assert job is not None
        return job.state, dict(job.result or {}), job.error


def _cancel(job_ids: list[str]) -> None:
    with session_scope() as s:
        for job_id in job_ids:
            job = s.get(Job, job_id)
            if job is not None:
                request_cancel(s, job)  # notifies the cell's streams once committed


def _owner_and_worker(job_id: str) -> tuple[int | None, str]:
    with session_scope() as s:
        job = s.get(Job, job_id)
        assert job is not None
        return job.owner_id, job.worker or "xyz"


def run(params: XYZParams, sink: Sink, ctx: RunContext) -> dict[str, Any]:
    todo = cell_params(params, SubmitContext(ctx.models_dir, ctx.data_dir, at_submit=False))
    coords = [c for c, _ in cells(params)]
    owner_id, worker = _owner_and_worker(ctx.job_id)
    ids: list[str | None] = [None] * len(todo)
    sink.log(f"X/Y/Z plot: {len(todo)} cells")

    def submit_ahead(upto: int) -> None:
        for k in range(min(upto, len(todo))):
            if ids[k] is None:
                ids[k] = _submit_cell(ctx.job_id, owner_id, k, todo[k])
                if ids[k] is None:
                    return  # the queue is full: later
                sink.event("cell", {"index": k, "job_id": ids[k], "x": coords[k][0],
                                    "y": coords[k][1], "z": coords[k][2]})  # fmt: skip

    states: list[str] = ["queued"] * len(todo)
    try:
        for k in range(len(todo)):
            sink.check()
            while ids[k] is None:
                submit_ahead(k + 1)
                if ids[k] is None:
                    sink.check()
                    time.sleep(0.5)
            submit_ahead(k + 1 + LOOKAHEAD)
            job_id = ids[k]
            assert job_id is not None
            run_here_if_queued(job_id, worker, ctx.device)  # unless another worker took it
            while (state := _state(job_id)[0]) not in TERMINAL_STATES:
                sink.check()
                time.sleep(0.1)
            states[k] = state
            sink.progress(k + 1, len(todo))
    except BaseException:
        _cancel([i for i in ids if i is not None])
        raise

    images: list[Image.Image | None] = []
    index = []
    artifacts = get_settings().artifacts_dir
    for k, job_id in enumerate(ids):
        assert job_id is not None
        state, result, error = _state(job_id)
        names = result.get("images") or []
        image = None
        if state == "succeeded" and names:
            with Image.open(artifacts / job_id / names[0]) as im:
                image = im.convert("RGB")
        images.append(image)
        index.append({"index": k, "x": coords[k][0], "y": coords[k][1], "z": coords[k][2],
                      "job_id": job_id, "state": state, "image": names[0] if names else None,
                      "error": error})  # fmt: skip
    grid = draw_grid(params, images)
    text = f"X/Y/Z plot: {' / '.join(f'{LABELS[a.field]}' for a in params.axes())}"
    name = sink.artifact(
        "xyz/grid.png", png_with_parameters(grid, text, params.model_dump(mode="json")),
        kind="image", meta={"view": "image", "role": "grid"},
    )  # fmt: skip
    axes = [a.model_dump() for a in params.axes()]
    sink.artifact("xyz/index.json", {"axes": axes, "cells": index}, kind="json",
                  meta={"role": "index"})  # fmt: skip
    failed = sum(s != "succeeded" for s in states)
    return {"grid": name, "cells": len(ids), "failed": failed,
            "jobs": [i for i in ids if i is not None]}  # fmt: skip


SPEC = KindSpec(
    name="xyz",
    params=XYZParams,
    run=run,
    queue="gpu",
    admin_only=False,
    title="X/Y/Z plot",
    description="A grid of generations over up to three axes (seed, steps, guidance, sampler, "
    "prompt S/R, ...): each cell an ordinary generation with its own live view.",
    category="generation",
    time_limit_s=6 * 3600,
    prepare=prepare_xyz,
)

__all__ = ["SPEC", "run"]

"""The xyz job of an A1111 X/Y/Z plot request (difflab.api.a1111_xyz reads the request):
submitted through the one door, and its end answered in A1111's shape: the grid, the sub-grids
and the cells asked for, one infotext per image, each cell's prompt and seed."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, status
from fastapi.exceptions import RequestValidationError
from PIL import Image
from sqlalchemy import select

from difflab.api.a1111_xyz import Plot
from difflab.api.routes.jobs import artifact_path
from difflab.api.submit import check_role, kind_for, prepare_params, submit
from difflab.db.engine import read_scope, session_scope
from difflab.db.models import Job, User
from difflab.diffusion.infotext import format_infotext, png_with_parameters
from difflab.diffusion.xyz import draw_grid


def grid_infotext(plot: Plot, first: str, with_z: bool) -> str:
    """A grid's infotext as A1111 writes it: its first cell's, then the script and its axes
    ("Fixed X Values": the seeds a Seed axis's -1 became). The main grid names Z too."""
    extra: dict[str, Any] = {"Script": plot.script}
    for name in ("x", "y", "z") if with_z else ("x", "y"):
        axis = plot.axes.get(name)
        if axis is None:
            continue
        key = name.upper()
        extra[f"{key} Type"] = axis.label
        extra[f"{key} Values"] = axis.text
        if axis.field == "seed" and plot.fixed_seeds:
            extra[f"Fixed {key} Values"] = ", ".join(str(v) for v in axis.values)
    line = format_infotext("", "", extra)
    return f"{first}, {line}" if first else line


def _rewrite_error(plot: Plot, exc: RequestValidationError) -> RequestValidationError:
    """The xyz kind's 422 (at params x, y, z or base) as one at the plot's script_args."""
    errors = []
    for e in exc.errors():
        loc = list(e.get("loc", ()))
        axis = next((p for p in loc if p in ("x", "y", "z")), None)
        position = plot.error_position(axis) if axis else None
        label = plot.axes[axis].label if axis in plot.axes else None
        prefix = f"{str(axis).upper()} values ({label}): " if label else ""
        where: list[str | int] = ["body", "script_args"]
        errors.append({**e, "loc": tuple(where if position is None else [*where, position]),
                       "msg": f"{prefix}{e.get('msg', '')}"})  # fmt: skip
    return RequestValidationError(errors)


def submit_plot(user: User, plot: Plot) -> str:
    """The plot's xyz job, through the one door: its base checked as the plain route checks a
    generation (the same 422s), then every cell (a 422 at the script_args value that made it
    invalid). Returns the job's id."""
    with session_scope() as s:
        user = s.merge(user)
        base = prepare_params(s, kind_for(user, "generate"), plot.params.base, ("body",))
        spec = kind_for(user, "xyz")
        requested = plot.params.model_copy(update={"base": base})
        check_role(user, spec, requested)
        try:
            params = prepare_params(s, spec, requested, ("body", "script_args"))
        except RequestValidationError as exc:
            raise _rewrite_error(plot, exc) from None
        job, _ = submit(s, user, spec, params)
        return job.id


@dataclass(frozen=True)
class _Cell:
    job_id: str
    params: dict[str, Any]
    result: dict[str, Any]
    error: str | None
    ok: bool  # it made its image


def _cells(ids: list[str]) -> list[_Cell]:
    with read_scope() as s:
        jobs = {j.id: j for j in s.scalars(select(Job).where(Job.id.in_(ids)))}
        out = []
        for job_id in ids:
            job = jobs.get(job_id)
            result = dict(job.result or {}) if job else {}
            ok = job is not None and job.state == "succeeded" and bool(result.get("images"))
            out.append(_Cell(job_id, dict(job.params) if job else {}, result,
                             job.error if job else "gone", ok))  # fmt: skip
        return out


def _png_b64(blob: bytes) -> str:
    return base64.b64encode(blob).decode()


def _picture(cell: _Cell) -> Image.Image | None:
    if not cell.ok:
        return None
    with Image.open(artifact_path(cell.job_id, cell.result["images"][0])) as im:
        return im.convert("RGB")


def plot_answer(plot: Plot, job: Job) -> tuple[list[str], dict[str, Any]]:
    """A finished plot as A1111 answers it: the images (base64 PNG: the grid, one grid per Z
    value with include_sub_grids, then every cell with include_lone_images, a failed cell as a
    black picture) and the info. As in A1111, `infotexts` has one text per image (all of them
    before include_lone_images drops the cells), `all_prompts` and `all_seeds` skip the main
    grid (index_of_first_image 1), and a failed cell's entries are null."""
    result = job.result or {}
    cells = _cells(list(result.get("jobs") or []))
    done = [c for c in cells if c.ok]
    if not done:
        first_error = next((c.error for c in cells if c.error), "")
        raise HTTPException(
            status.HTTP_500_INTERNAL_SERVER_ERROR,
            detail=f"every cell of the plot failed: {first_error}".strip(),
        )
    first = cells[0] if cells[0].ok else done[0]

    def text(c: _Cell) -> str | None:
        return c.result["infotexts"][0] if c.ok and c.result.get("infotexts") else None

    grid_blob = artifact_path(job.id, result["grid"]).read_bytes()
    images = [_png_b64(grid_blob)]
    infotexts: list[str | None] = [grid_infotext(plot, text(first) or "", with_z=True)]
    per_block = len(plot.params.x.values) * (len(plot.params.y.values) if plot.params.y else 1)
    blocks = range(len(plot.params.z.values) if plot.params.z else 1)
    shown: list[_Cell] = []  # the cells all_prompts and all_seeds speak of, in image order
    if plot.include_sub_grids:
        pictures = [_picture(c) for c in cells]
        xy = plot.params.model_copy(update={"z": None})
        for iz in blocks:
            head = cells[iz * per_block]
            sub_text = grid_infotext(plot, text(head) or text(first) or "", with_z=False)
            grid = draw_grid(xy, pictures[iz * per_block : (iz + 1) * per_block])
            blob = png_with_parameters(grid, sub_text, {"xyz_job": job.id, "z": iz})
            images.append(_png_b64(blob))
            infotexts.append(sub_text)
            shown.append(head)
    size = (int(first.result.get("width") or 64), int(first.result.get("height") or 64))
    for c in cells:
        if plot.include_lone_images:
            if c.ok:
                images.append(_png_b64(artifact_path(c.job_id, c.result["images"][0]).read_bytes()))
            else:
                blank = io.BytesIO()
                Image.new("RGB", size).save(blank, format="PNG")
                images.append(_png_b64(blank.getvalue()))
        infotexts.append(text(c))
        shown.append(c)

    def each(get: Any) -> list[Any]:
        return [get(c) if c.ok else None for c in shown]

    info: dict[str, Any] = {
        "prompt": first.params.get("prompt", ""),
        "all_prompts": each(lambda c: c.params.get("prompt", "")),
        "negative_prompt": first.params.get("negative_prompt", ""),
        "all_negative_prompts": each(lambda c: c.params.get("negative_prompt", "")),
        "seed": first.result.get("seed"),
        "all_seeds": each(lambda c: c.result.get("seed")),
        "subseed": first.result.get("subseed", -1),
        "all_subseeds": each(lambda c: c.result.get("subseed", -1)),
        "subseed_strength": first.params.get("subseed_strength", 0.0),
        "width": first.result.get("width"),
        "height": first.result.get("height"),
        "sampler_name": first.result.get("sampler"),
        "scheduler": first.result.get("scheduler"),
        "cfg_scale": first.params.get("guidance_scale"),
        "steps": first.params.get("steps"),
        "batch_size": 1,
        "n_iter": 1,
        "sd_model_name": first.params.get("model"),
        "sd_model_hash": None,
        "index_of_first_image": 1,
        "infotexts": infotexts,
        "difflab_job_id": job.id,
        "difflab_cell_jobs": [c.job_id for c in cells],
        "difflab_failed_cells": [k for k, c in enumerate(cells) if not c.ok],
    }
    if first.params.get("init_image") is not None:
        info["denoising_strength"] = first.params.get("strength")
    return images, info


__all__ = ["grid_infotext", "plot_answer", "submit_plot"]

"""AUTOMATIC1111-compatible routes, so scripts written for its web UI API work unchanged.

They go through the same job system: txt2img makes a `generate` job and waits for it; with
A1111's X/Y/Z plot script it makes one `xyz` job, whose cells are generate jobs, and answers with
the grid and the cells as A1111 does (api/a1111_xyz.py reads the script's arguments,
api/a1111_xyz_job.py submits and answers). HTTP Basic with a difflab user is accepted, as
A1111's --api-auth does (Bearer keys and sessions too).
"""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC
from typing import Any, TypeVar

from fastapi import APIRouter, HTTPException, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from difflab.api.a1111_xyz import Plot, Route, checkpoint_name, plot_script, read_plot
from difflab.api.a1111_xyz_job import plot_answer, submit_plot
from difflab.api.deps import BasicUser, DbRoute
from difflab.api.generation_service import create_generation
from difflab.api.ratelimit import BasicGenerationLimit
from difflab.api.routes.images import b64_image, store_image
from difflab.api.routes.jobs import artifact_path
from difflab.api.routes.styles import apply_styles, styles_of
from difflab.api.submit import field_error
from difflab.config import get_settings
from difflab.db.engine import read_scope, session_scope
from difflab.db.models import TERMINAL_STATES, Job, JobEvent, User, UserOptions, utcnow
from difflab.diffusion import inputs
from difflab.diffusion.generate import LATENT_UPSCALE, PIXEL_UPSCALE, GenerateParams
from difflab.diffusion.infotext import parse_infotext
from difflab.diffusion.models import DEFAULT_MODEL, ModelError, list_models, resolve_model
from difflab.diffusion.schedulers import list_samplers
from difflab.diffusion.vae_override import list_vaes
from difflab.jobs import notify
from difflab.jobs.lifecycle import as_utc, request_cancel
from difflab.runtime import ParamError

router = APIRouter(prefix="/sdapi/v1", tags=["automatic1111"], route_class=DbRoute)


class Txt2ImgRequest(BaseModel):
    """The fields of A1111's StableDiffusionTxt2ImgProcessingAPI that difflab honours. Fields
    A1111 has that change nothing here (do_not_save_samples, save_images, ...) are accepted;
    those whose effect difflab does not have yet (restore_faces, scripts other than the X/Y/Z
    plot and SD upscale, s_churn, ...) are refused with a 422 naming them unless they hold
    their do-nothing value (UNSUPPORTED)."""

    model_config = ConfigDict(extra="allow")
    prompt: str = ""
    negative_prompt: str = ""
    seed: int = -1
    steps: int = 20
    cfg_scale: float = 7.0
    width: int | None = None
    height: int | None = None
    batch_size: int = Field(1, ge=1, le=16)
    n_iter: int = Field(1, ge=1, le=16)
    sampler_name: str | None = None
    sampler_index: str | None = None
    scheduler: str | None = None
    eta: float | None = None
    override_settings: dict[str, Any] | None = None
    send_images: bool = True
    styles: list[str] = Field(default_factory=list, description="Saved styles to merge in.")
    subseed: int = -1
    subseed_strength: float = 0.0


class Txt2ImgResponse(BaseModel):
    images: list[str]
    parameters: dict[str, Any]
    info: str


class Img2ImgRequest(Txt2ImgRequest):
    """A1111's StableDiffusionImg2ImgProcessingAPI: txt2img's fields, the init image and the
    inpainting options (images are base64, with or without a data: prefix)."""

    init_images: list[str] = Field(min_length=1)
    mask: str | None = None
    denoising_strength: float = 0.75
    resize_mode: int = Field(0, ge=0, le=3)
    mask_blur: int | None = None
    mask_blur_x: int | None = None
    mask_blur_y: int | None = None
    inpainting_fill: int = Field(0, ge=0, le=3)
    inpaint_full_res: bool | int = True
    inpaint_full_res_padding: int = 0
    inpainting_mask_invert: int = Field(0, ge=0, le=1)
    include_init_images: bool = False


def _setting(req: Txt2ImgRequest, options: dict[str, Any], key: str, default: Any) -> Any:
    """An A1111 option for this request: its override_settings, else the user's saved
    options (POST /sdapi/v1/options), else the default."""
    return (req.override_settings or {}).get(key, options.get(key, default))


R = TypeVar("R", bound=Txt2ImgRequest)


def _model_from(req: Txt2ImgRequest, options: dict[str, Any]) -> str:
    return checkpoint_name(str(_setting(req, options, "sd_model_checkpoint", "") or DEFAULT_MODEL))


# override_settings this route carries out; any other is refused (422), never ignored
OVERRIDES = (
    "sd_model_checkpoint", "show_progress_every_n_steps", "CLIP_stop_at_last_layers", "sd_vae",
)  # fmt: skip
NO_VAE = ("Automatic", "None", "", None)  # A1111's "the model's own VAE"
LIVE_PREVIEW_EVERY = 10  # A1111's "Live preview display period" default, in sampling steps


def _live_previews(req: Txt2ImgRequest, options: dict[str, Any]) -> dict[str, Any]:
    """What /sdapi/v1/progress shows while the job runs: an approx preview every N steps as
    A1111 makes it (N = show_progress_every_n_steps, default 10; -1 or 0: none)."""
    every = _setting(req, options, "show_progress_every_n_steps", LIVE_PREVIEW_EVERY)
    if isinstance(every, bool) or not isinstance(every, int) or every < -1 or every > 150:
        raise RequestValidationError([{
            "loc": ("body", "override_settings", "show_progress_every_n_steps"),
            "msg": "an integer from -1 to 150 (-1 or 0: no live previews)", "type": "value_error",
        }])  # fmt: skip
    if every <= 0:
        return {"preview": "none"}
    return {"preview": "approx", "preview_every": every}


# A1111 fields whose effect difflab does not have: refused (422) unless they hold one of
# these do-nothing values (what A1111's own clients send by default)
UNSUPPORTED: dict[str, tuple[Any, ...]] = {
    "restore_faces": (False, None),
    "hr_resize_x": (0, None),
    "hr_resize_y": (0, None),
    "hr_checkpoint_name": (None, ""),
    "hr_additional_modules": ([], None),
    "seed_resize_from_h": (-1, 0, None),
    "seed_resize_from_w": (-1, 0, None),
    "script_name": (None, ""),
    "script_args": ([], None),
    "alwayson_scripts": ({}, None),
    "s_churn": (0, None),
    "s_noise": (1, None),
    "s_tmin": (0, None),
    "initial_noise_multiplier": (1, None),
    "refiner_checkpoint": (None, ""),
}


# why a field is refused, where there is more to say than "not supported yet"
REFUSED_BECAUSE = {
    "restore_faces": "no face-restoration model is installed (GET /sdapi/v1/face-restorers)",
    "script_name": 'the scripts difflab runs are "x/y/z plot" (and the older "X/Y plot") '
    'and img2img\'s "sd upscale"',
}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):  # False is not 0 here
        return a is b
    return bool(a == b)


def _refuse_unsupported(req: Txt2ImgRequest) -> None:
    extra = req.model_extra or {}
    scripted = plot_script(extra.get("script_name")) is not None or (
        isinstance(req, Img2ImgRequest) and _sd_upscale_script(req)
    )
    for name, allowed in UNSUPPORTED.items():
        if scripted and name in ("script_name", "script_args"):
            continue
        if name in extra and not any(_same(extra[name], ok) for ok in allowed):
            reason = REFUSED_BECAUSE.get(name, "not supported by difflab yet")
            raise _refuse(name, f"{reason}; send {allowed[0]!r} or leave it out")


_RESIZE_MODES = {0: "just_resize", 1: "crop_and_resize", 2: "resize_and_fill"}
_FILLS = {0: "fill", 1: "original", 2: "latent_noise", 3: "latent_nothing"}
# GenerateParams field -> the A1111 field a request names it by (in 422 locations)
A1111_NAMES = {
    "guidance_scale": "cfg_scale", "sampler": "sampler_name", "init_image": "init_images",
    "strength": "denoising_strength", "mask_invert": "inpainting_mask_invert",
    "hr_strength": "denoising_strength",
    "sd_upscale": "script_args",
}  # fmt: skip


def _refuse(field: str, message: str) -> RequestValidationError:
    return field_error(("body", field), message)


def _sd_upscale_script(req: Img2ImgRequest) -> bool:
    name = (req.model_extra or {}).get("script_name")
    return isinstance(name, str) and name.strip().lower() == "sd upscale"


SD_UPSCALERS = ("None", "Lanczos", "Nearest", "Bicubic")  # an index in script_args: this order


def sd_upscale_fields(req: Img2ImgRequest) -> dict[str, Any]:
    """A1111's "sd upscale" script_args: [info, overlap, upscaler (name or index), scale]."""
    args = (req.model_extra or {}).get("script_args") or []
    if not isinstance(args, list) or len(args) > 4:
        raise _refuse("script_args", "sd upscale takes [info, overlap, upscaler, scale_factor]")
    overlap, upscaler, scale = [*args[1:], None, None, None][:3]
    if isinstance(upscaler, int) and not isinstance(upscaler, bool):
        if not 0 <= upscaler < len(SD_UPSCALERS):
            raise _refuse("script_args", f"upscaler index: 0 to {len(SD_UPSCALERS) - 1}")
        upscaler = SD_UPSCALERS[upscaler]
    up = {"overlap": 64 if overlap is None else overlap,
          "upscaler": "Lanczos" if upscaler is None else upscaler,
          "scale": 2.0 if scale is None else scale}  # fmt: skip
    return {"sd_upscale": up}


def image_fields(req: Img2ImgRequest, init_id: str, mask_id: str | None) -> dict[str, Any]:
    """The img2img and inpainting fields of GenerateParams from A1111's (ids of the stored
    images). Inpainting options count only with a mask, as in A1111."""
    if req.resize_mode not in _RESIZE_MODES:
        raise _refuse("resize_mode", "3 (just resize, latent upscale) is not supported yet")
    fields: dict[str, Any] = {
        "init_image": init_id, "strength": req.denoising_strength,
        "resize_mode": _RESIZE_MODES[req.resize_mode],
    }  # fmt: skip
    if _sd_upscale_script(req):
        fields.update(sd_upscale_fields(req))
    if mask_id is None:
        return fields
    blur = req.mask_blur
    if blur is None:
        blur_x, blur_y = req.mask_blur_x, req.mask_blur_y
        if blur_x is not None and blur_y is not None and blur_x != blur_y:
            raise _refuse("mask_blur_y", "a blur different from mask_blur_x is not supported")
        blur = next((b for b in (blur_x, blur_y) if b is not None), 4)
    return fields | {
        "mask": mask_id, "mask_blur": blur, "mask_invert": bool(req.inpainting_mask_invert),
        "inpainting_fill": _FILLS[req.inpainting_fill],
        "inpaint_full_res": bool(req.inpaint_full_res),
        "inpaint_full_res_padding": req.inpaint_full_res_padding,
    }  # fmt: skip


def _hires_fields(req: Txt2ImgRequest) -> dict[str, Any]:
    """Hires fix from A1111's txt2img fields (enable_hr, hr_scale, hr_upscaler,
    hr_second_pass_steps, denoising_strength); a second-pass prompt or sampler other than the
    first pass's is refused."""
    extra = req.model_extra or {}
    if not extra.get("enable_hr") or isinstance(req, Img2ImgRequest):
        return {}
    for name, same in (("hr_prompt", req.prompt), ("hr_negative_prompt", req.negative_prompt),
                       ("hr_sampler_name", req.sampler_name or req.sampler_index)):  # fmt: skip
        value = extra.get(name)
        if value not in (None, "", same):
            raise _refuse(name, "a second pass different from the first is not supported yet")
    fields: dict[str, Any] = {"enable_hr": True}
    for a1111, ours in (("hr_scale", "hr_scale"), ("hr_upscaler", "hr_upscaler"),
                        ("hr_second_pass_steps", "hr_second_pass_steps"),
                        ("denoising_strength", "hr_strength")):  # fmt: skip
        if extra.get(a1111) is not None:
            fields[ours] = extra[a1111]
    return fields


def to_generate_params(
    req: Txt2ImgRequest,
    images: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
) -> GenerateParams:
    """GenerateParams from A1111's fields, the images stored for them and the user's saved
    options (styles are merged into the prompts before: with_styles)."""
    options = options or {}
    _refuse_unsupported(req)
    unknown = sorted(set(req.override_settings or {}) - set(OVERRIDES))
    if unknown:
        raise RequestValidationError([{
            "loc": ("body", "override_settings", unknown[0]),
            "msg": f"not supported here (supported: {', '.join(OVERRIDES)})",
            "type": "value_error",
        }])  # fmt: skip
    fields: dict[str, Any] = {
        "prompt": req.prompt,
        "negative_prompt": req.negative_prompt,
        "model": _model_from(req, options),
        "steps": req.steps,
        "seed": req.seed,
        "width": req.width,
        "height": req.height,
        "batch_size": req.batch_size,
        "n_iter": req.n_iter,
        "attention": False,
        **_live_previews(req, options),
        **(images or {}),
    }
    if "cfg_scale" in req.model_fields_set:  # left out: the model's own (default_guidance)
        fields["guidance_scale"] = req.cfg_scale
    sampler = req.sampler_name or req.sampler_index
    if sampler:
        fields["sampler"] = sampler
    if req.scheduler:
        fields["scheduler"] = req.scheduler
    if req.eta is not None:
        fields["eta"] = req.eta
    if (req.model_extra or {}).get("tiling"):
        fields["tiling"] = True
    if req.subseed_strength:
        fields["subseed"], fields["subseed_strength"] = req.subseed, req.subseed_strength
    fields.update(_hires_fields(req))
    vae = _setting(req, options, "sd_vae", None)
    if vae not in NO_VAE:
        if not isinstance(vae, str):
            raise _refuse("sd_vae", "a VAE name (GET /sdapi/v1/sd-vae) or Automatic")
        fields["vae"] = vae.removesuffix(".safetensors")
    clip_skip = _setting(req, options, "CLIP_stop_at_last_layers", None)
    if clip_skip is not None:
        fields["clip_skip"] = clip_skip
    try:
        return GenerateParams.model_validate(fields)
    except ValidationError as exc:
        errors = []
        for e in exc.errors(include_url=False):
            loc = [A1111_NAMES.get(str(p), p) for p in e["loc"]]
            if loc == ["clip_skip"]:
                loc = ["override_settings", "CLIP_stop_at_last_layers"]
            errors.append({"loc": ("body", *loc), "msg": e["msg"], "type": e["type"]})
        raise RequestValidationError(errors) from None


def _submit(user: User, params: GenerateParams) -> str:
    with session_scope() as s:
        # the user was read for this request a moment ago: no second read (load=False)
        _, job = create_generation(s, s.merge(user, load=False), params)
        return job.id


def _job(job_id: str) -> Job | None:
    with read_scope() as s:
        return s.get(Job, job_id)


def _timestamp(job: Job) -> str:
    created = as_utc(job.created_at)
    return created.astimezone(UTC).strftime("%Y%m%d%H%M%S") if created else ""


def _b64(job_id: str, name: str) -> str:
    return base64.b64encode(artifact_path(job_id, name).read_bytes()).decode()


async def _ended(job_id: str) -> Job:
    """The job once it ended (woken by the worker's notifications); 504 past the time limit."""
    deadline = time.monotonic() + get_settings().job_time_limit_s
    # woken when the worker says the job ended, not by each of its events
    async with notify.listener().watch(job_id, ends_only=True) as news:
        while True:
            job = await run_in_threadpool(_job, job_id)
            if job is not None and job.state in TERMINAL_STATES:
                return job
            if time.monotonic() > deadline:
                raise HTTPException(
                    status.HTTP_504_GATEWAY_TIMEOUT, detail=f"job {job_id} still running"
                )
            await news.wait()


def _echoed(req: Txt2ImgRequest) -> dict[str, Any]:
    """The request as A1111 echoes it in `parameters`."""
    echoed = req.model_dump()
    if isinstance(req, Img2ImgRequest) and not req.include_init_images:
        echoed["init_images"], echoed["mask"] = None, None  # as A1111 answers
    return echoed


async def _generate(req: Txt2ImgRequest, params: GenerateParams, user: User) -> Txt2ImgResponse:
    """Submit the generate job, wait for its end, answer as A1111."""
    job_id = await run_in_threadpool(_submit, user, params)
    job = await _ended(job_id)
    if job.state != "succeeded" and not (job.result or {}).get("images"):
        code = status.HTTP_409_CONFLICT if job.state == "cancelled" else 500
        raise HTTPException(code, detail=f"generation {job.state}: {job.error or ''}".strip())
    result = job.result or {}
    images = [await run_in_threadpool(_b64, job_id, n) for n in result.get("images", [])]
    info = {
        "prompt": params.prompt,
        "all_prompts": [params.prompt] * len(images),
        "negative_prompt": params.negative_prompt,
        "all_negative_prompts": [params.negative_prompt] * len(images),
        "seed": result.get("seed"),
        "all_seeds": result.get("seeds", []),
        "subseed": result.get("subseed", -1),
        "all_subseeds": result.get("subseeds", [-1] * len(images)),
        "subseed_strength": params.subseed_strength,
        "width": result.get("width"),
        "height": result.get("height"),
        "sampler_name": result.get("sampler"),
        "scheduler": result.get("scheduler"),
        "cfg_scale": params.guidance_scale,
        "steps": params.steps,
        "batch_size": req.batch_size,
        "n_iter": req.n_iter,
        "sd_model_name": params.model,
        "sd_model_hash": None,
        "infotexts": result.get("infotexts", []),
        "job_timestamp": _timestamp(job),
        "difflab_job_id": job_id,
    }
    if params.init_image is not None:
        info["denoising_strength"] = params.strength
    return Txt2ImgResponse(
        images=images if req.send_images else [], parameters=_echoed(req), info=json.dumps(info)
    )


async def _plot(req: Txt2ImgRequest, plot: Plot, user: User) -> Txt2ImgResponse:
    """Submit the plot's xyz job, wait for its end, answer as A1111 (a1111_xyz_job)."""
    job_id = await run_in_threadpool(submit_plot, user, plot)
    job = await _ended(job_id)
    if job.state != "succeeded":
        code = status.HTTP_409_CONFLICT if job.state == "cancelled" else 500
        raise HTTPException(code, detail=f"{plot.script} {job.state}: {job.error or ''}".strip())
    images, info = await run_in_threadpool(plot_answer, plot, job)
    info["job_timestamp"] = _timestamp(job)
    return Txt2ImgResponse(
        images=images if req.send_images else [], parameters=_echoed(req), info=json.dumps(info)
    )


def _plot_of(req: Txt2ImgRequest, base: GenerateParams, route: Route) -> Plot | None:
    """The plot a request's script asks for (None: no plot script)."""
    extra = req.model_extra or {}
    script = plot_script(extra.get("script_name"))
    if script is None:
        return None
    for name in ("batch_size", "n_iter"):
        if getattr(req, name) != 1:
            raise _refuse(name, f"the {script} makes one image a cell: send 1")
    return read_plot(script, extra.get("script_args"), base, route)


def with_user_state(req: R, user_id: int) -> tuple[R, dict[str, Any]]:
    """The request with the user's named styles merged into its prompts, and the user's saved
    A1111 options (both from the database)."""
    with read_scope() as s:
        options = stored_options(s, user_id)
        if not req.styles:
            return req, options
        prompt, negative = apply_styles(s, user_id, req.styles, req.prompt, req.negative_prompt)
    return req.model_copy(update={"prompt": prompt, "negative_prompt": negative}), options


def _txt2img_params(req: Txt2ImgRequest, user_id: int) -> tuple[GenerateParams, Plot | None]:
    styled, options = with_user_state(req, user_id)
    params = to_generate_params(styled, options=options)
    return params, _plot_of(req, params, "txt2img")


@router.post("/txt2img", response_model=Txt2ImgResponse)
async def txt2img(
    req: Txt2ImgRequest, user: BasicUser, _limits: BasicGenerationLimit
) -> Txt2ImgResponse:
    """A1111's txt2img: a `generate` job; with script_name "x/y/z plot", an `xyz` job."""
    params, plot = await run_in_threadpool(_txt2img_params, req, user.id)
    if plot is not None:
        return await _plot(req, plot, user)
    return await _generate(req, params, user)


def _img2img_params(req: Img2ImgRequest, user_id: int) -> tuple[GenerateParams, Plot | None]:
    """Check the request, then store its images (only then: bad input stores nothing)."""
    if len(req.init_images) > 1:
        raise _refuse("init_images", "one init image per request is supported")
    styled, options = with_user_state(req, user_id)
    # the txt2img fields and the script's arguments first: nothing is stored
    _plot_of(req, to_generate_params(styled, options=options), "img2img")
    init = store_image(b64_image(req.init_images[0], "init_images.0"), "init_images.0", "image")
    mask = None
    if req.mask:
        mask = store_image(b64_image(req.mask, "mask"), "mask", "mask")
    images = image_fields(req, init.id, mask.id if mask else None)
    params = to_generate_params(styled, images, options)
    return params, _plot_of(req, params, "img2img")


@router.post("/img2img", response_model=Txt2ImgResponse)
async def img2img(
    req: Img2ImgRequest, user: BasicUser, _limits: BasicGenerationLimit
) -> Txt2ImgResponse:
    """A1111's img2img and inpainting (with `mask`): a `generate` job with an init image; with
    script_name "x/y/z plot", an `xyz` job."""
    params, plot = await run_in_threadpool(_img2img_params, req, user.id)
    if plot is not None:
        return await _plot(req, plot, user)
    return await _generate(req, params, user)


class PngInfoRequest(BaseModel):
    image: str = Field(description="A PNG (or JPEG, WebP), base64, with or without data: prefix.")


class PngInfoResponse(BaseModel):
    info: str
    items: dict[str, Any]
    parameters: dict[str, Any]


def _png_info(req: PngInfoRequest) -> PngInfoResponse:
    blob = b64_image(req.image, "image")
    try:
        text = inputs.read_text(blob, "image")
    except ParamError as exc:
        raise field_error(("body", "image"), exc.message) from None
    info = text.pop("parameters", "")
    parsed = parse_infotext(info) if info else None
    parameters: dict[str, Any] = {}
    if parsed is not None:
        parameters = {"Prompt": parsed.prompt, "Negative prompt": parsed.negative_prompt,
                      **parsed.params}  # fmt: skip
    return PngInfoResponse(info=info, items=text, parameters=parameters)


@router.post("/png-info", response_model=PngInfoResponse)
async def png_info(req: PngInfoRequest, user: BasicUser) -> PngInfoResponse:
    """The generation parameters (infotext) stored in an image, as A1111 reads them."""
    return await run_in_threadpool(_png_info, req)


_ACTIVE = ("running", "queued")


def _active(user_id: int, kind: str) -> Select[Job]:
    """The user's running (first) and queued jobs of a kind."""
    return (
        select(Job)
        .where(Job.owner_id == user_id, Job.kind == kind, Job.state.in_(_ACTIVE))
        .order_by(Job.state.desc(), Job.created_at)  # running before queued
    )


def _current_job(user_id: int) -> tuple[Job | None, list[JobEvent], tuple[Job, int, int] | None]:
    """The user's current generation and its last events, and the X/Y/Z plot it belongs to
    (the plot's job, cells done, cells in all), if one runs."""
    with read_scope() as s:
        plot = None
        parent = s.scalar(_active(user_id, "xyz"))
        if parent is not None:
            cells = 1
            for axis in ("x", "y", "z"):
                values = (parent.params.get(axis) or {}).get("values") or []
                cells *= max(1, len(values))
            plot = parent, min(cells, round(parent.progress * cells)), cells
        job = s.scalar(_active(user_id, "generate"))
        if job is None:
            return None, [], plot
        events = list(
            s.scalars(
                select(JobEvent)
                .where(JobEvent.job_id == job.id, JobEvent.type.in_(("progress", "denoise")))
                .order_by(JobEvent.seq.desc())
                .limit(10)
            )
        )
        return job, events, plot


def _eta(job: Job, fraction: float) -> float:
    started = as_utc(job.started_at)
    if started is None or fraction <= 0:
        return 0.0
    elapsed = time.time() - started.timestamp()
    return max(elapsed / fraction - elapsed, 0.0)


@router.get("/progress")
async def progress(user: BasicUser, skip_current_image: bool = False) -> dict[str, Any]:
    """The user's current generation as A1111 reports it; during an X/Y/Z plot, the plot's
    progress (cells done plus the running cell's share; job_count: its cells)."""
    job, events, plot = await run_in_threadpool(_current_job, user.id)
    idle = {
        "skipped": False,
        "interrupted": False,
        "job": "",
        "job_count": 0,
        "job_timestamp": "0",
        "job_no": 0,
        "sampling_step": 0,
        "sampling_steps": 0,
    }
    if job is None and plot is None:
        return {
            "progress": 0.0,
            "eta_relative": 0.0,
            "state": idle,
            "current_image": None,
            "textinfo": None,
        }
    step, total, image = 0, 0, None
    if job is not None:
        prog = next((e.payload for e in events if e.type == "progress"), None)
        step, total = (
            (prog["done"], prog["total"]) if prog else (0, int(job.params.get("steps", 0)))
        )
        if not skip_current_image:
            last = next((e.payload for e in events if e.type == "denoise"), None)
            if last and isinstance(last.get("x0"), str):
                try:
                    image = await run_in_threadpool(_b64, job.id, last["x0"])
                except HTTPException:
                    image = None
    state = {**idle, "sampling_step": step, "sampling_steps": total}
    if plot is not None:
        parent, done, cells = plot
        running = job.progress if job is not None and job.state == "running" else 0.0
        fraction = min(1.0, (done + running) / cells)
        eta = _eta(parent, fraction)
        state |= {"job": f"{min(done + 1, cells)} out of {cells}", "job_count": cells,
                  "job_no": done, "interrupted": parent.cancel_requested}  # fmt: skip
        textinfo = parent.state
    else:
        assert job is not None
        fraction = job.progress
        eta = _eta(job, fraction)
        state |= {"job": job.id, "job_count": 1, "interrupted": job.cancel_requested}
        textinfo = job.state
    return {
        "progress": fraction,
        "eta_relative": eta,
        "state": state,
        "current_image": image,
        "textinfo": textinfo,
    }


def _interrupt(user_id: int) -> int:
    with session_scope() as s:
        jobs = [
            *s.scalars(_active(user_id, "xyz")),  # a plot stops, not only its current cell
            *s.scalars(_active(user_id, "generate")),
        ]
        for job in jobs:
            request_cancel(s, job)  # notifies each job's streams once committed
        return len(jobs)


@router.post("/interrupt")
async def interrupt(user: BasicUser) -> dict[str, Any]:
    """Stop the user's running generation or X/Y/Z plot at its next step (and drop queued
    ones)."""
    return {"interrupted": await run_in_threadpool(_interrupt, user.id)}


@router.get("/samplers")
def samplers(user: BasicUser) -> list[dict[str, Any]]:
    return list_samplers()


@router.get("/sd-models")
def sd_models(user: BasicUser) -> list[dict[str, Any]]:
    return [
        {
            "title": m.name,
            "model_name": m.name,
            "hash": None,
            "sha256": None,
            "filename": f"{m.name}/model_index.json",
            "config": None,
        }
        for m in list_models(get_settings().models_dir)
    ]


def _default_model() -> str:
    models = list_models(get_settings().models_dir)
    return next((m.name for m in models if m.default), models[0].name if models else "")


def stored_options(session: Session, user_id: int) -> dict[str, Any]:
    row = session.get(UserOptions, user_id)
    return dict(row.options) if row is not None else {}


def _check_option(key: str, value: Any) -> Any:
    """A value POST /options may store for `key` (the options difflab honours)."""

    def bad(message: str) -> RequestValidationError:
        return _refuse(key, message)

    if key == "sd_model_checkpoint":
        if not isinstance(value, str):
            raise bad("a model name (GET /sdapi/v1/sd-models)")
        try:
            resolve_model(get_settings().models_dir, checkpoint_name(value))
        except ModelError as exc:
            raise bad(str(exc)) from None
        return checkpoint_name(value)
    if key in ("send_seed", "send_size"):
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if key == "CLIP_stop_at_last_layers":
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 12:
            raise bad("an integer from 1 to 12")
        return value
    if key == "show_progress_every_n_steps":
        if isinstance(value, bool) or not isinstance(value, int) or not -1 <= value <= 150:
            raise bad("an integer from -1 to 150 (-1 or 0: no live previews)")
        return value
    if key == "sd_vae":
        if value in NO_VAE:
            return "Automatic"
        if not isinstance(value, str) or value not in list_vaes(get_settings().models_dir):
            raise bad("a VAE in models/vae/ (GET /sdapi/v1/sd-vae), or Automatic")
        return value
    if key == "samples_format":
        if value != "png":
            raise bad("difflab writes PNG only (its infotext lives in a PNG text chunk)")
        return value
    raise bad(f"not an option difflab keeps (it keeps: {', '.join(WRITABLE_OPTIONS)})")


WRITABLE_OPTIONS = (
    "sd_model_checkpoint", "sd_vae", "CLIP_stop_at_last_layers", "show_progress_every_n_steps",
    "send_seed", "send_size", "samples_format",
)  # fmt: skip


def _options(user_id: int) -> dict[str, Any]:
    with read_scope() as s:
        saved = stored_options(s, user_id)
    return {
        "sd_model_checkpoint": _default_model(),
        "sd_vae": "Automatic",
        "samples_format": "png",
        "CLIP_stop_at_last_layers": 1,
        "show_progress_every_n_steps": LIVE_PREVIEW_EVERY,
        "send_seed": True,
        "send_size": True,
        "eta_ddim": 0.0,
        "sd_checkpoint_hash": None,
        **saved,
    }


def _set_options(user_id: int, body: dict[str, Any]) -> dict[str, Any]:
    checked = {key: _check_option(key, value) for key, value in body.items()}
    with session_scope() as s:
        row = s.get(UserOptions, user_id)
        if row is None:
            row = UserOptions(user_id=user_id, options={})
            s.add(row)
        row.options = {**row.options, **checked}
        row.updated_at = utcnow()
    return _options(user_id)


@router.get("/options")
async def options(user: BasicUser) -> dict[str, Any]:
    """A1111's options as difflab has them, with those this user's clients saved."""
    return await run_in_threadpool(_options, user.id)


@router.post("/options")
async def set_options(body: dict[str, Any], user: BasicUser) -> dict[str, Any]:
    """Save options for this user's A1111 requests: sd_model_checkpoint (the model a request
    without one uses), CLIP_stop_at_last_layers, show_progress_every_n_steps, send_seed,
    send_size, samples_format (png). Any other key is a 422 naming it."""
    return await run_in_threadpool(_set_options, user.id, body)


@router.get("/prompt-styles")
async def prompt_styles(user: BasicUser) -> list[dict[str, Any]]:
    """This user's saved styles, as A1111 lists them."""

    def read() -> list[dict[str, Any]]:
        with read_scope() as s:
            return [{"name": st.name, "prompt": st.prompt, "negative_prompt": st.negative_prompt}
                    for st in styles_of(s, user.id)]  # fmt: skip

    return await run_in_threadpool(read)


@router.get("/upscalers")
def upscalers(user: BasicUser) -> list[dict[str, Any]]:
    """The picture upscalers hires fix can use (A1111 lists "None" first); the latent ones are
    at /latent-upscale-modes."""
    return [{"name": name, "model_name": None, "model_path": None, "model_url": None,
             "scale": 4} for name in ("None", *PIXEL_UPSCALE)]  # fmt: skip


@router.get("/latent-upscale-modes")
def latent_upscale_modes(user: BasicUser) -> list[dict[str, Any]]:
    """Latent upscale modes for hires fix (hr_upscaler)."""
    return [{"name": name} for name in LATENT_UPSCALE]


@router.get("/sd-vae")
def sd_vae(user: BasicUser) -> list[dict[str, Any]]:
    """The VAEs in models/vae/ a request may name (override_settings.sd_vae, or the saved
    option); "Automatic" is the model's own."""
    return [{"model_name": name, "filename": f"vae/{name}"}
            for name in list_vaes(get_settings().models_dir)]  # fmt: skip

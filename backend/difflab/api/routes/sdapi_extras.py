"""AUTOMATIC1111's "extras" and the listings its clients read, on the same Basic-auth footing
as the other /sdapi/v1 routes.

Extras upscale a picture with what difflab has: PIL's Lanczos, Nearest and Bicubic (A1111's built-in
upscalers). A face restorer or a model upscaler asked for by a client is refused with a 422
naming the field, since none is installed (the listings say so), never skipped. The picture's
own infotext is kept and A1111's "Postprocess" keys are added to it.
"""

from __future__ import annotations

import base64
import io
import json
from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from pydantic import BaseModel, Field

from difflab.api.deps import BasicUser, DbRoute
from difflab.api.routes.images import b64_image, field_loc
from difflab.api.submit import field_error
from difflab.config import get_settings
from difflab.diffusion import embeddings, inputs, loras
from difflab.diffusion.generate import PIXEL_UPSCALE
from difflab.diffusion.models import DEFAULT_MODEL, ModelError, resolve_model
from difflab.runtime import ParamError

router = APIRouter(prefix="/sdapi/v1", tags=["automatic1111"], route_class=DbRoute)

UPSCALERS = ("None", *PIXEL_UPSCALE)


class ExtrasOptions(BaseModel):
    """The fields of A1111's ExtrasBaseRequest difflab carries out."""

    resize_mode: int = Field(0, ge=0, le=1, description="0: by upscaling_resize; 1: to w x h.")
    show_extras_results: bool = True
    gfpgan_visibility: float = Field(0, ge=0, le=1)
    codeformer_visibility: float = Field(0, ge=0, le=1)
    codeformer_weight: float = Field(0, ge=0, le=1)
    upscaling_resize: float = Field(2, gt=0, le=8)
    upscaling_resize_w: int = Field(512, ge=1, le=8192)
    upscaling_resize_h: int = Field(512, ge=1, le=8192)
    upscaling_crop: bool = True
    upscaler_1: str = "None"
    upscaler_2: str = "None"
    extras_upscaler_2_visibility: float = Field(0, ge=0, le=1)
    upscale_first: bool = False


class ExtrasSingleRequest(ExtrasOptions):
    image: str = Field(description="A PNG, JPEG or WebP, base64 (a data: prefix is allowed).")


class ImageData(BaseModel):
    data: str
    name: str = ""


class ExtrasBatchRequest(ExtrasOptions):
    imageList: list[ImageData] = Field(min_length=1, max_length=64)  # noqa: N815 (A1111's name)


class ExtrasSingleResponse(BaseModel):
    html_info: str
    image: str


class ExtrasBatchResponse(BaseModel):
    html_info: str
    images: list[str]


def _check(opts: ExtrasOptions) -> None:
    for name in ("gfpgan_visibility", "codeformer_visibility"):
        if getattr(opts, name) > 0:
            raise field_error(
                ("body", name),
                "no face-restoration model is installed (GET /sdapi/v1/face-restorers); send 0",
            )
    for name in ("upscaler_1", "upscaler_2"):
        if getattr(opts, name) not in UPSCALERS:
            raise field_error(
                ("body", name),
                f"not an installed upscaler (GET /sdapi/v1/upscalers): {', '.join(UPSCALERS)}",
            )


def _target(opts: ExtrasOptions, size: tuple[int, int]) -> tuple[int, int]:
    if opts.resize_mode == 1:
        return opts.upscaling_resize_w, opts.upscaling_resize_h
    return round(size[0] * opts.upscaling_resize), round(size[1] * opts.upscaling_resize)


def _resize(img: Image.Image, name: str, target: tuple[int, int], crop: bool) -> Image.Image:
    resample = PIXEL_UPSCALE[name]
    if not crop or img.size == target:
        return img.resize(target, resample)
    # scale to cover, then centre-crop to the target (A1111's upscaling_crop)
    scale = max(target[0] / img.width, target[1] / img.height)
    big = img.resize((round(img.width * scale), round(img.height * scale)), resample)
    left, top = (big.width - target[0]) // 2, (big.height - target[1]) // 2
    return big.crop((left, top, left + target[0], top + target[1]))


def upscale(blob: bytes, field: str, opts: ExtrasOptions) -> tuple[bytes, str]:
    """The upscaled PNG and its infotext line."""
    try:
        text = inputs.read_text(blob, field)
        img = inputs.decode(blob, field)
    except ParamError as exc:
        raise field_error(field_loc(field), exc.message) from None
    target = _target(opts, img.size)
    if target[0] * target[1] > inputs.MAX_INPUT_PIXELS:
        where = "upscaling_resize" if opts.resize_mode == 0 else "upscaling_resize_w"
        raise field_error(
            ("body", where),
            f"{target[0]}x{target[1]} is over the {inputs.MAX_INPUT_PIXELS}-pixel limit",
        )
    keys: dict[str, Any] = {}
    out = img
    if opts.upscaler_1 != "None":
        out = _resize(img, opts.upscaler_1, target, opts.upscaling_crop)
        keys = {
            "Postprocess upscale by": opts.upscaling_resize,
            "Postprocess upscaler": opts.upscaler_1,
        }
        if opts.resize_mode == 1:
            keys = {"Postprocess upscale to": f"{target[0]}x{target[1]}",
                    "Postprocess crop to fit": opts.upscaling_crop,
                    "Postprocess upscaler": opts.upscaler_1}  # fmt: skip
        if opts.upscaler_2 != "None" and opts.extras_upscaler_2_visibility > 0:
            second = _resize(img, opts.upscaler_2, target, opts.upscaling_crop)
            out = Image.blend(out, second, opts.extras_upscaler_2_visibility)
            keys["Postprocess upscaler 2"] = opts.upscaler_2
    info_line = ", ".join(f"{k}: {v}" for k, v in keys.items())
    parameters = text.get("parameters", "")
    if info_line:
        parameters = f"{parameters}, {info_line}" if parameters else info_line
    png = PngInfo()
    if parameters:
        png.add_text("parameters", parameters)
    buf = io.BytesIO()
    out.save(buf, format="PNG", pnginfo=png)
    return buf.getvalue(), info_line


def _single(req: ExtrasSingleRequest) -> ExtrasSingleResponse:
    _check(req)
    png, info = upscale(b64_image(req.image, "image"), "image", req)
    return ExtrasSingleResponse(html_info=info, image=base64.b64encode(png).decode())


def _batch(req: ExtrasBatchRequest) -> ExtrasBatchResponse:
    _check(req)
    out, info = [], ""
    for i, item in enumerate(req.imageList):
        field = f"imageList.{i}.data"
        png, info = upscale(b64_image(item.data, field), field, req)
        out.append(base64.b64encode(png).decode())
    return ExtrasBatchResponse(html_info=info, images=out)


@router.post("/extra-single-image", response_model=ExtrasSingleResponse)
async def extra_single_image(req: ExtrasSingleRequest, user: BasicUser) -> ExtrasSingleResponse:
    """Upscale one picture (Lanczos or Nearest; by a factor or to a size)."""
    return await run_in_threadpool(_single, req)


@router.post("/extra-batch-images", response_model=ExtrasBatchResponse)
async def extra_batch_images(req: ExtrasBatchRequest, user: BasicUser) -> ExtrasBatchResponse:
    """Upscale several pictures with the same settings."""
    return await run_in_threadpool(_batch, req)


@router.get("/face-restorers")
def face_restorers(user: BasicUser) -> list[dict[str, Any]]:
    """Installed face restorers: none (restore_faces is refused while this is empty)."""
    return []


@router.get("/realesrgan-models")
def realesrgan_models(user: BasicUser) -> list[dict[str, Any]]:
    """Installed Real-ESRGAN models: none (Lanczos, Nearest and Bicubic are the upscalers)."""
    return []


@router.get("/hypernetworks")
def hypernetworks(user: BasicUser) -> list[dict[str, Any]]:
    """Hypernetworks: not supported, so none."""
    return []


@router.get("/cmd-flags")
def cmd_flags(user: BasicUser) -> dict[str, Any]:
    """The A1111 command-line flags that describe this server (the rest do not apply)."""
    settings = get_settings()
    return {
        "api": True,
        "api_auth": "(difflab users)",
        "listen": settings.host not in ("127.0.0.1", "localhost", "::1"),
        "port": settings.port,
        "nowebui": False,
        "enable_insecure_extension_access": False,
        "data_dir": "",
        "ckpt_dir": str(settings.models_dir),
    }


@router.get("/embeddings")
def list_embeddings(user: BasicUser) -> dict[str, Any]:
    """Textual-inversion embeddings in the models directory's embeddings/ folder, as A1111
    lists them: loaded (their hidden size fits the default model's text encoder) and skipped."""
    models_dir = get_settings().models_dir
    size = None
    try:
        config = resolve_model(models_dir, DEFAULT_MODEL) / "text_encoder" / "config.json"
        size = int(json.loads(config.read_text()).get("hidden_size"))
    except (ModelError, OSError, ValueError, TypeError):
        pass
    return embeddings.listing(models_dir, size)


@router.get("/loras")
def list_loras(user: BasicUser) -> list[dict[str, Any]]:
    """LoRAs in the models directory's loras/ folder, in A1111's shape (name, alias, path,
    metadata: the card's fields)."""
    return [
        {"name": e["name"], "alias": e["name"], "path": f"loras/{e['path'].name}",
         "metadata": {k: v for k, v in e["card"].items() if isinstance(v, str | int | float)}}
        for e in loras.listing(get_settings().models_dir)
    ]  # fmt: skip


@router.post("/refresh-loras")
def refresh_loras(user: BasicUser) -> None:
    """A1111 rescans its LoRA folder here; difflab reads models/loras/ on every request."""
    return None

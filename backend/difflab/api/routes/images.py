"""Images users bring in: init images and masks for img2img and inpainting.

`POST /images` takes a multipart upload; the image is checked (format, pixel cap, complete
data), re-encoded as a PNG and stored under its digest (difflab.diffusion.inputs). Jobs name it
by that id (`init_image`, `mask`). The A1111 routes store the base64 images they receive the
same way.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, HTTPException, UploadFile, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from difflab.api.deps import CurrentUser, DbRoute, SessionDep
from difflab.api.submit import check_storage, field_error
from difflab.config import get_settings
from difflab.diffusion import inputs
from difflab.runtime import ParamError

router = APIRouter(tags=["images"], route_class=DbRoute)


class ImagePublic(BaseModel):
    id: str = Field(description="The image's id: name it as init_image or mask in a generation.")
    width: int
    height: int
    mode: str = Field(description="RGB for an image, L (grayscale) for a mask.")
    url: str


def image_url(image_id: str) -> str:
    return f"/api/v1/images/{image_id}"


def field_loc(field: str) -> tuple[str | int, ...]:
    """("body", ...) for a dotted field name; "init_images.0" -> ("body", "init_images", 0)."""
    return ("body", *(int(p) if p.isdigit() else p for p in field.split(".")))


def b64_image(text: str, field: str) -> bytes:
    """The bytes of a base64 image field (A1111's form); 422 naming `field` if not base64."""
    try:
        return inputs.b64_bytes(text, field)
    except ParamError as exc:
        raise field_error(field_loc(field), exc.message) from None


def store_image(blob: bytes, field: str, kind: Literal["image", "mask"]) -> inputs.StoredImage:
    """Decode, check and store; 422 naming `field` for anything that is not a usable image."""
    try:
        img = inputs.decode(blob, field, mode="L" if kind == "mask" else "RGB")
        return inputs.store(get_settings().data_dir, img)
    except ParamError as exc:
        raise field_error(field_loc(field), exc.message) from None


def public(stored: inputs.StoredImage) -> ImagePublic:
    return ImagePublic(
        id=stored.id, width=stored.width, height=stored.height, mode=stored.mode,
        url=image_url(stored.id),
    )  # fmt: skip


@router.post("/images", response_model=ImagePublic, status_code=status.HTTP_201_CREATED)
async def upload(
    file: UploadFile,
    session: SessionDep,
    user: CurrentUser,
    kind: Annotated[Literal["image", "mask"], Form()] = "image",
) -> ImagePublic:
    """Upload a PNG, JPEG or WebP (at most 4096x4096 pixels) to start an img2img or inpainting
    generation from; `kind=mask` stores it as a grayscale mask (white = repaint)."""
    await run_in_threadpool(check_storage, session, user)  # a disk probe and a query
    blob = await file.read()
    return public(await run_in_threadpool(store_image, blob, "file", kind))


@router.get("/images/{image_id}", response_class=FileResponse)
def download(image_id: str, user: CurrentUser) -> FileResponse:
    """An uploaded image, as the PNG difflab stored."""
    try:
        path = inputs.input_path(get_settings().data_dir, image_id)
    except ParamError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="image not found") from None
    if not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="image not found")
    return FileResponse(path, media_type="image/png")

"""Images users bring in (img2img init images, inpainting masks): checked, stored, opened.

An image arrives as bytes (a multipart upload, or base64 in JSON as AUTOMATIC1111's API sends
it). It is opened with PIL only after its header says its size is under a pixel cap (a
decompression bomb is refused before it is decoded), must be a PNG, JPEG or WebP, and must
decode completely (a truncated file is refused). What is stored is a PNG re-encoded from the
decoded pixels (never the uploaded bytes), under DATA_DIR/inputs/<sha256 of the PNG>.png: the
id is the content's digest, so the same image uploaded twice is stored once, and a job names
its inputs by id in its parameters.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

from difflab.runtime import ParamError, write_atomic

MAX_INPUT_PIXELS = 4096 * 4096  # a larger image is refused before it is decoded
FORMATS = ("PNG", "JPEG", "WEBP")
_ID = re.compile(r"^[0-9a-f]{64}$")
_DATA_URL = re.compile(r"^data:image/[a-z0-9.+-]+;base64,", re.IGNORECASE)


@dataclass(frozen=True)
class StoredImage:
    id: str
    width: int
    height: int
    mode: str  # "RGB" for images, "L" for masks


def inputs_dir(data_dir: Path) -> Path:
    return data_dir / "inputs"


def check_id(value: str, field: str) -> str:
    if not _ID.match(value):
        raise ParamError(field, "not an image id (64 hex digits, as POST /api/v1/images returns)")
    return value


def input_path(data_dir: Path, image_id: str, field: str = "image") -> Path:
    """The stored file of an id (the id is checked first, so the path stays inside)."""
    return inputs_dir(data_dir) / f"{check_id(image_id, field)}.png"


def b64_bytes(text: str, field: str) -> bytes:
    """Bytes of base64 text, with or without a `data:image/...;base64,` prefix."""
    text = _DATA_URL.sub("", text.strip(), count=1)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ParamError(field, "not base64 (or a data:image/...;base64, URL)") from None


def _open(blob: bytes, field: str) -> Image.Image:
    """`blob` opened and fully decoded, after the pixel cap; ParamError naming `field`."""
    if not blob:
        raise ParamError(field, "empty: no image data")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            opened = Image.open(io.BytesIO(blob), formats=FORMATS)
            w, h = opened.size
            if w * h > MAX_INPUT_PIXELS:
                raise ParamError(
                    field,
                    f"{w}x{h} is over the {MAX_INPUT_PIXELS}-pixel limit: scale it down first",
                )
            img = ImageOps.exif_transpose(opened)
            img.load()
    except ParamError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ParamError(field, f"over the {MAX_INPUT_PIXELS} pixel limit") from None
    except Image.UnidentifiedImageError:
        raise ParamError(field, f"not an image PIL can read as {', '.join(FORMATS)}") from None
    except (OSError, SyntaxError, ValueError) as exc:  # truncated or corrupt data
        raise ParamError(field, f"the image data is damaged: {exc}") from None
    return img


def read_text(blob: bytes, field: str) -> dict[str, str]:
    """The text chunks of an image (a PNG's "parameters" infotext, ...), after the same
    checks as decode."""
    img = _open(blob, field)
    return {k: v for k, v in img.info.items() if isinstance(k, str) and isinstance(v, str)}


def decode(blob: bytes, field: str, mode: str = "RGB") -> Image.Image:
    """The picture in `blob` as a loaded PIL image in `mode` (RGB: alpha over black, as
    A1111 flattens it; L: grayscale, or the alpha channel of a mask drawn on a transparent
    layer); ParamError naming `field` for anything else."""
    img = _open(blob, field)
    transparent = img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info
    if mode == "RGB" and transparent:
        img = img.convert("RGBA")
        flat = Image.new("RGB", img.size, (0, 0, 0))
        flat.paste(img, mask=img.getchannel("A"))
        return flat
    if mode == "L" and transparent:
        img = img.convert("RGBA")
        # a mask drawn on a transparent layer: painted pixels are the opaque ones
        alpha = img.getchannel("A")
        gray = img.convert("L")
        return gray if alpha.getextrema() == (255, 255) else alpha
    return img.convert(mode)


def png_of(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def store(data_dir: Path, img: Image.Image) -> StoredImage:
    """Store `img` as a PNG under its content digest (once, however often it comes)."""
    blob = png_of(img)
    image_id = hashlib.sha256(blob).hexdigest()
    path = input_path(data_dir, image_id)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, blob)
    return StoredImage(image_id, img.width, img.height, img.mode)


def open_input(data_dir: Path, image_id: str, field: str, mode: str = "RGB") -> Image.Image:
    """A stored image, loaded; ParamError naming `field` when no such image is stored."""
    path = input_path(data_dir, image_id, field)
    try:
        with Image.open(path, formats=("PNG",)) as img:
            img.load()
            return img.convert(mode)
    except FileNotFoundError:
        raise ParamError(field, f"no uploaded image {image_id} (upload it first)") from None


def image_size(data_dir: Path, image_id: str, field: str) -> tuple[int, int]:
    """(width, height) of a stored image from its header (cheap: no decode)."""
    path = input_path(data_dir, image_id, field)
    try:
        with Image.open(path, formats=("PNG",)) as img:
            return img.size
    except FileNotFoundError:
        raise ParamError(field, f"no uploaded image {image_id} (upload it first)") from None


__all__ = [
    "MAX_INPUT_PIXELS",
    "StoredImage",
    "b64_bytes",
    "check_id",
    "decode",
    "image_size",
    "input_path",
    "inputs_dir",
    "open_input",
    "png_of",
    "read_text",
    "store",
]

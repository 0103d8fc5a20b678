"""Images users upload: anything that is not a whole, reasonably sized picture is refused
before it is decoded or stored, naming the field."""

from __future__ import annotations

import base64
import io
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from difflab.diffusion import inputs
from difflab.runtime import ParamError


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _huge_png_header(width: int, height: int) -> bytes:
    """A valid PNG signature and IHDR claiming width x height, then a tiny IDAT: what a
    decompression bomb looks like before anything is decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))  # fmt: skip


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"", "empty"),
        (b"GIF89a not really", "not an image"),
        (b"%PDF-1.4", "not an image"),
        (_png(Image.new("RGB", (64, 64), (1, 2, 3)))[:80], "damaged"),
        (_huge_png_header(20000, 20000), "pixel limit"),
    ],
)
def test_bad_images_are_refused_naming_the_field(blob: bytes, message: str) -> None:
    with pytest.raises(ParamError) as e:
        inputs.decode(blob, "init_images.0")
    assert e.value.field == "init_images.0"
    assert message in e.value.message


def test_base64_with_or_without_a_data_url() -> None:
    png = _png(Image.new("RGB", (8, 8)))
    text = base64.b64encode(png).decode()
    assert inputs.b64_bytes(text, "mask") == png
    assert inputs.b64_bytes("data:image/png;base64," + text, "mask") == png
    with pytest.raises(ParamError) as e:
        inputs.b64_bytes("not base64!", "mask")
    assert e.value.field == "mask"


def test_stored_once_by_content_and_reopened(tmp_path: Path) -> None:
    img = Image.new("RGBA", (12, 10), (255, 0, 0, 0))
    img.paste((0, 255, 0, 255), (0, 0, 6, 10))
    decoded = inputs.decode(_png(img), "file")
    assert decoded.mode == "RGB" and decoded.getpixel((9, 5)) == (0, 0, 0)  # alpha over black
    first, second = inputs.store(tmp_path, decoded), inputs.store(tmp_path, decoded)
    assert first == second and len(list(inputs.inputs_dir(tmp_path).iterdir())) == 1
    assert inputs.open_input(tmp_path, first.id, "init_image").size == (12, 10)
    with pytest.raises(ParamError):
        inputs.open_input(tmp_path, "../" * 3 + "etc", "init_image")


def test_a_mask_drawn_on_a_transparent_layer_is_its_alpha() -> None:
    layer = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    layer.paste((255, 255, 255, 255), (0, 0, 4, 8))
    mask = inputs.decode(_png(layer), "mask", mode="L")
    assert mask.getpixel((1, 1)) == 255 and mask.getpixel((6, 1)) == 0

"""A1111's extras (upscale with Lanczos/Nearest) and listings; face restorers and model
upscalers, which are not installed, are refused by name."""

from __future__ import annotations

import base64
import io

import httpx
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from tests.utils.services import ADMIN_PASSWORD

pytestmark = pytest.mark.integration


def _png(size: tuple[int, int] = (40, 30), text: str | None = None) -> str:
    img = Image.new("RGB", size, (10, 200, 30))
    img.paste((200, 10, 10), (0, 0, size[0] // 2, size[1]))
    info = PngInfo()
    if text:
        info.add_text("parameters", text)
    buf = io.BytesIO()
    img.save(buf, format="PNG", pnginfo=info)
    return base64.b64encode(buf.getvalue()).decode()


def _img(b64: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(b64)))


def _client(dep) -> httpx.Client:
    return httpx.Client(base_url=dep.base, auth=httpx.BasicAuth("admin", ADMIN_PASSWORD),
                        timeout=60)  # fmt: skip


def test_extras_upscale_and_keep_the_infotext(gen_deployment) -> None:
    with _client(gen_deployment) as c:
        r = c.post("/sdapi/v1/extra-single-image", json={
            "image": _png(text="a red circle\\nSteps: 3, Seed: 1"), "upscaler_1": "Lanczos",
            "upscaling_resize": 2,
        })  # fmt: skip
        assert r.status_code == 200, r.text
        out = _img(r.json()["image"])
        assert out.size == (80, 60)
        assert out.info["parameters"].endswith(
            "Postprocess upscale by: 2.0, Postprocess upscaler: Lanczos"
        )
        r = c.post("/sdapi/v1/extra-single-image", json={
            "image": _png(), "upscaler_1": "Nearest", "resize_mode": 1,
            "upscaling_resize_w": 64, "upscaling_resize_h": 64, "upscaling_crop": True,
        })  # fmt: skip
        assert _img(r.json()["image"]).size == (64, 64)
        r = c.post("/sdapi/v1/extra-single-image", json={
            "image": _png(), "upscaler_1": "Bicubic", "upscaling_resize": 1.5,
        })  # fmt: skip
        assert _img(r.json()["image"]).size == (60, 45)
        r = c.post("/sdapi/v1/extra-batch-images", json={
            "imageList": [{"data": _png(), "name": "a"}, {"data": _png((10, 10)), "name": "b"}],
            "upscaler_1": "Nearest", "upscaling_resize": 3,
        })  # fmt: skip
        assert [_img(i).size for i in r.json()["images"]] == [(120, 90), (30, 30)]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"gfpgan_visibility": 0.5}, ["body", "gfpgan_visibility"]),
        ({"codeformer_visibility": 1}, ["body", "codeformer_visibility"]),
        ({"upscaler_1": "R-ESRGAN 4x+"}, ["body", "upscaler_1"]),
        ({"upscaler_1": "Lanczos", "upscaling_resize": 8, "image": _png((1000, 1000))},
         ["body", "upscaling_resize"]),
        ({"image": "bm90IGFuIGltYWdl"}, ["body", "image"]),
    ],
)  # fmt: skip
def test_extras_refuse_what_is_not_installed(gen_deployment, body, loc) -> None:
    with _client(gen_deployment) as c:
        r = c.post("/sdapi/v1/extra-single-image", json={"image": _png(), **body})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == loc


def test_listings_and_restore_faces(gen_deployment) -> None:
    with _client(gen_deployment) as c:
        for path in ("face-restorers", "realesrgan-models", "hypernetworks"):
            assert c.get(f"/sdapi/v1/{path}").json() == []
        flags = c.get("/sdapi/v1/cmd-flags").json()
        assert flags["api"] is True and flags["listen"] is False
        r = c.post("/sdapi/v1/txt2img", json={"prompt": "x", "steps": 2, "restore_faces": True})
        assert r.status_code == 422 and "face-restorers" in r.json()["detail"][0]["msg"]

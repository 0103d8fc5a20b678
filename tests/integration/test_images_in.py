"""Images in: uploads, img2img and inpainting through the API and the A1111 routes (with the
webuiapi client, unchanged), with a real worker; bad images refused with nothing stored."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from urllib.parse import urlparse

import httpx
import numpy as np
import pytest
import webuiapi
from PIL import Image, ImageDraw

from tests.integration.test_jobs_embedded import read_sse
from tests.utils.services import ADMIN_PASSWORD

pytestmark = pytest.mark.integration


def _init(size: tuple[int, int] = (64, 64)) -> Image.Image:
    img = Image.new("RGB", size, (200, 40, 30))
    ImageDraw.Draw(img).ellipse((12, 12, 52, 52), fill=(20, 30, 220))
    return img


def _mask(size: tuple[int, int] = (64, 64)) -> Image.Image:
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).rectangle((0, 0, size[0] // 2 - 1, size[1] - 1), fill=255)
    return mask


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _inputs_dir(dep) -> Path:
    return Path(dep.env["DIFFLAB_DATA_DIR"]) / "inputs"


def _stored(dep) -> set[str]:
    d = _inputs_dir(dep)
    return {p.name for p in d.iterdir()} if d.exists() else set()


def test_upload_then_inpaint_streams_the_steps_that_run(gen_deployment) -> None:
    api = gen_deployment.api()
    r = api.post("/api/v1/images", files={"file": ("init.png", _png(_init()), "image/png")})
    assert r.status_code == 201, r.text
    init = r.json()
    assert (init["width"], init["height"], init["mode"]) == (64, 64, "RGB")
    assert api.get(init["url"]).content == _png(_init())  # stored as the PNG of its pixels
    mask = api.post(
        "/api/v1/images",
        files={"file": ("mask.png", _png(_mask()), "image/png")},
        data={"kind": "mask"},
    ).json()
    assert mask["mode"] == "L"
    r = api.post(
        "/api/v1/generations",
        json={"prompt": "a red circle", "steps": 8, "seed": 4, "sampler": "Euler a",
              "init_image": init["id"], "strength": 0.5, "mask": mask["id"], "mask_blur": 0},
    )  # fmt: skip
    assert r.status_code == 202, r.text
    job_id = r.json()["job"]["id"]
    events = [e for _, e in read_sse(api.client, f"/api/v1/jobs/{job_id}/events")]
    frames = [e["payload"] for e in events if e["type"] == "denoise"]
    assert [f["step"] for f in frames] == [0, 1, 2, 3]
    assert {(f["total"], f["skipped"]) for f in frames} == {(4, 4)}
    job = api.get(f"/api/v1/jobs/{job_id}").json()
    assert job["state"] == "succeeded", job
    url = next(
        e["payload"]["url"] for e in events
        if e["type"] == "artifact" and e["payload"]["name"] == "final/image_0.png"
    )  # fmt: skip
    out = np.asarray(Image.open(io.BytesIO(api.get(url).content)).convert("RGB"))
    assert np.array_equal(out[:, 32:], np.asarray(_init())[:, 32:])  # outside the mask: kept
    assert (
        "Denoising strength: 0.5" in Image.open(io.BytesIO(api.get(url).content)).info["parameters"]
    )


def test_webuiapi_img2img_inpaint_and_png_info(gen_deployment) -> None:
    host = urlparse(gen_deployment.base)
    client = webuiapi.WebUIApi(host=host.hostname, port=host.port)
    client.set_auth("admin", ADMIN_PASSWORD)
    common = {"prompt": "a blue square", "seed": 11, "steps": 6, "cfg_scale": 5,
              "width": 64, "height": 64, "sampler_name": "DDIM"}  # fmt: skip
    plain = client.img2img(images=[_init()], denoising_strength=0.5, **common)
    assert len(plain.images) == 1 and plain.images[0].size == (64, 64)
    assert plain.info["all_seeds"] == [11] and plain.info["denoising_strength"] == 0.5
    assert "Denoising strength: 0.5" in plain.info["infotexts"][0]
    painted = client.img2img(
        images=[_init()], mask_image=_mask(), denoising_strength=0.9, mask_blur=0,
        inpainting_fill=1, inpaint_full_res=False, **common,
    )  # fmt: skip
    out = np.asarray(painted.images[0].convert("RGB"))
    assert np.array_equal(out[:, 40:], np.asarray(_init())[:, 40:])
    assert not np.array_equal(out[:, :24], np.asarray(_init())[:, :24])
    only_masked = client.img2img(
        images=[_init()], mask_image=_mask(), denoising_strength=0.9, **common
    )  # webuiapi's defaults: fill, only masked, padding 0, blur 4
    assert only_masked.images[0].size == (64, 64)
    info = client.png_info(painted.images[0])
    assert info.info.startswith("a blue square")
    assert info.parameters["Seed"] == "11" and info.parameters["Mask blur"] == "0"


def _a1111(dep) -> httpx.Client:
    return httpx.Client(base_url=dep.base, auth=httpx.BasicAuth("admin", ADMIN_PASSWORD),
                        timeout=60)  # fmt: skip


def _b64(blob: bytes) -> str:
    return base64.b64encode(blob).decode()


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"init_images": ["bm90IGFuIGltYWdl"]}, ["init_images", 0]),
        ({"init_images": ["%%%"]}, ["init_images", 0]),
        ({"init_images": [_b64(_png(_init()))[:200]]}, ["init_images", 0]),
        ({"init_images": [_b64(_png(_init()))], "mask": _b64(_png(_mask((32, 32))))}, ["mask"]),
        ({"init_images": [_b64(_png(_init()))], "denoising_strength": 1.5},
         ["denoising_strength"]),
        ({"init_images": [_b64(_png(_init()))], "restore_faces": True}, ["restore_faces"]),
        ({"init_images": [_b64(_png(_init()))], "styles": ["mine"]}, ["styles", 0]),
        ({"init_images": [_b64(_png(_init()))], "resize_mode": 3}, ["resize_mode"]),
        ({"init_images": []}, ["init_images"]),
    ],
)  # fmt: skip
def test_bad_img2img_requests_are_422_with_nothing_queued(gen_deployment, body, loc) -> None:
    api = gen_deployment.api()
    before = api.get("/api/v1/jobs").json()["count"]
    with _a1111(gen_deployment) as c:
        r = c.post("/sdapi/v1/img2img", json={"prompt": "x", "steps": 4, **body})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"][1:] == loc, r.json()
    assert api.get("/api/v1/jobs").json()["count"] == before


def test_bad_uploads_store_nothing(gen_deployment) -> None:
    api = gen_deployment.api()
    before = _stored(gen_deployment)
    for blob in (b"hello", _png(_init())[:100]):
        r = api.post("/api/v1/images", files={"file": ("x.png", blob, "image/png")})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "file"], r.text
    r = api.post("/api/v1/images", files={"file": ("x.png", b"\0" * 50_000_000, "image/png")})
    assert r.status_code == 413
    with _a1111(gen_deployment) as c:  # the txt2img fields are checked before images are kept
        r = c.post("/sdapi/v1/img2img", json={"init_images": [_b64(_png(_init((40, 24))))],
                                              "steps": 0})  # fmt: skip
        assert r.status_code == 422
        r = c.post("/sdapi/v1/png-info", json={"image": _b64(b"nope")})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "image"]
    assert _stored(gen_deployment) == before


def test_a1111_hires_fix_and_its_listings(gen_deployment) -> None:
    with _a1111(gen_deployment) as c:
        upscalers = [u["name"] for u in c.get("/sdapi/v1/upscalers").json()]
        assert upscalers == ["None", "Lanczos", "Nearest", "Bicubic"]
        modes = [m["name"] for m in c.get("/sdapi/v1/latent-upscale-modes").json()]
        assert modes[0] == "Latent" and "Latent (nearest-exact)" in modes
        assert c.get("/sdapi/v1/sd-vae").json() == []
        body = {"prompt": "a red circle", "steps": 4, "width": 32, "height": 32, "seed": 2,
                "enable_hr": True, "hr_scale": 2, "hr_upscaler": "Latent",
                "denoising_strength": 0.5}  # fmt: skip
        r = c.post("/sdapi/v1/txt2img", json=body)
        assert r.status_code == 200, r.text
        img = Image.open(io.BytesIO(base64.b64decode(r.json()["images"][0])))
        assert img.size == (64, 64) and "Hires upscale: 2" in img.info["parameters"]
        r = c.post("/sdapi/v1/txt2img", json={**body, "hr_resize_x": 96})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "hr_resize_x"]
        r = c.post("/sdapi/v1/txt2img", json={**body, "hr_sampler_name": "Euler"})
        assert r.status_code == 422
        info = c.post("/sdapi/v1/png-info", json={"image": _b64(_png(_init()))}).json()
        assert (info["info"], info["parameters"]) == ("", {}), json.dumps(info)

"""AUTOMATIC1111's own API test cases (its test/ folder: utils, txt2img, img2img, extras),
restated against difflab with HTTP Basic auth and our own pictures. Each case answers 200 by
doing what it asks, except restore_faces, which difflab refuses by name while no face
restorer is installed (A1111 would run one). Also: styles and saved options round trips."""

from __future__ import annotations

import base64
import io
import json

import httpx
import pytest
from PIL import Image, ImageDraw

from tests.utils.services import ADMIN_PASSWORD

pytestmark = pytest.mark.integration


def _b64(img: Image.Image) -> str:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _init() -> str:
    img = Image.new("RGB", (64, 64), (30, 90, 200))
    ImageDraw.Draw(img).ellipse((16, 16, 48, 48), fill=(220, 40, 40))
    return _b64(img)


def _mask() -> str:
    mask = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(mask).rectangle((0, 0, 31, 63), fill=255)
    return _b64(mask)


TXT2IMG = {
    "batch_size": 1, "cfg_scale": 7, "denoising_strength": 0, "enable_hr": False, "eta": 0,
    "firstphase_height": 0, "firstphase_width": 0, "height": 64, "n_iter": 1,
    "negative_prompt": "", "prompt": "example prompt", "restore_faces": False, "s_churn": 0,
    "s_noise": 1, "s_tmax": 0, "s_tmin": 0, "sampler_index": "Euler a", "seed": -1,
    "seed_resize_from_h": -1, "seed_resize_from_w": -1, "steps": 3, "styles": [],
    "subseed": -1, "subseed_strength": 0, "tiling": False, "width": 64,
}  # fmt: skip

IMG2IMG = {
    **{k: v for k, v in TXT2IMG.items() if k not in ("enable_hr", "firstphase_height",
                                                       "firstphase_width")},
    "denoising_strength": 0.75, "include_init_images": False, "init_images": [_init()],
    "inpaint_full_res": False, "inpaint_full_res_padding": 0, "inpainting_fill": 0,
    "inpainting_mask_invert": False, "mask": None, "mask_blur": 4, "override_settings": {},
    "resize_mode": 0,
}  # fmt: skip


@pytest.fixture
def a1111(gen_deployment):
    with httpx.Client(base_url=gen_deployment.base, timeout=120,
                      auth=httpx.BasicAuth("admin", ADMIN_PASSWORD)) as c:  # fmt: skip
        yield c


@pytest.mark.parametrize(
    "url",
    ["cmd-flags", "samplers", "upscalers", "sd-models", "hypernetworks", "face-restorers",
     "realesrgan-models", "prompt-styles", "embeddings"],
)  # fmt: skip
def test_get_api_url(a1111, url) -> None:
    assert a1111.get(f"/sdapi/v1/{url}").status_code == 200


def test_options_write(a1111) -> None:
    before = a1111.get("/sdapi/v1/options").json()["send_seed"]
    assert a1111.post("/sdapi/v1/options", json={"send_seed": not before}).status_code == 200
    assert a1111.get("/sdapi/v1/options").json()["send_seed"] == (not before)
    a1111.post("/sdapi/v1/options", json={"send_seed": before}).raise_for_status()


def _images(r: httpx.Response) -> list[Image.Image]:
    assert r.status_code == 200, r.text
    return [Image.open(io.BytesIO(base64.b64decode(i))) for i in r.json()["images"]]


@pytest.mark.parametrize(
    ("change", "count", "size"),
    [
        ({}, 1, (64, 64)),
        ({"negative_prompt": "example negative prompt"}, 1, (64, 64)),
        ({"prompt": "((emphasis)), (emphasis1:1.1), [to:1], [from::2], [from:to:0.3], "
                    "[alt|alt1]"}, 1, (64, 64)),
        ({"height": 128}, 1, (64, 128)),
        ({"enable_hr": True}, 1, (128, 128)),  # hr_scale 2, denoising 0: the upscale alone
        ({"tiling": True}, 1, (64, 64)),
        ({"sampler_index": "PLMS"}, 1, (64, 64)),
        ({"sampler_index": "DDIM"}, 1, (64, 64)),
        ({"sampler_index": "UniPC"}, 1, (64, 64)),
        ({"n_iter": 2}, 2, (64, 64)),
        ({"batch_size": 2}, 2, (64, 64)),
    ],
)  # fmt: skip
def test_txt2img_cases(a1111, change, count, size) -> None:
    images = _images(a1111.post("/sdapi/v1/txt2img", json={**TXT2IMG, **change}))
    assert len(images) == count and {im.size for im in images} == {size}


def test_txt2img_with_restore_faces_is_refused_while_none_is_installed(a1111) -> None:
    r = a1111.post("/sdapi/v1/txt2img", json={**TXT2IMG, "restore_faces": True})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "restore_faces"]


@pytest.mark.parametrize(
    ("change", "size"),
    [
        ({}, (64, 64)),
        ({"mask": _mask()}, (64, 64)),
        ({"mask": _mask(), "inpainting_mask_invert": True}, (64, 64)),
        ({"script_name": "sd upscale", "script_args": ["", 8, "Lanczos", 2.0]}, (128, 128)),
    ],
)
def test_img2img_cases(a1111, change, size) -> None:
    images = _images(a1111.post("/sdapi/v1/img2img", json={**IMG2IMG, **change}))
    assert [im.size for im in images] == [size]
    if "script_name" in change:
        assert "SD upscale overlap: 8" in images[0].info["parameters"]


def test_other_scripts_are_refused_by_name(a1111) -> None:
    r = a1111.post("/sdapi/v1/txt2img", json={**TXT2IMG, "script_name": "prompt matrix"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "script_name"]
    assert "x/y/z plot" in r.json()["detail"][0]["msg"]  # the scripts difflab runs


@pytest.mark.parametrize(
    "extra", [{"upscaler_1": "Lanczos", "upscaling_resize": 2}, {}, {"model": "clip"}]
)
def test_extras_cases(a1111, extra) -> None:
    payload = {
        "resize_mode": 0, "show_extras_results": True, "gfpgan_visibility": 0,
        "codeformer_visibility": 0, "codeformer_weight": 0, "upscaling_resize": 2,
        "upscaling_resize_w": 128, "upscaling_resize_h": 128, "upscaling_crop": True,
        "upscaler_1": "None", "upscaler_2": "None", "extras_upscaler_2_visibility": 0,
        "image": _init(), **extra,
    }  # fmt: skip
    r = a1111.post("/sdapi/v1/extra-single-image", json=payload)
    assert r.status_code == 200, r.text
    size = Image.open(io.BytesIO(base64.b64decode(r.json()["image"]))).size
    assert size == ((128, 128) if extra.get("upscaler_1") == "Lanczos" else (64, 64))


def test_styles_apply_by_name_and_options_set_the_defaults(gen_deployment, a1111) -> None:
    api = gen_deployment.api()
    r = api.put("/api/v1/styles/cinematic",
                json={"prompt": "{prompt}, red", "negative_prompt": "blurry"})  # fmt: skip
    assert r.status_code == 200, r.text
    api.put("/api/v1/styles/plain", json={"prompt": "circle"}).raise_for_status()
    listed = a1111.get("/sdapi/v1/prompt-styles").json()
    assert [s["name"] for s in listed] == ["cinematic", "plain"]
    body = {**TXT2IMG, "prompt": "a square", "negative_prompt": "dark",
            "styles": ["cinematic", "plain"], "seed": 5}  # fmt: skip
    info = json.loads(a1111.post("/sdapi/v1/txt2img", json=body).json()["info"])
    assert info["prompt"] == "a square, red, circle"
    assert info["negative_prompt"] == "dark, blurry"
    r = a1111.post("/sdapi/v1/txt2img", json={**body, "styles": ["nope"]})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "styles", 0]
    # saved options: the clip skip every later request of this user uses
    a1111.post("/sdapi/v1/options", json={"CLIP_stop_at_last_layers": 2}).raise_for_status()
    info = json.loads(a1111.post("/sdapi/v1/txt2img", json=TXT2IMG).json()["info"])
    assert "Clip skip: 2" in info["infotexts"][0]
    for bad in ({"CLIP_stop_at_last_layers": 0}, {"samples_format": "jpg"},
                {"sd_model_checkpoint": "missing"}, {"outdir_samples": "/tmp"}):  # fmt: skip
        r = a1111.post("/sdapi/v1/options", json=bad)
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", *bad], r.text
    a1111.post("/sdapi/v1/options", json={"CLIP_stop_at_last_layers": 1}).raise_for_status()
    assert api.delete("/api/v1/styles/plain").status_code == 204
    assert api.delete("/api/v1/styles/plain").status_code == 404

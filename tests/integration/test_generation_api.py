"""Generation through the API and the AUTOMATIC1111-compatible routes, with a real worker."""

from __future__ import annotations

import base64
import io
import json

import httpx
import pytest
from PIL import Image

from tests.integration.test_jobs_embedded import read_sse
from tests.utils.services import ADMIN_PASSWORD

pytestmark = pytest.mark.integration


def test_generation_streams_one_frame_per_step_then_the_image(gen_deployment) -> None:
    api = gen_deployment.api()
    r = api.post(
        "/api/v1/generations",
        json={"prompt": "a red circle on the left", "steps": 4, "seed": 7, "sampler": "Euler a"},
    )
    assert r.status_code == 202, r.text
    created = r.json()
    job_id = created["job"]["id"]
    assert created["generation"]["seed"] == 7
    events = [e for _, e in read_sse(api.client, f"/api/v1/jobs/{job_id}/events")]
    frames = [e for e in events if e["type"] == "denoise"]
    assert [f["payload"]["step"] for f in frames] == [0, 1, 2, 3]
    final_seq = next(
        e["seq"]
        for e in events
        if e["type"] == "artifact" and e["payload"]["name"] == "final/image_0.png"
    )
    assert all(f["seq"] < final_seq for f in frames)
    frame = api.get(frames[-1]["payload"]["x0"])
    assert frame.status_code == 200 and frame.headers["content-type"] == "image/png"
    gallery = api.get("/api/v1/generations").json()
    item = next(g for g in gallery["data"] if g["job_id"] == job_id)
    assert item["state"] == "succeeded" and item["prompt"] == "a red circle on the left"
    img = Image.open(io.BytesIO(api.get(item["images"][0]).content))
    assert "parameters" in img.info and "Seed: 7" in img.info["parameters"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"steps": 0}, "steps"),
        ({"steps": 151}, "steps"),
        ({"batch_size": 17}, "batch_size"),
        ({"guidance_scale": 31}, "guidance_scale"),
        ({"sampler": "Nope"}, "sampler"),
        ({"width": 63}, "width"),
        ({"width": 4096}, "width"),
        ({"model": "../etc"}, "model"),
        ({"model": "missing"}, "model"),
        ({"prompt": "red " * 200}, "prompt"),
    ],
)
def test_invalid_generation_requests_are_422_naming_the_field(gen_deployment, body, field) -> None:
    api = gen_deployment.api()
    before = api.get("/api/v1/jobs").json()["count"]
    r = api.post("/api/v1/generations", json={"prompt": "a blue square", **body})
    assert r.status_code == 422, r.text
    assert any(err["loc"][-1] == field for err in r.json()["detail"]), r.json()
    assert api.get("/api/v1/jobs").json()["count"] == before


def test_a1111_txt2img_progress_and_listings(gen_deployment) -> None:
    auth = httpx.BasicAuth("admin", ADMIN_PASSWORD)
    base = gen_deployment.base
    with httpx.Client(base_url=base, auth=auth, timeout=120) as c:
        assert c.get("/sdapi/v1/progress").json()["state"]["job_count"] == 0
        r = c.post(
            "/sdapi/v1/txt2img",
            json={
                "prompt": "a green square at the top",
                "negative_prompt": "",
                "seed": 3,
                "steps": 3,
                "cfg_scale": 5,
                "width": 64,
                "height": 64,
                "batch_size": 2,
                "n_iter": 1,
                "sampler_name": "DPM++ 2M",
                "scheduler": "Karras",
                "restore_faces": False,
                "styles": [],
                "alwayson_scripts": {},
            },
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"images", "parameters", "info"}
        assert len(body["images"]) == 2
        Image.open(io.BytesIO(base64.b64decode(body["images"][0]))).verify()
        info = json.loads(body["info"])
        for key in (
            "prompt",
            "all_prompts",
            "negative_prompt",
            "seed",
            "all_seeds",
            "width",
            "height",
            "sampler_name",
            "cfg_scale",
            "steps",
            "batch_size",
            "sd_model_name",
            "infotexts",
        ):
            assert key in info, key
        assert info["all_seeds"] == [3, 4] and info["sd_model_name"] == "house"
        assert "Sampler: DPM++ 2M" in info["infotexts"][0]
        names = [s["name"] for s in c.get("/sdapi/v1/samplers").json()]
        for name in ("DDIM", "Euler a", "DPM++ 2M", "DPM++ 2M Karras", "UniPC", "Heun"):
            assert name in names
        assert c.get("/sdapi/v1/sd-models").json()[0]["model_name"] == "house"
        assert c.get("/sdapi/v1/options").json()["sd_model_checkpoint"] == "house"
        assert c.post("/sdapi/v1/interrupt").status_code == 200
        bad = c.post("/sdapi/v1/txt2img", json={"prompt": "x", "steps": 0})
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][-1] == "steps"
    wrong = httpx.post(
        f"{base}/sdapi/v1/txt2img", json={"prompt": "x"}, auth=httpx.BasicAuth("admin", "wrong")
    )
    assert wrong.status_code == 401

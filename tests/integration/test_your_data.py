"""Your data and your models, through the HTTP API with a real worker: upload a captioned
zip, edit it, train a LoRA on it, generate with it (studio route and A1111 route), and every
refusal on the way answered with the field named and nothing stored."""

from __future__ import annotations

import base64
import io
import json
import shutil
import zipfile
from pathlib import Path

import httpx
import pytest
from PIL import Image, ImageDraw

from difflab.diffusion.infotext import parse_infotext
from tests.utils.services import ADMIN_PASSWORD, wait_for

pytestmark = pytest.mark.integration

COLORS = {"red": (220, 30, 30), "blue": (30, 40, 220), "green": (30, 200, 60)}


def _picture(color: str, k: int) -> bytes:
    img = Image.new("RGB", (72, 64), (10, 10, 10))
    ImageDraw.Draw(img).ellipse((8 + k, 8, 56 + k, 56), fill=COLORS[color])
    buf = io.BytesIO()
    img.save(buf, format="JPEG" if k % 2 else "PNG")
    return buf.getvalue()


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, blob in files.items():
            zf.writestr(name, blob)
    return buf.getvalue()


def _dataset_files() -> dict[str, bytes]:
    files = {}
    for i, color in enumerate(["red", "blue", "green"] * 4):
        ext = "jpg" if i % 2 else "png"
        files[f"circles/{i:02d}.{ext}"] = _picture(color, i)
        files[f"circles/{i:02d}.txt"] = f"a {color} circle".encode()
    return files


def _upload(api, name: str, blob: bytes, filename: str = "set.zip") -> httpx.Response:
    return api.post(
        "/api/v1/datasets",
        data={"name": name},
        files=[("files", (filename, blob, "application/zip"))],
    )


def _datasets_dir(dep) -> Path:
    return Path(dep.env["DIFFLAB_DATA_DIR"]) / "datasets"


def test_upload_edit_train_a_lora_and_generate_with_it(gen_deployment) -> None:
    dep = gen_deployment
    api = dep.api()
    r = _upload(api, "my-circles", _zip(_dataset_files()))
    assert r.status_code == 201, r.text
    assert (r.json()["images"], r.json()["uploaded"], r.json()["owner"]) == (12, True, "admin")
    listed = {d["name"]: d for d in api.get("/api/v1/datasets").json()}
    assert listed["my-circles"]["images"] == 12 and "shapes" in listed

    page = api.get("/api/v1/datasets/my-circles", params={"limit": 5}).json()
    assert page["total"] == 12 and len(page["items"]) == 5
    assert page["items"][0] == {
        "file_name": "00.png", "text": "a red circle", "width": 72, "height": 64,
        "url": "/api/v1/datasets/my-circles/files/00.png",
    }  # fmt: skip
    assert page["stats"]["caption_words"] == {"min": 3, "mean": 3.0, "max": 3}
    assert api.get(page["items"][1]["url"]).content == _dataset_files()["circles/01.jpg"]
    r = api.patch("/api/v1/datasets/my-circles/items/00.png", json={"text": "a bright red circle"})
    assert r.status_code == 200 and r.json()["text"] == "a bright red circle"
    stats = api.get("/api/v1/datasets/my-circles").json()["stats"]
    assert stats["unknown_words"] == [{"word": "bright", "count": 1}]  # the tokenizer's view
    assert api.delete("/api/v1/datasets/my-circles/items/11.jpg").status_code == 204
    assert api.get("/api/v1/datasets/my-circles").json()["total"] == 11
    grid = api.get("/api/v1/datasets/my-circles/sample.png", params={"n": 4})
    assert grid.status_code == 200 and Image.open(io.BytesIO(grid.content)).size == (128, 128)

    # while a job trains on it, the dataset and its images cannot be deleted from under it
    long = api.submit("lora", dataset="my-circles", steps=5000, batch_size=2)
    wait_for(lambda: api.job(long["id"])["progress"] > 0, timeout=120, what="training")
    r = api.delete("/api/v1/datasets/my-circles")
    assert r.status_code == 409 and long["id"] in r.json()["detail"]
    assert api.delete("/api/v1/datasets/my-circles/items/00.png").status_code == 409
    api.post(f"/api/v1/jobs/{long['id']}/cancel").raise_for_status()
    api.wait_state(long["id"], ("cancelled",), timeout=60)

    prompts = ["a red circle", "a blue circle"]
    job = api.submit("lora", dataset="my-circles", steps=12, batch_size=4, sample_every=6,
                     validation_steps=2, validation_prompts=prompts)  # fmt: skip
    assert job["params"]["output"].startswith("lora-")
    done = api.wait_state(job["id"], ("succeeded", "failed"), timeout=300)
    assert done["state"] == "succeeded", done["error"]
    name = done["result"]["lora"]
    arts = [e["payload"]["name"] for e in api.events(job["id"]) if e["type"] == "artifact"]
    assert arts == ["validation/step_000000.png", "validation/step_000006.png",
                    "validation/step_000012.png"]  # fmt: skip

    loras = {x["name"]: x for x in api.get("/api/v1/loras").json()}
    assert loras[name]["base_model"] == "house" and loras[name]["dataset"] == "my-circles"
    assert api.get(loras[name]["preview_url"]).status_code == 200

    body = {"prompt": "a red circle", "steps": 3, "seed": 5, "preview": "none"}
    r = api.post("/api/v1/generations", json={**body, "loras": [{"name": name, "weight": 0.8}]})
    assert r.status_code == 202, r.text
    gen = api.wait_state(r.json()["job"]["id"], ("succeeded", "failed"), timeout=120)
    assert gen["state"] == "succeeded", gen["error"]
    assert f'Lora hashes: "{name}: {loras[name]["hash"]}"' in gen["result"]["infotexts"][0]

    with httpx.Client(base_url=dep.base, timeout=120,
                      auth=httpx.BasicAuth("admin", ADMIN_PASSWORD)) as a1111:  # fmt: skip
        listed = a1111.get("/sdapi/v1/loras").json()
        assert any(x["name"] == name and x["metadata"]["base_model"] == "house" for x in listed)
        assert a1111.post("/sdapi/v1/refresh-loras").status_code == 200
        r = a1111.post("/sdapi/v1/txt2img", json={"prompt": f"a red circle <lora:{name}:0.7>",
                                                  "steps": 3, "seed": 5})  # fmt: skip
        assert r.status_code == 200, r.text
        info = json.loads(r.json()["info"])
        assert info["prompt"] == f"a red circle <lora:{name}:0.7>"
        png = Image.open(io.BytesIO(base64.b64decode(r.json()["images"][0])))
        assert "Lora hashes" in parse_infotext(png.info["parameters"]).params
        r = a1111.post("/sdapi/v1/txt2img", json={"prompt": "x <lora:missing:1>", "steps": 3})
        assert r.status_code == 422 and "no LoRA 'missing'" in r.text

    # a LoRA of `house` on another model: refused at submit, naming both models
    models = Path(dep.env["DIFFLAB_MODELS_DIR"])
    shutil.copytree(models / "house", models / "other")
    r = api.post("/api/v1/generations", json={**body, "model": "other",
                                              "prompt": f"a circle <lora:{name}:1>"})  # fmt: skip
    assert r.status_code == 422
    err = r.json()["detail"][0]
    assert err["loc"] == ["body", "loras"] and "'house'" in err["msg"] and "'other'" in err["msg"]

    assert api.delete("/api/v1/datasets/my-circles").status_code == 204
    assert not (_datasets_dir(dep) / "my-circles").exists()
    assert api.get("/api/v1/datasets/my-circles").status_code == 404


def test_bad_uploads_are_refused_naming_the_field_and_store_nothing(gen_deployment) -> None:
    api = gen_deployment.api()
    good = _zip({"a.png": _picture("red", 0), "a.txt": b"a red circle"})
    assert _upload(api, "kept", good).status_code == 201
    before = sorted(p.name for p in _datasets_dir(gen_deployment).iterdir())
    cases = [
        ("evil", _zip({"../evil.png": _picture("red", 0)}), "files", "../evil.png"),
        ("orphan", _zip({"a.png": _picture("red", 0), "a.txt": b"c", "b.txt": b"d"}), "files",
         "b.txt: a caption file without an image"),
        ("broken", _zip({"a.png": b"\x89PNG\r\n\x1a\n broken", "a.txt": b"c"}), "files", "a.png"),
        ("kept", good, "name", "a dataset named 'kept' exists"),
        ("Bad Name", good, "name", "not a dataset name"),
        ("shapes", good, "name", "built-in"),
        ("notzip", b"plain text", "files", "not a readable zip"),
    ]  # fmt: skip
    for name, blob, field, why in cases:
        r = _upload(api, name, blob)
        assert r.status_code == 422, (name, r.text)
        err = r.json()["detail"][0]
        assert err["loc"] == ["body", field] and why in err["msg"], (name, err)
    # a folder's files, one by one, the same checks
    r = api.post("/api/v1/datasets", data={"name": "loose"},
                 files=[("files", ("loose/a.png", _picture("red", 0), "image/png")),
                        ("files", ("loose/a.txt", b"a red circle", "text/plain")),
                        ("files", ("loose/run.sh", b"rm -rf /", "text/plain"))])  # fmt: skip
    assert r.status_code == 422 and "run.sh" in r.json()["detail"][0]["msg"]
    assert sorted(p.name for p in _datasets_dir(gen_deployment).iterdir()) == before
    r = api.post("/api/v1/datasets", data={"name": "loose"},
                 files=[("files", ("loose/a.png", _picture("red", 0), "image/png")),
                        ("files", ("loose/a.txt", b"a red circle", "text/plain"))])  # fmt: skip
    assert r.status_code == 201, r.text
    # a training kind names an unknown dataset: 422 at submit, nothing queued
    r = api.post("/api/v1/jobs", json={"kind": "lora", "params": {"dataset": "nope"}})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "params", "dataset"]


def test_datasets_are_their_owners(gen_deployment) -> None:
    admin = gen_deployment.api()
    r = admin.post("/api/v1/users", json={"username": "data-bob", "password": "bob-password-1"})
    assert r.status_code == 201, r.text
    bob = gen_deployment.api("data-bob", "bob-password-1")
    assert (
        _upload(bob, "bobs", _zip({"a.png": _picture("blue", 0), "a.txt": b"x"})).status_code == 201
    )
    assert (
        _upload(admin, "admins", _zip({"a.png": _picture("red", 0), "a.txt": b"y"})).status_code
        == 201
    )
    names = {d["name"] for d in bob.get("/api/v1/datasets").json() if d["uploaded"]}
    assert "bobs" in names and "admins" not in names
    assert bob.get("/api/v1/datasets/admins").status_code == 404
    assert bob.delete("/api/v1/datasets/admins").status_code == 404
    assert admin.get("/api/v1/datasets/bobs").json()["owner"] == "data-bob"  # admins see all


def test_a_lora_trains_on_two_processes_through_the_worker(gen_deployment) -> None:
    """The worker launches the ranks; rank 0's events reach the job's event stream; cancel
    through the API ends every rank."""
    api = gen_deployment.api()
    job = api.submit("lora", processes=2, steps=4, batch_size=4, sample_every=2,
                     validation_steps=1, train_samples=64,
                     validation_prompts=["a red circle"])  # fmt: skip
    done = api.wait_state(job["id"], ("succeeded", "failed"), timeout=300)
    assert done["state"] == "succeeded", done["error"]
    assert done["result"]["processes"] == 2 and done["result"]["samples_seen"] == 16
    events = api.events(job["id"])
    assert [e["payload"]["name"] for e in events if e["type"] == "artifact"] == [
        "validation/step_000000.png", "validation/step_000002.png", "validation/step_000004.png"
    ]  # fmt: skip
    assert any("2 processes" in e["payload"].get("message", "") for e in events
               if e["type"] == "log")  # fmt: skip

    long = api.submit("lora", processes=2, steps=20_000, batch_size=2, sample_every=10**6,
                      train_samples=64)  # fmt: skip
    wait_for(lambda: api.job(long["id"])["progress"] > 0, timeout=120, what="training")
    api.post(f"/api/v1/jobs/{long['id']}/cancel").raise_for_status()
    api.wait_state(long["id"], ("cancelled",), timeout=60)
    needle = f"{long['id']}/ranks/launch.json"

    def ranks_left() -> list[str]:
        out = []
        for proc in Path("/proc").iterdir():
            try:
                cmd = (proc / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if needle in cmd:
                out.append(proc.name)
        return out

    wait_for(lambda: not ranks_left(), timeout=30, what="the ranks to end")


def test_a_large_zip_resumes_where_the_connection_dropped(gen_deployment) -> None:
    api = gen_deployment.api()
    blob = _zip(_dataset_files())
    r = api.post("/api/v1/datasets/uploads")
    assert r.status_code == 201, r.text
    up = r.json()
    assert up["received"] == 0 and up["chunk_bytes"] >= 1 << 20
    url = f"/api/v1/datasets/uploads/{up['id']}"
    raw = {"content-type": "application/octet-stream"}
    half = len(blob) // 2
    r = api.put(url, params={"offset": 0}, content=blob[:half], headers=raw)
    assert r.status_code == 200 and r.json()["received"] == half
    # a client that lost its place is told where the server is, and nothing is appended
    r = api.put(url, params={"offset": 0}, content=blob[:10], headers=raw)
    assert r.status_code == 409 and r.json()["detail"]["received"] == half
    assert api.get(url).json()["received"] == half
    r = api.put(url, params={"offset": half}, content=blob[half:], headers=raw)
    assert r.json()["received"] == len(blob)
    # someone else's upload does not exist for you
    r = api.post("/api/v1/users", json={"username": "chunk-eve", "password": "eve-password-1"})
    eve = gen_deployment.api("chunk-eve", "eve-password-1")
    assert eve.get(url).status_code == 404
    assert eve.post(f"{url}/finish", json={"name": "stolen"}).status_code == 404
    # a refused name keeps the upload; a good one makes the dataset and ends the upload
    r = api.post(f"{url}/finish", json={"name": "shapes"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "name"]
    r = api.post(f"{url}/finish", json={"name": "chunked"})
    assert r.status_code == 201, r.text
    assert r.json()["images"] == 12
    assert api.get(url).status_code == 404
    assert api.get("/api/v1/datasets/chunked").json()["total"] == 12
    # refused contents: named, and the upload is gone with nothing stored
    bad = api.post("/api/v1/datasets/uploads").json()
    burl = f"/api/v1/datasets/uploads/{bad['id']}"
    api.put(burl, params={"offset": 0}, content=_zip({"x.exe": b"MZ"}), headers=raw)
    r = api.post(f"{burl}/finish", json={"name": "bad-chunks"})
    assert r.status_code == 422 and "x.exe" in r.json()["detail"][0]["msg"]
    assert api.get(burl).status_code == 404
    assert not (_datasets_dir(gen_deployment) / "bad-chunks").exists()

"""One door: every kind, and every route, refuses at submit what the worker would refuse.

In-process API on a real SQLite database and the embedded broker; nothing runs the jobs here
(tests/integration/test_kind_defaults.py runs every kind's defaults through a real worker).
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from difflab.db.engine import session_scope
from difflab.db.models import Job
from difflab.jobs.registry import all_kinds
from tests.unit.conftest import MakeClient
from tests.unit.security.helpers import ADMIN, api_key


def _jobs() -> int:
    with session_scope() as s:
        return int(s.scalar(select(func.count()).select_from(Job)) or 0)


@pytest.fixture
def door(make_client: MakeClient, embedded_env: dict[str, str]) -> tuple[TestClient, dict, Path]:
    from difflab.diffusion.tiny import build_tiny_pipeline_dir

    models = Path(embedded_env["DIFFLAB_MODELS_DIR"])
    build_tiny_pipeline_dir(models / "house", seed=0)
    c = make_client()
    return c, api_key(c, ADMIN), models


def _bad_value(prop: dict[str, Any]) -> Any:
    """A value of the wrong type for a schema property."""
    kind = prop.get("type")
    if kind in ("integer", "number", "boolean"):
        return "not-a-number" if kind != "boolean" else "maybe"
    return {"not": "a string"}


def _loc_field(r) -> list[str]:
    return [str(e["loc"][-1]) for e in r.json()["detail"]]


def test_every_kind_refuses_an_unknown_field_and_a_wrong_type_with_422_naming_it(door) -> None:
    c, admin, _ = door
    kinds = c.get("/api/v1/job-kinds", headers=admin).json()
    assert {k["name"] for k in kinds} == set(all_kinds())
    before = _jobs()
    for k in kinds:
        name = k["name"]
        r = c.post(
            "/api/v1/jobs", json={"kind": name, "params": {"no_such_field": 1}}, headers=admin
        )
        assert r.status_code == 422, (name, r.text)
        assert _loc_field(r) == ["no_such_field"], (name, r.text)
        props = k["params_schema"].get("properties", {})
        field = next(  # a scalar field (xyz has only objects and a boolean)
            f
            for types in (("integer", "number", "string"), ("boolean",))
            for f, p in props.items()
            if p.get("type") in types
        )
        r = c.post(
            "/api/v1/jobs",
            json={"kind": name, "params": {field: _bad_value(props[field])}},
            headers=admin,
        )
        assert r.status_code == 422, (name, field, r.text)
        assert field in _loc_field(r), (name, field, r.text)
    assert _jobs() == before  # nothing stored, nothing enqueued


@pytest.mark.parametrize(
    ("kind", "params", "field", "message"),
    [
        ("generate", {"model": "no-such-model"}, "model", "unknown model 'no-such-model'"),
        ("generate", {"width": 1024}, "width", "multiple of 8 between 32 and 128"),
        ("eval", {"model": "no-such-model"}, "model", "unknown model"),
        ("unet", {"model": "no-such-model"}, "model", "no model 'no-such-model'"),
        ("house", {"output": "house"}, "output", "model 'house' exists"),
        ("unet", {"output": "house"}, "output", "model 'house' exists"),
        ("clip", {"output": "house"}, "output", "already has tokenizer, text_encoder"),
        ("vae", {"output": "house"}, "output", "already has vae"),
        ("vae", {"output": "../up"}, "output", "not a model name"),
        ("clip", {"dataset": "imagefolder"}, "data_path", "required"),
        ("vae", {"dataset": "imagefolder", "data_path": "/no/such/dir"}, "data_path", "not a dir"),
    ],
)
def test_what_the_worker_would_refuse_is_refused_at_submit(
    door, kind: str, params: dict, field: str, message: str
) -> None:
    c, admin, _ = door
    before = _jobs()
    r = c.post("/api/v1/jobs", json={"kind": kind, "params": params}, headers=admin)
    assert r.status_code == 422, r.text
    (err,) = r.json()["detail"]
    assert err["loc"] == ["body", "params", field] and message in err["msg"], err
    assert _jobs() == before


def test_the_same_mistake_gets_the_same_answer_at_every_door(door) -> None:
    c, admin, _ = door
    bad = {"prompt": "a red circle", "model": "no-such-model"}
    via_jobs = c.post("/api/v1/jobs", json={"kind": "generate", "params": bad}, headers=admin)
    via_gen = c.post("/api/v1/generations", json=bad, headers=admin)
    basic = {
        "authorization": "Basic " + base64.b64encode(f"{ADMIN[0]}:{ADMIN[1]}".encode()).decode()
    }
    a1111 = {
        "prompt": "a red circle",
        "override_settings": {"sd_model_checkpoint": "no-such-model"},
    }
    via_sd = c.post("/sdapi/v1/txt2img", json=a1111, headers=basic)
    answers = [r.json()["detail"][0] for r in (via_jobs, via_gen, via_sd)]
    assert [r.status_code for r in (via_jobs, via_gen, via_sd)] == [422, 422, 422]
    assert {a["msg"] for a in answers} == {answers[0]["msg"]}
    assert [a["loc"][-1] for a in answers] == ["model", "model", "model"]


def test_training_defaults_write_a_new_model_and_never_the_existing_one(door) -> None:
    c, admin, models = door
    outputs = set()
    for kind in ("house", "unet", "clip", "vae"):
        r = c.post("/api/v1/jobs", json={"kind": kind, "params": {}}, headers=admin)
        assert r.status_code == 202, r.text
        output = r.json()["params"]["output"]
        assert output.startswith(f"{kind}-") and not (models / output).exists()
        outputs.add(output)
    # two unfinished jobs never get the same default name
    r = c.post("/api/v1/jobs", json={"kind": "house", "params": {}}, headers=admin)
    assert r.json()["params"]["output"] not in outputs
    # an explicit overwrite of an existing model is accepted (the admin page confirms it first)
    r = c.post(
        "/api/v1/jobs",
        json={"kind": "house", "params": {"output": "house", "overwrite": True}},
        headers=admin,
    )
    assert r.status_code == 202 and r.json()["params"]["output"] == "house"
    # ...but not while another unfinished job is going to write that name
    r = c.post(
        "/api/v1/jobs",
        json={"kind": "unet", "params": {"output": "house", "overwrite": True}},
        headers=admin,
    )
    assert r.status_code == 422 and "being written by job" in r.text


def test_a_left_out_guidance_scale_is_the_models_own_at_every_door(door) -> None:
    import json

    c, admin, models = door
    (models / "house" / "difflab.json").write_text(json.dumps({"default_guidance_scale": 4.0}))
    listed = c.get("/api/v1/models", headers=admin).json()
    assert next(m for m in listed if m["name"] == "house")["default_guidance"] == 4.0
    r = c.post("/api/v1/generations", json={"prompt": "a red circle"}, headers=admin)
    assert r.json()["job"]["params"]["guidance_scale"] == 4.0
    r = c.post("/api/v1/jobs", json={"kind": "generate", "params": {}}, headers=admin)
    assert r.json()["params"]["guidance_scale"] == 4.0
    r = c.post("/api/v1/jobs", json={"kind": "eval", "params": {}}, headers=admin)
    assert r.json()["params"]["guidance_scale"] == 4.0
    r = c.post("/api/v1/generations", json={"prompt": "a", "guidance_scale": 6}, headers=admin)
    assert r.json()["job"]["params"]["guidance_scale"] == 6.0  # the request says otherwise


def test_every_kinds_stored_defaults_validate_again_as_the_worker_reads_them() -> None:
    """The job row stores model_dump(mode="json"); the worker validates that again."""
    for name, spec in all_kinds().items():
        params = spec.params.model_validate({})
        again = spec.params.model_validate(params.model_dump(mode="json"))
        assert again == params, name


def test_an_idempotent_request_with_fields_resolved_at_submit_is_still_the_same(door) -> None:
    c, admin, _ = door
    gen = {"kind": "generate", "params": {"seed": -1}, "idempotency_key": "gen-1"}
    first = c.post("/api/v1/jobs", json=gen, headers=admin)
    again = c.post("/api/v1/jobs", json=gen, headers=admin)
    assert first.status_code == 202 and first.json()["params"]["seed"] >= 0  # drawn at submit
    assert again.status_code == 202 and again.json()["id"] == first.json()["id"]
    changed = {**gen, "params": {"seed": -1, "steps": 3}}
    assert c.post("/api/v1/jobs", json=changed, headers=admin).status_code == 409


def test_an_imagefolder_with_an_unreadable_image_is_refused_at_submit(door, tmp_path) -> None:
    import json

    from PIL import Image

    c, admin, _ = door
    folder = tmp_path / "mine"
    folder.mkdir()
    Image.new("RGB", (64, 64), "red").save(folder / "a.png")
    (folder / "b.png").write_bytes(b"not a png")
    lines = [{"file_name": "a.png", "text": "a red"}, {"file_name": "b.png", "text": "broken"}]
    (folder / "metadata.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    before = _jobs()
    params = {"dataset": "imagefolder", "data_path": str(folder)}
    r = c.post("/api/v1/jobs", json={"kind": "vae", "params": params}, headers=admin)
    assert r.status_code == 422, r.text
    (err,) = r.json()["detail"]
    assert err["loc"][-1] == "data_path" and "b.png" in err["msg"], err
    assert _jobs() == before


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"CLIP_stop_at_last_layers": 0}, "CLIP_stop_at_last_layers"),
        ({"sd_hypernetwork": "other"}, "sd_hypernetwork"),
        ({"show_progress_every_n_steps": "often"}, "show_progress_every_n_steps"),
        ({"show_progress_every_n_steps": -2}, "show_progress_every_n_steps"),
    ],
)
def test_a1111_override_settings_it_cannot_honour_are_422_naming_the_key(
    door, overrides: dict[str, Any], field: str
) -> None:
    c, _, _ = door
    basic = {
        "authorization": "Basic " + base64.b64encode(f"{ADMIN[0]}:{ADMIN[1]}".encode()).decode()
    }
    before = _jobs()
    body = {"prompt": "a red circle", "override_settings": overrides}
    r = c.post("/sdapi/v1/txt2img", json=body, headers=basic)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["body", "override_settings", field]
    assert _jobs() == before


def test_a1111_live_previews_follow_its_display_period() -> None:
    from difflab.api.routes.sdapi import Txt2ImgRequest, to_generate_params

    default = to_generate_params(Txt2ImgRequest(prompt="a"))
    assert (default.preview, default.preview_every) == ("approx", 10)  # A1111's default period
    every = {"show_progress_every_n_steps": 1}
    one = to_generate_params(Txt2ImgRequest(prompt="a", override_settings=every))
    assert (one.preview, one.preview_every) == ("approx", 1)
    off = {"show_progress_every_n_steps": -1}
    assert to_generate_params(Txt2ImgRequest(prompt="a", override_settings=off)).preview == "none"


def test_a1111_variation_seeds_and_clip_skip_are_carried_out() -> None:
    from difflab.api.routes.sdapi import Txt2ImgRequest, to_generate_params

    req = Txt2ImgRequest(
        prompt="a", subseed=9, subseed_strength=0.4,
        override_settings={"CLIP_stop_at_last_layers": 2}, tiling=True,
    )  # fmt: skip
    p = to_generate_params(req)
    assert (p.subseed, p.subseed_strength, p.clip_skip, p.tiling) == (9, 0.4, 2, True)
    plain = to_generate_params(Txt2ImgRequest(prompt="a", subseed=9))  # strength 0: no variation
    assert plain.subseed_strength == 0

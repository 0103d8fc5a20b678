"""Learners: the role of every non-admin user. They run the lab, generations and short `unet` /
`lora` runs within caps, see their own runs, and can share a run read-only by its link; the
house stages, evaluation and overwriting models stay with admins."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from difflab.db.engine import session_scope
from difflab.db.models import Job, User
from difflab.jobs.registry import all_kinds
from difflab.jobs.runner import execute_job
from tests.unit.conftest import MakeClient
from tests.unit.security.helpers import ADMIN, ALICE, BOB, api_key, login, submit_sleep

ADMIN_ONLY = {"clip", "vae", "house", "eval", "finetune"}  # house retraining and its parts


def test_the_role_matrix_of_job_kinds(client: TestClient) -> None:
    """Every registered kind: a learner is refused (403) exactly the admin-only ones; for the
    rest the request passes the role check and reaches validation (422 on an unknown field, so
    nothing is queued). Admins pass the role check for every kind."""
    kinds = all_kinds()
    assert set(kinds) >= ADMIN_ONLY
    assert {k for k, s in kinds.items() if s.admin_only} == ADMIN_ONLY
    assert {k for k in kinds if k.startswith("lab.")} and {"generate", "unet", "lora"} <= set(kinds)
    alice, admin = api_key(client, ALICE), api_key(client, ADMIN)
    for name in kinds:
        body = {"kind": name, "params": {"not_a_field": 1}}
        r = client.post("/api/v1/jobs", json=body, headers=alice)
        expected = 403 if name in ADMIN_ONLY else 422
        assert r.status_code == expected, (name, r.status_code, r.text)
        r = client.post("/api/v1/jobs", json=body, headers=admin)
        assert r.status_code == 422, (name, r.text)
    with session_scope() as s:
        assert s.query(Job).count() == 0
    listed = {
        k["name"]: k["admin_only"] for k in client.get("/api/v1/job-kinds", headers=alice).json()
    }
    assert {k for k, a in listed.items() if a} == ADMIN_ONLY


def test_new_users_are_learners_and_the_old_role_name_is_refused(client: TestClient) -> None:
    csrf = login(client, ADMIN)
    r = client.post(
        "/api/v1/users",
        json={"username": "carol", "password": "tulip-passphrase-9"},
        headers=csrf,
    )
    assert r.status_code == 201 and r.json()["role"] == "learner"
    r = client.patch(f"/api/v1/users/{r.json()['id']}", json={"role": "user"}, headers=csrf)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "role"]


def test_learner_caps_are_422s_naming_the_field(make_client: MakeClient) -> None:
    client = make_client(learner_max_steps=100, learner_max_processes=1)
    alice, admin = api_key(client, ALICE), api_key(client, ADMIN)
    cases = [
        ("unet", {"steps": 101}, "steps"),
        ("lora", {"steps": 500}, "steps"),
        ("lora", {"processes": 2}, "processes"),
        ("unet", {"processes": 2}, "processes"),
    ]
    for kind, params, field in cases:
        r = client.post("/api/v1/jobs", json={"kind": kind, "params": params}, headers=alice)
        assert r.status_code == 422, (kind, r.text)
        err = r.json()["detail"][0]
        assert err["loc"] == ["body", "params", field] and "learner" in err["msg"], err
        # an admin is not capped: the same request gets past the caps (to the unknown field)
        r = client.post(
            "/api/v1/jobs", json={"kind": kind, "params": {**params, "x": 1}}, headers=admin
        )
        assert r.json()["detail"][0]["loc"] == ["body", "params", "x"], (kind, r.text)
    # a generation's sampling steps are not training steps: not capped
    r = client.post("/api/v1/jobs", json={"kind": "sleep", "params": {"steps": 500}}, headers=alice)
    assert r.status_code == 202
    # overwriting stays with admins, at every door that takes a training kind
    r = client.post(
        "/api/v1/jobs",
        json={"kind": "unet", "params": {"output": "house", "overwrite": True}},
        headers=alice,
    )
    assert r.status_code == 403 and "overwrite" in r.json()["detail"]
    with session_scope() as s:
        assert s.query(Job).count() == 1


def test_a_learners_job_stops_at_the_wall_time_cap(make_client: MakeClient) -> None:
    client = make_client(learner_max_wall_s=1)
    alice, admin = api_key(client, ALICE), api_key(client, ADMIN)
    mine = submit_sleep(client, alice, steps=400, step_seconds=0.01)
    theirs = submit_sleep(client, admin, steps=3, step_seconds=0.01)
    assert mine["wall_limit_s"] == 1 and theirs["wall_limit_s"] is None
    assert execute_job(mine["id"], "w", "cpu") == "failed"
    job = client.get(f"/api/v1/jobs/{mine['id']}", headers=alice).json()
    assert "LEARNER_MAX_WALL_S" in job["error"] and 0 < job["progress"] < 1
    assert execute_job(theirs["id"], "w", "cpu") == "succeeded"


def test_a_shared_run_is_readable_by_link_and_never_writable(client: TestClient) -> None:
    alice, bob, admin = api_key(client, ALICE), api_key(client, BOB), api_key(client, ADMIN)
    job = submit_sleep(client, alice, steps=2, step_seconds=0.0)
    execute_job(job["id"], "w", "cpu")
    url = f"/api/v1/jobs/{job['id']}"
    reads = [url, f"{url}/events", f"{url}/artifacts/summary.json"]
    page = {"accept": "application/json"}  # the events as a JSON page, not a stream
    for path in reads:
        assert client.get(path, headers=bob).status_code == 404  # not shared yet
    assert client.get(f"{url}/events", headers={**bob, **page}).status_code == 404
    assert client.get(f"{url}/events", headers={**alice, **page}).json()  # its owner's
    # only the owner (or an admin) shares it
    assert client.patch(url, json={"shared": True}, headers=bob).status_code == 404
    r = client.patch(url, json={"shared": True}, headers=alice)
    assert r.status_code == 200 and r.json()["shared"] is True
    for path in reads:
        assert client.get(path, headers=bob).status_code == 200, path
    shown = client.get(f"{url}/events", headers={**bob, **page})
    assert shown.status_code == 200 and shown.json()[-1]["type"] == "state"
    # read-only: bob may not cancel, delete or unshare it
    assert client.post(f"{url}/cancel", headers=bob).status_code == 403
    assert client.delete(url, headers=bob).status_code == 403
    assert client.patch(url, json={"shared": False}, headers=bob).status_code == 403
    # and it is not in bob's list: he reaches it by its link
    assert client.get("/api/v1/jobs", headers=bob).json()["count"] == 0
    # signed out, nothing
    client.cookies.clear()
    assert client.get(url).status_code == 401
    # the admin may unshare it; then bob sees nothing again
    assert client.patch(url, json={"shared": False}, headers=admin).status_code == 200
    assert client.get(url, headers=bob).status_code == 404
    r = client.patch(url, json={"shared": "yes please"}, headers=alice)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "shared"]


@pytest.mark.parametrize("role", ["learner", "admin"])
def test_the_cli_creates_learners_and_admins(role: str, client: TestClient) -> None:
    from typer.testing import CliRunner

    from difflab.cli.users import users_app

    out = CliRunner().invoke(
        users_app, ["create", f"new-{role}", "--role", role, "--password", "a-long-passphrase"]
    )
    assert out.exit_code == 0, out.output
    with session_scope() as s:
        assert s.query(User).filter_by(username=f"new-{role}").one().role == role

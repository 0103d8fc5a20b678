"""Roles: users see, cancel and delete only their own jobs; admins everything; training and
evaluation kinds and user management are admin-only."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import update

from difflab.config import get_settings
from difflab.db.engine import session_scope
from difflab.db.models import Job
from difflab.jobs.registry import all_kinds
from tests.unit.security.helpers import ADMIN, ALICE, BOB, api_key, login, submit_sleep


def _end(job_id: str, state: str = "succeeded") -> None:
    with session_scope() as s:
        s.execute(update(Job).where(Job.id == job_id).values(state=state))


def test_users_see_and_cancel_only_their_own_jobs(client: TestClient) -> None:
    alice = api_key(client, ALICE)
    bob = api_key(client, BOB)
    admin = api_key(client, ADMIN)
    mine = submit_sleep(client, alice, steps=1)
    theirs = submit_sleep(client, bob, steps=1)
    listed = client.get("/api/v1/jobs", headers=alice).json()
    assert [j["id"] for j in listed["data"]] == [mine["id"]] and listed["count"] == 1
    # even asking for bob's jobs by owner shows alice nothing of his
    assert client.get("/api/v1/jobs", params={"owner": "bob"}, headers=alice).json()["count"] == 0
    for method, path in [
        ("GET", f"/api/v1/jobs/{theirs['id']}"),
        ("GET", f"/api/v1/jobs/{theirs['id']}/events"),
        ("GET", f"/api/v1/jobs/{theirs['id']}/artifacts/summary.json"),
        ("POST", f"/api/v1/jobs/{theirs['id']}/cancel"),
        ("POST", f"/api/v1/jobs/{theirs['id']}/retry"),
        ("DELETE", f"/api/v1/jobs/{theirs['id']}"),
    ]:
        r = client.request(method, path, headers={**alice, "accept": "application/json"})
        assert r.status_code == 404, (method, path, r.status_code)
    assert client.post(f"/api/v1/jobs/{mine['id']}/cancel", headers=alice).json()["state"] == (
        "cancelled"
    )
    # admins see and cancel everyone's
    everything = client.get("/api/v1/jobs", headers=admin).json()
    assert {j["id"] for j in everything["data"]} == {mine["id"], theirs["id"]}
    r = client.post(f"/api/v1/jobs/{theirs['id']}/cancel", headers=admin)
    assert r.status_code == 200 and r.json()["state"] == "cancelled"


def test_delete_own_job_others_admin_only(client: TestClient) -> None:
    alice = api_key(client, ALICE)
    bob = api_key(client, BOB)
    admin = api_key(client, ADMIN)
    job = submit_sleep(client, alice, steps=1)
    # a job that has not ended is not deleted from under its worker
    r = client.delete(f"/api/v1/jobs/{job['id']}", headers=alice)
    assert r.status_code == 409
    _end(job["id"])
    settings = get_settings()
    artifacts = settings.artifacts_dir / job["id"]
    artifacts.mkdir(parents=True)
    (artifacts / "summary.json").write_text("{}")
    assert client.delete(f"/api/v1/jobs/{job['id']}", headers=bob).status_code == 404
    assert client.delete(f"/api/v1/jobs/{job['id']}", headers=alice).status_code == 204
    assert client.get(f"/api/v1/jobs/{job['id']}", headers=alice).status_code == 404
    assert not artifacts.exists()
    # an admin deletes someone else's job
    other = submit_sleep(client, bob, steps=1)
    _end(other["id"], "failed")
    assert client.delete(f"/api/v1/jobs/{other['id']}", headers=admin).status_code == 204
    assert client.get(f"/api/v1/jobs/{other['id']}", headers=bob).status_code == 404


USER_TRAINING = {"lora", "unet"}  # new names only, within the learner caps


def test_training_and_evaluation_kinds_are_admin_only(client: TestClient) -> None:
    kinds = all_kinds()
    privileged = [
        k
        for k in kinds.values()
        if k.category in ("training", "evaluation") and k.name not in USER_TRAINING
    ]
    assert privileged, "the registry holds training kinds"
    assert all(k.admin_only for k in privileged), [k.name for k in privileged if not k.admin_only]
    csrf = login(client, ALICE)
    for spec in privileged:
        r = client.post("/api/v1/jobs", json={"kind": spec.name, "params": {}}, headers=csrf)
        assert r.status_code == 403, (spec.name, r.status_code, r.text)
        assert "only admins" in r.json()["detail"]
    with session_scope() as s:
        assert s.query(Job).count() == 0
    # an admin's request for the same kind passes the role check (and then validation)
    csrf = login(client, ADMIN)
    r = client.post(
        "/api/v1/jobs", json={"kind": privileged[0].name, "params": {"no": 1}}, headers=csrf
    )
    assert r.status_code == 422


def test_a_user_trains_loras_but_never_overwrites_one(client: TestClient) -> None:
    assert not all_kinds()["lora"].admin_only
    csrf = login(client, ALICE)
    body = {"kind": "lora", "params": {"output": "mine", "overwrite": True}}
    r = client.post("/api/v1/jobs", json=body, headers=csrf)
    assert r.status_code == 403 and "overwrite" in r.json()["detail"]
    r = client.post("/api/v1/jobs", json={"kind": "lora", "params": {"rank": 0}}, headers=csrf)
    assert r.status_code == 422  # past the role check: the params are validated
    assert r.json()["detail"][0]["loc"] == ["body", "params", "rank"]
    with session_scope() as s:
        assert s.query(Job).count() == 0


def test_user_management_and_audit_log_are_admin_only(client: TestClient) -> None:
    alice = api_key(client, ALICE)
    body = {"username": "eve", "password": "eve-password-1", "role": "admin"}
    assert client.get("/api/v1/users", headers=alice).status_code == 403
    assert client.post("/api/v1/users", json=body, headers=alice).status_code == 403
    assert client.patch("/api/v1/users/2", json={"role": "admin"}, headers=alice).status_code == 403
    assert client.get("/api/v1/audit-log", headers=alice).status_code == 403
    me = client.get("/api/v1/auth/me", headers=alice).json()["user"]
    assert me["role"] == "learner"
    # anonymous: 401 everywhere
    for method, path in [
        ("GET", "/api/v1/users"),
        ("POST", "/api/v1/users"),
        ("GET", "/api/v1/audit-log"),
        ("GET", "/api/v1/jobs"),
    ]:
        assert client.request(method, path, json=body).status_code == 401


def test_the_workers_page_shows_a_running_job_id_to_its_owner_and_admins_only(
    client: TestClient,
) -> None:
    from difflab.db.engine import session_scope
    from difflab.db.models import Job, Worker, utcnow

    alice, bob, admin = (api_key(client, who) for who in (ALICE, BOB, ADMIN))
    theirs = submit_sleep(client, bob, steps=1)
    with session_scope() as s:  # a worker running bob's job, as a real worker records it
        s.get(Job, theirs["id"]).state = "running"
        s.add(Worker(name="w", queues=["cpu"], device="cpu", pid=1, last_seen=utcnow(),
                     running_job_id=theirs["id"]))  # fmt: skip

    def shown(headers: dict[str, str]) -> str | None:
        body = client.get("/api/v1/workers", headers=headers).json()
        (worker,) = body["workers"]
        return worker["running_job_id"]

    assert shown(alice) is None
    assert shown(bob) == theirs["id"] and shown(admin) == theirs["id"]

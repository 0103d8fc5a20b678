"""Admin actions land in the audit log (who, what, when), which only admins can read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import update

from difflab.db.engine import session_scope
from difflab.db.models import Job
from tests.unit.security.helpers import ADMIN, ALICE, api_key, submit_sleep


def test_admin_actions_are_audited(client: TestClient) -> None:
    admin = api_key(client, ADMIN)
    alice = api_key(client, ALICE)
    started = datetime.now(UTC) - timedelta(seconds=5)
    r = client.post(
        "/api/v1/users",
        json={"username": "dave", "password": "tulip-passphrase", "role": "learner"},
        headers=admin,
    )
    dave_id = r.json()["id"]
    client.patch(f"/api/v1/users/{dave_id}", json={"role": "admin"}, headers=admin)
    client.patch(f"/api/v1/users/{dave_id}", json={"password": "another-password"}, headers=admin)
    job = submit_sleep(client, alice, steps=1)
    client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=admin)
    with session_scope() as s:
        s.execute(update(Job).where(Job.id == job["id"]).values(state="failed"))
    assert client.delete(f"/api/v1/jobs/{job['id']}", headers=admin).status_code == 204
    # admin-only kinds are audited at launch (a 422 launches nothing, so logs nothing)
    client.post("/api/v1/jobs", json={"kind": "vae", "params": {"steps": 0}}, headers=admin)

    log = client.get("/api/v1/audit-log", headers=admin).json()
    entries = log["data"]
    actions = [e["action"] for e in entries]
    # newest first
    assert actions[:5] == ["job.delete", "job.cancel", "user.update", "user.update", "user.create"]
    assert all(e["username"] == "admin" for e in entries[:5])
    create = entries[4]
    assert create["target"] == "dave" and create["detail"] == {"role": "learner"}
    assert entries[3]["detail"] == {"role": "admin"}
    assert entries[2]["detail"] == {"password": "changed"}  # never the password itself
    assert "another-password" not in str(entries)
    assert entries[0]["target"] == job["id"] and entries[0]["detail"]["kind"] == "sleep"
    for e in entries:
        when = datetime.fromisoformat(e["created_at"])
        assert started <= when <= datetime.now(UTC)
    # filters
    only = client.get("/api/v1/audit-log", params={"action": "user.update"}, headers=admin)
    assert only.json()["count"] == 2
    by = client.get("/api/v1/audit-log", params={"username": "alice"}, headers=admin).json()
    assert [e["action"] for e in by["data"]] == ["apikey.create"]
    # users cannot read it
    assert client.get("/api/v1/audit-log", headers=alice).status_code == 403


def test_launching_a_training_kind_is_audited(client: TestClient) -> None:
    admin = api_key(client, ADMIN)
    params = {"steps": 1, "batch_size": 1, "train_samples": 16, "val_samples": 8}
    r = client.post("/api/v1/jobs", json={"kind": "vae", "params": params}, headers=admin)
    assert r.status_code == 202, r.text
    entries = client.get(
        "/api/v1/audit-log", params={"action": "job.create"}, headers=admin
    ).json()["data"]
    assert [(e["target"], e["detail"]["kind"]) for e in entries] == [(r.json()["id"], "vae")]

"""The API in-process against a real SQLite database and the embedded broker (no worker)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from difflab.accounts import create_user
from difflab.api.app import create_app
from difflab.db.engine import session_scope
from difflab.db.models import Job
from tests.utils.services import ADMIN_PASSWORD, apply_env


@pytest.fixture
def client(embedded_env) -> Iterator[TestClient]:
    from difflab.accounts import ensure_admin

    with session_scope() as s:
        ensure_admin(s, "admin", ADMIN_PASSWORD)
        create_user(s, "alice", "alice-password", "learner")
        create_user(s, "bob", "bob-password-1", "learner")
    with TestClient(create_app(reconcile=False)) as c:
        yield c


def login(c: TestClient, user: str, password: str) -> str:
    r = c.post("/api/v1/auth/login", json={"username": user, "password": password})
    assert r.status_code == 200, r.text
    assert "httponly" in r.headers["set-cookie"].lower()
    assert "samesite=strict" in r.headers["set-cookie"].lower()
    return str(r.json()["csrf_token"])


def job_count() -> int:
    with session_scope() as s:
        return int(s.scalar(select(func.count()).select_from(Job)) or 0)


def test_routes_need_a_user(client: TestClient) -> None:
    assert client.get("/api/v1/jobs").status_code == 401
    assert client.post("/api/v1/jobs", json={"kind": "sleep"}).status_code == 401
    assert client.get("/api/v1/health").status_code == 200


def test_wrong_password_is_401_with_a_message(client: TestClient) -> None:
    r = client.post("/api/v1/auth/login", json={"username": "admin", "password": "nope"})
    assert r.status_code == 401 and "wrong username or password" in r.json()["detail"]


def test_state_changes_need_the_csrf_token(client: TestClient) -> None:
    csrf = login(client, "alice", "alice-password")
    r = client.post("/api/v1/jobs", json={"kind": "sleep", "params": {}})
    assert r.status_code == 403 and "CSRF" in r.json()["detail"]
    r = client.post(
        "/api/v1/jobs",
        json={"kind": "sleep", "params": {"steps": 1}},
        headers={"x-csrf-token": csrf},
    )
    assert r.status_code == 202, r.text
    assert r.json()["state"] == "queued" and r.json()["owner"] == "alice"


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"kind": "sleep", "params": {"steps": 0}}, ["body", "params", "steps"]),
        ({"kind": "sleep", "params": {"steps": "many"}}, ["body", "params", "steps"]),
        ({"kind": "sleep", "params": {"bogus": 1}}, ["body", "params", "bogus"]),
        ({"kind": "no-such-kind", "params": {}}, ["body", "kind"]),
        ({"params": {}}, ["body", "kind"]),
    ],
)
def test_bad_input_is_422_naming_the_field_and_enqueues_nothing(
    client: TestClient, body, loc
) -> None:
    csrf = login(client, "alice", "alice-password")
    before = job_count()
    r = client.post("/api/v1/jobs", json=body, headers={"x-csrf-token": csrf})
    assert r.status_code == 422, r.text
    assert any(err["loc"] == loc for err in r.json()["detail"]), r.json()
    assert job_count() == before


def test_idempotency_key_gives_the_same_job(client: TestClient) -> None:
    csrf = login(client, "alice", "alice-password")
    body = {"kind": "sleep", "params": {"steps": 1}, "idempotency_key": "abc-1"}
    a = client.post("/api/v1/jobs", json=body, headers={"x-csrf-token": csrf}).json()
    b = client.post("/api/v1/jobs", json=body, headers={"x-csrf-token": csrf}).json()
    assert a["id"] == b["id"] and job_count() == 1
    # the same key with other parameters is a mistake, not the same job
    other = {**body, "params": {"steps": 2}}
    r = client.post("/api/v1/jobs", json=other, headers={"x-csrf-token": csrf})
    assert r.status_code == 409 and a["id"] in r.json()["detail"] and job_count() == 1


def test_users_see_only_their_own_jobs_admins_all(client: TestClient) -> None:
    csrf = login(client, "alice", "alice-password")
    job = client.post(
        "/api/v1/jobs",
        json={"kind": "sleep", "params": {"steps": 1}},
        headers={"x-csrf-token": csrf},
    ).json()
    client.cookies.clear()
    csrf = login(client, "bob", "bob-password-1")
    assert client.get(f"/api/v1/jobs/{job['id']}").status_code == 404
    assert client.get("/api/v1/jobs").json()["count"] == 0
    r = client.post(f"/api/v1/jobs/{job['id']}/cancel", headers={"x-csrf-token": csrf})
    assert r.status_code == 404
    assert client.get("/api/v1/users").status_code == 403
    client.cookies.clear()
    login(client, "admin", ADMIN_PASSWORD)
    assert client.get(f"/api/v1/jobs/{job['id']}").status_code == 200
    assert client.get("/api/v1/jobs").json()["count"] == 1


def test_api_key_as_bearer_token(client: TestClient) -> None:
    csrf = login(client, "alice", "alice-password")
    key = client.post(
        "/api/v1/users/me/api-keys", json={"name": "script"}, headers={"x-csrf-token": csrf}
    ).json()["key"]
    client.cookies.clear()
    r = client.post(
        "/api/v1/jobs",
        json={"kind": "sleep", "params": {"steps": 1}},
        headers={"authorization": f"Bearer {key}"},
    )
    assert r.status_code == 202 and r.json()["owner"] == "alice"
    bad = client.get("/api/v1/jobs", headers={"authorization": "Bearer dl_wrong"})
    assert bad.status_code == 401


def test_job_kinds_serve_param_schemas(client: TestClient) -> None:
    login(client, "alice", "alice-password")
    kinds = {k["name"]: k for k in client.get("/api/v1/job-kinds").json()}
    assert kinds["sleep"]["params_schema"]["properties"]["steps"]["minimum"] == 1
    assert kinds["sleep"]["queue"] == "cpu"


def test_cancel_queued_then_retry(client: TestClient) -> None:
    csrf = login(client, "alice", "alice-password")
    h = {"x-csrf-token": csrf}
    job = client.post(
        "/api/v1/jobs", json={"kind": "sleep", "params": {"steps": 2}}, headers=h
    ).json()
    assert client.post(f"/api/v1/jobs/{job['id']}/retry", headers=h).status_code == 409
    cancelled = client.post(f"/api/v1/jobs/{job['id']}/cancel", headers=h).json()
    assert cancelled["state"] == "cancelled"
    retry = client.post(f"/api/v1/jobs/{job['id']}/retry", headers=h)
    assert retry.status_code == 202 and retry.json()["params"] == job["params"]
    events = client.get(
        f"/api/v1/jobs/{job['id']}/events", headers={"accept": "application/json"}
    ).json()
    assert [e["payload"]["state"] for e in events if e["type"] == "state"] == [
        "queued",
        "cancelled",
    ]


def test_broker_down_is_503_and_leaves_no_row(client: TestClient, embedded_env) -> None:
    csrf = login(client, "alice", "alice-password")
    before = job_count()
    # point the broker at a port where nothing listens
    apply_env({**embedded_env, "DIFFLAB_BROKER_URL": "redis://127.0.0.1:1/0"})
    r = client.post(
        "/api/v1/jobs",
        json={"kind": "sleep", "params": {"steps": 1}},
        headers={"x-csrf-token": csrf},
    )
    assert r.status_code == 503, r.text
    assert "broker" in r.json()["detail"]
    assert job_count() == before
    health = client.get("/api/v1/health")
    assert health.status_code == 503 and health.json()["broker"] is False


def test_body_size_cap(client: TestClient) -> None:
    csrf = login(client, "alice", "alice-password")
    r = client.post(
        "/api/v1/jobs",
        content=b"x" * 2_000_000,
        headers={"x-csrf-token": csrf, "content-type": "application/json"},
    )
    assert r.status_code == 413


def test_a_long_runs_events_come_in_pages_that_say_where_the_next_one_starts(
    client: TestClient,
) -> None:
    from difflab.jobs.events import append_event

    csrf = login(client, "alice", "alice-password")
    job = client.post(
        "/api/v1/jobs", json={"kind": "sleep", "params": {"steps": 1}},
        headers={"x-csrf-token": csrf},
    ).json()  # fmt: skip
    with session_scope() as s:  # a long run's log, as a worker writes it
        for i in range(2500):
            append_event(s, job["id"], "log", {"message": f"line {i}"})
    seen: list[int] = []
    url: str | None = f"/api/v1/jobs/{job['id']}/events?after=0"
    while url:
        r = client.get(url, headers={"accept": "application/json"})
        assert r.status_code == 200
        page = r.json()
        assert len(page) <= 1000
        seen += [e["seq"] for e in page]
        assert r.headers["x-last-seq"] == "2501"
        link = r.headers.get("link")
        url = link.split(">")[0].lstrip("<") if link else None
    assert seen == list(range(1, 2502))  # the queued state event, then every log line
    small = client.get(
        f"/api/v1/jobs/{job['id']}/events", params={"after": 2490, "limit": 5},
        headers={"accept": "application/json"},
    )  # fmt: skip
    assert [e["seq"] for e in small.json()] == [2491, 2492, 2493, 2494, 2495]
    assert "after=2495" in small.headers["link"]

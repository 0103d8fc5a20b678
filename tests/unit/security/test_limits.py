"""Limits: generation rate and sign-in failures (429 + Retry-After), prompt length, request
body size, queued jobs per user."""

from __future__ import annotations

import base64
from collections.abc import Iterator

from sqlalchemy import func, select

from difflab.db.engine import session_scope
from difflab.db.models import Job
from tests.unit.security.conftest import MakeClient
from tests.unit.security.helpers import ADMIN, ALICE, BOB, api_key, submit_sleep


def _jobs() -> int:
    with session_scope() as s:
        return int(s.scalar(select(func.count()).select_from(Job)) or 0)


def _assert_429(r, what: str) -> int:
    assert r.status_code == 429, (what, r.status_code, r.text)
    wait = int(r.headers["retry-after"])
    assert wait >= 1
    return wait


def test_generation_rate_limit_per_user(make_client: MakeClient) -> None:
    c = make_client(generation_rate=2, generation_window_s=60)
    alice, bob = api_key(c, ALICE), api_key(c, BOB)
    # counted requests: the /jobs route (generate kind) and the /generations route alike
    bad_model = {"prompt": "a red circle", "model": "no-such-model"}
    r = c.post("/api/v1/generations", json=bad_model, headers=alice)
    assert r.status_code == 422  # refused for its model, still counted
    r = c.post("/api/v1/jobs", json={"kind": "generate", "params": bad_model}, headers=alice)
    assert r.status_code == 422  # the same check at every door
    before = _jobs()
    wait = _assert_429(c.post("/api/v1/generations", json=bad_model, headers=alice), "third")
    assert wait <= 60
    _assert_429(
        c.post("/api/v1/jobs", json={"kind": "generate", "params": bad_model}, headers=alice),
        "via /jobs",
    )
    assert _jobs() == before  # nothing enqueued for a refused request
    # another user has their own budget; other kinds are not generation-limited
    assert c.post("/api/v1/generations", json=bad_model, headers=bob).status_code == 422
    submit_sleep(c, alice, steps=1)


def test_a1111_route_is_limited_too(make_client: MakeClient) -> None:
    c = make_client(generation_rate=1, generation_window_s=60)
    basic = {"authorization": "Basic " + base64.b64encode(b"alice:alice-password").decode()}
    body = {"prompt": "a red circle", "sd_model_checkpoint": "no-such-model", "steps": 1}
    first = c.post("/sdapi/v1/txt2img", json=body, headers=basic)
    assert first.status_code != 429, first.text
    _assert_429(c.post("/sdapi/v1/txt2img", json=body, headers=basic), "second txt2img")


def test_prompt_length_cap(make_client: MakeClient) -> None:
    c = make_client(max_prompt_chars=20)
    alice = api_key(c, ALICE)
    long = "a red circle " * 2  # 26 characters
    r = c.post("/api/v1/generations", json={"prompt": long}, headers=alice)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "prompt"]
    r = c.post(
        "/api/v1/jobs",
        json={"kind": "generate", "params": {"negative_prompt": long}},
        headers=alice,
    )
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "params", "negative_prompt"]
    assert _jobs() == 0


def test_failed_sign_ins_are_throttled_per_name_and_address(make_client: MakeClient) -> None:
    c = make_client(login_max_failures=3, login_window_s=600)
    for _ in range(3):
        r = c.post("/api/v1/auth/login", json={"username": "alice", "password": "guess"})
        assert r.status_code == 401
    # the right password does not help while throttled: no oracle for the guesser
    r = c.post("/api/v1/auth/login", json={"username": "alice", "password": ALICE[1]})
    wait = _assert_429(r, "fourth sign-in")
    assert 590 <= wait <= 600
    # the client address is throttled as well, whatever name it tries next
    r = c.post("/api/v1/auth/login", json={"username": "bob", "password": BOB[1]})
    _assert_429(r, "same address, other name")


def test_basic_auth_failures_count_toward_the_sign_in_limit(make_client: MakeClient) -> None:
    c = make_client(login_max_failures=2, login_window_s=600)
    wrong = {"authorization": "Basic " + base64.b64encode(b"alice:guess").decode()}
    for _ in range(2):
        assert c.get("/sdapi/v1/options", headers=wrong).status_code == 401
    _assert_429(c.get("/sdapi/v1/options", headers=wrong), "basic after failures")
    _assert_429(
        c.post("/api/v1/auth/login", json={"username": "alice", "password": ALICE[1]}),
        "login after basic failures",
    )


def test_body_cap_with_and_without_content_length(make_client: MakeClient) -> None:
    c = make_client(max_body_bytes=4096)
    alice = api_key(c, ALICE)
    big = b'{"kind": "sleep", "params": {}, "pad": "' + b"x" * 5000 + b'"}'
    r = c.post("/api/v1/jobs", content=big, headers={**alice, "content-type": "application/json"})
    assert r.status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: Transfer-Encoding chunked
        for i in range(0, len(big), 1000):
            yield big[i : i + 1000]

    r = c.post(
        "/api/v1/jobs", content=chunks(), headers={**alice, "content-type": "application/json"}
    )
    assert r.status_code == 413, r.text
    assert _jobs() == 0
    small = c.post("/api/v1/jobs", json={"kind": "sleep", "params": {"steps": 1}}, headers=alice)
    assert small.status_code == 202


def test_queued_jobs_per_user_cap(make_client: MakeClient) -> None:
    c = make_client(max_queued_per_user=2)
    alice, bob = api_key(c, ALICE), api_key(c, BOB)
    submit_sleep(c, alice, steps=1)
    submit_sleep(c, alice, steps=1)
    r = c.post("/api/v1/jobs", json={"kind": "sleep", "params": {"steps": 1}}, headers=alice)
    _assert_429(r, "third queued job")
    assert "queued jobs" in r.json()["detail"]
    submit_sleep(c, bob, steps=1)
    assert _jobs() == 3


def test_a_user_whose_results_fill_their_quota_gets_507_and_others_are_unaffected(
    make_client: MakeClient,
) -> None:
    from sqlalchemy import update

    from difflab.db.engine import session_scope
    from difflab.db.models import Job

    c = make_client(user_storage_mb=1)
    alice, bob, admin = api_key(c, ALICE), api_key(c, BOB), api_key(c, ADMIN)
    first = submit_sleep(c, alice, steps=1)
    with session_scope() as s:  # its results took 3 MB, as a worker counts them
        s.execute(update(Job).where(Job.id == first["id"]).values(artifact_bytes=3 * 2**20))
    r = c.post("/api/v1/jobs", json={"kind": "sleep", "params": {"steps": 1}}, headers=alice)
    assert r.status_code == 507 and "quota is 1 MB" in r.json()["detail"]
    submit_sleep(c, bob, steps=1)  # other users are unaffected
    submit_sleep(c, admin, steps=1)  # admins have no quota
    # deleting the old job frees the quota
    c.post(f"/api/v1/jobs/{first['id']}/cancel", headers=alice)
    assert c.delete(f"/api/v1/jobs/{first['id']}", headers=alice).status_code == 204
    submit_sleep(c, alice, steps=1)


def test_below_the_free_disk_floor_no_job_is_accepted_and_health_says_so(
    make_client: MakeClient,
) -> None:
    c = make_client(min_free_disk_mb=10**9)  # more than any disk has free
    alice = api_key(c, ALICE)
    before = _jobs()
    r = c.post("/api/v1/jobs", json={"kind": "sleep", "params": {"steps": 1}}, headers=alice)
    assert r.status_code == 507 and "disk is nearly full" in r.json()["detail"]
    assert r.headers["retry-after"]
    assert _jobs() == before
    health = c.get("/api/v1/health").json()
    assert health["status"] != "ok" and health["disk"]["low"] is True

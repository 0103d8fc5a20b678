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
from tests.utils.services import wait_for


def _jobs() -> int:
    with session_scope() as s:
        return int(s.scalar(select(func.count()).select_from(Job)) or 0)


def _assert_429(r, what: str) -> int:
    assert r.status_code == 429, (what, r.status_code, r.text)
    wait = int(r.headers["retry-after"])
    assert wait >= 1
    return wait


def test_a_script_sending_one_request_after_another_never_sees_a_429(
    make_client: MakeClient, embedded_env: dict[str, str]
) -> None:
    """No rate limit on work: 200 sequential generations by one user all get in."""
    from pathlib import Path

    from difflab.diffusion.tiny import build_tiny_pipeline_dir

    build_tiny_pipeline_dir(Path(embedded_env["DIFFLAB_MODELS_DIR"]) / "house", seed=0)
    c = make_client()
    alice = api_key(c, ALICE)
    for i in range(200):
        route = "/api/v1/generations" if i % 2 else "/api/v1/jobs"
        body = {"prompt": "a red circle", "steps": 1}
        r = c.post(route, json=body if i % 2 else {"kind": "generate", "params": body},
                   headers=alice)  # fmt: skip
        assert r.status_code == 202, (i, r.status_code, r.text)
        job_id = r.json()["job"]["id"] if i % 2 else r.json()["id"]
        # the script waits for its image before the next call: here the job ends at once
        assert c.post(f"/api/v1/jobs/{job_id}/cancel", headers=alice).status_code == 200


def test_work_piling_up_gets_429_per_user_then_503_for_everyone_and_nothing_is_lost(
    make_client: MakeClient,
) -> None:
    c = make_client(max_queued_per_user=3, max_queued_total=5)
    alice, bob, admin = api_key(c, ALICE), api_key(c, BOB), api_key(c, ADMIN)
    accepted = [submit_sleep(c, alice, steps=1)["id"] for _ in range(3)]
    r = c.post("/api/v1/jobs", json={"kind": "sleep", "params": {"steps": 1}}, headers=alice)
    _assert_429(r, "a fourth job of one user")
    assert "queued or running" in r.json()["detail"]
    accepted += [submit_sleep(c, bob, steps=1)["id"] for _ in range(2)]
    r = c.post("/api/v1/jobs", json={"kind": "sleep", "params": {"steps": 1}}, headers=admin)
    assert r.status_code == 503 and int(r.headers["retry-after"]) >= 1, r.text
    assert "jobs are waiting" in r.json()["detail"]
    # every accepted job is there, queued; nothing refused was stored
    states = [c.get(f"/api/v1/jobs/{j}", headers=admin).json()["state"] for j in accepted]
    assert states == ["queued"] * 5 and _jobs() == 5


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


def _login(c, who: tuple[str, str], address: str):
    return c.post(
        "/api/v1/auth/login",
        json={"username": who[0], "password": who[1]},
        headers={"x-forwarded-for": address},
    )


def test_failed_sign_ins_throttle_the_client_and_only_briefly_the_account(
    make_client: MakeClient,
) -> None:
    # behind a trusted proxy, so each request can come from its own client address
    c = make_client(login_max_failures=3, login_window_s=600, login_backoff_max_s=2,
                    trusted_proxies='["testclient"]')  # fmt: skip
    attacker, owner = "203.0.113.7", "198.51.100.20"
    for _ in range(3):
        assert _login(c, (ALICE[0], "guess"), attacker).status_code == 401
    # the guesser's client is throttled for the window, even with the right password
    wait = _assert_429(_login(c, ALICE, attacker), "fourth try from the same client")
    assert 590 <= wait <= 600
    _assert_429(_login(c, BOB, attacker), "same client, other name")
    # the owner, from their own address, waits a few seconds at most: no lockout
    wait_for(lambda: _login(c, ALICE, owner).status_code == 200, timeout=5,
             what="the owner to get in")  # fmt: skip
    # a spread-out attack (one guess per address) only stretches the wait to the cap
    for i in range(10):
        _login(c, (ALICE[0], "guess"), f"203.0.113.{100 + i}")
    r = _login(c, ALICE, owner)
    if r.status_code == 429:
        assert int(r.headers["retry-after"]) <= 2
    wait_for(lambda: _login(c, ALICE, owner).status_code == 200, timeout=5,
             what="the owner to get in after a spread-out attack")  # fmt: skip


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
    assert "queued or running jobs" in r.json()["detail"]
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

"""The fast path with real processes: notifications that get lost cost latency, never an
event; a script of sequential txt2img calls never sees a 429; a crowd of parallel callers
gets 429/503 with Retry-After once the queue is full, and nothing accepted is lost."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import redis

from difflab.diffusion.tiny import build_tiny_pipeline_dir
from tests.integration.conftest import Deployment, _deploy
from tests.utils.services import ADMIN_PASSWORD, REDIS_URL, Api, service_env

LONG_JOB = {"prompt": "a red circle", "steps": 150, "preview": "approx", "attention": True}


def _follow(api: Api, job_id: str) -> tuple[str, list[int]]:
    """Read the job's SSE stream to its end: (end state, the seq of every event received)."""
    seqs: list[int] = []
    with api.client.stream(
        "GET", f"/api/v1/jobs/{job_id}/events", headers={"accept": "text/event-stream"},
        timeout=300,
    ) as r:  # fmt: skip
        assert r.status_code == 200
        event = ""
        for line in r.iter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data = json.loads(line[5:])
                if event == "end":
                    return data["state"], seqs
                seqs.append(data["seq"])
    raise AssertionError("the stream closed without an end event")


def _every_event_arrives_while(dep: Deployment, spoil: threading.Thread, stop: threading.Event):
    api = dep.api()
    r = api.post("/api/v1/generations", json=LONG_JOB)
    assert r.status_code == 202, r.text
    job_id = r.json()["job"]["id"]
    spoil.start()
    try:
        state, seqs = _follow(api, job_id)
    finally:
        stop.set()
        spoil.join()
    assert state == "succeeded"
    last = api.get(f"/api/v1/jobs/{job_id}/events?limit=1", headers={"accept": "application/json"})
    total = int(last.headers["x-last-seq"])
    assert seqs == list(range(1, total + 1)), "an event was lost or repeated"
    assert total > 150  # a frame per step at least: the job ran long enough to lose some


@contextlib.contextmanager
def tiny_deployment(root: Path, **extra: str) -> Iterator[Deployment]:
    """Embedded, the tiny test pipeline as `house`, one worker."""
    env = service_env(root / "var", **extra)
    build_tiny_pipeline_dir(Path(env["DIFFLAB_MODELS_DIR"]) / "house", seed=0)
    deployments = _deploy(env, root / "logs")
    dep = next(deployments)
    try:
        dep.add_worker("w1")
        yield dep
    finally:
        deployments.close()


@pytest.fixture
def tiny_embedded(tmp_path: Path) -> Iterator[Deployment]:
    with tiny_deployment(tmp_path) as dep:
        yield dep


@pytest.fixture
def tiny_redis_pg(redis_pg: Deployment):
    build_tiny_pipeline_dir(Path(redis_pg.env["DIFFLAB_MODELS_DIR"]) / "house", seed=0)
    redis_pg.add_worker("w1")
    return redis_pg


def test_embedded_notifications_lost_the_stream_still_gets_every_event(tiny_embedded) -> None:
    """The API's registration is removed over and over while the job runs: the worker's
    datagrams go nowhere, and the stream falls back to reading the database."""
    registry = Path(tiny_embedded.env["DIFFLAB_DATA_DIR"]) / "notify"
    stop = threading.Event()

    def unregister() -> None:
        while not stop.wait(0.02):
            for entry in registry.glob("[0-9]*.port"):
                entry.unlink(missing_ok=True)

    _every_event_arrives_while(tiny_embedded, threading.Thread(target=unregister), stop)


def test_redis_listener_killed_mid_job_the_stream_still_gets_every_event(tiny_redis_pg) -> None:
    """The API's Redis subscription is killed over and over while the job runs."""
    db = tiny_redis_pg.env["DIFFLAB_BROKER_URL"].rsplit("/", 1)[1]
    client = redis.Redis.from_url(f"{REDIS_URL}/{db}")
    stop = threading.Event()
    killed: list[int] = []

    def kill_listeners() -> None:
        while not stop.wait(0.05):
            killed.append(int(client.client_kill_filter(_type="pubsub")))

    try:
        _every_event_arrives_while(tiny_redis_pg, threading.Thread(target=kill_listeners), stop)
    finally:
        client.close()
    assert sum(killed) >= 1, "no subscription was killed: the test did not test the fallback"


def _user(dep: Deployment, name: str) -> tuple[str, str]:
    password = "tulip-meadow-passphrase"
    r = dep.api().post("/api/v1/users", json={"username": name, "password": password})
    assert r.status_code == 201, r.text
    return name, password


def test_a_script_of_200_sequential_txt2img_calls_never_sees_a_429(tiny_embedded) -> None:
    auth = _user(tiny_embedded, "scripter")
    with httpx.Client(base_url=tiny_embedded.base, auth=auth, timeout=120) as c:
        for i in range(200):
            r = c.post("/sdapi/v1/txt2img", json={"prompt": f"circle {i}", "steps": 1})
            assert r.status_code == 200, (i, r.status_code, r.text)
            assert len(r.json()["images"]) == 1


def test_100_parallel_callers_get_429_or_503_with_retry_after_and_nothing_is_lost(
    tmp_path: Path,
) -> None:
    # 4 users x 3 > 10: once ten wait everyone gets 503, and by then (pigeonhole) some user
    # has three in and gets 429 for the rest (the per-user cap is checked first)
    caps = {"DIFFLAB_MAX_QUEUED_PER_USER": "3", "DIFFLAB_MAX_QUEUED_TOTAL": "10"}
    with tiny_deployment(tmp_path, **caps) as dep:
        users = [_user(dep, f"caller{i}") for i in range(4)]

        def call(n: int) -> httpx.Response:
            body = {"prompt": f"circle {n}", "steps": 40}
            with httpx.Client(base_url=dep.base, auth=users[n % 4], timeout=240) as c:
                return c.post("/sdapi/v1/txt2img", json=body)  # answers when the image is done

        with ThreadPoolExecutor(100) as pool:
            answers = list(pool.map(call, range(100)))
        listed = dep.api().get("/api/v1/jobs", params={"limit": 200}).json()["data"]
    codes = Counter(r.status_code for r in answers)
    assert set(codes) <= {200, 429, 503}, codes
    assert codes[429] and codes[503] and codes[200], codes
    for r in answers:
        if r.status_code in (429, 503):
            assert int(r.headers["retry-after"]) >= 1
            assert "waiting" in r.json()["detail"] or "queued" in r.json()["detail"]
    ok = [r.json() for r in answers if r.status_code == 200]
    assert all(len(out["images"]) == 1 for out in ok)
    done = sorted(json.loads(out["info"])["difflab_job_id"] for out in ok)
    assert sorted(j["id"] for j in listed) == done  # none lost, no phantom job
    assert {j["state"] for j in listed} == {"succeeded"}


def test_streams_and_txt2img_are_woken_not_polled(tmp_path: Path) -> None:
    """With the poll period at 30 s, a stream still follows a job to its end and txt2img
    answers at once: every wake-up came from a notification (a missed one would cost 30 s)."""
    with tiny_deployment(tmp_path, DIFFLAB_EVENT_POLL_S="30") as dep:
        api = dep.api()
        for _ in range(3):
            t0 = time.monotonic()
            r = api.post("/api/v1/generations", json={"prompt": "a red circle", "steps": 8})
            state, seqs = _follow(api, r.json()["job"]["id"])
            assert state == "succeeded" and seqs == list(range(1, len(seqs) + 1))
            assert time.monotonic() - t0 < 15
        with httpx.Client(base_url=dep.base, auth=("admin", ADMIN_PASSWORD), timeout=60) as c:
            t0 = time.monotonic()
            assert c.post("/sdapi/v1/txt2img", json={"prompt": "a", "steps": 8}).status_code == 200
            assert time.monotonic() - t0 < 15

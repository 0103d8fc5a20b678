"""Stop and restart Redis with jobs queued: the API answers 503 meanwhile, nothing half-made is
stored, and the workers resume afterwards — even though this Redis keeps nothing on disk, so
every queued message dies with it and the reconciler must publish those jobs again.

The test runs its own redis-server on a free port; the shared one is never touched.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.reliability.cluster import Cluster, deploy, timer
from tests.reliability.conftest import Recorder, reliability_env
from tests.utils.services import free_port, wait_for

pytestmark = pytest.mark.integration


class RedisServer:
    def __init__(self, port: int, log: Path) -> None:
        self.port = port
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
                + ["--save", "", "--appendonly", "no", "--daemonize", "no"],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_for(self.ping, timeout=20, what=f"redis on port {self.port}")

    def ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_connect_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)
        self.proc = None


@pytest.fixture
def redis_cluster(tmp_path: Path) -> Iterator[tuple[Cluster, RedisServer]]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer(free_port(), tmp_path / "redis.log")
    server.start()
    c = deploy(
        reliability_env(tmp_path, DIFFLAB_BROKER_URL=f"redis://127.0.0.1:{server.port}/0"),
        tmp_path / "logs",
    )
    try:
        yield c, server
    finally:
        c.stop()
        server.stop()


@pytest.mark.timeout(240)
def test_redis_restart_with_jobs_queued(
    redis_cluster: tuple[Cluster, RedisServer], reliability: Recorder
) -> None:
    reliability.fault(
        "own redis-server (no persistence) stopped ~4 s with 1 job running and 4 queued"
    )
    cluster, redis = redis_cluster
    cluster.use_workers(1)
    api = cluster.api()
    running = api.submit("sleep", steps=30, step_seconds=0.2)["id"]
    api.wait_state(running, ("running",), timeout=60)
    queued = [api.submit("sleep", steps=2, step_seconds=0.05)["id"] for _ in range(4)]
    assert all(api.job(j)["state"] == "queued" for j in queued)
    count = api.get("/api/v1/jobs").json()["count"]

    redis.stop()
    with timer() as outage:
        # while Redis is down: 503 with Retry-After, quickly, and no row left behind
        t0 = time.monotonic()
        r = api.post("/api/v1/jobs", json={"kind": "sleep", "params": {"steps": 1}})
        answer_s = time.monotonic() - t0
        assert r.status_code == 503, r.text
        assert r.headers["retry-after"] and "broker" in r.json()["detail"]
        assert answer_s < 10
        health = httpx.get(cluster.base + "/api/v1/health", timeout=20)
        assert health.status_code == 503 and health.json()["broker"] is False
        assert api.get("/api/v1/jobs").json()["count"] == count
        time.sleep(max(0.0, 4 - (time.monotonic() - t0)))
        redis.start()  # empty: the queued messages are gone
    after = api.submit("sleep", steps=1, step_seconds=0.0)["id"]

    jobs = [running, *queued, after]
    with timer() as recovery:
        for job_id in jobs:
            done = api.wait_state(job_id, ("succeeded", "failed", "cancelled"), timeout=120)
            assert done["state"] == "succeeded", done
    assert httpx.get(cluster.base + "/api/v1/health", timeout=20).status_code == 200
    lost = cluster.jobs_lost(api, jobs)
    reliability.outcome(
        f"503 in {answer_s:.1f} s while down, no row stored; after restart all {len(jobs)} "
        f"jobs succeeded ({recovery['s']:.0f} s; outage {outage['s']:.0f} s)",
        lost,
    )
    assert lost == 0

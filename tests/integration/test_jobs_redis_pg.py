"""The production shape: Redis broker, PostgreSQL database, several worker processes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.utils.services import wait_for

pytestmark = pytest.mark.integration


def test_two_workers_on_one_queue_both_take_jobs(redis_pg) -> None:
    redis_pg.add_worker("w1", queues="cpu")
    redis_pg.add_worker("w2", queues="cpu")
    api = redis_pg.api()
    jobs = [api.submit("sleep", steps=3, step_seconds=0.4) for _ in range(6)]
    done = [api.wait_state(j["id"], ("succeeded", "failed"), timeout=90) for j in jobs]
    assert {d["state"] for d in done} == {"succeeded"}
    assert {d["worker"] for d in done} == {"w1", "w2"}
    health = api.get("/api/v1/health").json()
    assert health["status"] == "ok" and health["workers"] == 2


def test_kill_9_of_a_worker_mid_job_ends_with_the_job_done_once(redis_pg) -> None:
    victim = redis_pg.add_worker("victim", queues="cpu")
    api = redis_pg.api()
    job = api.submit("sleep", steps=30, step_seconds=0.2)
    wait_for(lambda: api.job(job["id"])["progress"] > 0.1, timeout=60, what="progress")
    victim.kill9()
    redis_pg.add_worker("rescuer", queues="cpu")
    # the reconciler notices the silent heartbeat and queues the job again for the rescuer
    done = api.wait_state(job["id"], ("succeeded", "failed"), timeout=120)
    assert done["state"] == "succeeded", done
    assert done["attempts"] == 2 and done["worker"] == "rescuer"
    events = api.events(job["id"])
    states = [e["payload"]["state"] for e in events if e["type"] == "state"]
    assert states == ["queued", "running", "queued", "running", "succeeded"]
    # done exactly once: a single terminal state, and the final run reported every step
    assert states.count("succeeded") == 1
    time.sleep(1)
    assert api.job(job["id"])["state"] == "succeeded"


def test_the_api_killed_mid_job_loses_nothing_and_a_new_api_finds_every_job(redis_pg) -> None:
    """The API process dies (kill -9) while two workers run jobs; the workers carry on, and
    an API started again reports every accepted job done, once, with its results."""
    from tests.utils.ledger import Ledger
    from tests.utils.services import start_server

    redis_pg.add_worker("w1", queues="cpu")
    redis_pg.add_worker("w2", queues="cpu")
    api = redis_pg.api()
    ledger = Ledger()
    jobs = [ledger.submit(api, "sleep", steps=10, step_seconds=0.2) for _ in range(4)]
    assert all(jobs)
    wait_for(lambda: any(api.job(j["id"])["progress"] > 0 for j in jobs if j), what="progress")
    redis_pg.server.kill9()
    time.sleep(2)  # the workers write on without an API
    server, base = start_server(redis_pg.env, redis_pg.log_dir)
    redis_pg.server = server
    try:
        api = redis_pg.api_at(base)
        for job in jobs:
            assert job is not None
            done = api.wait_state(job["id"], ("succeeded", "failed"), timeout=120)
            assert done["state"] == "succeeded" and done["attempts"] == 1, done
        assert ledger.audit(api).count == 0
    finally:
        server.stop()


def test_one_of_two_workers_killed_mid_training_resumes_on_the_other(redis_pg) -> None:
    """kill -9 of the worker training a tiny `vae` on Redis + PostgreSQL: the other worker
    takes the job from its last checkpoint; it ends once, its model written once."""
    from tests.reliability.test_worker_death import TINY_VAE
    from tests.utils.ledger import Ledger

    workers = {"a": redis_pg.add_worker("a", queues="gpu,cpu")}
    api = redis_pg.api()
    ledger = Ledger()
    job = ledger.submit(api, "vae", **{**TINY_VAE, "output": "pg-vae"})
    assert job is not None
    wait_for(lambda: api.job(job["id"])["progress"] >= 0.25, timeout=180, what="4 steps")
    workers["a"].kill9()
    workers["b"] = redis_pg.add_worker("b", queues="gpu,cpu")
    done = api.wait_state(job["id"], ("succeeded", "failed"), timeout=240)
    assert done["state"] == "succeeded" and done["attempts"] == 2 and done["worker"] == "b"
    logs = [e["payload"]["message"] for e in api.events(job["id"]) if e["type"] == "log"]
    assert any(m.startswith("resumed vae stage at step") for m in logs), logs
    models = Path(redis_pg.env["DIFFLAB_MODELS_DIR"])
    assert (models / "pg-vae" / "vae" / "config.json").is_file()
    assert not (models / ".staging").exists()  # no half-written copy left behind
    assert ledger.audit(api).count == 0

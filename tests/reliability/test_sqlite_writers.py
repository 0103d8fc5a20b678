"""50 concurrent writers on SQLite: no "database is locked", no event lost or numbered twice.

At the same time: 50 processes, each with its own SQLite connection, append events to shared
jobs (the per-job sequence counter is the hottest row there is), 50 HTTP clients submit jobs
through the server, and two workers run those jobs, writing their own events and heartbeats.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.reliability.cluster import Cluster, timer
from tests.reliability.conftest import Recorder

pytestmark = pytest.mark.integration

WRITERS = 50
EVENTS_EACH = 20
SHARED_JOBS = 5


@pytest.mark.timeout(240)
def test_50_concurrent_writers_on_sqlite(cluster: Cluster, reliability: Recorder) -> None:
    from difflab.db.engine import make_engine
    from difflab.db.models import JobEvent
    from difflab.jobs.events import append_event

    reliability.fault(
        f"{WRITERS} processes x {EVENTS_EACH} event transactions (own connections) + "
        f"{WRITERS} concurrent HTTP job submissions + 2 workers, one SQLite file"
    )
    cluster.use_workers(2)
    api = cluster.api()
    key = api.post("/api/v1/users/me/api-keys", json={"name": "load"}).json()["key"]
    # jobs whose event counters the writer threads fight over (cancelled: no worker runs them)
    shared = []
    for _ in range(SHARED_JOBS):
        job = api.submit("sleep", steps=1)
        api.post(f"/api/v1/jobs/{job['id']}/cancel")
        shared.append(job["id"])
    db_url = f"sqlite:///{(cluster.data_dir / 'difflab.sqlite').resolve()}"
    ctx = multiprocessing.get_context("fork")
    go_processes = ctx.Event()
    go_threads = threading.Event()
    failures = ctx.Queue()
    errors: list[str] = []
    submitted: list[str] = []
    lock = threading.Lock()

    def db_writer(i: int) -> None:
        """One writer process: its own engine, EVENTS_EACH transactions of one event each."""
        engine = make_engine(db_url)
        try:
            go_processes.wait(60)
            for n in range(EVENTS_EACH):
                with Session(bind=engine) as s, s.begin():
                    append_event(
                        s, shared[(i + n) % SHARED_JOBS], "log", {"message": f"writer {i}"}
                    )
        except Exception as exc:
            failures.put(f"db writer {i}: {exc}")
        finally:
            engine.dispose()

    def http_writer(i: int) -> None:
        with httpx.Client(base_url=cluster.base, timeout=120) as c:
            try:
                go_threads.wait(60)
                r = c.post(
                    "/api/v1/jobs",
                    json={"kind": "sleep", "params": {"steps": 1, "step_seconds": 0}},
                    headers={"authorization": f"Bearer {key}"},
                )
                if r.status_code != 202:
                    raise RuntimeError(f"{r.status_code} {r.text[:200]}")
                with lock:
                    submitted.append(r.json()["id"])
            except Exception as exc:
                with lock:
                    errors.append(f"http writer {i}: {exc}")

    processes = [ctx.Process(target=db_writer, args=(i,)) for i in range(WRITERS)]
    for p in processes:
        p.start()
    threads = [threading.Thread(target=http_writer, args=(i,)) for i in range(WRITERS)]
    for t in threads:
        t.start()
    with timer() as took:
        go_processes.set()
        go_threads.set()
        for t in threads:
            t.join(timeout=180)
        for p in processes:
            p.join(timeout=180)
    assert not any(t.is_alive() for t in threads), "an HTTP writer hung"
    assert not any(p.is_alive() for p in processes), "a writer process hung"
    while not failures.empty():
        errors.append(failures.get())
    assert [p.exitcode for p in processes] == [0] * WRITERS
    assert errors == [], errors[:5]
    assert len(submitted) == WRITERS

    # every event is there, and every job's sequence numbers are 1..n without gaps or twins
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            for job_id in shared:
                seqs = list(
                    conn.scalars(
                        select(JobEvent.seq).where(JobEvent.job_id == job_id).order_by(JobEvent.seq)
                    )
                )
                assert seqs == list(range(1, len(seqs) + 1))
            payloads = conn.scalars(
                select(JobEvent.payload).where(JobEvent.job_id.in_(shared), JobEvent.type == "log")
            )
            # a worker may claim a shared job before its cancel lands and log that: not ours
            written = Counter(
                int(p["message"].split()[1])
                for p in payloads
                if p.get("message", "").startswith("writer ")
            )
    finally:
        engine.dispose()
    # one log event per writer transaction, none lost, none doubled
    assert written == {i: EVENTS_EACH for i in range(WRITERS)}

    for job_id in submitted:
        api.wait_state(job_id, ("succeeded", "failed", "cancelled"), timeout=180)
    logs = [cluster.server.log_path, *(p.log_path for p in cluster.workers.values())]
    locked = [p.name for p in logs if "database is locked" in Path(p).read_text(errors="replace")]
    assert locked == [], locked
    lost = cluster.jobs_lost(api, submitted)
    states = {api.job(j)["state"] for j in submitted}
    reliability.outcome(
        f"{WRITERS * EVENTS_EACH} events + {WRITERS} jobs written in {took['s']:.1f} s, "
        f"0 'database is locked', seqs dense; jobs ended {sorted(states)}",
        lost,
    )
    assert states == {"succeeded"}
    assert lost == 0

"""The job's event writer (runner.DbSink): what it batches and when it commits."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from difflab.db.engine import session_scope
from difflab.db.models import JobEvent
from difflab.jobs.kinds.diagnostic import SPEC
from difflab.jobs.lifecycle import claim_job, submit_job
from difflab.jobs.runner import DbSink


class CountingSink(DbSink):
    """A DbSink that keeps the size of each batch it stores."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        self.batches: list[int] = []
        super().__init__(*args, **kw)

    def _store(self, items: list[Any]) -> None:
        self.batches.append(len(items))
        super()._store(items)


def _claimed_sink(tmp_path: Path) -> CountingSink:
    with session_scope() as s:
        job, _ = submit_job(s, SPEC, SPEC.params.model_validate({"steps": 1}), None)
        job_id = job.id
    with session_scope() as s:
        claim = claim_job(s, job_id, "w")
    assert claim is not None
    return CountingSink(claim, tmp_path / "artifacts")


def test_a_burst_is_stored_once_per_interval_and_a_lone_event_at_once(
    embedded_env, tmp_path: Path
) -> None:
    sink = _claimed_sink(tmp_path)
    sink.log("alone")  # after a quiet spell: stored without waiting for the interval
    deadline = time.monotonic() + 5
    while not sink.batches and time.monotonic() < deadline:
        time.sleep(0.001)
    assert sink.batches == [1]
    # a generation's steps: events every 2 ms for 0.4 s
    start = time.monotonic()
    n = 0
    while time.monotonic() - start < 0.4:
        sink.progress(n, 10**6)  # a gauge: at most one per PROGRESS_EVERY_S
        sink.log(f"step {n}")
        n += 1
        time.sleep(0.002)
    took = time.monotonic() - start
    sink.close()
    bursts = sink.batches[1:]
    assert sum(bursts) >= n
    # one commit per INTERVAL_S at most (plus the one close() makes)
    assert len(bursts) <= took / DbSink.INTERVAL_S + 2, (bursts, took)
    with session_scope() as s:
        logs = s.scalars(
            select(JobEvent.payload).where(JobEvent.job_id == sink.claim.job_id,
                                           JobEvent.type == "log").order_by(JobEvent.seq)
        ).all()  # fmt: skip
    assert [p["message"] for p in logs] == ["alone"] + [f"step {i}" for i in range(n)]

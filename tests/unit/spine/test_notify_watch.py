"""Who a notification wakes (jobs/notify.py): a job's event streams wake on each of its
notifications; a waiter for the job's end only on those that say it may have ended."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

from difflab.config import get_settings
from difflab.db.engine import session_scope
from difflab.jobs.kinds.diagnostic import SPEC
from difflab.jobs.lifecycle import claim_job, submit_job
from difflab.jobs.notify import END_MARK, Listener


def test_an_end_waiter_sleeps_through_step_events_and_wakes_at_the_end(embedded_env) -> None:
    async def run() -> tuple[list[bool], list[bool]]:
        hub = Listener(get_settings(), poll_s=0.3)
        hub.healthy = True
        hub._loop = asyncio.get_running_loop()  # as start() records it, without the thread
        async with hub.watch("j1") as stream, hub.watch("j1", ends_only=True) as end:
            woken: tuple[list[bool], list[bool]] = ([], [])
            for message in ("j1", "j2" + END_MARK, "j1" + END_MARK):
                hub._deliver(message)  # as the listener thread hands one over
                woken[0].append(await stream.wait())
                woken[1].append(await end.wait())
            return woken

    with ThreadPoolExecutor(1) as pool:  # a loop of its own: the suite's thread may hold one
        stream, end = pool.submit(asyncio.run, run()).result()
    # a step event of j1, j2's end, j1's end; a False is the 0.3 s poll timing out
    assert stream == [True, False, True]
    assert end == [False, False, True]


def test_a_claim_wakes_the_streams_of_its_job(embedded_env) -> None:
    """The running state reaches a job's streams when the claim commits, not at the job's
    first stored event (which may come a step later)."""
    with session_scope() as s:
        job, _ = submit_job(s, SPEC, SPEC.params.model_validate({"steps": 1}), None)
        job_id = job.id

    async def run() -> tuple[bool, float]:
        hub = Listener(get_settings(), poll_s=5.0)  # a poll this long would fail the timing
        hub.start()
        try:
            deadline = time.monotonic() + 10
            while not hub.healthy and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            async with hub.watch(job_id) as stream:

                def claim() -> None:
                    with session_scope() as s:
                        assert claim_job(s, job_id, "w1") is not None

                await asyncio.to_thread(claim)
                t0 = time.monotonic()
                woken = await stream.wait()
                return woken, time.monotonic() - t0
        finally:
            hub.stop()

    with ThreadPoolExecutor(1) as pool:
        woken, waited = pool.submit(asyncio.run, run()).result()
    assert woken and waited < 2.0

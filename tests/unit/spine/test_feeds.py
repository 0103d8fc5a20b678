"""Event streams share one reader per job (api/feeds.py): every stream still receives every
event in order, wherever it starts, and the database is read once per round, not once per
stream."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from difflab.api import feeds
from difflab.db.engine import session_scope
from difflab.db.models import Job
from difflab.jobs.events import append_event
from tests.unit.conftest import MakeClient
from tests.unit.security.helpers import ALICE, api_key, submit_sleep

T = TypeVar("T")


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run on a loop of its own in a thread of its own (the suite's thread may hold a loop)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _append(job_id: str, n: int, end: str | None = None) -> None:
    with session_scope() as s:
        for i in range(n):
            append_event(s, job_id, "log", {"message": f"line {i}"})
        if end:
            s.execute(update(Job).where(Job.id == job_id).values(state=end))
            append_event(s, job_id, "state", {"state": end})


async def _collect(job_id: str, after: int) -> tuple[list[int], feeds.End]:
    seqs = []
    async for item in feeds.follow(job_id, after):
        if isinstance(item, feeds.End):
            return seqs, item
        assert item, "an empty batch"
        seqs += [e.seq for e in item]
    raise AssertionError("the stream ended without an End")


@pytest.fixture
def client(make_client: MakeClient) -> TestClient:
    return make_client(event_poll_s=0.05)


def test_many_streams_get_every_event_from_one_reader(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = submit_sleep(client, api_key(client, ALICE), steps=1)
    reads = {"n": 0}
    real = feeds.events_since

    def counted(*args: object, **kw: object) -> object:
        reads["n"] += 1
        return real(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(feeds, "events_since", counted)
    streams, rounds = 40, 5

    async def scenario() -> list[tuple[list[int], feeds.End]]:
        followers = [asyncio.create_task(_collect(job["id"], 0)) for _ in range(streams)]
        await asyncio.sleep(0.2)
        assert feeds.feeds_open() == 1
        for r in range(rounds):  # the worker writes, round after round
            await asyncio.to_thread(_append, job["id"], 7, "succeeded" if r == rounds - 1 else None)
            await asyncio.sleep(0.1)
        return await asyncio.gather(*followers)

    results = _run(scenario())
    with session_scope() as s:
        last = s.get(Job, job["id"]).last_seq
    for seqs, end in results:
        assert seqs == list(range(1, last + 1))  # all, in order, from the start
        assert (end.state, end.last_seq) == ("succeeded", last)
    # each stream read the events before the feed started once; the feed read the rest
    assert reads["n"] < streams + 4 * rounds + 40, reads
    assert feeds.feeds_open() == 0  # the last stream stopped the feed


def test_a_stream_far_behind_reads_the_gap_from_the_database(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(feeds, "KEEP", 10)
    job = submit_sleep(client, api_key(client, ALICE), steps=1)
    _append(job["id"], 30)

    async def scenario() -> tuple[list[int], list[int], feeds.End, feeds.End]:
        early = asyncio.create_task(_collect(job["id"], 5))
        await asyncio.sleep(0.1)
        await asyncio.to_thread(_append, job["id"], 2500)  # past KEEP and past a page
        late = asyncio.create_task(_collect(job["id"], 3))
        await asyncio.sleep(0.2)
        await asyncio.to_thread(_append, job["id"], 3, "failed")
        (a, end_a), (b, end_b) = await asyncio.gather(early, late)
        return a, b, end_a, end_b

    a, b, end_a, end_b = _run(scenario())
    with session_scope() as s:
        last = s.get(Job, job["id"]).last_seq
    assert a == list(range(6, last + 1)) and b == list(range(4, last + 1))
    assert end_a.state == end_b.state == "failed"


def test_an_ended_job_streams_its_events_and_ends_at_once(client: TestClient) -> None:
    job = submit_sleep(client, api_key(client, ALICE), steps=1)
    _append(job["id"], 4, "cancelled")
    seqs, end = _run(_collect(job["id"], 2))
    with session_scope() as s:
        last = s.get(Job, job["id"]).last_seq
    assert seqs == list(range(3, last + 1)) and end == feeds.End("cancelled", last)


def test_a_stream_opening_on_a_running_job_gets_its_catch_up_in_one_batch(
    client: TestClient,
) -> None:
    """What a stream has not sent yet is handed over at once (one write to the client), so
    hundreds of streams opening on a long run do not send its history one event at a time."""
    job = submit_sleep(client, api_key(client, ALICE), steps=1)
    _append(job["id"], 40)

    async def scenario() -> list[list[int]]:
        batches: list[list[int]] = []

        async def first_batches() -> None:
            async for item in feeds.follow(job["id"], 0):
                if isinstance(item, feeds.End):
                    return
                batches.append([e.seq for e in item])

        task = asyncio.create_task(first_batches())
        await asyncio.sleep(0.3)
        await asyncio.to_thread(_append, job["id"], 1, "succeeded")
        await asyncio.wait_for(task, 10)
        return batches

    batches = _run(scenario())
    with session_scope() as s:
        last = s.get(Job, job["id"]).last_seq
    assert [seq for b in batches for seq in b] == list(range(1, last + 1))
    assert len(batches[0]) >= 40, batches  # the history in one batch
    assert len(batches) <= 3, batches  # then what the end wrote

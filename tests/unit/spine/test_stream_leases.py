"""The per-user event-stream cap, counted in the database (api/streams.py): two processes'
lease holders share one cap, a closed stream frees its slot, and a lease its process stopped
renewing (the process died) stops counting once it expires."""

from __future__ import annotations

import asyncio
import contextlib
import time

from sqlalchemy import select

from difflab.accounts import create_user
from difflab.api.streams import StreamLeases, open_streams
from difflab.db.engine import read_scope, session_scope
from difflab.db.models import StreamLease


def _user(name: str) -> int:
    with session_scope() as s:
        return create_user(s, name, "tulip-passphrase").id


def _open(user_id: int) -> int:
    with read_scope() as s:
        return open_streams(s, user_id)


def _rows() -> int:
    with read_scope() as s:
        return len(list(s.scalars(select(StreamLease.id))))


def _wait(predicate, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)


def test_the_cap_holds_across_processes_and_a_closed_stream_frees_its_slot(embedded_env) -> None:
    alice, bob = _user("alice"), _user("bob")
    first, second = StreamLeases(), StreamLeases()  # as two API processes hold them
    a = first.acquire(alice, cap=2)
    b = second.acquire(alice, cap=2)
    assert a is not None and b is not None and _open(alice) == 2
    assert first.acquire(alice, cap=2) is None and second.acquire(alice, cap=2) is None
    c = second.acquire(bob, cap=2)  # another user's cap is their own
    assert c is not None
    first.release(a)
    _wait(lambda: _open(alice) == 1)
    d = second.acquire(alice, cap=2)
    assert first.held() == 0 and d is not None and second.held() == 3
    for lease in (b, c, d):
        second.release(lease)
    _wait(lambda: _rows() == 0)


def test_a_lease_no_one_renews_expires_and_a_renewed_one_does_not(embedded_env) -> None:
    alice = _user("alice")
    dead = StreamLeases(lease_s=0.5, renew_s=3600)  # its process "dies": no renewal comes
    alive = StreamLeases(lease_s=0.5, renew_s=0.1)
    assert dead.acquire(alice, cap=2) is not None
    kept = alive.acquire(alice, cap=2)
    assert kept is not None and alive.acquire(alice, cap=2) is None
    time.sleep(1.0)  # the dead one's lease has expired; the live one was renewed meanwhile
    assert _open(alice) == 1
    again = alive.acquire(alice, cap=2)  # the expired row is deleted on the way
    assert again is not None and _rows() == 2
    alive.release(kept)
    alive.release(again)
    _wait(lambda: _rows() == 0)


def test_a_stream_cancelled_while_it_takes_its_lease_gives_it_back(embedded_env) -> None:
    alice = _user("alice")
    leases = StreamLeases()

    async def cancelled_at_once() -> None:
        task = asyncio.create_task(leases.acquire_async(alice, cap=2))
        await asyncio.sleep(0)  # the acquire is running in its thread
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.5)  # the acquire finishes; its lease is handed back

    asyncio.run(cancelled_at_once())
    _wait(lambda: _open(alice) == 0)
    assert leases.held() == 0

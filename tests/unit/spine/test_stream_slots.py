"""A user's stream slots are shared by every API process: on a file (SQLite) and as
PostgreSQL advisory locks; a process that dies lets go of its slots."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid

import sqlalchemy as sa

from difflab.api.stream_slots import (
    FileSlotLocks,
    PostgresSlotLocks,
    StreamSlots,
    slot_key,
)
from tests.utils.services import PG_ADMIN_URL

HOLDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from difflab.api.stream_slots import FileSlotLocks, StreamSlots
    slots = StreamSlots(FileSlotLocks(Path(sys.argv[1])))
    got = [slots.acquire(int(sys.argv[2]), int(sys.argv[3])) for _ in range(int(sys.argv[4]))]
    print(" ".join(str(g) for g in got), flush=True)
    sys.stdin.readline()  # hold them until told, or killed
    """
)


def _holder(directory, user: int, cap: int, n: int) -> tuple[subprocess.Popen[str], list[str]]:
    """Another process that takes `n` of the user's slots and holds them."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(directory), str(user), str(cap), str(n)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    return proc, proc.stdout.readline().split()


def test_file_slots_are_counted_across_processes_and_freed_when_one_dies(tmp_path) -> None:
    here = StreamSlots(FileSlotLocks(tmp_path))
    first = here.acquire(7, 3)
    assert first is not None and here.held(7) == 1
    other, got = _holder(tmp_path, 7, 3, 3)  # the other process finds two free, then none
    try:
        assert sorted(g for g in got if g != "None") == sorted({"0", "1", "2"} - {str(first)})
        assert got.count("None") == 1
        assert here.acquire(7, 3) is None  # all three taken, one here and two there
        assert here.acquire(8, 3) is not None  # another user's slots are their own
    finally:
        other.kill()
        other.wait()
    # the kernel let go of the dead process's locks
    assert here.acquire(7, 3) is not None and here.acquire(7, 3) is not None
    assert here.acquire(7, 3) is None and here.held(7) == 3
    here.close()


def test_a_released_slot_is_taken_again_and_release_only_frees_its_own(tmp_path) -> None:
    here = StreamSlots(FileSlotLocks(tmp_path))
    a, b = here.acquire(1, 2), here.acquire(1, 2)
    assert {a, b} == {0, 1} and here.acquire(1, 2) is None
    assert a is not None and b is not None
    here.release(1, a)
    here.release(1, a)  # twice: nothing more is freed
    assert here.held(1) == 1
    other, got = _holder(tmp_path, 1, 2, 2)  # one free slot, seen from another process
    try:
        assert got == [str(a), "None"]
    finally:
        other.stdin.close()  # type: ignore[union-attr]
        other.wait()
    here.release(1, b)
    assert here.held(1) == 0
    assert isinstance(here.locks, FileSlotLocks) and not here.locks._fds  # the file is closed
    here.close()


def test_postgres_slots_are_counted_across_connections_and_a_lost_one_frees_them() -> None:
    user = uuid.uuid4().int % (1 << 31)  # no other test's user
    a, b = (
        StreamSlots(PostgresSlotLocks(PG_ADMIN_URL)),
        StreamSlots(PostgresSlotLocks(PG_ADMIN_URL)),
    )
    try:
        got_a = [a.acquire(user, 3), a.acquire(user, 3)]
        assert None not in got_a and len(set(got_a)) == 2
        last = b.acquire(user, 3)
        assert last is not None and last not in got_a
        assert b.acquire(user, 3) is None and a.acquire(user, 3) is None
        b.release(user, last)
        assert a.acquire(user, 3) == last
        # a's connection dies (a restarted database, a killed backend): its locks go with it
        locks = a.locks
        assert isinstance(locks, PostgresSlotLocks)
        pid = locks._conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        admin.dispose()
        assert [b.acquire(user, 3) for _ in range(4)].count(None) == 1
    finally:
        a.close()
        b.close()


def test_a_lock_that_cannot_be_read_fails_open_for_this_process() -> None:
    """The database is down: the process still caps its own streams, and admits them."""
    slots = StreamSlots(PostgresSlotLocks("postgresql+psycopg://nobody@127.0.0.1:1/none"))
    assert slots.acquire(3, 2) is not None and slots.acquire(3, 2) is not None
    assert slots.acquire(3, 2) is None
    slots.close()


def test_slot_keys_are_distinct_per_user_and_slot() -> None:
    keys = {slot_key(u, s) for u in (0, 1, 2**32 - 1) for s in (0, 1, 2**16 - 1)}
    assert len(keys) == 9
    assert all(-(2**63) <= k < 2**63 for k in keys)


def test_a_slot_released_later_is_let_go_at_the_next_acquire(tmp_path) -> None:
    """A finalizer's release only queues (the collector may run it anywhere); the next call
    lets go of it, so a stream whose response never started does not keep its slot."""
    slots = StreamSlots(FileSlotLocks(tmp_path))
    a = slots.acquire(5, 1)
    assert a == 0 and slots.acquire(5, 1) is None
    slots.release_later(5, a)
    slots.release_later(5, a)  # twice: once let go
    assert slots.acquire(5, 1) == 0 and slots.held(5) == 1
    slots.close()

"""Duties run in one API process: the leases that elect it, on PostgreSQL and on a file."""

from __future__ import annotations

import threading
import uuid

import sqlalchemy as sa

from difflab.jobs.duties import DutyThread, FileLease, PostgresLease
from tests.utils.services import PG_ADMIN_URL, wait_for


def test_a_file_lease_has_one_holder_until_released(tmp_path) -> None:
    a, b = FileLease(tmp_path / "duties.lock"), FileLease(tmp_path / "duties.lock")
    assert a.try_acquire()
    assert a.try_acquire()  # holding it already
    assert not b.try_acquire()
    a.release()
    assert b.try_acquire()
    assert not a.try_acquire()
    b.release()


def test_a_postgres_lease_has_one_holder_and_a_lost_connection_frees_it() -> None:
    name = f"test-duties-{uuid.uuid4().hex}"
    a, b = PostgresLease(PG_ADMIN_URL, name), PostgresLease(PG_ADMIN_URL, name)
    try:
        assert a.try_acquire()
        assert not b.try_acquire()
        a.release()
        assert b.try_acquire()
        # the holder's connection dies (a restarted database, a killed backend): it no longer
        # leads, and another takes the lock
        pid = b._conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        admin.dispose()
        assert not b.still_held()
        assert a.try_acquire()
    finally:
        a.release()
        b.release()


def test_only_the_leading_thread_runs_the_duty_and_another_takes_over(tmp_path) -> None:
    runs = {"a": 0, "b": 0}
    lock = threading.Lock()

    def duty(name: str) -> object:
        with lock:
            runs[name] += 1
        return None

    path = tmp_path / "duties.lock"
    a = DutyThread(FileLease(path), lambda: duty("a"), 0.05)
    a.start()
    wait_for(lambda: a.leading, timeout=5, what="the first thread to lead")
    b = DutyThread(FileLease(path), lambda: duty("b"), 0.05)
    b.start()
    try:
        wait_for(lambda: runs["a"] >= 5, timeout=5, what="the leader's passes")
        assert runs["b"] == 0 and not b.leading
        a.stop()  # its process ends: the lock goes with it
        wait_for(lambda: runs["b"] >= 3, timeout=5, what="the other thread to take over")
        assert b.leading
    finally:
        a.stop()
        b.stop()

"""Duties that run once per deployment, however many API processes serve it.

Every API process starts a `DutyThread`; only the one that holds the duty lock runs the duties
(today the reconciler, jobs/reconciler.py). The others try to take the lock every period, so
when its holder dies (its database connection or file descriptor closes with it), another
process takes the duties over within one period.

The lock is what the deployment already shares:
- PostgreSQL: a session-level advisory lock, held by one connection of its own for as long as
  the process leads. A lost connection loses the lock; the process notices at its next check
  and tries again like the others.
- SQLite (embedded: every process on one machine): an exclusive flock on
  `DATA_DIR/duties.lock`, released by the kernel when the process ends.

Notifications need no election: each API process must hear them itself to wake its own event
streams (jobs/notify.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)

LOCK_NAME = "difflab:duties"


def _lock_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class FileLease:
    """An exclusive, non-blocking flock on one file: held while this object holds it open."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[bytes] | None = None

    def try_acquire(self) -> bool:
        if self._file is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = open(self.path, "a+b")  # noqa: SIM115 (held open while leading)
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            return False
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()).encode())
        f.flush()
        self._file = f
        return True

    def still_held(self) -> bool:
        return self._file is not None

    def release(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def lock_engine(url: str, purpose: str) -> Engine:
    """An engine for connections that hold advisory locks, outside the request pool, named
    after their purpose and process so `pg_stat_activity` shows who holds what."""
    return create_engine(
        url,
        poolclass=NullPool,
        connect_args={"application_name": f"difflab-{purpose}-{os.getpid()}"},
    )


class PostgresLease:
    """A session-level advisory lock on a connection of its own (outside the request pool)."""

    def __init__(self, url: str, name: str = LOCK_NAME) -> None:
        self.key = _lock_key(name)
        self._engine = lock_engine(url, "duties")
        self._conn: Any = None

    def try_acquire(self) -> bool:
        if self._conn is not None and self.still_held():
            return True
        self._drop()
        conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = bool(
                conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar()
            )
        except Exception:
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def still_held(self) -> bool:
        """True while the connection that holds the lock is alive."""
        if self._conn is None:
            return False
        try:
            self._conn.execute(text("SELECT 1"))
        except Exception:
            self._drop()
            return False
        return True

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()  # closing the session ends its advisory locks
            self._conn = None

    def release(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
        self._drop()
        self._engine.dispose()


Lease = FileLease | PostgresLease


def lease_for(database_url: str, data_dir: Path) -> Lease:
    if database_url.startswith("postgresql"):
        return PostgresLease(database_url)
    return FileLease(data_dir / "duties.lock")


class DutyThread:
    """Runs `duty` every `every_s` seconds in the one API process that holds the lease."""

    def __init__(self, lease: Lease, duty: Callable[[], object], every_s: float) -> None:
        self.lease, self.duty, self.every_s = lease, duty, every_s
        self.leading = False
        self.runs = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="duties", daemon=True)

    def _step(self, run: bool = True) -> None:
        try:
            was = self.leading
            self.leading = self.lease.still_held() or self.lease.try_acquire()
        except Exception as exc:  # the database is down: nobody leads from here for now
            self.leading = False
            log.warning("cannot take the duty lock: %s", exc)
            return
        if self.leading != was:
            log.info("process %d %s the duties", os.getpid(), "runs" if self.leading else "left")
        if self.leading and run:
            try:
                self.duty()
                self.runs += 1
            except Exception:
                log.exception("a duty pass failed")

    def _loop(self) -> None:
        self._step(run=False)  # lead (or not) at once; the first pass after one period
        while not self._stop.wait(self.every_s):
            self._step()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.lease.release()
        self.leading = False

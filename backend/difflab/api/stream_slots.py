"""Each user's open event streams, counted across every API process of the deployment.

`MAX_STREAMS_PER_USER` gives a user that many slots. An open stream holds one slot, as a lock
in what the deployment's processes already share, the same two places the duty lock lives
(jobs/duties.py):
- PostgreSQL: a session-level advisory lock per slot, on one connection each process keeps
  for them (outside the request pool).
- SQLite (embedded: every process on one machine): a one-byte record lock (`lockf`) per slot
  in `DATA_DIR/streams/<user id>.slots`.

Opening a stream tries the user's slots from a random one on and takes the first free slot;
none free answers 429. Nothing is written: a slot is free again when its stream ends, and
when its process dies the kernel (or PostgreSQL, with the connection) lets go of its locks,
so a crash never leaves a user locked out. Both kinds of lock are per process (a process
taking its own lock again succeeds), so each process also remembers which slots it holds.

When the PostgreSQL connection is lost, the locks it held are gone with it: the process
counts the streams it holds itself and takes new locks on a new connection. Until its old
streams end, the deployment may then admit a few more than the cap; it never refuses a
stream for a lock it cannot read (it fails open, with a warning in the log).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import random
import threading
from collections import deque
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import text

from difflab.jobs.duties import lock_engine

log = logging.getLogger(__name__)

# The advisory lock key of (user, slot): this namespace in the top 15 bits, the user id in the
# next 32 and the slot in the low 16 (MAX_STREAMS_PER_USER is at most 10000).
_NAMESPACE = 0x5D1F
MAX_SLOTS = 1 << 16


def slot_key(user_id: int, slot: int) -> int:
    """The 64-bit advisory lock key of a user's slot (signed, as PostgreSQL's bigint)."""
    if not 0 <= slot < MAX_SLOTS or not 0 <= user_id < 1 << 32:
        raise ValueError(f"no lock key for user {user_id}, slot {slot}")
    return (_NAMESPACE << 48) | (user_id << 16) | slot


class SlotLocks(Protocol):
    """Cross-process locks on (user, slot); each call is made under StreamSlots' lock."""

    def try_lock(self, user_id: int, slot: int) -> bool: ...

    def unlock(self, user_id: int, slot: int) -> None: ...

    def idle(self, user_id: int) -> None:
        """This process holds none of the user's slots now."""

    def close(self) -> None: ...


class FileSlotLocks:
    """Record locks on byte `slot` of `<directory>/<user id>.slots` (released by the kernel
    when the process ends). One descriptor per user while the process holds a slot of theirs:
    POSIX record locks end when their process closes any descriptor of the file, so it is
    closed only once the process holds none of them (`idle`)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._fds: dict[int, int] = {}

    def _fd(self, user_id: int) -> int:
        fd = self._fds.get(user_id)
        if fd is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.directory / f"{int(user_id)}.slots", os.O_RDWR | os.O_CREAT, 0o600)
            self._fds[user_id] = fd
        return fd

    def try_lock(self, user_id: int, slot: int) -> bool:
        fd = self._fd(user_id)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, slot, os.SEEK_SET)
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EAGAIN):  # another process holds it
                return False
            raise
        return True

    def unlock(self, user_id: int, slot: int) -> None:
        fd = self._fds.get(user_id)
        if fd is not None:
            fcntl.lockf(fd, fcntl.LOCK_UN, 1, slot, os.SEEK_SET)

    def idle(self, user_id: int) -> None:
        fd = self._fds.pop(user_id, None)
        if fd is not None:
            os.close(fd)

    def close(self) -> None:
        for fd in self._fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds.clear()


class PostgresSlotLocks:
    """Session-level advisory locks on one connection of this process's own, opened when the
    first stream asks (so a forked process never shares its parent's)."""

    def __init__(self, url: str) -> None:
        self._engine = lock_engine(url, "streams")
        self._conn: Any = None

    def _connection(self) -> Any:
        if self._conn is None:
            self._conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self._conn

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()  # closing the session ends its advisory locks
            self._conn = None

    def try_lock(self, user_id: int, slot: int) -> bool:
        try:
            got = self._connection().execute(
                text("SELECT pg_try_advisory_lock(:k)"), {"k": slot_key(user_id, slot)}
            )
            return bool(got.scalar())
        except Exception:
            self._drop()  # the next stream tries a new connection
            raise

    def unlock(self, user_id: int, slot: int) -> None:
        if self._conn is None:
            return  # its connection was lost: the lock went with it
        try:
            self._conn.execute(
                text("SELECT pg_advisory_unlock(:k)"), {"k": slot_key(user_id, slot)}
            )
        except Exception:
            self._drop()
            raise

    def idle(self, user_id: int) -> None:
        pass

    def close(self) -> None:
        self._drop()
        self._engine.dispose()


class StreamSlots:
    """The slots this process holds, per user, over the deployment's slot locks."""

    def __init__(self, locks: SlotLocks) -> None:
        self.locks = locks
        self._held: dict[int, set[int]] = {}
        self._lock = threading.Lock()  # one caller at a time on the locks (one connection)
        self._orphans: deque[tuple[int, int]] = deque()  # see release_later

    def held(self, user_id: int) -> int:
        """The user's streams open in this process."""
        with self._lock:
            return len(self._held.get(user_id, ()))

    def acquire(self, user_id: int, cap: int) -> int | None:
        """A free slot of the user's `cap`, now held by this process; None when all are taken.
        Blocking (a database round trip per slot tried): call it on a thread."""
        if cap > MAX_SLOTS:
            raise ValueError(f"at most {MAX_SLOTS} streams per user")
        with self._lock:
            self._drain()
            mine = self._held.setdefault(user_id, set())
            if len(mine) >= cap:
                return None
            first = random.randrange(cap)  # spread the processes over the slots
            for k in range(cap):
                slot = (first + k) % cap
                if slot in mine:
                    continue
                try:
                    got = self.locks.try_lock(user_id, slot)
                except Exception as exc:  # fail open: the cap holds in this process only
                    log.warning("stream slots unavailable (%s): counting this process only", exc)
                    got = True
                if got:
                    mine.add(slot)
                    return slot
            if not mine:
                del self._held[user_id]
                self.locks.idle(user_id)
            return None

    def release(self, user_id: int, slot: int) -> None:
        with self._lock:
            self._drain()
            self._release(user_id, slot)

    def release_later(self, user_id: int, slot: int) -> None:
        """Let go of a slot at this process's next acquire or release. For a finalizer: the
        garbage collector may run it on any thread, even one inside acquire() holding the
        lock and the connection, so it only queues (a deque's append is atomic)."""
        self._orphans.append((user_id, slot))

    def _drain(self) -> None:
        while self._orphans:
            self._release(*self._orphans.popleft())

    def _release(self, user_id: int, slot: int) -> None:
        mine = self._held.get(user_id)
        if mine is None or slot not in mine:
            return
        mine.discard(slot)
        try:
            self.locks.unlock(user_id, slot)
        except Exception as exc:
            log.warning("could not release a stream slot (%s)", exc)
        if not mine:
            del self._held[user_id]
            self.locks.idle(user_id)

    def close(self) -> None:
        with self._lock:
            self._held.clear()
            self.locks.close()


def stream_slots_for(database_url: str, data_dir: Path) -> StreamSlots:
    if database_url.startswith("postgresql"):
        return StreamSlots(PostgresSlotLocks(database_url))
    return StreamSlots(FileSlotLocks(data_dir / "streams"))


__all__ = [
    "FileSlotLocks",
    "PostgresSlotLocks",
    "StreamSlots",
    "slot_key",
    "stream_slots_for",
]

"""The per-user cap on open event streams, counted in the database so it holds across API
processes (`DIFFLAB_API_PROCESSES`) as it does in one.

Each open stream holds a lease row (db.models.StreamLease). A process takes one as its stream
starts (`acquire`: the user's live leases are counted and the new one inserted in one
transaction, which takes turns per user), renews the leases of its open streams every
RENEW_S from a thread of its own, and deletes each as its stream ends (`release`, handed to
that thread's executor so a stream being cancelled never waits on the database). A process
that dies leaves leases no one renews: they stop counting LEASE_S after their last renewal, so
a crash costs the user slots for a minute at most and never locks them out for good.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from difflab.db.engine import advisory_lock, session_scope
from difflab.db.models import StreamLease, utcnow

log = logging.getLogger(__name__)

LEASE_S = 60.0  # a lease counts this long after its last renewal
RENEW_S = 20.0  # how often a process renews the leases of its open streams


def open_streams(session: Session, user_id: int) -> int:
    """The user's open event streams, in every API process."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(StreamLease)
            .where(StreamLease.user_id == user_id, StreamLease.expires_at > utcnow())
        )
        or 0
    )


class StreamLeases:
    """This process's leases: taking, renewing and giving them back."""

    def __init__(self, lease_s: float = LEASE_S, renew_s: float = RENEW_S) -> None:
        self.lease_s, self.renew_s = lease_s, renew_s
        self._mine: set[int] = set()
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="stream-leases")
        self._renewer: threading.Thread | None = None

    def acquire(self, user_id: int, cap: int) -> int | None:
        """A new lease for one of the user's streams, or None when they hold `cap` already."""
        now = utcnow()
        with session_scope() as session:
            advisory_lock(session, "streams", str(user_id))  # count and insert take turns
            session.execute(delete(StreamLease).where(StreamLease.expires_at <= now))
            if open_streams(session, user_id) >= cap:
                return None
            lease = StreamLease(user_id=user_id, expires_at=now + timedelta(seconds=self.lease_s))
            session.add(lease)
            session.flush()
            lease_id = lease.id
        with self._lock:
            self._mine.add(lease_id)
            if self._renewer is None:
                self._renewer = threading.Thread(
                    target=self._renew_forever, name="stream-lease-renewer", daemon=True
                )
                self._renewer.start()
        return lease_id

    async def acquire_async(self, user_id: int, cap: int) -> int | None:
        """`acquire` off the event loop. A caller cancelled while it runs gives the lease back
        as soon as it is taken, so a stream that never started holds no slot."""
        future = asyncio.get_running_loop().run_in_executor(
            self._executor, self.acquire, user_id, cap
        )
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            future.add_done_callback(self._release_taken)
            raise

    def _release_taken(self, future: asyncio.Future[int | None]) -> None:
        if not future.cancelled() and future.exception() is None:
            lease_id = future.result()
            if lease_id is not None:
                self.release(lease_id)

    def release(self, lease_id: int) -> None:
        """Give a lease back: it stops being renewed at once and its row is deleted on a
        thread (never waiting here); if that delete fails, the lease expires on its own."""
        with self._lock:
            self._mine.discard(lease_id)
        self._executor.submit(self._delete, lease_id)

    @staticmethod
    def _delete(lease_id: int) -> None:
        try:
            with session_scope() as session:
                session.execute(delete(StreamLease).where(StreamLease.id == lease_id))
        except Exception as exc:  # it expires LEASE_S after its last renewal
            log.warning("stream lease %s not deleted: %s", lease_id, exc)

    def renew(self) -> int:
        """Extend the leases of this process's open streams; how many it renewed."""
        with self._lock:
            mine = sorted(self._mine)
        if not mine:
            return 0
        until = utcnow() + timedelta(seconds=self.lease_s)
        with session_scope() as session:
            for start in range(0, len(mine), 500):
                session.execute(
                    update(StreamLease)
                    .where(StreamLease.id.in_(mine[start : start + 500]))
                    .values(expires_at=until)
                )
        return len(mine)

    def held(self) -> int:
        """Leases this process holds."""
        with self._lock:
            return len(self._mine)

    def _renew_forever(self) -> None:
        """Renew every RENEW_S while this process holds leases; the thread ends when it holds
        none (the next acquire starts another)."""
        while True:
            time.sleep(self.renew_s)
            with self._lock:
                if not self._mine:
                    self._renewer = None
                    return
            try:
                self.renew()
            except Exception as exc:  # the database is down: the next round tries again
                log.warning("stream leases not renewed: %s", exc)


LEASES = StreamLeases()

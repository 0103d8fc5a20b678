"""The embedded broker: kombu's SQLAlchemy transport, woken when a job is submitted.

kombu's virtual transports poll: between empty polls its SQLAlchemy transport sleeps a whole
second (and passes transport options straight to create_engine, so the interval can't be set
there). Polling often keeps a job's start latency low but costs an idle worker a tenth of a
core. This subclass sleeps on a doorbell instead (jobs/notify.py: a UDP port the API rings
after committing a job), so a job starts within milliseconds of its commit, and still polls
every POLL_S in case a ring is lost. Registered as `dlsqla+sqlite://`.

Its database file (DATA_DIR/broker.sqlite) is opened as the main one is: write-ahead log and
synchronous=NORMAL. kombu's engine would take SQLite's defaults (a rollback journal, fsync on
every commit), so each publish and each delivery waited on the disk, several fsyncs at a time,
on the path from submit to a running job. NORMAL in WAL mode never corrupts the file; a power
cut may forget the last messages, and the reconciler publishes again any job queued longer
than REQUEUE_AFTER_S whose message is gone (jobs/reconciler.py), as after any lost message.
"""

from __future__ import annotations

from queue import Empty
from time import monotonic
from typing import Any

from kombu.transport import TRANSPORT_ALIASES
from kombu.transport.sqlalchemy import Channel as SQLAlchemyChannel
from kombu.transport.sqlalchemy import Transport as SQLAlchemyTransport
from kombu.utils.objects import cached_property
from sqlalchemy import Engine, event

from difflab.config import get_settings
from difflab.db.engine import sqlite_wal
from difflab.jobs.notify import Doorbell

SCHEME = "dlsqla"
POLL_S = 1.0


class Channel(SQLAlchemyChannel):  # type: ignore[misc]
    def _engine_from_config(self) -> Engine:
        engine: Engine = super()._engine_from_config()
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", lambda conn, _record: sqlite_wal(conn))
        return engine


class Transport(SQLAlchemyTransport):  # type: ignore[misc]
    Channel = Channel
    polling_interval = POLL_S

    @cached_property
    def doorbell(self) -> Doorbell:
        return Doorbell(get_settings().data_dir / "notify")

    def drain_events(self, connection: Any, timeout: float | None = None) -> None:
        # kombu's virtual Transport.drain_events, with the sleep replaced by the doorbell
        time_start = monotonic()
        get = self.cycle.get
        interval = self.polling_interval
        if timeout and interval > timeout:
            interval = timeout
        while True:
            try:
                get(self._deliver, timeout=timeout)
            except Empty:
                if timeout is not None and monotonic() - time_start >= timeout:
                    raise TimeoutError() from None
                self.doorbell.wait(interval)
            else:
                break


def register() -> None:
    TRANSPORT_ALIASES.setdefault(SCHEME, f"{__name__}:Transport")

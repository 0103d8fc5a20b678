"""The embedded broker: kombu's SQLAlchemy transport, polled often enough for interactive use.

kombu's virtual transports poll; its SQLAlchemy transport waits a whole second between polls
and passes transport options straight to create_engine, so the interval can't be set there.
This subclass polls every 20 ms, which keeps a job's start latency far below a second (a
poll is one indexed SELECT on the broker's own SQLite file). Registered as `dlsqla+sqlite://`.
"""

from __future__ import annotations

from kombu.transport import TRANSPORT_ALIASES
from kombu.transport.sqlalchemy import Transport as SQLAlchemyTransport

SCHEME = "dlsqla"


class Transport(SQLAlchemyTransport):  # type: ignore[misc]
    polling_interval = 0.02


def register() -> None:
    TRANSPORT_ALIASES.setdefault(SCHEME, f"{__name__}:Transport")

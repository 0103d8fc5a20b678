"""Engine and sessions. SQLite gets WAL and a busy timeout so many writers wait, not fail."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from difflab.config import get_settings

READ_ONLY = "difflab_read_only"  # an execution option: this session only reads


PG_CONNECTIONS = 40  # PostgreSQL connections the API processes of one `serve` hold at most


def sqlite_wal(dbapi_conn: Any) -> None:
    """How difflab opens every SQLite file it writes (the database, the embedded broker's):
    write-ahead log, so readers never wait for the writer; synchronous=NORMAL, no fsync per
    commit (never corrupts; a power cut may forget the last commits); writers wait up to 30 s
    for the lock instead of failing."""
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def make_engine(url: str, processes: int = 1) -> Engine:
    """`processes`: how many API processes share the database's connection budget (on
    PostgreSQL each gets an equal share of PG_CONNECTIONS, so API_PROCESSES=4 stays within a
    default server's 100 connections beside the workers)."""
    if url.startswith("sqlite"):
        # a pool as large as the request threadpool (anyio's 40): a connection made per
        # request past the pool would run the pragmas below every time
        engine = create_engine(
            url,
            connect_args={"timeout": 30, "check_same_thread": False},
            pool_size=40,
            max_overflow=20,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # SQLAlchemy's "begin" event issues BEGIN
            sqlite_wal(dbapi_conn)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        # pysqlite's own transaction handling defers BEGIN; take the write lock at BEGIN so
        # two writers queue on busy_timeout instead of failing with "database is locked".
        # Readers (read_session) begin deferred: WAL lets them all read at once, beside the
        # one writer, instead of queueing behind it.
        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            deferred = conn.get_execution_options().get(READ_ONLY, False)
            # on the driver's connection: the same statement, without SQLAlchemy's execution
            # machinery around it on every transaction
            conn.connection.driver_connection.execute("BEGIN" if deferred else "BEGIN IMMEDIATE")

        return engine
    share = max(2, PG_CONNECTIONS // (2 * max(1, processes)))
    return create_engine(url, pool_pre_ping=True, pool_size=share, max_overflow=share)


@lru_cache
def get_engine() -> Engine:
    settings = get_settings()
    if settings.sqlalchemy_url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    return make_engine(settings.sqlalchemy_url, settings.api_processes)


@lru_cache
def _sessionmaker() -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(), expire_on_commit=False)


def new_session() -> Session:
    return _sessionmaker()()


@lru_cache
def _read_sessionmaker() -> sessionmaker[Session]:
    return sessionmaker(
        bind=get_engine().execution_options(**{READ_ONLY: True}), expire_on_commit=False
    )


def read_session() -> Session:
    """A session for work that only reads (GET requests). On SQLite its transactions begin
    deferred, so readers never wait for the write lock; a write in one may fail with
    "database is locked" when another writer committed since its first read, so what a read
    path must write it writes in a session_scope of its own."""
    return _read_sessionmaker()()


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    session = new_session()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def writes_beside(session: Session) -> Iterator[Session]:
    """Where a small write made while serving `session` goes: into `session` itself when it is
    a writing session (it holds SQLite's write lock already: a second session would wait for
    it forever), else into a short transaction of its own, committed at once."""
    if not session.get_bind().get_execution_options().get(READ_ONLY, False):
        yield session
        return
    with session_scope() as write:
        yield write


@contextmanager
def read_scope() -> Iterator[Session]:
    """session_scope for work that only reads (see read_session)."""
    session = read_session()
    try:
        yield session
    finally:
        session.close()


def advisory_lock(session: Session, *name: str) -> None:
    """Serialize transactions that take the same lock `name` until they end, on PostgreSQL (a
    transaction-scoped advisory lock). SQLite needs none: BEGIN IMMEDIATE already makes
    writers take turns."""
    if session.get_bind().dialect.name == "postgresql":
        digest = hashlib.sha256("\0".join(name).encode()).digest()
        session.execute(
            text("SELECT pg_advisory_xact_lock(:k)"),
            {"k": int.from_bytes(digest[:8], "big", signed=True)},
        )

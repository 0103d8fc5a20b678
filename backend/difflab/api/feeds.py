"""Event streams fan out from one reader per job and API process.

Five hundred browsers following one job used to mean five hundred database reads for every
notification the worker sent: each stream woke and read its own page. Now the first stream of a
job starts a `JobFeed` for it, which waits on the job's notifications (or the poll period), reads
the new events once, keeps the most recent of them in memory and wakes every stream following
the job; each stream hands on what it has not sent yet. A stream that starts behind what the feed
holds (a reconnect with an old Last-Event-ID, a new page opened late) or falls behind it (a slow
client) reads the missing events from the database itself, so nothing is ever skipped, and the
database stays the only source: the feed holds copies of stored rows.

A stream is handed everything it has not sent yet at once, and sends it as one write: a
stream that opens on a running job has its whole catch-up to send, and hundreds of streams
opening together, one write per event each, hold the event loop that every other stream's
live events wait for. Live, a wake-up usually brings one event or a step's few, so the batch
changes nothing there.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from fastapi.concurrency import run_in_threadpool
from sqlalchemy import bindparam, select
from sqlalchemy.exc import NoResultFound
from sqlalchemy.orm import Session
from sse_starlette import ServerSentEvent

from difflab.api.presenters import event_public, job_not_found, may_see
from difflab.api.schemas import EventPublic
from difflab.db.engine import read_scope
from difflab.db.models import TERMINAL_STATES, Job, User
from difflab.jobs import notify
from difflab.jobs.events import events_after

log = logging.getLogger(__name__)

EVENTS_PAGE = 1000  # events read at once (a JSON page, a feed's or a stream's catch-up read)
KEEP = 4096  # events a feed keeps for streams that are a little behind
# The feeds' reads run on threads of their own: on the request threadpool they queued behind
# every request waiting there (five hundred streams opening at once, each authenticating),
# and every stream of every job waited with them.
_READER = ThreadPoolExecutor(max_workers=4, thread_name_prefix="feed-read")


def events_since(
    job_id: str, after: int, limit: int = EVENTS_PAGE
) -> tuple[list[EventPublic], str, int]:
    """A page of events after `after`, the job's state and its last event's seq."""
    with read_scope() as s:
        return events_page(s, job_id, after, limit)


_HEAD = select(Job.state, Job.last_seq, Job.owner_id, Job.shared).where(
    Job.id == bindparam("job_id")
)  # built once: every page and stream reads it


def events_page(
    session: Session,
    job_id: str,
    after: int,
    limit: int = EVENTS_PAGE,
    viewer: User | None = None,
) -> tuple[list[EventPublic], str, int]:
    """events_since, read in `session`'s transaction; with a `viewer`, a 404 (HTTPException)
    unless they may see the job, checked on the same row read as the state (one statement)."""
    rows = events_after(session, job_id, after, limit)
    head = session.execute(_HEAD, {"job_id": job_id}).first()
    if viewer is not None and (head is None or not may_see(viewer, head.owner_id, head.shared)):
        raise job_not_found()
    if head is None:
        raise NoResultFound(f"no job {job_id}")
    return [event_public(e) for e in rows], head.state or "failed", int(head.last_seq or 0)


def _last_seq(job_id: str) -> int:
    with read_scope() as s:
        return int(s.scalar(select(Job.last_seq).where(Job.id == job_id)) or 0)


@dataclass(frozen=True)
class End:
    """The job ended and every event up to `last_seq` was sent."""

    state: str
    last_seq: int


class JobFeed:
    """The one reader of a job's new events in this process (see the module docstring)."""

    def __init__(self, job_id: str, read_to: int) -> None:
        self.job_id = job_id
        self.read_to = read_to  # every event up to this seq is read (those after the start kept)
        self.kept: list[EventPublic] = []  # the newest events read, in seq order
        self.state = ""
        self.done = False  # the job ended and its last event is read
        self.failed = False  # the reader stopped on an error: streams read on their own
        self.followers = 0
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._read(), name=f"feed-{self.job_id[:8]}")

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def changed(self) -> asyncio.Event:
        """Set at the feed's next read (take it before looking at what the feed holds)."""
        return self._changed

    def _wake(self) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    async def _read(self) -> None:
        try:
            async with notify.listener().watch(self.job_id) as news:
                while True:
                    events, state, _ = await asyncio.get_running_loop().run_in_executor(
                        _READER, events_since, self.job_id, self.read_to
                    )
                    if events:
                        self.kept.extend(events)
                        if len(self.kept) > 2 * KEEP:
                            del self.kept[:-KEEP]
                        self.read_to = events[-1].seq
                    self.state = state
                    self.done = not events and state in TERMINAL_STATES
                    self._wake()
                    if self.done:
                        return
                    if len(events) == EVENTS_PAGE or state in TERMINAL_STATES:
                        continue  # more are stored already, or the end is: no waiting
                    await news.wait()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception(
                "the event feed of job %s stopped; its streams read on their own", self.job_id
            )
            self.failed = True
            self._wake()

    def after(self, seq: int) -> list[EventPublic] | None:
        """The kept events after `seq`, or None when some of them are no longer kept."""
        first = self.kept[0].seq if self.kept else self.read_to + 1
        if seq + 1 < first and seq < self.read_to:
            return None
        return self.kept[bisect_right(self.kept, seq, key=lambda e: e.seq) :]


_FEEDS: dict[str, JobFeed] = {}


@contextlib.asynccontextmanager
async def feed_of(job_id: str) -> AsyncIterator[JobFeed]:
    """This process's feed of the job (started by its first follower, stopped by its last)."""
    feed = _FEEDS.get(job_id)
    if feed is None:
        read_to = await run_in_threadpool(_last_seq, job_id)
        feed = _FEEDS.get(job_id)  # another stream may have started one meanwhile
        if feed is None:
            feed = _FEEDS[job_id] = JobFeed(job_id, read_to)
            feed.start()
    feed.followers += 1
    try:
        yield feed
    finally:
        feed.followers -= 1
        if feed.followers == 0 and _FEEDS.get(job_id) is feed:
            del _FEEDS[job_id]
            feed.stop()


async def follow(job_id: str, after: int) -> AsyncIterator[list[EventPublic] | End]:
    """Every event of the job after `after`, in order, as they are stored, in batches (what is
    there to send at each wake-up, never empty); then its End."""
    last = after
    async with feed_of(job_id) as feed:
        while not feed.failed:
            changed = feed.changed()
            kept = feed.after(last)
            if kept is None:  # behind what the feed keeps: a page from the database
                events, _, _ = await run_in_threadpool(events_since, job_id, last)
                if events:
                    last = events[-1].seq
                    yield events
                continue
            if kept:
                last = kept[-1].seq
                yield kept
            if feed.done and last >= feed.read_to:
                yield End(feed.state, last)
                return
            if not kept:
                await changed.wait()
    # the feed's reader failed: read on our own, woken by notifications or the poll
    async with notify.listener().watch(job_id) as news:
        while True:
            events, state, _ = await run_in_threadpool(events_since, job_id, last)
            if events:
                last = events[-1].seq
                yield events
            if not events and state in TERMINAL_STATES:
                yield End(state, last)
                return
            if len(events) < EVENTS_PAGE and state not in TERMINAL_STATES:
                await news.wait()


_ENCODED: OrderedDict[tuple[str, int], bytes] = OrderedDict()
ENCODED_KEEP = 16384  # encoded events kept (stored events never change: no invalidation)


def sse_bytes(job_id: str, e: EventPublic) -> bytes:
    """The event as one Server-Sent Events message (id = seq, event = type, data = JSON),
    encoded once per process however many streams send it (only on the event loop)."""
    key = (job_id, e.seq)
    data = _ENCODED.get(key)
    if data is None:
        data = ServerSentEvent(
            id=str(e.seq),
            event=e.type,
            data=json.dumps(e.model_dump(mode="json", exclude_none=True)),
            sep="\r\n",
        ).encode()
        _ENCODED[key] = data
        if len(_ENCODED) > ENCODED_KEEP:
            _ENCODED.popitem(last=False)
    return data


def feeds_open() -> int:
    """Jobs with a feed in this process."""
    return len(_FEEDS)

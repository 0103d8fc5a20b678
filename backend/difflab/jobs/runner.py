"""Running one job attempt in a worker: claim, heartbeat, call the kind's function, record.

The kind's function gets a `DbSink`: every call becomes an event row; artifacts are files under
DATA_DIR/artifacts/<job id>/ written atomically before their event is stored.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
import traceback
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import ValidationError
from sqlalchemy import bindparam, select

from difflab.config import get_settings
from difflab.db.engine import read_scope, session_scope
from difflab.db.models import Job, utcnow
from difflab.event_types import check_payload
from difflab.jobs import notify
from difflab.jobs.events import append_checked
from difflab.jobs.lifecycle import (
    Claim,
    beat,
    claim_job,
    claim_job_if_cancelled,
    fair_next,
    finish_job,
    name_worker_job,
)
from difflab.jobs.registry import UnknownKind, get_kind
from difflab.jobs.stack import with_stack_room
from difflab.runtime import (
    ArtifactData,
    ArtifactKind,
    JobCancelled,
    ParamError,
    RunContext,
    SubmitContext,
    artifact_payload,
    check_artifact_name,
    encode_artifact,
    metric_payload,
    sync_files,
    write_atomic,
)

log = logging.getLogger(__name__)


PROGRESS_EVERY_S = 0.1
# what DbSink.check reads: whether this attempt still owns the job, and whether a cancel came
_OWNERSHIP = select(Job.state, Job.attempts, Job.cancel_requested).where(
    Job.id == bindparam("job_id")
)


# an absolute path: "/" and segments, up to a character that cannot be in an unquoted path
_ABSOLUTE_PATH = re.compile(r"(?<![\w.~>])/(?:[^\s'\"():,\[\]]+/)*([^\s'\"():,\[\]/]+)")


class WallTimeExceeded(Exception):
    """The job ran past its owner's wall-time cap (Job.wall_limit_s)."""


def public_error(message: str) -> str:
    """A job's error as its owner sees it: no paths of the server. The data and models
    directories become <data> and <models>; any other absolute path keeps its last part only.
    The worker's log keeps the whole traceback."""
    settings = get_settings()
    for root, label in ((settings.models_dir, "<models>"), (settings.data_dir, "<data>")):
        for form in {str(root.resolve()), str(root.absolute())}:
            message = message.replace(form + "/", label + "/")
    return _ABSOLUTE_PATH.sub(lambda m: f".../{m.group(1)}", message)


class Superseded(JobCancelled):
    """This attempt no longer owns the job (the reconciler gave it to another)."""


class DbSink:
    """A Sink that stores one job attempt's events.

    Calls return at once: the job's own thread (the sampling loop) only queues what it
    reports. A writer thread encodes artifacts, writes their files and commits the queued
    events in batches (one transaction for all that queued up meanwhile), in call order, then
    notifies the API processes (jobs/notify.py). An event after a quiet spell is stored at
    once; a burst, at most once per INTERVAL_S. `close()` waits until everything is stored;
    the runner calls it before the job's end state is written, so a stream that sees the end
    has seen every event. A writer error is raised by the next call (or by close).

    Files of artifacts that carry a step (previews, samples during training) are renamed into
    place without fsync; final outputs are fsynced (runtime.write_atomic).
    """

    MAX_PENDING = 512  # calls queued before the job's thread waits for the writer
    MAX_BATCH = 256
    LINGER_S = 0.003  # a batch waits this long for more: what one step reports goes together
    INTERVAL_S = 0.04  # and starts at least this long after the previous batch's commit

    def __init__(self, claim: Claim, artifact_dir: Path, check_every_s: float = 0.25) -> None:
        self.claim = claim
        self.artifact_dir = artifact_dir
        self.check_every_s = check_every_s
        self._last_check = 0.0
        self._started = time.monotonic()
        self._last_progress_write = 0.0
        self._queue: queue.Queue[_Pending | None] = queue.Queue(maxsize=self.MAX_PENDING)
        self._error: BaseException | None = None
        self._closed = False
        self._writer = threading.Thread(
            target=self._write_loop, name=f"events-{claim.job_id[:8]}", daemon=True
        )
        self._writer.start()

    # the job's thread
    def _put(self, item: _Pending) -> None:
        if self._error is not None:
            raise self._error
        if self._closed:
            raise RuntimeError("the job's sink is closed")
        self._queue.put(item)

    def progress(self, done: int, total: int, message: str = "") -> None:
        # progress is a gauge: at most one row per PROGRESS_EVERY_S, and always the last one
        now = time.monotonic()
        if done < total and now - self._last_progress_write < PROGRESS_EVERY_S:
            return
        self._last_progress_write = now
        fraction = 0.0 if total <= 0 else min(max(done / total, 0.0), 1.0)
        payload = check_payload("progress", {"done": done, "total": total, "message": message})
        self._put(_Pending("progress", payload, utcnow(), progress=fraction))

    def metric(self, step: int, values: Mapping[str, float], *, epoch: float | None = None) -> None:
        self.event("metric", metric_payload(step, values, epoch))

    def artifact(
        self,
        name: str,
        data: ArtifactData,
        *,
        kind: ArtifactKind = "image",
        step: int | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> str:
        check_artifact_name(name)
        self._put(_Pending("artifact", {}, utcnow(), artifact=(name, data, kind, step, meta)))
        return name

    def event(self, type: str, payload: Mapping[str, Any]) -> None:
        self._put(_Pending(type, check_payload(type, payload), utcnow()))

    def log(self, message: str) -> None:
        self.event("log", {"message": message})

    def close(self, *, raise_error: bool = True) -> None:
        """Store what is queued and stop the writer."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._writer.join()
        if raise_error and self._error is not None:
            raise self._error

    def check(self) -> None:
        if self._error is not None:
            raise self._error
        now = time.monotonic()
        limit = self.claim.wall_limit_s
        if limit is not None and now - self._started > limit:
            raise WallTimeExceeded(
                f"stopped after {limit} s of running: the server caps a learner's job at "
                f"{limit} s (LEARNER_MAX_WALL_S); ask for fewer steps or epochs"
            )
        if now - self._last_check < self.check_every_s:
            return
        self._last_check = now
        # a reading session: it never queues for SQLite's write lock behind this job's own
        # event writer, and the statement is built once (this runs on the sampling thread)
        with read_scope() as s:
            row = s.execute(_OWNERSHIP, {"job_id": self.claim.job_id}).first()
        if row is None:
            raise Superseded("the job was deleted")
        state, attempts, cancel_requested = row
        if state != "running" or attempts != self.claim.attempt:
            raise Superseded("this attempt no longer owns the job")
        if cancel_requested:
            raise JobCancelled()

    # the writer thread
    def _write_loop(self) -> None:
        committed = -1.0  # monotonic time of the last commit
        while True:
            batch = [self._queue.get()]
            # A burst (a generation's steps) is stored once per INTERVAL_S, an event after a
            # quiet spell at once: each commit wakes every stream of the job (notify.py), whose
            # work competes with the job for the CPU.
            until = max(time.monotonic() + self.LINGER_S, committed + self.INTERVAL_S)
            while len(batch) < self.MAX_BATCH and batch[-1] is not None:
                try:
                    batch.append(self._queue.get(timeout=max(until - time.monotonic(), 1e-4)))
                except queue.Empty:
                    break
            items = [b for b in batch if b is not None]
            try:
                if items and self._error is None:
                    self._store(items)
            except BaseException as exc:  # raised to the job by its next call
                log.exception("job %s: storing events failed", self.claim.job_id)
                self._error = exc
            committed = time.monotonic()
            if batch[-1] is None:
                return

    def _store(self, items: list[_Pending]) -> None:
        rows: list[tuple[str, Mapping[str, Any], datetime]] = []
        added = 0
        fraction: float | None = None
        durable: list[Path] = []
        for it in items:
            if it.artifact is not None:
                name, data, kind, step, meta = it.artifact
                blob = encode_artifact(data)
                write_atomic(self.artifact_dir / name, blob, durable=False)
                if step is None:
                    durable.append(self.artifact_dir / name)
                added += len(blob)
                payload = artifact_payload(name, blob, kind, step, meta)
                rows.append(("artifact", check_payload("artifact", payload), it.at))
                continue
            if it.progress is not None:
                fraction = it.progress
            rows.append((it.type, it.payload, it.at))
        if durable:  # on disk before the rows that point at them are committed
            sync_files(durable)
        values: dict[str, Any] = {}
        if added:
            values["artifact_bytes"] = Job.artifact_bytes + added
        if fraction is not None:
            values["progress"] = fraction
        with session_scope() as s:
            append_checked(s, self.claim.job_id, rows, **values)
        notify.publish(self.claim.job_id)


_ArtifactCall = tuple[str, ArtifactData, ArtifactKind, int | None, Mapping[str, Any] | None]


class _Pending(NamedTuple):
    """One sink call waiting for the writer."""

    type: str
    payload: Mapping[str, Any]
    at: datetime
    progress: float | None = None
    artifact: _ArtifactCall | None = None


class Heartbeat:
    """A thread that beats for the running attempt until stopped."""

    def __init__(self, claim: Claim, every_s: float) -> None:
        self.claim = claim
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, name=f"heartbeat-{claim.job_id[:8]}", daemon=True
        )

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                with session_scope() as s:
                    if not beat(s, self.claim):
                        return
            except Exception:  # a transient database error must not kill the job
                log.exception("heartbeat failed")

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _set_worker_job(worker: str, job_id: str | None) -> None:
    with session_scope() as s:
        name_worker_job(s, worker, job_id)


def _claim_with_wait(job_id: str, worker: str, wait_s: float = 10.0) -> Claim | None:
    """Claim the job this message should run (lifecycle.fair_next: the message's own job, or
    the queued job of its kind whose owner waited longest). The API commits the row right
    after publishing; give that commit a moment to land."""
    deadline = time.monotonic() + wait_s
    pause = 0.005  # Redis delivers at once: the commit is usually a few ms behind
    while True:
        with read_scope() as s:  # reading: no turn at SQLite's write lock
            row = s.execute(select(Job.state, Job.cancel_requested).where(Job.id == job_id)).first()
        if row is not None:
            break
        if time.monotonic() > deadline:
            log.warning("job %s not found; dropping its message", job_id)
            return None
        time.sleep(pause)
        pause = min(pause * 2, 0.2)
    if row.state == "queued" and row.cancel_requested:
        with session_scope() as s:  # the message's own job, cancelled while queued, ends here
            claim_job_if_cancelled(s, job_id)
    for _ in range(20):  # another worker may claim the chosen job first: choose again
        with session_scope() as s:
            chosen = fair_next(s, job_id)
            if chosen is None:
                return None
            claim = claim_job(s, chosen, worker, on_worker_row=True)
        if claim is not None:
            return claim
    return None


def execute_job(job_id: str, worker: str, device: str) -> str:
    """Run one attempt of a job; returns the state it ended in (or 'skipped')."""
    settings = get_settings()
    claim = _claim_with_wait(job_id, worker)  # also names the job on the worker's row
    if claim is None:
        return "skipped"
    state = None
    try:
        state = _run_claimed(claim, device, settings.heartbeat_s, worker)
        return state
    finally:
        if state is None or state == "superseded":  # else the end's transaction cleared it
            _set_worker_job(worker, None)


def run_here_if_queued(job_id: str, worker: str, device: str) -> str | None:
    """Claim a job that is still queued and run it in this process (as a job that runs other
    jobs, the X/Y/Z plot, runs the cells no other worker took); None if it is not queued
    (another worker has it, or it ended). Its message, when a worker gets it, finds nothing to
    run and is dropped."""
    with session_scope() as s:
        claim = claim_job(s, job_id, worker)
    if claim is None:
        return None
    return _run_claimed(claim, device, get_settings().heartbeat_s)


def _run_claimed(claim: Claim, device: str, heartbeat_s: float, worker: str | None = None) -> str:
    """Run a claimed attempt to its end. `worker`: the worker whose row names the job, cleared
    in the transaction that stores the end."""
    settings = get_settings()

    def finish(state: str, **kw: Any) -> str:
        with session_scope() as s:
            ended = finish_job(s, claim, state, worker_row=worker, **kw)
        if not ended and worker is not None:  # taken away: its rollback kept the worker's row
            _set_worker_job(worker, None)
        notify.publish(claim.job_id, ended=True)
        return state

    # beat from the moment the job is ours: resolving the kind may import heavy modules
    with Heartbeat(claim, heartbeat_s):
        try:
            spec = get_kind(claim.kind)
            params = spec.params.model_validate(claim.params)
            # the checks the API ran at submit, again: the world may have changed since
            again = SubmitContext(settings.models_dir, settings.data_dir, at_submit=False)
            params = spec.check(params, again)
        except (UnknownKind, ValidationError, ParamError) as exc:
            return finish("failed", error=public_error(f"cannot run job: {exc}"))
        work_dir = settings.jobs_dir / claim.job_id
        work_dir.mkdir(parents=True, exist_ok=True)
        ctx = RunContext(
            job_id=claim.job_id,
            device=device,
            work_dir=work_dir,
            models_dir=settings.models_dir,
            data_dir=settings.data_dir,
        )
        sink = DbSink(claim, settings.artifacts_dir / claim.job_id)
        try:
            try:
                # the job's loops on a frame-stack chunk of their own (jobs/stack.py)
                result = with_stack_room(spec.run, params, sink, ctx)
            except BaseException:
                sink.close(raise_error=False)  # what it reported before failing is kept
                raise
            sink.close()  # every event is stored before the job's end state
        except Superseded:
            log.warning("job %s attempt %s superseded", claim.job_id, claim.attempt)
            return "superseded"
        except JobCancelled:
            return finish("cancelled")
        except WallTimeExceeded as exc:
            return finish("failed", error=str(exc))
        except Exception as exc:
            log.error("job %s failed:\n%s", claim.job_id, traceback.format_exc())
            return finish("failed", error=public_error(f"{type(exc).__name__}: {exc}"))
        return finish("succeeded", result=dict(result or {}))

"""What ML code sees of the job system: an event sink, a run context and a kind spec.

diffusion/, lab/ and datasets/ never import the database or Celery. A training or generation
function takes plain parameters and a `Sink`; the job system hands it a sink that writes
event rows, a test or the CLI hands it a `MemorySink`. The same function runs everywhere.
"""

from __future__ import annotations

import io
import json
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel

from difflab.event_types import ArtifactKindName, check_payload

ArtifactKind = ArtifactKindName
ArtifactData = bytes | str | Mapping[str, Any] | list[Any] | Any  # Any: a PIL.Image.Image

# An artifact name is a relative path of plain segments: "samples/step_000100.png".
_ARTIFACT_NAME = re.compile(
    r"^[A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]+)*(?:/[A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]+)*)*$"
)

MIME_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
    ".safetensors": "application/octet-stream",
}


class JobCancelled(Exception):
    """Raised by `Sink.check()` when the job was cancelled; loops stop at their next step."""


def check_artifact_name(name: str) -> str:
    """Refuse names that could leave the job's artifact directory (.., absolute, odd chars)."""
    if len(name) > 200 or not _ARTIFACT_NAME.match(name) or ".." in name:
        raise ValueError(f"invalid artifact name: {name!r}")
    return name


def mime_type(name: str) -> str:
    return MIME_TYPES.get(Path(name).suffix.lower(), "application/octet-stream")


def encode_artifact(data: ArtifactData) -> bytes:
    """bytes as they are, str as UTF-8, dict/list as JSON, a PIL image as PNG; a function of
    no arguments is called and its result encoded (a sink may then encode off the caller's
    thread: the job's DbSink does)."""
    if callable(data) and not hasattr(data, "save"):
        data = data()
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, Mapping | list):
        return json.dumps(data, separators=(",", ":")).encode("utf-8")
    if hasattr(data, "save"):  # PIL.Image.Image
        buf = io.BytesIO()
        data.save(buf, format="PNG")
        return buf.getvalue()
    raise TypeError(f"cannot store an artifact of type {type(data).__name__}")


def metric_payload(step: int, values: Mapping[str, float], epoch: float | None) -> dict[str, Any]:
    """The payload of a `metric` event, the same whichever sink records it."""
    payload: dict[str, Any] = {
        "step": int(step),
        "values": {k: float(v) for k, v in values.items()},
    }
    if epoch is not None:
        payload["epoch"] = float(epoch)
    return payload


def artifact_payload(
    name: str, blob: bytes, kind: ArtifactKind, step: int | None, meta: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The payload of an `artifact` event, the same whichever sink records it."""
    return {"name": name, "kind": kind, "step": step, "mime": mime_type(name), "size": len(blob),
            "meta": dict(meta or {})}  # fmt: skip


@runtime_checkable
class Sink(Protocol):
    """Where a running job reports what it does. Every call becomes one event row."""

    def progress(self, done: int, total: int, message: str = "") -> None:
        """Work done so far (steps, epochs, images) out of total."""

    def metric(self, step: int, values: Mapping[str, float], *, epoch: float | None = None) -> None:
        """Metric points at one step; keys are namespaced: train/loss, val/loss, lr."""

    def artifact(
        self,
        name: str,
        data: ArtifactData,
        *,
        kind: ArtifactKind = "image",
        step: int | None = None,
        meta: Mapping[str, Any] | None = None,
    ) -> str:
        """Store a file under the job's artifact directory; return its name."""

    def event(self, type: str, payload: Mapping[str, Any]) -> None:
        """Any other event (for example `denoise`: one denoising step with its previews)."""

    def log(self, message: str) -> None:
        """A line of text for the job's log."""

    def check(self) -> None:
        """Raise JobCancelled when the job was cancelled. Call it once per step."""


@dataclass
class RecordedEvent:
    type: str
    payload: dict[str, Any]
    time: float = field(default_factory=time.time)


def write_atomic(path: Path, blob: bytes, *, durable: bool = True) -> None:
    """Write a file whole or not at all: temp file beside it, fsync (when durable), rename.
    Without fsync the file is still whole or absent after a process dies; only a power loss
    can drop it (as it can the last commits of the SQLite database, synchronous=NORMAL)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(blob)
        if durable:
            fh.flush()
            os.fsync(fh.fileno())
    os.replace(tmp, path)


def _libc_syncfs() -> Any:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.syncfs if hasattr(libc, "syncfs") else None
    except OSError:
        return None


_SYNCFS = _libc_syncfs()


def sync_files(paths: list[Path]) -> None:
    """Make files written without fsync durable: one syncfs(2) of their filesystem on Linux
    (a batch of sixteen images costs one flush, not sixteen), else an fsync of each."""
    if not paths:
        return
    if _SYNCFS is not None:
        fd = os.open(paths[0].parent, os.O_RDONLY)
        try:
            if _SYNCFS(fd) == 0:
                return
        finally:
            os.close(fd)
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class MemorySink:
    """A Sink that keeps events in a list and artifacts in memory (or in `artifact_dir`).

    Used by tests and by the CLI when it runs work in-process. `cancel()` makes the next
    `check()` raise, as a cancel request does for a real job. `on_event` sees every event.
    """

    def __init__(
        self,
        artifact_dir: Path | None = None,
        on_event: Callable[[RecordedEvent], None] | None = None,
    ) -> None:
        self.events: list[RecordedEvent] = []
        self.artifacts: dict[str, bytes] = {}
        self.artifact_dir = artifact_dir
        self.on_event = on_event
        self._cancelled = threading.Event()

    def _record(self, type: str, payload: Mapping[str, Any]) -> None:
        # the same check as an event row: a payload unlike its type's model fails here
        ev = RecordedEvent(type, check_payload(type, payload))
        self.events.append(ev)
        if self.on_event is not None:
            self.on_event(ev)

    def progress(self, done: int, total: int, message: str = "") -> None:
        self._record("progress", {"done": done, "total": total, "message": message})

    def metric(self, step: int, values: Mapping[str, float], *, epoch: float | None = None) -> None:
        self._record("metric", metric_payload(step, values, epoch))

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
        blob = encode_artifact(data)
        self.artifacts[name] = blob
        if self.artifact_dir is not None:
            path = self.artifact_dir / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(blob)
        self._record(
            "artifact",
            {
                "name": name,
                "kind": kind,
                "step": step,
                "mime": mime_type(name),
                "size": len(blob),
                "meta": dict(meta or {}),
            },
        )
        return name

    def event(self, type: str, payload: Mapping[str, Any]) -> None:
        self._record(type, payload)

    def log(self, message: str) -> None:
        self._record("log", {"message": message})

    def check(self) -> None:
        if self._cancelled.is_set():
            raise JobCancelled()

    def cancel(self) -> None:
        self._cancelled.set()

    # conveniences for tests
    def of_type(self, type: str) -> list[dict[str, Any]]:
        return [e.payload for e in self.events if e.type == type]

    def metric_series(self, key: str) -> list[tuple[int, float]]:
        return [(p["step"], p["values"][key]) for p in self.of_type("metric") if key in p["values"]]


@dataclass(frozen=True)
class RunContext:
    """Where a job runs: its device and the directories it may write to."""

    job_id: str
    device: str = "cpu"  # "cpu", "cuda", "cuda:1"
    work_dir: Path = Path("var/jobs/local")  # the job's own directory: checkpoints, scratch
    models_dir: Path = Path("models")  # where model directories live (read, and written by `house`)
    data_dir: Path = Path("var")


RunFn = Callable[[Any, Sink, RunContext], Mapping[str, Any] | None]


class ParamError(ValueError):
    """A parameter a job cannot run with, found before it runs: a model that is not there, an
    output name that is taken, a size the model cannot make. Every door (the job API, the
    generation and A1111 routes, the CLI) answers it as 422 naming `field`, and the worker
    refuses the job with the same message."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class SubmitContext:
    """What a kind's `prepare` may look at: the directories, and the model names that jobs not
    yet finished are going to write (`reserved(name)` says which job, or None)."""

    models_dir: Path
    data_dir: Path
    reserved: Callable[[str], str | None] = lambda _name: None
    at_submit: bool = True  # False when the worker checks again before running


PrepareFn = Callable[[Any, SubmitContext], BaseModel]


@dataclass(frozen=True)
class KindSpec:
    """One job kind: its name, its queue, its validated parameters and the function that runs it.

    `run(params, sink, ctx)` gets an instance of `params` and returns a small JSON-able result
    (stored on the job) or None. Modules under difflab.lab and difflab.diffusion export a
    module-level `SPEC` (or a list `SPECS`) and the job system registers them.
    """

    name: str
    params: type[BaseModel]
    run: RunFn
    queue: Literal["gpu", "cpu"] = "cpu"
    admin_only: bool = True  # training and evaluation need an admin
    title: str = ""
    description: str = ""
    category: Literal["diagnostic", "generation", "training", "evaluation", "lab"] = "lab"
    time_limit_s: int = 3 * 3600
    # checks that need the world (models, datasets, names) and resolves what the request left
    # open (a random seed, a new output name, the model's guidance); raises ParamError. Run at
    # submit by every door and again by the worker, so the worker never refuses what the API
    # accepted. Must be idempotent: prepare(prepare(p)) == prepare(p).
    prepare: PrepareFn | None = None
    # the params fields naming a model directory this job writes (for reservations)
    writes_model: tuple[str, ...] = ()

    def check(self, params: BaseModel, ctx: SubmitContext) -> BaseModel:
        return self.prepare(params, ctx) if self.prepare is not None else params

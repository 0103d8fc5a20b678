"""Training across processes: torchrun starts the ranks, Accelerate (over torch DDP) runs them.

A training kind with `processes` > 1 does not train in the worker's process. `launch` writes
the job's parameters beside its work directory and starts, as a process group of its own,

    python -m torch.distributed.run --standalone --nproc_per_node N -m difflab.diffusion.distributed

(the launcher `accelerate launch` itself uses for multi-process runs). Each rank builds an
`accelerate.Accelerator`, which joins the process group (gloo on CPUs, NCCL on GPUs, each rank on
its own device `cuda:<local rank>`) and wraps the model in DistributedDataParallel: every rank
draws the same global batch from the step's seeded generator and trains on its own slice, and
the gradients are averaged across ranks, so N processes take the steps one process would take
with the same global batch. Rank 0 alone reports: its sink appends events to a file the worker's
`launch` relays to the job's real sink as they come, and it alone writes checkpoints and the
model.

Nothing outlives the job: the launcher and every rank die with their parent (PR_SET_PDEATHSIG);
cancel or a time limit kills the group; a rank that dies makes torchrun stop the others, and the
job fails with the launcher's reason. Resume reads rank 0's checkpoint, with any process count.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import importlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from difflab.runtime import (
    ArtifactData,
    ArtifactKind,
    ParamError,
    RunContext,
    Sink,
    check_artifact_name,
    encode_artifact,
    write_atomic,
)

EVENTS = "events.jsonl"
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Linux: this process gets SIGKILL when its parent dies (no orphan ranks)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class FileSink:
    """Rank 0's sink: each call appends one JSON line (artifacts as files beside it)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.n = 0
        self._fh = open(root / EVENTS, "a", encoding="utf-8")  # noqa: SIM115 (lives with the sink)

    def _write(self, row: dict[str, Any]) -> None:
        self._fh.write(json.dumps(row) + "\n")
        self._fh.flush()

    def progress(self, done: int, total: int, message: str = "") -> None:
        self._write({"type": "progress", "done": done, "total": total, "message": message})

    def metric(self, step: int, values: Mapping[str, float], *, epoch: float | None = None) -> None:
        vals = {k: float(v) for k, v in values.items()}
        self._write({"type": "metric", "step": step, "values": vals, "epoch": epoch})

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
        self.n += 1
        path = self.root / "artifacts" / f"{self.n:06d}"
        path.parent.mkdir(exist_ok=True)
        write_atomic(path, encode_artifact(data), durable=False)
        self._write({"type": "artifact", "name": name, "file": path.name, "kind": kind,
                     "step": step, "meta": dict(meta or {})})  # fmt: skip
        return name

    def event(self, type: str, payload: Mapping[str, Any]) -> None:
        self._write({"type": "event", "event": type, "payload": dict(payload)})

    def log(self, message: str) -> None:
        self._write({"type": "log", "message": message})

    def check(self) -> None:
        """Cancel reaches the ranks as a signal to their group, not through the sink."""


class QuietSink(FileSink):
    """The other ranks' sink: they report nothing."""

    def __init__(self) -> None:
        self.n = 0

    def _write(self, row: dict[str, Any]) -> None:
        pass

    def artifact(self, name: str, data: ArtifactData, **_: Any) -> str:  # type: ignore[override]
        return name


class _Relay:
    """Reads rank 0's event lines as they are appended and replays them on the job's sink."""

    def __init__(self, root: Path, sink: Sink) -> None:
        self.root, self.sink, self.offset, self.partial = root, sink, 0, b""

    def pump(self) -> None:
        path = self.root / EVENTS
        if not path.exists():
            return
        with open(path, "rb") as fh:
            fh.seek(self.offset)
            chunk = fh.read()
        self.offset += len(chunk)
        *lines, self.partial = (self.partial + chunk).split(b"\n")
        for line in lines:
            self._replay(json.loads(line))

    def _replay(self, row: dict[str, Any]) -> None:
        s, kind = self.sink, row["type"]
        if kind == "progress":
            s.progress(row["done"], row["total"], row["message"])
        elif kind == "metric":
            s.metric(row["step"], row["values"], epoch=row["epoch"])
        elif kind == "artifact":
            blob = (self.root / "artifacts" / row["file"]).read_bytes()
            s.artifact(row["name"], blob, kind=row["kind"], step=row["step"], meta=row["meta"])
        elif kind == "event":
            s.event(row["event"], row["payload"])
        elif kind == "log":
            s.log(row["message"])


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """End the launcher's whole process group: SIGTERM, then SIGKILL after a grace period."""
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=wait)
            if sig == signal.SIGTERM:  # the launcher is gone; its ranks may linger a moment
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
            return


def _reason(log: Path) -> str:
    """The launcher's account of a failure: which rank ended how (torchrun's failure report),
    then its last lines that say what went wrong."""
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    ranks = []
    for here, after in zip(lines, [*lines[1:], ""], strict=True):
        rank = re.search(r"\brank\s*:\s*(\d+)", here)
        code = re.search(r"exitcode\s*:\s*(-?\d+)[^()]*(?:\(pid[^)]*\))?\s*(\(\w+\))?", after)
        if rank and code:
            ranks.append(f"rank {rank.group(1)} exited with {code.group(1)} {code.group(2) or ''}")
    keep = [ln.strip() for ln in lines if any(
        w in ln for w in ("Error", "error", "exitcode", "Signal", "signal", "Traceback")
    )]  # fmt: skip
    detail = " | ".join((keep or lines)[-6:])[-1200:]
    return "; ".join(r.strip() for r in ranks) + (" — " if ranks else "") + detail


def launch(
    module: str,
    params: BaseModel,
    sink: Sink,
    ctx: RunContext,
    processes: int,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Run `module.train_rank(params, sink, ctx, **extra)` on `processes` ranks; rank 0's
    result."""
    import torch

    if ctx.device.startswith("cuda") and torch.cuda.device_count() < processes:
        raise ParamError(
            "processes", f"{processes} processes, {torch.cuda.device_count()} GPUs here"
        )
    root = ctx.work_dir / "ranks"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    spec = {
        "module": module,
        "params": params.model_dump(mode="json"),
        "extra": dict(extra or {}),
        "ctx": {"job_id": ctx.job_id, "device": ctx.device, "work_dir": str(ctx.work_dir),
                "models_dir": str(ctx.models_dir), "data_dir": str(ctx.data_dir)},
    }  # fmt: skip
    (root / "launch.json").write_text(json.dumps(spec))
    env = dict(os.environ)
    if not ctx.device.startswith("cuda"):
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // processes))
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone",
        f"--nproc_per_node={processes}", "--max_restarts=0",
        "-m", "difflab.diffusion.distributed", str(root / "launch.json"),
    ]  # fmt: skip
    sink.log(f"training on {processes} processes (torchrun + Accelerate, DDP)")
    log_path = root / "launcher.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
            cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
            preexec_fn=die_with_parent,  # noqa: PLW1509 (only sets the death signal)
        )  # fmt: skip
    relay = _Relay(root, sink)
    try:
        while proc.poll() is None:
            relay.pump()
            sink.check()
            time.sleep(0.2)
        relay.pump()
    finally:
        _kill(proc)
    if proc.returncode != 0:
        raise RuntimeError(
            f"distributed training stopped: the launcher exited with {proc.returncode} "
            f"({_reason(log_path)})"
        )
    return dict(json.loads((root / "result.json").read_text()))


def accelerator(ctx: RunContext) -> Any:
    """This rank's Accelerator: it joins the process group torchrun set up (gloo or NCCL)."""
    from accelerate import Accelerator

    return Accelerator(cpu=not ctx.device.startswith("cuda"))


def main(argv: list[str]) -> None:
    """One rank (started by torchrun)."""
    die_with_parent()
    root = Path(argv[0]).parent
    spec = json.loads(Path(argv[0]).read_text())
    kind = importlib.import_module(spec["module"])
    params = kind.Params.model_validate(spec["params"])
    c = spec["ctx"]
    ctx = RunContext(
        job_id=c["job_id"], device=c["device"], work_dir=Path(c["work_dir"]),
        models_dir=Path(c["models_dir"]), data_dir=Path(c["data_dir"]),
    )  # fmt: skip
    rank = int(os.environ.get("RANK", "0"))
    sink: FileSink = FileSink(root) if rank == 0 else QuietSink()
    result = kind.train_rank(params, sink, ctx, **spec["extra"])
    if rank == 0:
        write_atomic(root / "result.json", json.dumps(result).encode())


if __name__ == "__main__":
    main(sys.argv[1:])

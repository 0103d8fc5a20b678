"""A deployment for fault tests: a real server, real workers started and killed at will.

Workers are `difflab worker` processes (optionally inside their own mount namespace, to give
them a small filesystem); the server is `difflab serve --no-worker`. Nothing is mocked.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.utils.ledger import Ledger
from tests.utils.services import (
    Api,
    Proc,
    _worker_registered,
    migrate,
    start_server,
    wait_for,
)

TERMINAL = ("succeeded", "failed", "cancelled")


def worker_args(name: str, queues: str = "gpu,cpu") -> list[str]:
    return [sys.executable, "-m", "difflab.cli", "worker", "--queues", queues, "--name", name]


def unshare_available() -> bool:
    """Whether this machine lets us mount a tmpfs in a private mount namespace."""
    if shutil.which("unshare") is None or shutil.which("nsenter") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt || exit 1"],
        capture_output=True,
        timeout=20,
    )
    return probe.returncode == 0


@dataclass
class Cluster:
    env: dict[str, str]
    base: str
    server: Proc
    log_dir: Path
    workers: dict[str, Proc] = field(default_factory=dict)
    _count: int = 0

    @property
    def data_dir(self) -> Path:
        return Path(self.env["DIFFLAB_DATA_DIR"])

    @property
    def models_dir(self) -> Path:
        return Path(self.env["DIFFLAB_MODELS_DIR"])

    def api(self, username: str = "admin", password: str | None = None) -> Api:
        return Api(self.base) if password is None else Api(self.base, username, password)

    # --- workers ----------------------------------------------------------------------

    def _spawn(self, name: str, args: list[str]) -> Proc:
        proc = Proc(args, {**self.env, "DIFFLAB_WORKER_NAME": name}, self.log_dir / f"{name}.log")
        self.workers[name] = proc
        return proc

    def spawn_worker(self, prefix: str = "w") -> str:
        """Start a worker without waiting for it (it registers within seconds)."""
        self._count += 1
        name = f"{prefix}{self._count}"
        self._spawn(name, worker_args(name))
        return name

    def spawn_worker_on_tmpfs(self, mount: Path, size_bytes: int) -> str:
        """A worker that sees `mount` as a fresh tmpfs of `size_bytes` (a small, real disk)."""
        self._count += 1
        name = f"tmpfs{self._count}"
        mount.mkdir(parents=True, exist_ok=True)
        inner = (
            f"mount -t tmpfs -o size={size_bytes} tmpfs {shlex.quote(str(mount))} && "
            f"exec {shlex.join(worker_args(name))}"
        )
        self._spawn(name, ["unshare", "-rm", "sh", "-c", inner])
        return name

    def wait_workers(self, names: Iterable[str], timeout: float = 120) -> None:
        for name in names:
            proc = self.workers[name]
            wait_for(
                lambda p=proc, n=name: _worker_registered(self.env, n) or not p.alive(),
                timeout=timeout,
                what=f"worker {name} to start",
            )
            if not proc.alive():
                raise RuntimeError(f"worker {name} exited:\n{proc.output()[-3000:]}")

    def use_workers(self, n: int) -> list[str]:
        """Exactly n plain workers alive (tmpfs workers stopped); returns their names."""
        for name, proc in list(self.workers.items()):
            if name.startswith("tmpfs") or not proc.alive():
                self.stop_worker(name)
        alive = [name for name, p in self.workers.items() if p.alive()]
        for name in alive[n:]:
            self.stop_worker(name)
        missing = n - len(alive[:n])
        started = []
        if missing and self._count == 0:
            # the very first worker creates the embedded broker's queue rows; two doing it
            # at once race on kombu's unique queue name and one of them exits
            started.append(self.spawn_worker())
            self.wait_workers(started)
            missing -= 1
        more = [self.spawn_worker() for _ in range(missing)]
        self.wait_workers(more)
        return alive[:n] + started + more

    def stop_worker(self, name: str) -> None:
        proc = self.workers.pop(name)
        proc.stop()

    def kill9(self, name: str) -> None:
        proc = self.workers.pop(name)
        proc.kill9()
        proc.stop()  # closes its log

    def stop(self) -> None:
        for name in list(self.workers):
            self.stop_worker(name)
        self.server.stop()

    # --- jobs ---------------------------------------------------------------------------

    def jobs_lost(self, api: Api, job_ids: Iterable[str]) -> int:
        """Jobs accepted but not accounted for (tests/utils/ledger.py): missing, not in a
        final state, failed without a reason, or succeeded with an artifact missing or cut."""
        audit = Ledger(list(job_ids)).audit(api)
        if audit.lost:
            print("lost:", audit.lost)
        return audit.count


def deploy(env: dict[str, str], log_dir: Path) -> Cluster:
    log_dir.mkdir(parents=True, exist_ok=True)
    migrate(env)
    server, base = start_server(env, log_dir)
    return Cluster(env, base, server, log_dir)


def events_of(api: Api, job_id: str, type: str | None = None) -> list[dict[str, Any]]:
    out, after = [], 0
    while True:
        batch = api.events(job_id, after=after)
        if not batch:
            break
        out += batch
        after = batch[-1]["seq"]
    return [e for e in out if type is None or e["type"] == type]


def wait_progress(api: Api, job_id: str, done: int, timeout: float = 120) -> dict[str, Any]:
    """Wait until the job has reported `done` steps (or more) in its current run."""

    def reached() -> dict[str, Any] | None:
        job = api.job(job_id)
        if job["state"] in TERMINAL:
            raise AssertionError(f"job ended before step {done}: {json.dumps(job)[:500]}")
        steps = [e["payload"]["done"] for e in events_of(api, job_id, "progress")]
        return job if steps and max(steps) >= done else None

    return dict(wait_for(reached, timeout=timeout, every=0.2, what=f"step {done} of {job_id}"))


@contextlib.contextmanager
def timer() -> Any:
    box = {"s": 0.0}
    t0 = time.monotonic()
    try:
        yield box
    finally:
        box["s"] = time.monotonic() - t0

"""The embedded worker of `difflab serve`: it lives and dies with its server.

- It is started by the server, in a process group of its own (so stopping it stops its pool
  children too), and dies with the server however the server goes: on Linux the kernel sends it
  SIGKILL when its parent dies (`prctl(PR_SET_PDEATHSIG)`), and a watcher thread does the same
  elsewhere. Its pool children die with it the same way. A job it was running is not finished
  headless: it stops where it is, and the next server hands it back to the queue at once
  (`release_worker_jobs`), where it runs again from its last checkpoint as its next attempt.
- One embedded worker per data directory: the server holds an exclusive lock on
  DATA_DIR/embedded-worker.lock and passes it on to its worker, so the lock stays taken while
  either lives. A second server finds it taken: if the server that took it is alive it refuses
  to start, naming its pid; if only that server's worker is left (a ghost), it ends the ghost
  first.
- SIGTERM or Ctrl-C to the server: the worker gets SIGTERM (Celery's warm shutdown, which
  lets the current job finish), and after `stop_grace_s` SIGKILL; the job it held is requeued.
- A worker that dies while its server lives is started again, and its jobs are requeued.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import fcntl
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

LOCK_NAME = "embedded-worker.lock"
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(sig: int = signal.SIGKILL) -> bool:
    """Ask the kernel to send `sig` to this process when its parent dies (Linux only)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def pid_alive(pid: int) -> bool:
    """True for a live process; a zombie (exited, not yet reaped) counts as dead."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:  # no /proc (not Linux): kill(pid, 0) answered, so it lives
        return not sys.platform.startswith("linux")
    except IndexError:
        return True


def kill_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


class WorkerDirLocked(RuntimeError):
    """Another live server runs the embedded worker of this data directory."""


@dataclass(frozen=True)
class Holder:
    """Who took the data directory's lock last: the server, its worker and the worker's name."""

    server_pid: int
    worker_pid: int
    worker_name: str

    @classmethod
    def read(cls, path: Path) -> Holder | None:
        try:
            data = json.loads(path.read_text() or "{}")
            return cls(int(data["server_pid"]), int(data["worker_pid"]), str(data["worker_name"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None


class DataDirLock:
    """The exclusive lock that makes one embedded worker per data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_NAME
        self._fh: IO[str] | None = None

    def fileno(self) -> int:
        assert self._fh is not None
        return self._fh.fileno()

    def _try(self) -> bool:
        assert self._fh is not None
        try:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    def acquire(self, wait_ghost_s: float = 10.0) -> Holder | None:
        """Take the lock; returns the previous holder (whose jobs may need releasing).

        Raises WorkerDirLocked when a live server holds it. A ghost worker (its server gone)
        is ended first.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a+")  # noqa: SIM115 (held for the server's lifetime)
        previous = Holder.read(self.path)
        if self._try():
            return previous
        if previous is not None and pid_alive(previous.server_pid):
            self.release()
            raise WorkerDirLocked(
                f"another difflab server (pid {previous.server_pid}) runs the embedded worker "
                f"(pid {previous.worker_pid}) of this data directory ({self.path.parent}); stop "
                "it first, or start this one with --no-worker"
            )
        ghost = previous.worker_pid if previous is not None else 0
        log.warning("ending worker %s left behind by a server that is gone", ghost or "(unknown)")
        if ghost > 0:
            kill_group(ghost, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                os.kill(ghost, signal.SIGKILL)
        deadline = time.monotonic() + wait_ghost_s
        while not self._try():
            if time.monotonic() > deadline:
                self.release()
                raise WorkerDirLocked(
                    f"{self.path} is still locked by process {ghost or '(unknown)'} after "
                    f"{wait_ghost_s:.0f} s; end it, or start this server with --no-worker"
                )
            time.sleep(0.1)
        return previous

    def record(self, holder: Holder) -> None:
        assert self._fh is not None
        self._fh.seek(0)
        self._fh.truncate()
        self._fh.write(json.dumps(holder.__dict__))
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def release(self) -> None:
        if self._fh is not None:
            self._fh.close()  # closing our descriptor drops our hold on the lock
            self._fh = None


def worker_command(name: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "difflab.cli",
        "worker",
        "--queues",
        "gpu,cpu",
        "--concurrency",
        "1",
        "--name",
        name,
    ]


class EmbeddedWorker:
    """Starts, watches and stops the one worker of a `difflab serve` process."""

    def __init__(self, data_dir: Path, stop_grace_s: float) -> None:
        self.lock = DataDirLock(data_dir)
        self.stop_grace_s = stop_grace_s
        self.proc: subprocess.Popen[bytes] | None = None
        self.name = ""
        self.restarts = 0
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None

    def start(self) -> None:
        previous = self.lock.acquire()
        if previous is not None:
            _release(previous.worker_name, "the server of its worker stopped")
        self._spawn()
        self._watcher = threading.Thread(target=self._watch, name="worker-watch", daemon=True)
        self._watcher.start()

    def _spawn(self) -> None:
        self.name = f"embedded-{os.getpid()}-{self.restarts}@{socket.gethostname()}"
        env = {**os.environ, "DIFFLAB_PARENT_PID": str(os.getpid())}
        env.pop("DIFFLAB_WORKER_NAME", None)
        self.proc = subprocess.Popen(
            worker_command(self.name),
            env=env,
            start_new_session=True,  # its own group: stopping it stops its pool children
            pass_fds=(self.lock.fileno(),),  # the lock stays held while the worker lives
        )
        self.lock.record(Holder(os.getpid(), self.proc.pid, self.name))

    def _watch(self) -> None:
        """Restart the worker when it dies while the server lives (with a growing pause).

        A worker restarted from here has this thread as its parent for the kernel's
        parent-death signal, so the thread lives until the worker is gone.
        """
        while True:
            proc = self.proc
            if proc is None or proc.poll() is None:
                time.sleep(0.2)
                continue
            if self._stopping.is_set():
                return
            kill_group(proc.pid, signal.SIGKILL)  # pool children, if any are left
            log.error("the embedded worker exited (code %s); starting it again", proc.returncode)
            _release(self.name, "its worker exited")
            self.restarts += 1
            if self._stopping.wait(min(30.0, 0.5 * 2 ** min(self.restarts, 6))):
                return
            self._spawn()

    def stop(self) -> None:
        """Warm shutdown for `stop_grace_s`, then SIGKILL to the group; requeue its job."""
        self._stopping.set()
        proc = self.proc
        if proc is not None:
            # the worker process alone: Celery's warm shutdown lets its pool child end the job
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=self.stop_grace_s)
            except subprocess.TimeoutExpired:
                log.warning(
                    "the worker did not stop in %.1f s; stopping it cold", self.stop_grace_s
                )
            kill_group(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
            _release(self.name, "the server stopped")
        if self._watcher is not None:
            self._watcher.join(timeout=2)
        self.lock.release()


def _release(worker_name: str, reason: str) -> None:
    from difflab.jobs.reconciler import release_worker_jobs

    try:
        release_worker_jobs(worker_name, reason)
    except Exception:  # the database may be down; the reconciler catches up later
        log.exception("could not release the jobs of worker %s", worker_name)


def bind_to_parent(parent_pid: int) -> None:
    """Called first thing in an embedded worker: die with the server that started it."""
    if die_with_parent(signal.SIGKILL):
        if os.getppid() != parent_pid:  # the server died before we asked
            os._exit(1)
        return

    # elsewhere: a thread that notices the server is gone and ends this process group
    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent_pid:
                log.warning("the server that started this worker is gone; stopping")
                kill_group(os.getpgid(0), signal.SIGKILL)
                os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def bind_pool_child() -> None:
    """A pool child never outlives its worker process (nor runs a job headless)."""
    parent = os.getppid()
    if die_with_parent(signal.SIGKILL) and os.getppid() != parent:
        os._exit(1)

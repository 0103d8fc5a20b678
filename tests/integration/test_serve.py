"""`difflab serve` as a user runs it: the API and its embedded worker live and die together.

Real processes throughout: `difflab serve`, its Celery worker and `make run`, killed and
signalled as a supervisor, a crash or a Ctrl-C would.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from difflab.jobs.embedded import LOCK_NAME, pid_alive
from tests.utils.services import Api, Proc, free_port, service_env, wait_for

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def _serve(env: dict[str, str], log: Path, port: int | None = None) -> tuple[Proc, str]:
    port = port or free_port()
    proc = Proc([sys.executable, "-m", "difflab.cli", "serve", "--port", str(port)], env, log)
    return proc, f"http://127.0.0.1:{port}"


def _wait_healthy(proc: Proc, base: str, timeout: float = 120) -> Api:
    def healthy() -> bool:
        if not proc.alive():
            raise RuntimeError(f"serve exited:\n{proc.output()[-3000:]}")
        try:
            return httpx.get(base + "/api/v1/health", timeout=2).json().get("workers") == 1
        except (httpx.HTTPError, ValueError):
            return False

    wait_for(healthy, timeout=timeout, what="the server and its worker")
    return Api(base)


def _group(pgid: int) -> list[int]:
    """Live processes of a process group (the embedded worker and its pool children)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            pids.append(int(entry.name))
    return pids


def _running_attempt(api: Api, job_id: str, attempt: int, timeout: float = 60) -> None:
    wait_for(
        lambda: (j := api.job(job_id))["state"] == "running" and j["attempts"] == attempt,
        timeout=timeout,
        what=f"job {job_id} to run attempt {attempt}",
    )


def _worker_pid(api: Api) -> int:
    return int(api.get("/api/v1/workers").json()["workers"][0]["pid"])


def test_sigterm_stops_serve_and_its_worker_in_time_and_requeues_the_job(tmp_path) -> None:
    env = service_env(tmp_path / "var", DIFFLAB_STOP_GRACE_S="2")
    serve, base = _serve(env, tmp_path / "serve.log")
    try:
        api = _wait_healthy(serve, base)
        # a finished job first: the worker takes work
        quick = api.submit("sleep", steps=2, step_seconds=0.1)
        assert api.wait_state(quick["id"], ("succeeded",))["state"] == "succeeded"
        long = api.submit("sleep", steps=200, step_seconds=0.2)
        _running_attempt(api, long["id"], 1)
        worker = _worker_pid(api)
        started = time.monotonic()
        serve.popen.send_signal(signal.SIGTERM)
        code = serve.popen.wait(timeout=15)
        took = time.monotonic() - started
        assert code == 0, serve.output()[-2000:]
        assert took < 10, f"serve took {took:.1f} s to stop"
        assert _group(worker) == [], "a process of the embedded worker outlived serve"
        # the job it held went back to the queue, not on to success headless
        again, base2 = _serve(env, tmp_path / "serve2.log")
        try:
            api2 = _wait_healthy(again, base2)
            job = api2.job(long["id"])
            assert job["state"] in ("queued", "running")
            assert job["attempts"] <= 2
        finally:
            again.stop()
    finally:
        serve.stop()


def test_kill_9_of_serve_takes_its_worker_and_the_next_serve_runs_the_job_once(tmp_path) -> None:
    env = service_env(tmp_path / "var")
    serve, base = _serve(env, tmp_path / "serve.log")
    try:
        api = _wait_healthy(serve, base)
        job = api.submit("sleep", steps=30, step_seconds=0.3)
        _running_attempt(api, job["id"], 1)
        wait_for(lambda: api.job(job["id"])["progress"] > 0, what="the job's first steps")
        worker = _worker_pid(api)
        assert _group(worker), "the worker's process group"
        serve.popen.send_signal(signal.SIGKILL)  # no chance to stop anything
        serve.popen.wait(timeout=10)
        killed = time.monotonic()
        wait_for(lambda: not _group(worker), timeout=5, what="the worker to die with serve")
        assert time.monotonic() - killed < 5
        time.sleep(12)  # longer than the job had left: nobody may finish it headless
        again, base2 = _serve(env, tmp_path / "serve2.log")
        try:
            api2 = _wait_healthy(again, base2)
            done = api2.wait_state(job["id"], ("succeeded", "failed"), timeout=90)
            assert done["state"] == "succeeded", done
            assert done["attempts"] == 2
            events = api2.events(job["id"])
            states = [e["payload"] for e in events if e["type"] == "state"]
            assert [s["attempt"] for s in states if s["state"] == "running"] == [1, 2]
            assert [s["state"] for s in states].count("succeeded") == 1
            assert any(
                s["state"] == "queued" and "server" in s.get("reason", "") for s in states
            ), states
        finally:
            again.stop()
    finally:
        serve.stop()


def _hold_lock_as_ghost(data_dir: Path) -> subprocess.Popen[bytes]:
    """A process that holds the data directory's worker lock while the server that took it is
    gone: what a worker left behind by a dead server looks like from outside."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / LOCK_NAME, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        ghost = subprocess.Popen(["sleep", "300"], pass_fds=(fh.fileno(),), start_new_session=True)
        fh.seek(0)
        fh.truncate()
        fh.write(
            json.dumps({"server_pid": gone.pid, "worker_pid": ghost.pid, "worker_name": "ghost"})
        )
    return ghost


def test_a_second_serve_ends_a_ghost_worker_or_refuses_beside_a_live_server(tmp_path) -> None:
    data = tmp_path / "var"
    env = service_env(data)
    ghost = _hold_lock_as_ghost(data)
    first, base = _serve(env, tmp_path / "first.log")
    try:
        api = _wait_healthy(first, base)
        ghost.wait(timeout=10)  # ended by the new server before it started its own worker
        assert len(api.get("/api/v1/workers").json()["workers"]) == 1
        # while that server lives, a second one on the same data directory refuses to start
        second, _ = _serve(env, tmp_path / "second.log")
        assert second.popen.wait(timeout=60) == 2
        second.stop()
        assert f"pid {first.pid}" in second.output(), second.output()[-2000:]
        assert first.alive()
        assert len(api.get("/api/v1/workers").json()["workers"]) == 1
    finally:
        first.stop()
        if ghost.poll() is None:
            ghost.kill()


def test_a_worker_that_dies_under_a_live_server_is_started_again(tmp_path) -> None:
    env = service_env(tmp_path / "var")
    serve, base = _serve(env, tmp_path / "serve.log")
    try:
        api = _wait_healthy(serve, base)
        worker = _worker_pid(api)
        os.killpg(worker, signal.SIGKILL)
        wait_for(
            lambda: (
                [w["pid"] for w in api.get("/api/v1/workers").json()["workers"]]
                not in ([], [worker])
            ),
            timeout=90,
            what="a new embedded worker",
        )
        job = api.submit("sleep", steps=2, step_seconds=0.1)
        assert api.wait_state(job["id"], ("succeeded",), timeout=60)["state"] == "succeeded"
    finally:
        serve.stop()


def test_ctrl_c_of_make_run_leaves_no_process_behind(tmp_path) -> None:
    port = free_port()
    env = service_env(tmp_path / "var", DIFFLAB_PORT=str(port))
    log = open(tmp_path / "make-run.log", "wb")  # noqa: SIM115
    make = subprocess.Popen(
        ["make", "--no-print-directory", "run"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own group, as a terminal's foreground job is
    )
    try:
        proc = Proc.__new__(Proc)  # for _wait_healthy's liveness check
        proc.popen, proc.log_path = make, tmp_path / "make-run.log"
        api = _wait_healthy(proc, f"http://127.0.0.1:{port}", timeout=600)
        worker = _worker_pid(api)
        members = _group(make.pid)
        assert len(members) >= 2  # make and serve
        os.killpg(make.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends
        make.wait(timeout=15)
        wait_for(
            lambda: not _group(make.pid) and not _group(worker),
            timeout=15,
            what="every process of make run to end",
        )
        assert not any(pid_alive(p) for p in members)
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)
        log.close()

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
import threading
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
        assert "GET /api/v1/health" not in serve.output()  # no access log by default
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


def _api_processes(data_dir: Path) -> list[int]:
    """The API processes listening for notifications (jobs/notify.py registers each)."""
    registry = data_dir / "notify"
    pids = [int(p.stem) for p in registry.glob("*.port") if p.stem.isdigit()]
    return sorted(p for p in pids if pid_alive(p))


def _duty_holder(data_dir: Path) -> int | None:
    """The pid written into the duty lock, when the lock is held (None when free)."""
    path = data_dir / "duties.lock"
    with open(path, "rb") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return int(f.read().decode() or 0) or None
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        return None


def test_several_api_processes_share_the_port_the_streams_and_one_runs_the_duties(
    tmp_path,
) -> None:
    data = tmp_path / "var"
    env = service_env(
        data, DIFFLAB_API_PROCESSES="2", DIFFLAB_STOP_GRACE_S="2", DIFFLAB_ACCESS_LOG="true"
    )
    serve, base = _serve(env, tmp_path / "serve.log")
    try:
        api = _wait_healthy(serve, base)
        processes = wait_for(
            lambda: len(p := _api_processes(data)) == 2 and p, timeout=60, what="2 API processes"
        )
        leader = wait_for(lambda: _duty_holder(data), timeout=10, what="a process to lead")
        assert leader in processes

        # live streams on either process get every event of a job the worker runs
        job = api.submit("sleep", steps=20, step_seconds=0.1)
        seen: list[list[int]] = [[] for _ in range(6)]

        def follow(i: int) -> None:  # a client of its own: a connection of its own, which
            # the kernel hands to either process
            with (
                httpx.Client(base_url=base, cookies=api.client.cookies, timeout=60) as c,
                c.stream("GET", f"/api/v1/jobs/{job['id']}/events") as r,
            ):
                assert r.status_code == 200
                for line in r.iter_lines():
                    if line.startswith("id:"):
                        seen[i].append(int(line[3:]))
                    if line.startswith("event: end"):
                        break

        threads = [threading.Thread(target=follow, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert api.job(job["id"])["state"] == "succeeded"
        assert seen[0] and all(s == seen[0] == sorted(s) for s in seen), seen

        # the leader dies: uvicorn starts a new process and the duties move within a period
        os.kill(leader, signal.SIGKILL)
        successor = wait_for(
            lambda: (h := _duty_holder(data)) not in (None, leader) and h,
            timeout=30,
            what="another process to take the duties",
        )
        assert pid_alive(successor)
        wait_for(lambda: len(_api_processes(data)) == 2, timeout=60, what="a new API process")
        assert api.get("/api/v1/auth/me").status_code == 200
        assert '"GET /api/v1/auth/me HTTP/1.1" 200' in serve.output()  # ACCESS_LOG asked

        serve.popen.send_signal(signal.SIGTERM)
        assert serve.popen.wait(timeout=20) == 0, serve.output()[-2000:]
        wait_for(lambda: not _api_processes(data), timeout=10, what="the API processes to end")
    finally:
        serve.stop()


def test_on_postgres_one_of_several_api_processes_holds_the_duty_lock(tmp_path) -> None:
    import sqlalchemy as sa

    from tests.utils.services import migrate, postgres_database, redis_database, start_server

    def holders(url: str) -> list[int]:
        """API process pids whose duty connection holds an advisory lock."""
        engine = sa.create_engine(url)
        try:
            with engine.connect() as c:
                names = c.execute(
                    sa.text(
                        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a "
                        "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
                        "AND a.application_name LIKE 'difflab-duties-%'"
                    )
                ).scalars()
                return [int(n.rpartition("-")[2]) for n in names]
        finally:
            engine.dispose()

    with postgres_database() as db, redis_database(11) as broker:
        env = service_env(
            tmp_path / "var", database_url=db, broker_url=broker, DIFFLAB_API_PROCESSES="2"
        )
        migrate(env)
        server, base = start_server(env, tmp_path)
        try:
            first = wait_for(lambda: holders(db), timeout=30, what="a duty holder")
            assert len(first) == 1 and pid_alive(first[0])
            os.kill(first[0], signal.SIGKILL)
            after = wait_for(
                lambda: (h := holders(db)) and h != first and h, timeout=30, what="a successor"
            )
            assert len(after) == 1 and pid_alive(after[0])
            assert httpx.get(base + "/api/v1/health", timeout=5).status_code in (200, 503)
        finally:
            server.stop()

"""`difflab serve` as a user runs it: the API plus its embedded worker, stopped cleanly."""

from __future__ import annotations

import os
import signal
import sys

import httpx
import pytest

from tests.utils.services import Api, Proc, free_port, service_env, wait_for

pytestmark = pytest.mark.integration


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purpose
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
def test_serve_runs_an_embedded_worker_that_ends_with_it(tmp_path, how) -> None:
    env = service_env(tmp_path / "var")
    port = free_port()
    serve = Proc(
        [sys.executable, "-m", "difflab.cli", "serve", "--port", str(port)],
        env,
        tmp_path / "serve.log",
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def healthy() -> bool:
            try:
                return httpx.get(base + "/api/v1/health", timeout=2).json().get("workers") == 1
            except (httpx.HTTPError, ValueError):
                return False

        wait_for(healthy, timeout=120, what="the server and its worker")
        api = Api(base)
        job = api.submit("sleep", steps=2, step_seconds=0.1)
        assert api.wait_state(job["id"], ("succeeded",), timeout=60)["state"] == "succeeded"
        worker_pid = api.get("/api/v1/workers").json()["workers"][0]["pid"]
        assert _alive(worker_pid)
        if how == "sigterm":
            serve.popen.send_signal(signal.SIGTERM)
        else:  # the server dies without a chance to stop its worker
            serve.popen.send_signal(signal.SIGKILL)
        serve.popen.wait(timeout=40)
        wait_for(lambda: not _alive(worker_pid), timeout=40, what="the embedded worker to end")
    finally:
        serve.stop()

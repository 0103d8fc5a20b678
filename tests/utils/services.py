"""Real services for tests: worker and server subprocesses, fresh PostgreSQL databases, Redis.

Nothing here mocks anything: workers are `difflab worker` processes, the server is
`difflab serve`, and they talk to the same SQLite, PostgreSQL and Redis a user would run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

ADMIN_PASSWORD = "admin-password-1"
PG_ADMIN_URL = os.environ.get(
    "DIFFLAB_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("DIFFLAB_TEST_REDIS", "redis://127.0.0.1:6379")


def wait_for(
    predicate: Callable[[], Any], timeout: float = 30.0, every: float = 0.1, what: str = "condition"
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def service_env(
    data_dir: Path,
    *,
    database_url: str = "",
    broker_url: str = "",
    models_dir: Path | None = None,
    **extra: str,
) -> dict[str, str]:
    """Environment for a test deployment: fast heartbeats so failures show within seconds."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIFFLAB_")}
    env.update(
        DIFFLAB_DATA_DIR=str(data_dir),
        DIFFLAB_MODELS_DIR=str(models_dir or data_dir / "models"),
        DIFFLAB_DATABASE_URL=database_url,
        DIFFLAB_BROKER_URL=broker_url,
        DIFFLAB_ADMIN_USER="admin",
        DIFFLAB_ADMIN_PASSWORD=ADMIN_PASSWORD,
        DIFFLAB_HEARTBEAT_S="0.5",
        DIFFLAB_STALE_AFTER_S="4",
        DIFFLAB_RECONCILE_EVERY_S="1",
        DIFFLAB_REQUEUE_AFTER_S="30",
        DIFFLAB_FRONTEND_DIST=str(Path(__file__).resolve().parents[2] / "frontend" / "dist"),
        DIFFLAB_TORCH_THREADS="1",
        # the machine's free disk is not what a test is about (the disk tests set their own)
        DIFFLAB_MIN_FREE_DISK_MB="0",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def apply_env(env: dict[str, str]) -> None:
    """Point this process at a deployment (for in-process API tests) and drop cached globals."""
    for key in [k for k in os.environ if k.startswith("DIFFLAB_")]:
        del os.environ[key]
    os.environ.update({k: v for k, v in env.items() if k.startswith("DIFFLAB_")})
    reset_caches()


def reset_caches() -> None:
    from difflab.config import get_settings
    from difflab.db import engine
    from difflab.jobs import celery_app, notify

    get_settings.cache_clear()
    notify.reset_publisher()  # else it keeps sending to an earlier deployment's registry
    with contextlib.suppress(Exception):
        engine.get_engine().dispose()
    engine.get_engine.cache_clear()
    engine._sessionmaker.cache_clear()
    engine._read_sessionmaker.cache_clear()
    celery_app.get_celery.cache_clear()


def migrate(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "difflab.cli", "migrate"],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database; dropped afterwards."""
    import sqlalchemy as sa

    name = f"difflab_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextlib.contextmanager
def redis_database(db: int) -> Iterator[str]:
    """A Redis logical database, flushed before and after."""
    import redis

    client = redis.Redis.from_url(f"{REDIS_URL}/{db}")
    client.flushdb()
    try:
        yield f"{REDIS_URL}/{db}"
    finally:
        client.flushdb()
        client.close()


class Proc:
    """A subprocess whose output goes to a log file, stopped (or killed) on exit."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 (closed in stop)
        self.popen = subprocess.Popen(
            args, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill9(self) -> None:
        """SIGKILL the whole process group (a Celery worker's children die with it)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self, timeout: float = 15.0) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill9()
        self._log.close()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_worker(env: dict[str, str], name: str, log_dir: Path, queues: str = "gpu,cpu") -> Proc:
    proc = Proc(
        [sys.executable, "-m", "difflab.cli", "worker", "--queues", queues, "--name", name],
        {**env, "DIFFLAB_WORKER_NAME": name},
        log_dir / f"{name}.log",
    )
    try:
        wait_for(
            lambda: _worker_registered(env, name) or not proc.alive(),
            timeout=90,
            what=f"worker {name} to start",
        )
    except TimeoutError:
        proc.stop()
        raise
    if not proc.alive():
        raise RuntimeError(f"worker {name} exited:\n{proc.output()[-3000:]}")
    return proc


def _worker_registered(env: dict[str, str], name: str) -> bool:
    import sqlalchemy as sa

    url = (
        env["DIFFLAB_DATABASE_URL"]
        or f"sqlite:///{Path(env['DIFFLAB_DATA_DIR']).resolve() / 'difflab.sqlite'}"
    )
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return (
                conn.execute(sa.text("SELECT 1 FROM workers WHERE name = :n"), {"n": name}).first()
                is not None
            )
    except Exception:
        return False
    finally:
        engine.dispose()


def start_server(env: dict[str, str], log_dir: Path, port: int | None = None) -> tuple[Proc, str]:
    port = port or free_port()
    proc = Proc(
        [sys.executable, "-m", "difflab.cli", "serve", "--no-worker", "--port", str(port)],
        env,
        log_dir / f"server-{port}.log",
    )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if not proc.alive():
            raise RuntimeError(f"server exited:\n{proc.output()[-3000:]}")
        try:
            return httpx.get(base + "/api/v1/health", timeout=2).status_code in (200, 503)
        except httpx.HTTPError:
            return False

    try:
        wait_for(up, timeout=120, what="the server to answer")
    except BaseException:
        proc.stop()
        raise
    return proc, base


class Api:
    """An httpx client signed in as a user (cookie + CSRF token), for tests and benchmarks."""

    def __init__(self, base: str, username: str = "admin", password: str = ADMIN_PASSWORD) -> None:
        self.client = httpx.Client(base_url=base, timeout=60)
        r = self.client.post(
            "/api/v1/auth/login", json={"username": username, "password": password}
        )
        r.raise_for_status()
        self.client.headers["x-csrf-token"] = r.json()["csrf_token"]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def submit(self, kind: str, **params: Any) -> dict[str, Any]:
        r = self.client.post("/api/v1/jobs", json={"kind": kind, "params": params})
        assert r.status_code == 202, r.text
        return r.json()

    def job(self, job_id: str) -> dict[str, Any]:
        r = self.client.get(f"/api/v1/jobs/{job_id}")
        r.raise_for_status()
        return r.json()

    def wait_state(
        self, job_id: str, states: tuple[str, ...], timeout: float = 60
    ) -> dict[str, Any]:
        return wait_for(
            lambda: (j := self.job(job_id))["state"] in states and j,
            timeout=timeout,
            every=0.2,
            what=f"job {job_id} to reach {states}",
        )

    def events(self, job_id: str, after: int = 0) -> list[dict[str, Any]]:
        r = self.client.get(
            f"/api/v1/jobs/{job_id}/events",
            params={"after": after},
            headers={"accept": "application/json"},
        )
        r.raise_for_status()
        return list(r.json())

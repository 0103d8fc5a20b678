"""Restart PostgreSQL while a job runs, in the production shape (PostgreSQL + Redis + a
worker): the API answers 503 while the database is away, and afterwards every accepted job
ends done, once, with nothing lost (counted by the ledger).

The test runs its own PostgreSQL (initdb into a temporary directory, a free port); the shared
one is never touched.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.reliability.cluster import Cluster, deploy, timer
from tests.reliability.conftest import Recorder, reliability_env
from tests.utils.ledger import Ledger
from tests.utils.services import free_port, redis_database, wait_for

pytestmark = pytest.mark.integration


def _pg_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return found[-1].parent if found else None


class PostgresServer:
    """A throwaway PostgreSQL cluster run as the `postgres` user (it refuses to run as root)."""

    def __init__(self, root: Path, port: int) -> None:
        self.bin = _pg_bin()
        self.data = root / "pgdata"
        self.log = root / "postgres.log"
        self.port = port
        root.mkdir(parents=True, exist_ok=True)
        shutil.chown(root, "postgres", "postgres")

    def _as_postgres(self, *args: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *args],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def init(self) -> None:
        assert self.bin is not None
        self._as_postgres(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust",
                          "-U", "postgres")  # fmt: skip

    def start(self) -> None:
        assert self.bin is not None
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1"
        self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options,
                          "-l", str(self.log), "-w", "start")  # fmt: skip

    def stop(self) -> None:
        assert self.bin is not None
        self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast",
                          "-w", "stop")  # fmt: skip

    def url(self, db: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{db}"


@pytest.fixture
def pg_cluster(tmp_path: Path) -> Iterator[tuple[Cluster, PostgresServer]]:
    if _pg_bin() is None or shutil.which("runuser") is None:
        pytest.skip("PostgreSQL server binaries are not installed")
    import sqlalchemy as sa

    # the postgres user cannot enter pytest's private temporary directories
    root = Path(tempfile.mkdtemp(prefix="difflab-pg-"))
    pg = PostgresServer(root, free_port())
    pg.init()
    pg.start()
    admin = sa.create_engine(pg.url("postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text('CREATE DATABASE "difflab"'))
    admin.dispose()
    with redis_database(9) as broker:
        c = deploy(
            reliability_env(
                tmp_path, DIFFLAB_DATABASE_URL=pg.url("difflab"), DIFFLAB_BROKER_URL=broker
            ),  # fmt: skip
            tmp_path / "logs",
        )
        try:
            yield c, pg
        finally:
            c.stop()
            pg.stop()
            shutil.rmtree(root, ignore_errors=True)


@pytest.mark.timeout(300)
def test_postgres_restart_mid_job(
    pg_cluster: tuple[Cluster, PostgresServer], reliability: Recorder
) -> None:
    reliability.fault("own PostgreSQL stopped ~4 s (fast shutdown) while a job runs, 3 queued")
    cluster, pg = pg_cluster
    cluster.use_workers(1)
    api = cluster.api()
    ledger = Ledger()
    running = ledger.submit(api, "sleep", steps=30, step_seconds=0.2)
    assert running is not None
    api.wait_state(running["id"], ("running",), timeout=60)
    queued = [ledger.submit(api, "sleep", steps=2, step_seconds=0.05) for _ in range(3)]
    assert all(queued)

    pg.stop()
    with timer() as outage:
        r = httpx.get(cluster.base + "/api/v1/jobs", cookies=api.client.cookies, timeout=30)
        assert r.status_code == 503, r.text  # the database is away: said so, not a 500
        time.sleep(4)
        pg.start()
    wait_for(
        lambda: httpx.get(cluster.base + "/api/v1/health", timeout=10).status_code == 200,
        timeout=60,
        what="the API to see the database again",
    )
    with timer() as recovery:
        for job_id in ledger.accepted:
            done = api.wait_state(job_id, ("succeeded", "failed", "cancelled"), timeout=180)
            assert done["state"] == "succeeded", done
    audit = ledger.audit(api)
    states = [e["payload"]["state"] for e in api.events(running["id"]) if e["type"] == "state"]
    assert states.count("succeeded") == 1, states
    reliability.outcome(
        f"503 while down; all {audit.checked} accepted jobs succeeded once "
        f"({recovery['s']:.0f} s after the restart; outage {outage['s']:.0f} s; the running "
        f"job took {api.job(running['id'])['attempts']} attempt(s))",
        audit.count,
    )
    assert audit.count == 0, audit.lost

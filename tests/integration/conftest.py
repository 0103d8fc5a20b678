"""Deployments with real worker processes: embedded, and Redis + PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.utils.services import (
    Api,
    Proc,
    migrate,
    postgres_database,
    redis_database,
    service_env,
    start_server,
    start_worker,
)


@dataclass
class Deployment:
    env: dict[str, str]
    base: str
    server: Proc
    log_dir: Path
    workers: list[Proc] = field(default_factory=list)

    def api(self, username: str = "admin", password: str | None = None) -> Api:
        return Api(self.base) if password is None else Api(self.base, username, password)

    def api_at(self, base: str) -> Api:
        """A client of another server of this deployment (one started again)."""
        self.base = base
        return Api(base)

    def add_worker(self, name: str, queues: str = "gpu,cpu") -> Proc:
        proc = start_worker(self.env, name, self.log_dir, queues)
        self.workers.append(proc)
        return proc


def _deploy(env: dict[str, str], log_dir: Path) -> Iterator[Deployment]:
    log_dir.mkdir(parents=True, exist_ok=True)
    migrate(env)
    server, base = start_server(env, log_dir)
    dep = Deployment(env, base, server, log_dir)
    try:
        yield dep
    finally:
        for w in dep.workers:
            w.stop()
        server.stop()


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[Deployment]:
    yield from _deploy(service_env(tmp_path / "var"), tmp_path / "logs")


@pytest.fixture(scope="module")
def embedded_shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """One embedded deployment for a whole test module (tests that don't disturb each other)."""
    root = tmp_path_factory.mktemp("deployment")
    yield from _deploy(service_env(root / "var"), root / "logs")


@pytest.fixture
def redis_pg(tmp_path: Path) -> Iterator[Deployment]:
    with postgres_database() as db_url, redis_database(7) as broker_url:
        yield from _deploy(
            service_env(tmp_path / "var", database_url=db_url, broker_url=broker_url),
            tmp_path / "logs",
        )


@pytest.fixture(scope="module")
def gen_deployment(embedded_shared: Deployment) -> Deployment:
    """The module's embedded deployment with the tiny test pipeline as `house` and a worker."""
    from difflab.diffusion.tiny import build_tiny_pipeline_dir

    models = Path(embedded_shared.env["DIFFLAB_MODELS_DIR"])
    build_tiny_pipeline_dir(models / "house", seed=0)
    embedded_shared.add_worker("w1")
    return embedded_shared

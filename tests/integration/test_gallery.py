"""The gallery's filters through HTTP (GET /api/v1/generations), on SQLite and PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import Deployment
from tests.utils.services import Api, postgres_database

pytestmark = pytest.mark.integration

# prompt, sampler as sent (an alias in one), width, height
ROWS = [
    ("A Red Circle on the left", "Euler a", 64, 64),
    ("a blue square at the top", "DDIM", 32, 48),
    ("a red square, small", "k_euler_a", 48, 32),
    ("100%_ green triangle", "DPM++ 2M", 64, 64),
]


def _post_rows(api: Api) -> list[dict[str, Any]]:
    made = []
    for prompt, sampler, width, height in ROWS:
        r = api.post(
            "/api/v1/generations",
            json={"prompt": prompt, "sampler": sampler, "width": width, "height": height,
                  "steps": 2, "seed": 1, "preview": "none", "attention": False},
        )  # fmt: skip
        assert r.status_code == 202, r.text
        made.append(r.json()["generation"])
    return made


def _prompts(api: Api, **query: Any) -> tuple[list[str], int]:
    r = api.get("/api/v1/generations", params=query)
    assert r.status_code == 200, r.text
    body = r.json()
    return [g["prompt"] for g in body["data"]], body["count"]


def _check_filters(api: Api, made: list[dict[str, Any]]) -> None:
    """ROWS were posted in order, and are all the deployment's generations."""
    prompts = [p for p, *_ in ROWS]
    assert _prompts(api) == (prompts[::-1], 4)  # newest first
    # q: a case-insensitive substring; LIKE's wildcards are plain characters
    assert _prompts(api, q="RED") == ([prompts[2], prompts[0]], 2)
    assert _prompts(api, q="100%_") == ([prompts[3]], 1)
    assert _prompts(api, q="%") == ([prompts[3]], 1)
    assert _prompts(api, q="_ g") == ([prompts[3]], 1)
    assert _prompts(api, q="nothing like it") == ([], 0)
    # sampler: the name or an alias, matched as the registry name
    assert _prompts(api, sampler="Euler a") == ([prompts[2], prompts[0]], 2)
    assert _prompts(api, sampler="k_euler_ancestral")[1] == 2
    assert _prompts(api, sampler="DDIM") == ([prompts[1]], 1)
    # size: width and height, alone or as WxH
    assert _prompts(api, size="32x48") == ([prompts[1]], 1)
    assert _prompts(api, width=48, height=32) == ([prompts[2]], 1)
    assert _prompts(api, width=64)[1] == 2
    assert _prompts(api, size="64x64", width=64)[1] == 2
    # model
    assert _prompts(api, model="house")[1] == 4
    assert _prompts(api, model="other") == ([], 0)
    # together
    assert _prompts(api, q="red", sampler="Euler a", size="48x32") == ([prompts[2]], 1)
    assert _prompts(api, q="blue", sampler="Euler a") == ([], 0)
    # pages: offset/limit within the filtered list; count is the filtered total
    assert _prompts(api, q="red", limit=1) == ([prompts[2]], 2)
    assert _prompts(api, q="red", limit=1, offset=1) == ([prompts[0]], 2)
    assert _prompts(api, q="red", limit=1, offset=2) == ([], 2)
    # since (inclusive) and until (exclusive) on created_at, in any time zone
    third = datetime.fromisoformat(made[2]["created_at"])
    assert _prompts(api, since=third.isoformat()) == ([prompts[3], prompts[2]], 2)
    assert _prompts(api, until=third.isoformat()) == ([prompts[1], prompts[0]], 2)
    east = third.astimezone(timezone(timedelta(hours=8)))
    assert _prompts(api, since=east.isoformat())[1] == 2
    naive_utc = third.astimezone(UTC).replace(tzinfo=None)  # no zone: UTC
    assert _prompts(api, since=naive_utc.isoformat())[1] == 2
    second = datetime.fromisoformat(made[1]["created_at"])
    window = {"since": second.isoformat(), "until": third.isoformat()}
    assert _prompts(api, **window) == ([prompts[1]], 1)
    assert _prompts(api, q="red", **window) == ([], 0)
    later = (third + timedelta(days=1)).isoformat()
    assert _prompts(api, since=later) == ([], 0)


@pytest.fixture(scope="module")
def gallery_rows(gen_deployment: Deployment) -> list[dict[str, Any]]:
    return _post_rows(gen_deployment.api())


def test_gallery_filters_narrow_the_list_and_the_count(gen_deployment, gallery_rows) -> None:
    _check_filters(gen_deployment.api(), gallery_rows)


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ({"sampler": "Nope"}, "sampler"),
        ({"size": "64"}, "size"),
        ({"size": "axb"}, "size"),
        ({"size": "64x64", "width": 32}, "size"),
        ({"width": 0}, "width"),
        ({"height": "tall"}, "height"),
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-13-40"}, "until"),
        ({"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "until"),
        ({"q": "x" * 501}, "q"),
        ({"limit": 0}, "limit"),
    ],
)
def test_bad_filter_values_are_422_naming_the_parameter(gen_deployment, query, name) -> None:
    r = gen_deployment.api().get("/api/v1/generations", params=query)
    assert r.status_code == 422, r.text
    locs = [err["loc"] for err in r.json()["detail"]]
    assert any(loc[0] == "query" and loc[-1] == name for loc in locs), locs


def test_a_user_filters_only_their_own_generations(gen_deployment, gallery_rows) -> None:
    admin = gen_deployment.api()
    r = admin.post("/api/v1/users", json={"username": "gallery-bob", "password": "bob-password-1"})
    assert r.status_code in (200, 201), r.text
    bob = gen_deployment.api("gallery-bob", "bob-password-1")
    r = bob.post("/api/v1/generations", json={"prompt": "a red dot", "steps": 2, "width": 64,
                                              "height": 64, "preview": "none"})  # fmt: skip
    assert r.status_code == 202, r.text
    assert _prompts(bob, q="red") == (["a red dot"], 1)
    assert _prompts(bob, size="64x64")[1] == 1
    assert _prompts(admin, q="red")[1] == 3  # an admin's view holds everyone's


@pytest.fixture
def pg_deployment(tmp_path: Path) -> Iterator[Deployment]:
    """PostgreSQL (the Redis broker of redis_pg is not needed to list): no worker, so the
    generations stay queued, which the filters do not look at."""
    from difflab.diffusion.tiny import build_tiny_pipeline_dir
    from tests.integration.conftest import _deploy
    from tests.utils.services import redis_database, service_env

    with postgres_database() as db_url, redis_database(8) as broker_url:
        env = service_env(tmp_path / "var", database_url=db_url, broker_url=broker_url)
        build_tiny_pipeline_dir(Path(env["DIFFLAB_MODELS_DIR"]) / "house", seed=0)
        yield from _deploy(env, tmp_path / "logs")


def test_gallery_filters_on_postgresql(pg_deployment) -> None:
    api = pg_deployment.api()
    _check_filters(api, _post_rows(api))
    r = api.get("/api/v1/generations", params={"sampler": "Nope"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "sampler"]


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_the_migration_fills_sampler_and_size_from_params(tmp_path: Path, dialect: str) -> None:
    """Rows stored before the columns existed get them from their params (upgrade after a
    downgrade to 0004 runs the same backfill)."""
    import contextlib

    from alembic import command
    from sqlalchemy import select

    from difflab.db.engine import get_engine
    from difflab.db.migrate import alembic_config
    from difflab.db.models import Generation, Job
    from tests.utils.services import apply_env, service_env

    with contextlib.ExitStack() as stack:
        url = stack.enter_context(postgres_database()) if dialect == "postgresql" else ""
        env = service_env(tmp_path / "var", database_url=url)
        (tmp_path / "var").mkdir(parents=True)
        saved = {k: v for k, v in os.environ.items() if k.startswith("DIFFLAB_")}
        apply_env(env)
        stack.callback(apply_env, saved)
        cfg = alembic_config()
        command.upgrade(cfg, "head")
        from sqlalchemy.orm import Session

        with Session(get_engine()) as s:
            job = Job(kind="generate", queue="gpu", params={})
            s.add(job)
            s.flush()
            params = {"sampler": "Euler a", "width": 48, "height": 32, "prompt": "x"}
            s.add(Generation(job_id=job.id, model="house", prompt="x", seed=1, params=params))
            s.add(Generation(job_id=job.id, model="house", prompt="y", seed=1, params={}))
            s.commit()
        command.downgrade(cfg, "0004")
        command.upgrade(cfg, "head")
        get_engine().dispose()
        with Session(get_engine()) as s:
            got = s.execute(
                select(
                    Generation.prompt, Generation.sampler, Generation.width, Generation.height
                ).order_by(Generation.prompt)
            ).all()
        get_engine().dispose()
        assert [tuple(r) for r in got] == [("x", "Euler a", 48, 32), ("y", None, None, None)]


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_the_migrations_build_the_tables_the_models_declare(tmp_path: Path, dialect: str) -> None:
    """alembic's autogenerate sees nothing to add or drop after upgrading to head: the ORM
    models and the migrations agree (tables, columns, indexes)."""
    import contextlib

    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from difflab.db.engine import get_engine
    from difflab.db.migrate import alembic_config
    from difflab.db.models import Base
    from tests.utils.services import apply_env, service_env

    with contextlib.ExitStack() as stack:
        url = stack.enter_context(postgres_database()) if dialect == "postgresql" else ""
        env = service_env(tmp_path / "var", database_url=url)
        (tmp_path / "var").mkdir(parents=True)
        saved = {k: v for k, v in os.environ.items() if k.startswith("DIFFLAB_")}
        apply_env(env)
        stack.callback(apply_env, saved)
        command.upgrade(alembic_config(), "head")
        with get_engine().connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        get_engine().dispose()
    kinds = {"add_table", "remove_table", "add_column", "remove_column", "add_index",
             "remove_index"}  # fmt: skip
    structural = [d for d in diff if d[0] in kinds]
    assert structural == [], structural

"""One owner for commits (db/unit_of_work.py, api/deps.py): routes never commit; what must
follow a commit is registered, runs only once the change is stored and never for a request
that fails."""

from __future__ import annotations

import ast
import io
import logging
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI, HTTPException
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select

import difflab.api.routes
from difflab.api import feeds
from difflab.api.deps import DbRoute, SessionDep
from difflab.api.ratelimit import login_limit
from difflab.api.routes import datasets as dataset_routes
from difflab.config import get_settings
from difflab.db.engine import new_session, read_scope, session_scope
from difflab.db.models import Dataset, Job, RateEvent
from difflab.db.unit_of_work import after_commit
from difflab.jobs import notify
from tests.unit.conftest import MakeClient
from tests.unit.security.helpers import ALICE, api_key, submit_sleep
from tests.utils.services import wait_for

ROUTES = Path(difflab.api.routes.__file__).parent


def _ending_calls(source: str, name: str) -> list[str]:
    """Every `.commit` / `.rollback` in the source, called or passed on (run_in_threadpool)."""
    return [
        f"{name}:{node.lineno}: .{node.attr}"
        for node in ast.walk(ast.parse(source, filename=name))
        if isinstance(node, ast.Attribute) and node.attr in ("commit", "rollback")
    ]


def test_routes_never_commit_or_roll_back() -> None:
    modules = sorted(ROUTES.glob("*.py"))
    assert len(modules) > 10, modules
    found = [hit for path in modules for hit in _ending_calls(path.read_text(), path.name)]
    assert found == [], (
        "a route ends its request's transaction itself; DbRoute commits when the endpoint "
        "returns, deps.end_transaction where that is too late, after_commit for what follows"
    )


def test_the_check_sees_calls_and_references() -> None:
    source = "def f(s):\n    s.commit()\n    run(s.rollback)\n    s.committed = 1\n"
    assert _ending_calls(source, "x.py") == ["x.py:2: .commit", "x.py:3: .rollback"]


# ---- the unit of work itself ----


def _rows(key: str) -> int:
    """How many rows of `key` a session of its own sees: what is committed."""
    with read_scope() as s:
        return int(
            s.scalar(select(func.count()).select_from(RateEvent).where(RateEvent.key == key))
        )


def test_an_effect_runs_after_the_commit_and_sees_the_row(embedded_env: Any) -> None:
    seen: list[int] = []
    with session_scope() as s:
        s.add(RateEvent(bucket="test", key="a"))
        after_commit(s, lambda: seen.append(_rows("a")))
        s.flush()
        assert seen == []  # flushed is not committed
    assert seen == [1]


def test_a_rollback_drops_the_effects(embedded_env: Any) -> None:
    ran: list[str] = []
    with pytest.raises(RuntimeError), session_scope() as s:
        s.add(RateEvent(bucket="test", key="b"))
        after_commit(s, ran.append, "failed request")
        raise RuntimeError("the request failed")
    s = new_session()
    try:
        after_commit(s, ran.append, "rolled back")
        s.rollback()
        s.add(RateEvent(bucket="test", key="b"))
        s.commit()  # a later transaction of the same session runs only its own
        after_commit(s, ran.append, "closed")
    finally:
        s.close()
    assert ran == [] and _rows("b") == 1


def test_a_savepoint_is_not_the_commit(embedded_env: Any) -> None:
    ran: list[str] = []
    with session_scope() as s:
        with s.begin_nested():
            s.add(RateEvent(bucket="test", key="c"))
            after_commit(s, ran.append, "effect")
        assert ran == []
    assert ran == ["effect"]


def test_a_failing_effect_is_logged_and_the_next_runs(
    embedded_env: Any, caplog: pytest.LogCaptureFixture
) -> None:
    ran: list[str] = []

    def broken(path: str) -> None:
        raise OSError(f"cannot remove {path}")

    with caplog.at_level(logging.ERROR, logger="difflab.db.unit_of_work"), session_scope() as s:
        s.add(RateEvent(bucket="test", key="d"))
        after_commit(s, broken, "/data/x")
        after_commit(s, ran.append, "next")
    assert ran == ["next"] and _rows("d") == 1
    assert "broken" in caplog.text and "cannot remove /data/x" in caplog.text


# ---- the request's unit of work (DbRoute) ----


@pytest.fixture
def probe(embedded_env: Any) -> Iterator[tuple[TestClient, list[str]]]:
    """Endpoints that store a row and register an effect; `order` tells when the effect ran
    (with what it saw committed) and when the response started."""
    order: list[str] = []
    router = APIRouter(route_class=DbRoute)

    def store(session: Any, key: str) -> None:
        session.add(RateEvent(bucket="test", key=key))
        after_commit(session, lambda: order.append(f"effect saw {_rows(key)}"))

    @router.post("/sync/{key}")
    def sync_ok(key: str, session: SessionDep) -> dict[str, str]:
        store(session, key)
        return {"key": key}

    @router.post("/async/{key}")
    async def async_ok(key: str, session: SessionDep) -> dict[str, str]:
        store(session, key)
        return {"key": key}

    @router.post("/refused/{key}")
    def refused(key: str, session: SessionDep) -> None:
        store(session, key)
        raise HTTPException(409, detail="refused after writing")

    @router.post("/async-refused/{key}")
    async def async_refused(key: str, session: SessionDep) -> None:
        store(session, key)
        raise HTTPException(409, detail="refused after writing")

    app = FastAPI()
    app.include_router(router)

    async def asgi(scope: Any, receive: Any, send: Any) -> None:
        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                order.append("response")
            await send(message)

        await app(scope, receive, sending)

    with TestClient(asgi) as c:
        yield c, order


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_request_commits_once_then_its_effects_run_before_the_response(
    probe: tuple[TestClient, list[str]], kind: str
) -> None:
    c, order = probe
    assert c.post(f"/{kind}/k-{kind}").status_code == 200
    assert order == ["effect saw 1", "response"]
    assert _rows(f"k-{kind}") == 1


@pytest.mark.parametrize("kind", ["refused", "async-refused"])
def test_a_refused_request_stores_nothing_and_runs_no_effect(
    probe: tuple[TestClient, list[str]], kind: str
) -> None:
    c, order = probe
    assert c.post(f"/{kind}/k-{kind}").status_code == 409
    assert order == ["response"]
    assert _rows(f"k-{kind}") == 0


# ---- the routes that moved ----


def test_cancel_of_a_queued_job_reaches_its_stream_at_once(make_client: MakeClient) -> None:
    c = make_client(event_poll_s=30)  # a stream left to its poll would wait 30 s
    notify.reset_publisher()  # it may still send to the API ports of an earlier test's data dir
    alice = api_key(c, ALICE)
    job = submit_sleep(c, alice, steps=2)  # no worker: it stays queued
    got: dict[str, Any] = {}

    def stream() -> None:
        r = c.get(
            f"/api/v1/jobs/{job['id']}/events", headers={**alice, "accept": "text/event-stream"}
        )
        got.update(status=r.status_code, body=r.text, at=time.monotonic())

    reader = threading.Thread(target=stream, daemon=True)
    reader.start()
    wait_for(lambda: feeds.feeds_open() == 1, timeout=10, what="the stream to follow the job")
    assert notify.listener().healthy  # else streams poll every DEGRADED_POLL_S anyway
    cancelled_at = time.monotonic()
    r = c.post(f"/api/v1/jobs/{job['id']}/cancel", headers=alice)
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    reader.join(timeout=10)
    assert not reader.is_alive(), "the stream did not hear of the cancel"
    assert got["status"] == 200 and "event: end" in got["body"] and '"cancelled"' in got["body"]
    assert got["at"] - cancelled_at < 5


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(2):
            zf.writestr(f"{i}.png", _png())
            zf.writestr(f"{i}.txt", f"a red square {i}")
    return buf.getvalue()


def _dataset_rows(name: str) -> int:
    with read_scope() as s:
        return int(s.scalar(select(func.count()).select_from(Dataset).where(Dataset.name == name)))


def test_deleting_a_dataset_removes_its_files_once_the_row_is_gone(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = make_client()
    alice = api_key(c, ALICE)
    files = [("files", ("set.zip", _zip(), "application/zip"))]
    r = c.post("/api/v1/datasets", data={"name": "squares"}, files=files, headers=alice)
    assert r.status_code == 201, r.text
    assert _dataset_rows("squares") == 1  # committed before the answer came
    root = get_settings().data_dir / "datasets" / "squares"
    assert root.is_dir()

    removals: list[tuple[int, bool]] = []
    remove = dataset_routes._remove_files

    def watched(name: str, path: Path) -> None:
        removals.append((_dataset_rows(name), path.is_dir()))
        remove(name, path)

    monkeypatch.setattr(dataset_routes, "_remove_files", watched)
    with session_scope() as s:  # a job training on it: the delete is refused, files stay
        busy = Job(kind="sleep", category="lab", queue="cpu", params={"dataset": "squares"},
                   state="running", max_attempts=1)  # fmt: skip
        s.add(busy)
    assert c.delete("/api/v1/datasets/squares", headers=alice).status_code == 409
    assert removals == [] and root.is_dir() and _dataset_rows("squares") == 1
    with session_scope() as s:
        s.get(Job, busy.id).state = "succeeded"  # type: ignore[union-attr]

    assert c.delete("/api/v1/datasets/squares", headers=alice).status_code == 204
    assert removals == [(0, True)]  # the row was gone, the files still there, then removed
    assert not root.exists()
    assert c.get("/api/v1/datasets/squares", headers=alice).status_code == 404


def test_a_refused_upload_gives_its_name_back(make_client: MakeClient) -> None:
    c = make_client()
    alice = api_key(c, ALICE)
    bad = [("files", ("set.zip", b"not a zip", "application/zip"))]
    r = c.post("/api/v1/datasets", data={"name": "squares"}, files=bad, headers=alice)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "files"]
    assert _dataset_rows("squares") == 0  # the claim was committed, then given back
    good = [("files", ("set.zip", _zip(), "application/zip"))]
    r = c.post("/api/v1/datasets", data={"name": "squares"}, files=good, headers=alice)
    assert r.status_code == 201, r.text


def test_a_failed_sign_in_counts_although_the_answer_is_401(make_client: MakeClient) -> None:
    c = make_client()
    bucket = login_limit(get_settings()).bucket
    r = c.post("/api/v1/auth/login", json={"username": "alice", "password": "guess"})
    assert r.status_code == 401
    with read_scope() as s:
        keys = set(s.scalars(select(RateEvent.key).where(RateEvent.bucket == bucket)))
    assert "name:alice" in keys, keys

"""Keyset pages of GET /jobs and GET /generations: walking by cursor (or the Link header)
gives every row once, newest first with ties broken by id; filters and roles hold on every
page; bad cursors are 422s; `count` stops at its cap; the page query reads an index in order
(EXPLAIN QUERY PLAN on SQLite, EXPLAIN on PostgreSQL)."""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, insert, select, text

from difflab.api.schemas import COUNT_CAP
from difflab.db.engine import get_engine, session_scope
from difflab.db.models import Generation, Job, User
from tests.unit.conftest import MakeClient
from tests.unit.security.helpers import ADMIN, ALICE, BOB, api_key

JOBS, GENERATIONS = "/api/v1/jobs", "/api/v1/generations"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
KINDS = ("sleep", "lab.pca", "xyz")
STATES = ("queued", "running", "succeeded", "failed", "cancelled")
CATEGORIES = ("lab", "generation", "train")


@dataclass(frozen=True)
class Row:
    id: str
    owner: str
    created_at: datetime
    kind: str = ""
    state: str = ""
    category: str = ""


def newest_first(rows: list[Row]) -> list[str]:
    return [r.id for r in sorted(rows, key=lambda r: (r.created_at, r.id), reverse=True)]


def _user_ids() -> dict[str, int]:
    with session_scope() as s:
        return {name: uid for uid, name in s.execute(select(User.id, User.username))}


def _job_values(i: int, owner_id: int, at: datetime) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "kind": KINDS[(i // 2) % 3],
        "category": CATEGORIES[(i // 5) % 3],
        "queue": "cpu",
        "params": {},
        "owner_id": owner_id,
        "state": STATES[i % 5],
        "created_at": at,
    }


def seed_jobs(n: int) -> list[Row]:
    """n jobs of alice, bob and the admin in turn; four at a time share created_at (some
    with microseconds), so every page boundary of a small limit falls inside a tie."""
    ids = _user_ids()
    owners = ("alice", "bob", "admin")
    values = []
    for i in range(n):
        at = T0 + timedelta(seconds=i // 4, microseconds=250_001 if (i // 4) % 2 else 0)
        values.append(_job_values(i, ids[owners[i % 3]], at))
    with session_scope() as s:
        s.execute(insert(Job), values)
    names = {v: k for k, v in ids.items()}
    return [
        Row(v["id"], names[v["owner_id"]], v["created_at"], v["kind"], v["state"], v["category"])
        for v in values
    ]


def seed_generations(n: int) -> list[Row]:
    """n generations (each with its job) of alice and bob in turn, three per created_at."""
    ids = _user_ids()
    rows, jobs, gens = [], [], []
    for i in range(n):
        owner = ("alice", "bob")[i % 2]
        at = T0 + timedelta(minutes=5, seconds=i // 3)
        job = {**_job_values(i, ids[owner], at), "kind": "generate", "category": "generation"}
        gen_id = str(uuid.uuid4())
        jobs.append(job)
        gens.append({
            "id": gen_id, "job_id": job["id"], "owner_id": ids[owner], "model": "tiny",
            "prompt": f"prompt {i}", "seed": i, "params": {}, "sampler": "Euler a",
            "width": 64, "height": 64, "created_at": at,
        })  # fmt: skip
        rows.append(Row(gen_id, owner, at))
    with session_scope() as s:
        s.execute(insert(Job), jobs)
        s.execute(insert(Generation), gens)
    return rows


def walk(
    c: TestClient, path: str, who: dict[str, str], *, by_link: bool = False, **params: Any
) -> list[str]:
    """Every page of a list by its `next` cursor (or by following its Link header); checks
    that each page's Link and `next` agree, and that the last page has neither."""
    seen: list[str] = []
    url, query = path, dict(params)
    for _ in range(200):  # the Link's URL carries its query: no params beside it
        r = c.get(url, params=query or None, headers=who)
        assert r.status_code == 200, r.text
        body = r.json()
        seen += [row["id"] for row in body["data"]]
        link = r.headers.get("link")
        if body["next"] is None:
            assert link is None
            return seen
        assert len(body["data"]) == params.get("limit", len(body["data"]))
        assert link is not None and link.endswith('>; rel="next"'), link
        target = urlsplit(link[1 : link.index(">")])
        linked = {k: v[0] for k, v in parse_qs(target.query).items()}
        assert target.path == path
        assert linked == {**{k: str(v) for k, v in params.items()}, "cursor": body["next"]}
        if by_link:
            url, query = f"{target.path}?{target.query}", {}
        else:
            query = {**params, "cursor": body["next"]}
    raise AssertionError("the pages never ended")


@pytest.fixture
def seeded(make_client: MakeClient) -> tuple[TestClient, dict[str, dict[str, str]]]:
    c = make_client()
    return c, {"admin": api_key(c, ADMIN), "alice": api_key(c, ALICE), "bob": api_key(c, BOB)}


def test_walking_the_jobs_by_cursor_gives_every_row_once_newest_first(seeded) -> None:
    c, who = seeded
    rows = seed_jobs(40)
    expected = newest_first(rows)
    assert len({r.created_at for r in rows}) == 10  # ten times, four rows each
    for limit in (3, 4, 7, 40, 500):
        assert walk(c, JOBS, who["admin"], limit=limit) == expected, limit
    assert walk(c, JOBS, who["admin"], by_link=True, limit=3) == expected
    first = c.get(JOBS, params={"limit": 3}, headers=who["admin"]).json()
    assert first["count"] == 40 and first["count_capped"] is False


def test_walking_the_gallery_by_cursor_gives_every_row_once_newest_first(seeded) -> None:
    c, who = seeded
    rows = seed_generations(25)
    assert walk(c, GENERATIONS, who["admin"], limit=2) == newest_first(rows)
    assert walk(c, GENERATIONS, who["admin"], by_link=True, limit=4) == newest_first(rows)
    alices = [r for r in rows if r.owner == "alice"]
    assert walk(c, GENERATIONS, who["alice"], limit=2) == newest_first(alices)
    # a filter of the gallery goes along on every page (all are 64x64 by the same sampler)
    assert walk(c, GENERATIONS, who["bob"], limit=3, size="64x64", sampler="k_euler_a") == (
        newest_first([r for r in rows if r.owner == "bob"])
    )
    body = c.get(GENERATIONS, params={"limit": 2}, headers=who["alice"]).json()
    assert body["count"] == len(alices) and body["count_capped"] is False


FILTERS = [
    {"kind": "lab.pca"},
    {"state": "failed"},
    {"category": "train"},
    {"owner": "bob"},
    {"kind": "sleep", "state": "queued"},
    {"category": "lab", "owner": "alice"},
]


def test_filters_hold_on_every_page(seeded) -> None:
    c, who = seeded
    rows = seed_jobs(60)
    for filters in FILTERS:
        wanted = [r for r in rows if all(getattr(r, k) == v for k, v in filters.items())]
        assert len(wanted) >= 4, f"{filters} should leave more than one page"
        assert walk(c, JOBS, who["admin"], limit=3, **filters) == newest_first(wanted), filters
        body = c.get(JOBS, params={**filters, "limit": 3}, headers=who["admin"]).json()
        assert body["count"] == len(wanted), filters


def test_learners_walk_only_their_own_jobs(seeded) -> None:
    c, who = seeded
    rows = seed_jobs(30)
    alices = [r for r in rows if r.owner == "alice"]
    assert walk(c, JOBS, who["alice"], limit=4) == newest_first(alices)
    assert walk(c, JOBS, who["alice"], limit=4, kind="sleep") == newest_first(
        [r for r in alices if r.kind == "sleep"]
    )
    assert c.get(JOBS, params={"owner": "bob"}, headers=who["alice"]).json()["count"] == 0
    # a cursor that points at bob's job still shows alice only her own, older ones
    bobs = newest_first([r for r in rows if r.owner == "bob"])
    page = c.get(JOBS, params={"limit": 1, "owner": "bob"}, headers=who["admin"]).json()
    assert [j["id"] for j in page["data"]] == bobs[:1]
    after = next(r for r in rows if r.id == bobs[0])
    older = [r for r in alices if (r.created_at, r.id) < (after.created_at, after.id)]
    assert walk(c, JOBS, who["alice"], limit=50, cursor=page["next"]) == newest_first(older)


def test_offset_still_pages_and_hands_over_to_the_cursor(seeded) -> None:
    c, who = seeded
    expected = newest_first(seed_jobs(20))
    r = c.get(JOBS, params={"offset": 5, "limit": 4}, headers=who["admin"])
    body = r.json()
    assert [j["id"] for j in body["data"]] == expected[5:9] and body["count"] == 20
    # the Link of an offset page drops the offset: the cursor alone says where to go on
    assert "offset" not in r.headers["link"] and "cursor=" in r.headers["link"]
    assert walk(c, JOBS, who["admin"], limit=4, cursor=body["next"]) == expected[9:]
    old_client = c.get(JOBS, params={"offset": 0, "limit": 100}, headers=who["admin"]).json()
    assert [j["id"] for j in old_client["data"]] == expected and old_client["next"] is None


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


BAD_CURSORS = [
    "not a cursor!",
    "%%%",
    _b64(b"plain words"),
    _b64(b'{"created_at": "2026-03-01", "id": "x"}'),
    _b64(b'["2026-03-01T12:00:00+00:00"]'),
    _b64(b'["yesterday", "abc"]'),
    _b64(b'["2026-03-01T12:00:00+00:00", ""]'),
    _b64(b'[20260301, "abc"]'),
    _b64(b'{"2026-03-01T12:00:00+00:00": 1, "abc": 2}'),
    _b64(b'["0001-01-01T00:00:00+01:00", "abc"]'),
    _b64(b'["2026-03-01T12:00:00+00:00", "a\\u0000b"]'),
    _b64(b"\xff\xfe"),
    "x" * 201,
]


def test_a_bad_cursor_or_a_cursor_with_an_offset_is_a_422_naming_cursor(seeded) -> None:
    c, who = seeded
    seed_jobs(3)
    seed_generations(3)
    for path in (JOBS, GENERATIONS):
        for cursor in BAD_CURSORS:
            r = c.get(path, params={"cursor": cursor}, headers=who["alice"])
            assert r.status_code == 422, (path, cursor, r.text)
            assert [e["loc"] for e in r.json()["detail"]] == [["query", "cursor"]], cursor
        page = c.get(path, params={"limit": 1}, headers=who["admin"]).json()
        assert page["next"] is not None
        for offset in (0, 2):
            r = c.get(path, params={"limit": 1, "cursor": page["next"], "offset": offset},
                      headers=who["admin"])  # fmt: skip
            assert r.status_code == 422, r.text
            detail = r.json()["detail"]
            assert detail[0]["loc"] == ["query", "cursor"] and "offset" in detail[0]["msg"]


def test_count_stops_at_the_cap_and_says_so(seeded) -> None:
    c, who = seeded
    uid = _user_ids()["alice"]
    with session_scope() as s:  # one row past the cap, and a few of another kind
        s.execute(insert(Job), [
            {**_job_values(i, uid, T0 + timedelta(milliseconds=i)), "kind": "sleep"}
            for i in range(COUNT_CAP + 1)
        ] + [{**_job_values(i, uid, T0), "kind": "xyz"} for i in range(3)])  # fmt: skip
    for who_ in (who["admin"], who["alice"]):
        body = c.get(JOBS, params={"limit": 2}, headers=who_).json()
        assert (body["count"], body["count_capped"]) == (COUNT_CAP, True)
        assert len(body["data"]) == 2 and body["next"] is not None
    exact = c.get(JOBS, params={"kind": "xyz"}, headers=who["alice"]).json()
    assert (exact["count"], exact["count_capped"]) == (3, False)
    assert c.get(JOBS, headers=who["bob"]).json() == {
        "data": [], "count": 0, "count_capped": False, "next": None
    }  # fmt: skip


def test_a_first_page_that_is_also_the_last_is_its_own_count(seeded) -> None:
    c, who = seeded
    seed_jobs(40)
    seed_generations(25)
    with session_scope() as s:  # a generation has its job
        totals = {JOBS: len(s.scalars(select(Job.id)).all()),
                  GENERATIONS: len(s.scalars(select(Generation.id)).all())}  # fmt: skip
    assert totals == {JOBS: 65, GENERATIONS: 25}
    for path, total in totals.items():
        with Statements(get_engine()) as seen:  # every match on one page: no count statement
            whole = c.get(path, params={"limit": total}, headers=who["admin"]).json()
        assert (len(whole["data"]), whole["count"], whole["count_capped"]) == (total, total, False)
        assert whole["next"] is None
        assert not [q for q, _ in seen.seen if "count(*)" in q], seen.seen
        # a first page with more after it, and a later page that is the last: counted
        first = c.get(path, params={"limit": total - 1}, headers=who["admin"]).json()
        assert (first["count"], first["next"] is not None) == (total, True)
        last = c.get(path, params={"limit": total - 1, "cursor": first["next"]},
                     headers=who["admin"]).json()  # fmt: skip
        assert (len(last["data"]), last["count"], last["next"]) == (1, total, None)
        by_offset = c.get(path, params={"limit": total, "offset": 1}, headers=who["admin"])
        assert by_offset.json()["count"] == total
        # owners' names: an admin's page names everyone's; a learner's own need no query
        owners = {r["owner"] for r in whole["data"]}
        assert {"alice", "bob"} <= owners, owners
        with Statements(get_engine()) as seen:
            mine = c.get(path, params={"limit": 100}, headers=who["alice"]).json()["data"]
        assert mine and {r["owner"] for r in mine} == {"alice"}
        assert not [q for q, _ in seen.seen if "FROM users" in q and " IN " in q], seen.seen


# --- the page queries read an index in order -------------------------------------------------

LISTS = [  # (who, path, params)
    ("admin", JOBS, {}),
    ("alice", JOBS, {}),
    ("admin", JOBS, {"kind": "sleep"}),
    ("admin", JOBS, {"state": "queued"}),
    ("admin", JOBS, {"category": "train"}),
    ("admin", JOBS, {"owner": "bob"}),
    ("alice", JOBS, {"kind": "sleep"}),
    ("alice", JOBS, {"state": "failed", "category": "lab"}),
    ("admin", JOBS, {"kind": "sleep", "state": "queued"}),
    ("admin", GENERATIONS, {}),
    ("alice", GENERATIONS, {}),
    ("alice", GENERATIONS, {"model": "tiny", "size": "64x64"}),
]


class Statements:
    """The SELECTs an engine runs while listening, with their parameters."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.seen: list[tuple[str, Any]] = []

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)

    def _record(self, conn, cursor, statement: str, parameters: Any, *args: object) -> None:  # noqa: ANN001
        if statement.lstrip().upper().startswith("SELECT"):
            self.seen.append((statement, parameters))

    def page_and_count(self, table: str) -> tuple[tuple[str, Any], tuple[str, Any]]:
        """The list's page query (ordered, from `table`) and its count."""
        pages = [s for s in self.seen if f"FROM {table}" in s[0] and "ORDER BY" in s[0]]
        counts = [s for s in self.seen if "count(*)" in s[0] and f"FROM {table}" in s[0]]
        assert len(pages) == 1 and len(counts) == 1, self.seen
        return pages[0], counts[0]


def _capture(c: TestClient, who: dict[str, str], path: str, params: dict[str, str]) -> Statements:
    first = c.get(path, params={**params, "limit": 2}, headers=who)
    assert first.status_code == 200 and first.json()["next"], first.text
    with Statements(get_engine()) as seen:  # the second page: the query with the cursor
        r = c.get(path, params={**params, "limit": 2, "cursor": first.json()["next"]}, headers=who)
        assert r.status_code == 200, r.text
    return seen


def test_sqlite_reads_each_page_from_an_index_in_order(seeded) -> None:
    c, who = seeded
    seed_jobs(60)
    seed_generations(20)
    for user, path, params in LISTS:
        where = (user, path, params)
        table = "jobs" if path == JOBS else "generations"
        seen = _capture(c, who[user], path, params)
        (page, page_args), (count, count_args) = seen.page_and_count(table)
        with get_engine().connect() as conn:
            plan = [r[-1] for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {page}", page_args)]
            count_plan = [
                r[-1] for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {count}", count_args)
            ]
        reads = [line for line in plan if line.split()[:2] in (["SCAN", table], ["SEARCH", table])]
        assert len(reads) == 1 and f"INDEX ix_{table}_" in reads[0], (where, plan)
        assert "(created_at,id)<(?,?)" in reads[0], (where, plan)  # the cursor seeks
        assert not any("TEMP B-TREE" in line for line in plan), (where, plan)
        assert " LIMIT " in count  # counting stops at the cap
        count_reads = [line for line in count_plan if f" {table} " in f" {line} "]
        assert count_reads and all(" INDEX " in line for line in count_reads), (where, count_plan)


@pytest.fixture
def pg_client(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    """The API in-process on a fresh PostgreSQL database (migrated), the embedded broker."""
    from difflab.accounts import create_user, ensure_admin
    from difflab.api.app import create_app
    from difflab.db.migrate import upgrade_head
    from tests.utils.services import apply_env, postgres_database, reset_caches, service_env

    saved = {k: v for k, v in os.environ.items() if k.startswith("DIFFLAB_")}
    with postgres_database() as url:
        apply_env(service_env(tmp_path / "var", database_url=url))
        (tmp_path / "var").mkdir(parents=True, exist_ok=True)
        upgrade_head()
        with session_scope() as s:
            ensure_admin(s, *ADMIN)
            create_user(s, *ALICE, "learner")
            create_user(s, *BOB, "learner")
        try:
            with TestClient(create_app(reconcile=False)) as c:
                keys = {"admin": api_key(c, ADMIN), "alice": api_key(c, ALICE)}
                yield c, {**keys, "bob": api_key(c, BOB)}
        finally:
            get_engine().dispose()
            for key in [k for k in os.environ if k.startswith("DIFFLAB_")]:
                del os.environ[key]
            os.environ.update(saved)
            reset_caches()


PG_LISTS = [  # each filter of the brief alone: the planner's choice for combinations is its own
    ("admin", JOBS, {}),
    ("alice", JOBS, {}),
    ("admin", JOBS, {"kind": "sleep"}),
    ("admin", JOBS, {"state": "queued"}),
    ("admin", JOBS, {"category": "train"}),
    ("admin", JOBS, {"owner": "bob"}),
    ("admin", GENERATIONS, {}),
    ("alice", GENERATIONS, {}),
]


@pytest.mark.integration
def test_postgresql_reads_each_page_from_an_index_in_order(pg_client) -> None:
    c, who = pg_client
    seed_jobs(6000)  # enough rows that the planner's statistics prefer the index
    seed_generations(2000)
    with get_engine().begin() as conn:
        conn.execute(text("ANALYZE"))
    for user, path, params in PG_LISTS:
        table = "jobs" if path == JOBS else "generations"
        seen = _capture(c, who[user], path, params)
        (page, page_args), (count, count_args) = seen.page_and_count(table)
        with get_engine().connect() as conn:
            plan = [r[0] for r in conn.exec_driver_sql(f"EXPLAIN {page}", page_args)]
            count_plan = [r[0] for r in conn.exec_driver_sql(f"EXPLAIN {count}", count_args)]
        where = (user, path, params)
        assert any(f"Index Scan Backward using ix_{table}_" in line for line in plan), (where, plan)
        sorts_or_scans = [l for l in plan if "Sort" in l or f"Seq Scan on {table}" in l]
        assert not sorts_or_scans, (where, plan)
        assert any("Limit" in line for line in count_plan), (where, count_plan)

"""A short load test in-process: ten clients read for a few seconds; no request fails, no read
writes to the database, and the statements and transactions per request stay a small constant
(no N+1)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

from sqlalchemy import event

from difflab.db.engine import get_engine
from tests.unit.conftest import MakeClient
from tests.unit.security.helpers import ADMIN, ALICE, api_key

READS = [
    "/api/v1/health",
    "/api/v1/auth/me",
    "/api/v1/jobs",
    "/api/v1/generations",
    "/api/v1/job-kinds",
    "/api/v1/models",
]


def test_ten_clients_reading_do_no_writes_and_a_bounded_number_of_statements(
    make_client: MakeClient,
) -> None:
    c = make_client()
    alice, admin = api_key(c, ALICE), api_key(c, ADMIN)
    for i in range(60):  # a page of jobs to list (they stay queued: no worker here)
        r = c.post("/api/v1/jobs", json={"kind": "sleep", "params": {"steps": 1}},
                   headers=admin if i % 2 else alice)  # fmt: skip
        assert r.status_code == 202, r.text
        if i % 2 == 0:
            job = r.json()["id"]  # alice's: both may read it
    reads = [*READS, f"/api/v1/jobs/{job}", f"/api/v1/jobs/{job}/events?limit=100"]
    for path in reads:  # warm: first uses may write once (an API key's last use)
        for who in (alice, admin):
            assert c.get(path, headers={**who, "accept": "application/json"}).status_code == 200

    statements: Counter[str] = Counter()
    lock = threading.Lock()

    def count(conn, cursor, statement: str, *args: object) -> None:  # noqa: ANN001
        verb = statement.lstrip().split(None, 1)[0].upper()
        with lock:
            statements[verb] += 1

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", count)
    answers: Counter[int] = Counter()
    stop = time.monotonic() + 3.0

    def client(k: int) -> None:
        who = {**(alice if k % 2 else admin), "accept": "application/json"}
        i = k
        while time.monotonic() < stop:
            r = c.get(reads[i % len(reads)], headers=who)
            with lock:
                answers[r.status_code] += 1
            i += 1

    try:
        threads = [threading.Thread(target=client, args=(k,)) for k in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    requests = sum(answers.values())
    assert set(answers) == {200}, answers
    assert requests >= 30
    writes = {v: n for v, n in statements.items() if v in ("INSERT", "UPDATE", "DELETE")}
    assert not writes, f"reads wrote to the database: {writes}"
    reads_per_request = statements["SELECT"] / requests
    assert reads_per_request <= 6, (reads_per_request, statements)  # list pages included


def test_each_read_makes_one_transaction(make_client: MakeClient) -> None:
    """Who is asking and what they read, in one transaction: a GET endpoint looks its user up
    in its own hop (DbRoute; the events page with SignIn), and /models, whose answer is
    cached, makes only the lookup's."""
    c = make_client()
    alice = {**api_key(c, ALICE), "accept": "application/json"}
    job = c.post("/api/v1/jobs", json={"kind": "sleep", "params": {"steps": 1}}, headers=alice)
    reads = [*READS[1:], f"/api/v1/jobs/{job.json()['id']}",
             f"/api/v1/jobs/{job.json()['id']}/events?limit=100"]  # fmt: skip
    for path in reads:  # warm: first uses may write once (an API key's last use)
        assert c.get(path, headers=alice).status_code == 200
    begins: Counter[str] = Counter()

    def count(conn: object) -> None:  # a transaction began (its BEGIN goes to the driver)
        begins[path] += 1

    engine = get_engine()
    event.listen(engine, "begin", count)
    try:
        for path in reads:
            for _ in range(3):
                assert c.get(path, headers=alice).status_code == 200
    finally:
        event.remove(engine, "begin", count)
    assert all(begins[p] == 3 for p in reads), begins  # three requests each


def test_a_sign_in_looked_up_in_the_endpoints_hop_still_refuses_first(
    make_client: MakeClient,
) -> None:
    """Every GET route whose sign-in DbRoute looks up inside the endpoint's own hop: an
    anonymous caller gets a 401, a learner on an admin's route a 403, and the parameters
    DbRoute adds for it are nowhere in the OpenAPI document."""
    from fastapi.routing import APIRoute

    from difflab.api.deps import _REQUEST, _SESSION

    c = make_client()
    alice = api_key(c, ALICE)

    def routes(found: list[Any], prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
        for r in found:
            if isinstance(r, APIRoute):
                yield prefix + r.path_format, r
            elif hasattr(r, "original_router"):  # an included router
                yield from routes(r.original_router.routes, prefix + r.include_context.prefix)

    folded = [
        (path, route, route.endpoint.signed_in)
        for path, route in routes(c.app.routes)  # type: ignore[attr-defined]
        if getattr(route.endpoint, "signed_in", None)
    ]
    assert len(folded) >= 10, [path for path, _, _ in folded]
    assert any(admins for _, _, found in folded for _, admins in found.values())
    for path, route, found in folded:
        for name in route.param_convertors:
            path = path.replace("{" + name + "}", "1")
        anonymous = c.get(path)
        assert anonymous.status_code == 401, (path, anonymous.text)
        if any(admins for _, admins in found.values()):
            assert c.get(path, headers=alice).status_code == 403, path
    spec = c.get("/openapi.json", headers=api_key(c, ADMIN)).text
    assert _SESSION not in spec and _REQUEST not in spec

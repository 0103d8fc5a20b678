"""A short load test in-process: ten clients read for a few seconds; no request fails, no read
writes to the database, and the statements and transactions per request stay a small constant
(no N+1)."""

from __future__ import annotations

import threading
import time
from collections import Counter

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
    # one transaction per read: the signed-in user is looked up in the endpoint's own
    # transaction, not one of its own (/health shares one check among callers: fewer)
    assert statements["BEGIN"] <= requests, (requests, statements)

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


def test_each_read_makes_at_most_two_transactions(make_client: MakeClient) -> None:
    """The user's lookup ends its own (it must not hold a pooled connection while the
    endpoint waits for a thread), then the endpoint's: a JSON page of events checks the job
    and reads the page in one."""
    c = make_client()
    alice = {**api_key(c, ALICE), "accept": "application/json"}
    job = c.post("/api/v1/jobs", json={"kind": "sleep", "params": {"steps": 1}}, headers=alice)
    reads = [*READS[1:], f"/api/v1/jobs/{job.json()['id']}",
             f"/api/v1/jobs/{job.json()['id']}/events?limit=100"]  # fmt: skip
    for path in reads:  # warm: first uses may write once (an API key's last use)
        assert c.get(path, headers=alice).status_code == 200
    begins: Counter[str] = Counter()

    def count(conn, cursor, statement: str, *args: object) -> None:  # noqa: ANN001
        if statement.lstrip().upper().startswith("BEGIN"):
            begins[path] += 1

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", count)
    try:
        for path in reads:
            for _ in range(3):
                assert c.get(path, headers=alice).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert all(1 <= begins[p] <= 6 for p in reads), begins

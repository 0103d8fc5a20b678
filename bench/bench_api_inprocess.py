"""What one request costs difflab's API beside a bare FastAPI app, with no server between:
sequential requests handed straight to each ASGI app in one process, interleaved, on the
same SQLite database.

bench_api_load measures the service as clients see it, through uvicorn, whose own share of
each request is the same for both apps and so narrows its ratios. Here only the apps differ:
difflab's app as `make run` builds it (its middlewares, dependencies, the API-key lookup,
response models) against bench_api_load's bare app, which does the same key lookup and row
reads with SQLAlchemy Core and returns dicts. Printed: CPU per request (this process's CPU
time over the requests, every thread counted), medians of the rounds, and the ratio.

    python bench/bench_api_inprocess.py [--requests 1000] [--rounds 5] [--jobs 12]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_api_load import BARE_APP  # noqa: E402


def setup(root: Path, jobs: int) -> tuple[Any, Any, str, str]:
    """difflab's app and the bare app on one fresh database holding an admin with an API key,
    `jobs` finished jobs and 20 events on the first; returns (ours, bare, key, job id)."""
    db = f"sqlite:///{root / 'difflab.sqlite'}"
    os.environ.update(DIFFLAB_DATA_DIR=str(root), DIFFLAB_DATABASE_URL=db)
    os.environ.update(BARE_DB=db, BARE_POOL="20")
    from difflab import accounts
    from difflab.api.app import create_app
    from difflab.db.engine import get_engine, session_scope
    from difflab.db.models import Base, Job, JobEvent, User

    Base.metadata.create_all(get_engine())
    with session_scope() as s:
        user = User(username="admin", password_hash="-", role="admin")
        s.add(user)
        s.flush()
        _, key = accounts.create_api_key(s, user, "bench")
        first = ""
        start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        for n in range(jobs):
            job = Job(id=str(uuid.uuid4()), kind="sleep", category="diagnostic", queue="cpu",
                      params={"steps": 20}, owner_id=user.id, state="succeeded", progress=1.0,
                      attempts=1, max_attempts=3, cancel_requested=False, artifact_bytes=0,
                      last_seq=20, created_at=start + dt.timedelta(seconds=n))  # fmt: skip
            s.add(job)
            first = first or job.id
        s.flush()
        for seq in range(1, 21):
            s.add(JobEvent(job_id=first, seq=seq, type="log", payload={"message": f"step {seq}"}))
    scope: dict[str, Any] = {}
    exec(BARE_APP, scope)
    return create_app(reconcile=False), scope["app"], key, first


async def call(app: Any, path: str, headers: list[tuple[bytes, bytes]]) -> int:
    """One GET through the app's ASGI interface; returns the status."""
    route, _, query = path.partition("?")
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
             "scheme": "http", "path": route, "raw_path": route.encode(),
             "query_string": query.encode(), "root_path": "", "headers": headers,
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80), "state": {}}  # fmt: skip
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def cpu_per_request(app: Any, path: str, headers: list[tuple[bytes, bytes]], n: int
                          ) -> float:  # fmt: skip
    """Microseconds of this process's CPU per request, over n sequential requests."""
    assert await call(app, path, headers) == 200, path
    t0 = time.process_time()
    for _ in range(n):
        await call(app, path, headers)
    return (time.process_time() - t0) / n * 1e6


async def measure(args: argparse.Namespace) -> list[tuple[str, float, float]]:
    root = Path(tempfile.mkdtemp(prefix="difflab-inprocess-"))
    ours, bare, key, job = setup(root, args.jobs)
    headers = [(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {key}".encode()),
               (b"accept", b"application/json")]  # fmt: skip
    pairs = [
        ("/auth/me", "/api/v1/auth/me", "/me"),
        ("/jobs", "/api/v1/jobs", "/jobs"),
        ("/jobs/{id}/events (JSON)", f"/api/v1/jobs/{job}/events?limit=1000", f"/events/{job}"),
    ]
    rows = []
    async with ours.router.lifespan_context(ours):
        for name, path, bare_path in pairs:
            a, b = [], []
            for _ in range(args.rounds):  # interleaved: the machine's drift hits both
                a.append(await cpu_per_request(ours, path, headers, args.requests))
                b.append(await cpu_per_request(bare, bare_path, headers, args.requests))
            rows.append((name, statistics.median(a), statistics.median(b)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="per round and app")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=12, help="jobs in the list (10 queued + 2)")
    args = parser.parse_args()
    rows = asyncio.run(measure(args))
    print(f"Sequential GETs handed to each ASGI app in one process, no server: {args.rounds} "
          f"interleaved rounds of {args.requests} requests per app, medians; {args.jobs} jobs "
          f"in the list, 20 events in the page; {os.cpu_count()} CPUs.\n")  # fmt: skip
    print("| request | difflab CPU per request | bare app | ratio |")
    print("|---|---|---|---|")
    for name, ours, bare in rows:
        print(f"| {name} | {ours:.0f} µs | {bare:.0f} µs | {ours / bare:.2f}x |")


if __name__ == "__main__":
    main()

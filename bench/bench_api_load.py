"""The API under load: many clients at once against difflab and against a bare FastAPI app
that does the same authentication lookup and row reads, measured by the same load generator
in the same run.

difflab runs as `make run` runs it (`difflab serve`: SQLite, its embedded worker), or with
`--backend redis-pg` in the production shape; `--processes 1,2` measures each shape in turn:
N API processes on the port (DIFFLAB_API_PROCESSES) against the bare app with as many uvicorn
workers. The bare app is FastAPI on the same uvicorn, reading the same database file: the API
key's row by its prefix and digest, its user, then the endpoint's rows. The load generator is
an asyncio client with one keep-alive connection per simulated client, speaking just enough
HTTP/1.1 to be far lighter than the server it measures (a general-purpose client was the
bottleneck here).

Scenarios (CLIENTS concurrent clients for SECONDS each):
  me      GET /api/v1/auth/me                         vs the bare app's /me
  jobs    GET /api/v1/jobs (first page of 50)        vs the bare app's /jobs
  events  GET /api/v1/jobs/{id}/events page (JSON)    vs the bare app's /events
  mixed   health, jobs, generations, job-kinds, models in turn, 10 jobs queued (difflab only)
Targets: throughput >= 0.7x bare and p99 <= 2x bare; mixed p99 <= 150 ms with 0 errors.

    python bench/bench_api_load.py [--clients 50] [--seconds 10] [--backend embedded,redis-pg]
                                   [--processes 1,2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.utils.services import (  # noqa: E402
    Api,
    Proc,
    free_port,
    wait_for,
)

from bench_api_generate import deployment, pct  # noqa: E402
from difflab.config import Settings  # noqa: E402

BARE_APP = textwrap.dedent(
    '''
    """A bare FastAPI app: the same API-key lookup and row reads as difflab, nothing else."""
    import hashlib, os
    from fastapi import FastAPI, Header, HTTPException
    from sqlalchemy import create_engine, text

    engine = create_engine(os.environ["BARE_DB"], pool_size=int(os.environ["BARE_POOL"]),
                           max_overflow=0)  # fmt: skip
    app = FastAPI()

    def user_for(authorization: str | None):
        key = (authorization or "").removeprefix("Bearer ").strip()
        digest = hashlib.sha256(key.encode()).hexdigest()
        with engine.connect() as c:
            row = c.execute(text("SELECT user_id, key_hash FROM api_keys WHERE prefix = :p"),
                            {"p": key[:12]}).first()
            if row is None or row.key_hash != digest:
                raise HTTPException(401)
            user = c.execute(text("SELECT id, username, role FROM users WHERE id = :i"),
                             {"i": row.user_id}).first()
        return user

    @app.get("/me")
    def me(authorization: str | None = Header(None)):
        u = user_for(authorization)
        return {"id": u.id, "username": u.username, "role": u.role}

    @app.get("/jobs")
    def jobs(authorization: str | None = Header(None)):
        user_for(authorization)
        with engine.connect() as c:
            rows = c.execute(text("SELECT id, kind, state, params, created_at FROM jobs "
                                  "ORDER BY created_at DESC LIMIT 50")).mappings().all()
        return [dict(r) for r in rows]

    @app.get("/events/{job_id}")
    def events(job_id: str, authorization: str | None = Header(None)):
        user_for(authorization)
        with engine.connect() as c:
            rows = c.execute(text("SELECT seq, type, payload, created_at FROM job_events "
                                  "WHERE job_id = :j ORDER BY seq LIMIT 1000"),
                             {"j": job_id}).mappings().all()
        return [dict(r) for r in rows]
    '''
)


class _Conn:
    """One keep-alive HTTP/1.1 connection speaking just enough of the protocol for GETs with a
    Content-Length: a load generator far lighter than a general client, so the server, not
    the generator, is what is measured."""

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        self.extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        request = f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n{self.extra}\r\n"
        self.writer.write(request.encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length, close = 0, False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.lower() == "content-length":
                length = int(value)
            elif name.lower() == "connection" and "close" in value.lower():
                close = True
        await self.reader.readexactly(length)
        if close:
            self.writer.close()
            self.writer = None
        return status


async def load(base: str, paths: list[str], headers: dict[str, str], clients: int,
               seconds: float, think_s: float = 0.0) -> dict[str, float]:  # fmt: skip
    """`clients` clients, each sending its next request when it has its answer (after
    `think_s`, a browser's pause); each client walks `paths` in turn. Returns throughput,
    p50, p99 (ms) and the error count."""
    url = httpx.URL(base)
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds

    async def one(k: int) -> None:
        nonlocal errors
        conn = _Conn(url.host, url.port or 80, headers)
        i = k
        await asyncio.sleep(think_s * k / clients)  # spread the clients' first requests
        while time.perf_counter() < stop:
            path = paths[i % len(paths)]
            i += 1
            t0 = time.perf_counter()
            try:
                ok = await conn.get(path) == 200
            except (OSError, asyncio.IncompleteReadError, ValueError):
                ok, conn.writer = False, None
            latencies.append((time.perf_counter() - t0) * 1000)
            errors += not ok
            if think_s:
                await asyncio.sleep(think_s)

    t0 = time.perf_counter()
    await asyncio.gather(*(one(k) for k in range(clients)))
    took = time.perf_counter() - t0
    return {"rps": len(latencies) / took, "p50": pct(latencies, 0.5),
            "p99": pct(latencies, 0.99), "errors": errors, "n": len(latencies)}  # fmt: skip


@contextlib.contextmanager
def services(backend: str, root: Path, processes: int = 1, **extra: str
             ) -> Iterator[tuple[str, str, dict[str, str]]]:  # fmt: skip
    """difflab (bench_api_generate.deployment) and the bare app on its database, each with
    `processes` API processes."""
    extra = {**extra, "DIFFLAB_API_PROCESSES": str(processes)}
    with deployment(backend, root, root / "models", **extra) as (base, env):
        db = env["DIFFLAB_DATABASE_URL"] or (
            f"sqlite:///{(root / 'var' / 'difflab.sqlite').resolve()}"
        )
        (root / "bare_app.py").write_text(BARE_APP)
        bare_port = free_port()
        bare = Proc(
            [sys.executable, "-m", "uvicorn", "bare_app:app", "--port", str(bare_port),
             "--log-level", "warning", "--workers", str(processes)],
            # difflab's connection budget, shared by the workers as difflab's by its processes
            {**os.environ, "BARE_DB": db, "BARE_POOL": str(max(2, 40 // processes)),
             "PYTHONPATH": str(root)}, root / "bare.log",
        )  # fmt: skip
        try:
            bare_base = f"http://127.0.0.1:{bare_port}"
            wait_for(lambda: _answers(bare_base), timeout=60, what="the bare app")
            yield base, bare_base, env
        finally:
            bare.stop()


def _answers(base: str) -> bool:
    try:
        httpx.get(base + "/docs", timeout=2)
        return True
    except httpx.HTTPError:
        return False


async def follow_raw(host: str, port: int, job_id: str, headers: dict[str, str],
                     lat: list[float], opened: list[float]) -> list[int]:  # fmt: skip
    """One browser's event stream, read off the socket (chunk-size lines are skipped); returns
    the seqs received. Appends the time the stream opened (its status line) to `opened` and,
    for each event stored after that, its latency in ms (from its stored time to this client
    having it) to `lat`: events stored before the stream opened are its catch-up, not live."""
    import json
    from datetime import datetime

    reader, writer = await asyncio.open_connection(host, port)
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    writer.write(f"GET /api/v1/jobs/{job_id}/events HTTP/1.1\r\nHost: {host}\r\n{extra}"
                 "accept: text/event-stream\r\n\r\n".encode())  # fmt: skip
    seqs: list[int] = []
    event = ""
    since = 0.0
    try:
        while True:
            line = (await reader.readline()).decode(errors="replace").rstrip("\r\n")
            if not since:
                since = time.time()
                opened.append(since)
            if not line and reader.at_eof():
                break
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                if event == "end":
                    break
                data = json.loads(line[5:])
                stored = datetime.fromisoformat(data["created_at"]).timestamp()
                if stored >= since:
                    lat.append(1000 * (time.time() - stored))
                seqs.append(int(data["seq"]))
    finally:
        writer.close()
    return seqs


async def streams_under_load(base: str, api: Api, headers: dict[str, str], streams: int,
                             clients: int, think_s: float) -> dict[str, Any]:  # fmt: skip
    """`streams` browsers open an event stream on a job waiting in the queue; once all are open
    the job runs (the job ahead of it is cancelled) while `clients` browsers read the mixed
    pages. Every stream must receive every event, in order; latency counts the events stored
    while the streams were open, and how long opening them all took is reported beside it."""
    blocker = api.submit("sleep", steps=600, step_seconds=0.1)  # holds the worker meanwhile
    api.wait_state(blocker["id"], ("running",), timeout=120)
    job = api.submit("sleep", steps=40, step_seconds=0.25)
    url = httpx.URL(base)
    lat: list[float] = []
    opened: list[float] = []
    mixed = ["/api/v1/health", "/api/v1/jobs", "/api/v1/generations", "/api/v1/job-kinds",
             "/api/v1/models"]  # fmt: skip
    t0 = time.time()
    followers = asyncio.gather(*[
        follow_raw(url.host, url.port or 80, job["id"], headers, lat, opened)
        for _ in range(streams)
    ])  # fmt: skip
    while len(opened) < streams and time.time() - t0 < 120:
        await asyncio.sleep(0.05)
    open_s = time.time() - t0
    await asyncio.to_thread(api.post, f"/api/v1/jobs/{blocker['id']}/cancel")
    pages = load(base, mixed, headers, clients, 10.0, think_s)
    results = await asyncio.gather(followers, pages)
    got: list[list[int]] = results[0]
    last = int(api.get(f"/api/v1/jobs/{job['id']}").json()["last_seq"]) if got else 0
    complete = sum(seqs == list(range(1, last + 1))
                   for seqs in got)  # fmt: skip
    return {
        "streams": streams,
        "opened": len(opened),
        "open_s": open_s,
        "complete": complete,
        "events": len(lat),
        "p50": pct(lat, 0.5),
        "p99": pct(lat, 0.99),
        "pages": results[1],
    }


def _fill(db_url: str, owner: int, total: int) -> int:
    """Bring the jobs table to `total` rows (finished sleep jobs with 10 events each, and a
    generation row for every tenth), written straight into the database; returns how many
    jobs it holds (more than `total` when it held more)."""
    import datetime as dt
    import uuid

    import sqlalchemy as sa

    engine = sa.create_engine(db_url)
    md = sa.MetaData()
    jobs = sa.Table("jobs", md, autoload_with=engine)
    events = sa.Table("job_events", md, autoload_with=engine)
    gens = sa.Table("generations", md, autoload_with=engine)
    with engine.begin() as c:
        have = c.execute(sa.select(sa.func.count()).select_from(jobs)).scalar_one()
        start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        for lo in range(have, total, 5000):
            rows, evs, gs = [], [], []
            for n in range(lo, min(total, lo + 5000)):
                jid = str(uuid.uuid4())
                at = start + dt.timedelta(seconds=n)
                rows.append({"id": jid, "kind": "sleep", "category": "diagnostic", "queue": "cpu",
                             "params": {"steps": 10}, "owner_id": owner, "state": "succeeded",
                             "progress": 1.0, "attempts": 1, "max_attempts": 3,
                             "cancel_requested": False, "artifact_bytes": 0, "last_seq": 10,
                             "created_at": at, "finished_at": at})  # fmt: skip
                evs += [{"job_id": jid, "seq": k, "type": "log", "payload": {"message": "x"},
                         "created_at": at} for k in range(1, 11)]  # fmt: skip
                if n % 10 == 0:
                    gs.append({"id": str(uuid.uuid4()), "job_id": jid, "owner_id": owner,
                               "model": "house", "prompt": "a circle", "seed": n,
                               "params": {}, "created_at": at})  # fmt: skip
            c.execute(jobs.insert(), rows)
            c.execute(events.insert(), evs)
            if gs:
                c.execute(gens.insert(), gs)
    engine.dispose()
    return max(have, total)


async def medians(base: str, paths: list[str], headers: dict[str, str], n: int = 40
                  ) -> list[float]:  # fmt: skip
    """One client, n sequential requests per path: the median milliseconds of each."""
    url = httpx.URL(base)
    conn = _Conn(url.host, url.port or 80, headers)
    out = []
    for path in paths:
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            assert await conn.get(path) == 200, path
            times.append((time.perf_counter() - t0) * 1000)
        out.append(pct(times, 0.5))
    return out


def _backends(value: str) -> list[str]:
    names = [b.strip() for b in value.split(",") if b.strip()]
    wrong = [b for b in names if b not in ("embedded", "redis-pg")]
    if wrong or not names:
        raise argparse.ArgumentTypeError(f"unknown backend(s) {wrong}: embedded, redis-pg")
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--backend",
        type=_backends,
        default=["embedded", "redis-pg"],
        help="embedded (make run), redis-pg (production shape), or both comma-separated",
    )
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--think", type=float, default=1.0, help="a browser's pause (s)")
    parser.add_argument("--streams", type=int, default=500, help="open event streams")
    parser.add_argument(
        "--api-threads",
        type=int,
        default=0,
        help="threads per API process (DIFFLAB_API_THREADS; 0: difflab's default)",
    )
    parser.add_argument(
        "--scale",
        type=lambda v: [int(x) for x in v.split(",")],
        default=[0, 1000, 100_000],
        help="job counts for the per-request costs (0: only the bench's own few jobs)",
    )
    parser.add_argument(
        "--processes",
        type=lambda v: [int(x) for x in v.split(",")],
        default=[1, 2],
        help="API process counts to measure in turn (the bare app gets as many workers); "
        "the per-request costs are measured with the first",
    )
    args = parser.parse_args()
    shapes = [(b, p) for b in args.backend for p in args.processes]
    for i, (backend, processes) in enumerate(shapes):
        if i:
            print()
        result = measure(args, backend, processes, args.scale if i == 0 else [])
        report(result, args, backend, processes)


def measure(
    args: argparse.Namespace, backend: str, processes: int, scale_at: list[int]
) -> dict[str, Any]:
    """Every scenario against difflab with `processes` API processes and the bare app."""
    root = Path(tempfile.mkdtemp(prefix="difflab-load-"))
    rows: list[tuple[str, dict[str, float], dict[str, float] | None]] = []
    scale: list[tuple[int, list[float]]] = []
    streamed: dict[str, Any] | None = None
    try:
        # one user here plays every browser: its stream cap is raised for the bench
        cap = {"DIFFLAB_MAX_STREAMS_PER_USER": str(args.streams + 10)}
        if args.api_threads:
            cap["DIFFLAB_API_THREADS"] = str(args.api_threads)
        with services(backend, root, processes, **cap) as (base, bare_base, env):
            api = Api(base)
            key = api.post("/api/v1/users/me/api-keys", json={"name": "load"}).json()["key"]
            auth = {"authorization": f"Bearer {key}"}
            # a job with events to page through, and 10 short jobs waiting in the queue
            job = api.submit("sleep", steps=20, step_seconds=0.01)
            api.wait_state(job["id"], ("succeeded",), timeout=120)
            for _ in range(10):
                api.submit("sleep", steps=5, step_seconds=1.0)
            pairs = [
                ("me", ["/api/v1/auth/me"], ["/me"]),
                ("jobs", ["/api/v1/jobs"], ["/jobs"]),
                ("events", [f"/api/v1/jobs/{job['id']}/events?limit=1000"],
                 [f"/events/{job['id']}"]),
            ]  # fmt: skip
            for name, ours, theirs in pairs:
                hdrs = {**auth, "accept": "application/json"}
                a = asyncio.run(load(base, ours, hdrs, args.clients, args.seconds))
                b = asyncio.run(load(bare_base, theirs, hdrs, args.clients, args.seconds))
                rows.append((name, a, b))
            mixed = ["/api/v1/health", "/api/v1/jobs", "/api/v1/generations",
                     "/api/v1/job-kinds", "/api/v1/models"]  # fmt: skip
            rows.append(
                ("mixed", asyncio.run(load(base, mixed, auth, args.clients, args.seconds)), None)
            )
            rows.append((
                f"mixed, browsers ({args.think:g} s between requests)",
                asyncio.run(load(base, mixed, auth, args.clients, args.seconds, args.think)),
                None,
            ))  # fmt: skip
            if args.streams:
                streamed = asyncio.run(
                    streams_under_load(base, api, auth, args.streams, args.clients, args.think)
                )
            # what one request costs as the tables grow
            db = env["DIFFLAB_DATABASE_URL"] or (
                f"sqlite:///{(root / 'var' / 'difflab.sqlite').resolve()}"
            )
            owner = api.get("/api/v1/auth/me").json()["user"]["id"]
            scale_paths = ["/api/v1/auth/me", "/api/v1/jobs", "/api/v1/generations",
                           f"/api/v1/jobs/{job['id']}",
                           f"/api/v1/jobs/{job['id']}/events?limit=1000"]  # fmt: skip
            hdrs = {**auth, "accept": "application/json"}
            for total in scale_at:
                held = _fill(db, owner, total)
                scale.append((held, asyncio.run(medians(base, scale_paths, hdrs))))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return {"rows": rows, "scale": scale, "streamed": streamed}


def report(result: dict[str, Any], args: argparse.Namespace, backend: str, processes: int) -> None:
    rows, scale, streamed = result["rows"], result["scale"], result["streamed"]
    shape = "1 API process" if processes == 1 else f"{processes} API processes"
    where = "embedded, `make run`" if backend == "embedded" else "PostgreSQL + Redis"
    threads = args.api_threads or Settings.model_fields["api_threads"].default
    print(f"### API under load ({where}, {shape})\n")
    print(
        f"{args.clients} concurrent clients, {args.seconds:g} s per scenario, an asyncio "
        f"keep-alive HTTP/1.1 load generator in one process; difflab with {shape} "
        f"(DIFFLAB_API_PROCESSES={processes}, {threads} request threads each) and the bare app "
        f"with {processes} uvicorn worker(s); {os.cpu_count()} CPUs shared by the generator, "
        "the servers and the worker.\n"
    )
    print("| scenario | difflab req/s | p50 | p99 | errors | bare req/s | bare p50 | bare p99 "
          "| throughput ratio | p99 ratio |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, a, b in rows:
        left = f"| {name} | {a['rps']:.0f} | {a['p50']:.0f} ms | {a['p99']:.0f} ms | {a['errors']}"
        if b is None:
            print(left + " | — | — | — | — (target p99 <= 150 ms) | — |")
            continue
        print(
            f"{left} | {b['rps']:.0f} | {b['p50']:.0f} ms | {b['p99']:.0f} ms "
            f"| {a['rps'] / b['rps']:.2f}x (>= 0.7) | {a['p99'] / b['p99']:.2f}x (<= 2) |"
        )
    if streamed is not None:
        pages = streamed["pages"]
        print(
            f"\n{streamed['streams']} open event streams (one per simulated browser) following "
            f"a running job while {args.clients} browsers read the mixed pages "
            f"({streamed['opened']} streams opened in {streamed['open_s']:.1f} s, all at once, "
            f"before the job started): {streamed['complete']} of {streamed['streams']} streams "
            f"received every event; event latency p50 {streamed['p50']:.0f} ms, p99 "
            f"{streamed['p99']:.0f} ms over {streamed['events']} deliveries of events stored "
            f"while the streams were open (target p50 <= 50 ms, p99 <= 250 ms); the pages "
            f"meanwhile: p99 {pages['p99']:.0f} ms, {pages['errors']} errors."
        )
    if scale:
        print("\nMedian milliseconds per request (one client) as the tables grow (jobs, 10 events"
              " each, a generation per tenth job):\n")  # fmt: skip
        print("| jobs in the database | /auth/me | /jobs | /generations | /jobs/{id} "
              "| /jobs/{id}/events |")  # fmt: skip
        print("|---|---|---|---|---|---|")
        for total, ms in scale:
            print(f"| {total:,} | " + " | ".join(f"{m:.1f} ms" for m in ms) + " |")


if __name__ == "__main__":
    main()

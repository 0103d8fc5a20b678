"""Jobs end to end on the embedded deployment with a real worker process."""

from __future__ import annotations

import json
import time

import httpx
import pytest

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def deployment(embedded_shared):
    embedded_shared.add_worker("w1")
    return embedded_shared


def read_sse(
    client: httpx.Client, url: str, headers: dict[str, str] | None = None, until: int | None = None
) -> list[tuple[float, dict]]:
    """(receive time, event) for each SSE message until the stream ends or seq `until` arrives."""
    out: list[tuple[float, dict]] = []
    with client.stream("GET", url, headers=headers or {}, timeout=60) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        event_name = None
        for line in resp.iter_lines():
            if line.startswith("event:"):
                event_name = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event_name != "end":
                ev = json.loads(line.split(":", 1)[1])
                out.append((time.time(), ev))
                if until is not None and ev["seq"] >= until:
                    return out
    return out


def test_job_runs_and_streams_every_event(deployment) -> None:
    api = deployment.api()
    job = api.submit("sleep", steps=6, step_seconds=0.3)
    received = read_sse(api.client, f"/api/v1/jobs/{job['id']}/events")
    events = [e for _, e in received]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    states = [e["payload"]["state"] for e in events if e["type"] == "state"]
    assert states == ["queued", "running", "succeeded"]
    assert len([e for e in events if e["type"] == "metric"]) == 6
    artifact = next(e for e in events if e["type"] == "artifact")
    r = api.get(artifact["payload"]["url"])
    assert r.status_code == 200 and r.json() == {"steps": 6}
    assert r.headers["x-content-type-options"] == "nosniff"
    # an event reaches a subscribed client within 0.5 s of being written
    from datetime import datetime

    lags = [
        t - datetime.fromisoformat(e["created_at"]).timestamp()
        for t, e in received
        if e["type"] == "metric"
    ]
    assert max(lags) < 0.5, lags
    final = api.job(job["id"])
    assert (
        final["state"] == "succeeded" and final["progress"] == 1.0 and final["result"]["steps"] == 6
    )


def test_reconnect_with_last_event_id_gets_exactly_what_was_missed(deployment) -> None:
    api = deployment.api()
    job = api.submit("sleep", steps=8, step_seconds=0.2)
    first = read_sse(api.client, f"/api/v1/jobs/{job['id']}/events", until=5)
    assert [e["seq"] for _, e in first] == [1, 2, 3, 4, 5]
    rest = read_sse(api.client, f"/api/v1/jobs/{job['id']}/events", headers={"last-event-id": "5"})
    seqs = [e["seq"] for _, e in rest]
    assert seqs[0] == 6 and seqs == list(range(6, 6 + len(seqs)))
    assert rest[-1][1]["payload"] == {"state": "succeeded"}
    as_json = api.events(job["id"], after=5)
    assert [e["seq"] for e in as_json] == seqs


def test_cancel_a_running_job_stops_it_at_the_next_step(deployment) -> None:
    api = deployment.api()
    job = api.submit("sleep", steps=200, step_seconds=0.1)
    api.wait_state(job["id"], ("running",))
    time.sleep(0.5)
    r = api.post(f"/api/v1/jobs/{job['id']}/cancel")
    assert r.status_code == 200
    done = api.wait_state(job["id"], ("cancelled", "succeeded", "failed"), timeout=20)
    assert done["state"] == "cancelled"
    assert 0 < done["progress"] < 1


def test_a_failing_job_ends_failed_with_its_reason(deployment) -> None:
    api = deployment.api()
    job = api.submit("sleep", steps=5, step_seconds=0.05, fail_at=2)
    done = api.wait_state(job["id"], ("failed", "succeeded"))
    assert done["state"] == "failed" and "failed on purpose at step 2" in done["error"]
    # the user sees where in the data directory, not the server's paths
    assert "<data>/jobs/" in done["error"] and deployment.env["DIFFLAB_DATA_DIR"] not in str(done)
    workers = api.get("/api/v1/workers").json()
    assert [w["name"] for w in workers["workers"]] == ["w1"]
    assert workers["queues"] == {"gpu": 0, "cpu": 0}


def test_one_user_cannot_hold_more_event_streams_than_the_cap(tmp_path) -> None:
    """The cap holds across API processes: every connection, whichever process the kernel
    hands it to, counts the user's streams on the others too."""
    from tests.utils.services import Api, migrate, service_env, start_server, wait_for

    env = service_env(tmp_path / "var", DIFFLAB_MAX_STREAMS_PER_USER="2", DIFFLAB_API_PROCESSES="2")
    migrate(env)
    server, base = start_server(env, tmp_path)  # no worker: the job stays queued, streams open
    try:
        api = Api(base)
        job = api.submit("sleep", steps=1)
        url = f"{base}/api/v1/jobs/{job['id']}/events"
        cookies, headers = api.client.cookies, {"accept": "text/event-stream"}
        with (
            httpx.Client(cookies=cookies, timeout=10) as c1,
            httpx.Client(cookies=cookies, timeout=10) as c2,
            c1.stream("GET", url, headers=headers) as s1,
            c2.stream("GET", url, headers=headers) as s2,
        ):
            assert s1.status_code == s2.status_code == 200
            lines1, lines2 = s1.iter_lines(), s2.iter_lines()  # held: a dropped one closes
            assert next(lines1).startswith("id:") and next(lines2).startswith("id:")
            for _ in range(6):  # new connections, spread over both processes
                third = httpx.get(url, cookies=cookies, headers=headers, timeout=10)
                assert third.status_code == 429 and third.headers["retry-after"]
                assert "event streams open" in third.json()["detail"]
            # JSON pages are not streams: still answered
            pages = httpx.get(url, cookies=cookies, headers={"accept": "application/json"})
            assert pages.status_code == 200
        # closed streams free their slots (the server notices the disconnect at its next poll)

        def opens() -> bool:
            with (
                httpx.Client(cookies=cookies, timeout=10) as c,
                c.stream("GET", url, headers=headers) as s,
            ):
                return s.status_code == 200

        wait_for(opens, timeout=10, what="a stream slot to be freed")
    finally:
        server.stop()


def test_a_second_users_job_starts_before_the_first_users_long_line(deployment) -> None:
    admin = deployment.api()
    for name in ("carol", "dave"):
        r = admin.post("/api/v1/users", json={"username": name, "password": "tulip-passphrase"})
        assert r.status_code == 201, r.text
    carol = deployment.api("carol", "tulip-passphrase")
    dave = deployment.api("dave", "tulip-passphrase")
    line = [carol.submit("sleep", steps=4, step_seconds=0.25) for _ in range(3)]
    other = dave.submit("sleep", steps=1, step_seconds=0.1)
    for job in line:
        admin.wait_state(job["id"], ("succeeded",), timeout=120)
    started = {j["id"]: admin.job(j["id"])["started_at"] for j in [*line, other]}
    order = sorted(started, key=lambda k: started[k])
    # carol's first job was running when dave's arrived; dave's starts next, not after all three
    assert order.index(other["id"]) <= 1, (order, started)

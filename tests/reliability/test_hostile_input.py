"""Hostile input against a live server: names that try to leave their directory, weights that
try to run code, and a cross-site POST to an admin endpoint.

Requests go out byte for byte through http.client (httpx would normalise `..` away).
"""

from __future__ import annotations

import http.client
import pickle
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.reliability.cluster import Cluster
from tests.reliability.conftest import TINY_MODEL, Recorder

pytestmark = pytest.mark.integration

SQLITE_MAGIC = b"SQLite format 3"


def raw_get(base: str, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    url = urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    try:
        conn.putrequest("GET", path, skip_accept_encoding=True)
        for k, v in headers.items():
            conn.putheader(k, v)
        conn.endheaders()
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def finished_job(cluster: Cluster) -> dict[str, Any]:
    cluster.use_workers(1)
    api = cluster.api()
    job = api.submit("sleep", steps=1, step_seconds=0)
    return dict(api.wait_state(job["id"], ("succeeded",), timeout=120))


# Each name is sent as the {name} of /api/v1/jobs/{id}/artifacts/{name}, as is.
ARTIFACT_NAMES = [
    "../../difflab.sqlite",
    "..%2f..%2fdifflab.sqlite",
    "%2e%2e/%2e%2e/difflab.sqlite",
    "%2e%2e%2f%2e%2e%2fdifflab.sqlite",
    "%252e%252e%252f%252e%252e%252fdifflab.sqlite",
    "..%5c..%5cdifflab.sqlite",
    "..\\..\\difflab.sqlite",
    "/etc/passwd",
    "%2fetc%2fpasswd",
    "summary.json%00.png",
    "%00",
    "leak.json",  # a symlink to the database, planted in the job's artifact dir
    "linked/difflab.sqlite",  # a symlinked directory pointing at the data dir
    "linked/../../../difflab.sqlite",
]


@pytest.mark.timeout(120)
def test_hostile_artifact_names(
    cluster: Cluster, finished_job: dict[str, Any], reliability: Recorder
) -> None:
    reliability.fault(f"{len(ARTIFACT_NAMES)} hostile artifact names incl. symlinks out")
    api = cluster.api()
    key = api.post("/api/v1/users/me/api-keys", json={"name": "names"}).json()["key"]
    auth = {"authorization": f"Bearer {key}"}
    job_id = finished_job["id"]
    art = cluster.data_dir / "artifacts" / job_id
    (art / "leak.json").symlink_to(cluster.data_dir / "difflab.sqlite")
    (art / "linked").symlink_to(cluster.data_dir, target_is_directory=True)
    base = f"/api/v1/jobs/{job_id}/artifacts/"
    ok_status, ok_body = raw_get(cluster.base, base + "summary.json", auth)
    assert ok_status == 200 and b"steps" in ok_body
    answers = {}
    for name in ARTIFACT_NAMES:
        status, body = raw_get(cluster.base, base + name, auth)
        answers[name] = status
        assert SQLITE_MAGIC not in body and b"root:" not in body, name
        assert status in (400, 404, 422), (name, status)
    # a hostile job id goes nowhere either
    for job in ("..", "%2e%2e", "..%2f..%2f", "%00"):
        status, body = raw_get(cluster.base, f"/api/v1/jobs/{job}/artifacts/difflab.sqlite", auth)
        assert status in (400, 404, 422) and SQLITE_MAGIC not in body, job
    codes = sorted(set(answers.values()))
    reliability.outcome(f"all refused ({', '.join(map(str, codes))}); no byte outside served")


@pytest.fixture(scope="module")
def outside_model(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A valid model directory outside the models dir, linked in as `evil`."""
    outside = tmp_path_factory.mktemp("outside") / "model"
    shutil.copytree(cluster.models_dir / TINY_MODEL, outside)
    (cluster.models_dir / "evil").symlink_to(outside, target_is_directory=True)
    return "evil"


MODEL_NAMES = [
    "..",
    "%2e%2e",
    "..%2f" + TINY_MODEL,
    "%2e%2e%2f%2e%2e%2fvar",
    f"{TINY_MODEL}%00",
    "%5c..%5c" + TINY_MODEL,
    "%2ftmp",
    "evil",
]


@pytest.mark.timeout(120)
def test_hostile_model_names(cluster: Cluster, outside_model: str, reliability: Recorder) -> None:
    reliability.fault(f"{len(MODEL_NAMES)} hostile model names on 3 routes, a symlink out")
    api = cluster.api()
    key = api.post("/api/v1/users/me/api-keys", json={"name": "models"}).json()["key"]
    auth = {"authorization": f"Bearer {key}"}
    assert raw_get(cluster.base, f"/api/v1/models/{TINY_MODEL}/schedule", auth)[0] == 200
    for name in MODEL_NAMES:
        status, _ = raw_get(cluster.base, f"/api/v1/models/{name}/schedule", auth)
        assert status in (400, 404, 422), (name, status)
    listed = [m["name"] for m in api.get("/api/v1/models").json()]
    assert TINY_MODEL in listed and outside_model not in listed
    before = api.get("/api/v1/jobs").json()["count"]
    decoded = ["..", "../" + TINY_MODEL, "/tmp", f"{TINY_MODEL}\x00", "..\\" + TINY_MODEL, "evil"]
    for name in decoded:
        # a NUL is refused with the body at the door (strict JSON), the rest at the field
        expected = 400 if "\x00" in name else 422
        r = api.post("/api/v1/generations", json={"prompt": "a circle", "model": name})
        assert r.status_code == expected, (name, r.status_code)
        if expected == 422:
            assert r.json()["detail"][0]["loc"][-1] == "model"
        r = api.post(
            "/sdapi/v1/txt2img",
            json={"prompt": "a circle", "override_settings": {"sd_model_checkpoint": name}},
        )
        assert r.status_code == expected, (name, r.status_code)
    assert api.get("/api/v1/jobs").json()["count"] == before  # nothing was enqueued
    reliability.outcome("400/404/422 everywhere; the linked-in model is neither listed nor used", 0)


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return open, (str(self.marker), "w")


@pytest.mark.timeout(180)
def test_hostile_weight_files(
    cluster: Cluster, tmp_path_factory: pytest.TempPathFactory, reliability: Recorder
) -> None:
    reliability.fault("generations on models whose weights are a pickle (.safetensors / .bin)")
    cluster.use_workers(1)
    api = cluster.api()
    marker = tmp_path_factory.mktemp("marker") / "code-ran"
    blob = pickle.dumps({"weights": _Payload(marker)}, protocol=2)
    jobs = {}
    for name, weight_file in [
        ("renamed-pickle", "unet/diffusion_pytorch_model.safetensors"),
        ("bin-beside", "vae/diffusion_pytorch_model.bin"),
    ]:
        path = cluster.models_dir / name
        shutil.copytree(cluster.models_dir / TINY_MODEL, path)
        (path / weight_file).write_bytes(blob)
        r = api.post("/api/v1/generations", json={"prompt": "a circle", "model": name, "steps": 2})
        assert r.status_code == 202, r.text
        jobs[name] = r.json()["job"]["id"]
    reasons = {}
    for name, job_id in jobs.items():
        done = api.wait_state(job_id, ("succeeded", "failed"), timeout=120)
        assert done["state"] == "failed", done
        reasons[name] = done["error"]
    assert "looks like a pickle" in reasons["renamed-pickle"]
    assert "pickle-format weight file" in reasons["bin-beside"]
    assert not marker.exists(), "the pickle was unpickled"
    lost = cluster.jobs_lost(api, jobs.values())
    reliability.outcome("both jobs failed with the reason, nothing unpickled", lost)
    assert lost == 0


def test_cross_site_post_to_an_admin_endpoint(cluster: Cluster, reliability: Recorder) -> None:
    reliability.fault("admin's session cookie replayed with Origin: https://evil.example")
    api = cluster.api()  # signed in as admin with the session cookie and its CSRF token
    body = {"username": "mallory", "password": "mallory-password", "role": "admin"}
    attempts = [
        {"origin": "https://evil.example"},
        {"origin": "https://evil.example", "x-csrf-token": api.headers["x-csrf-token"]},
        {"origin": "null"},
        {"sec-fetch-site": "cross-site"},
        {"x-csrf-token": ""},
    ]
    statuses = []
    for headers in attempts:
        send = {k: v for k, v in api.headers.items() if k != "x-csrf-token"} | headers
        r = api.client.post("/api/v1/users", json=body, headers=send)
        statuses.append(r.status_code)
        assert r.status_code == 403, (headers, r.status_code, r.text)
    users = [u["username"] for u in api.get("/api/v1/users").json()["data"]]
    assert "mallory" not in users
    reliability.outcome(f"all {len(attempts)} refused with 403; no user created")


class _EvilSite(BaseHTTPRequestHandler):
    page = b""

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.end_headers()
        self.wfile.write(self.page)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def evil_site(cluster: Cluster) -> Iterator[str]:
    """A page on another site (localhost vs 127.0.0.1) that posts to the admin API."""
    target = cluster.base + "/api/v1/users"
    # a text/plain form posts `name=value`: together they spell a JSON object
    field = '{"username":"mallory1","password":"mallory-password","role":"admin","x":"'
    _EvilSite.page = f"""<!doctype html><html><body>
<form id="f" method="POST" action="{target}" enctype="text/plain">
<input name='{field}' value='"}}'>
</form>
<script>
fetch("{target}", {{method: "POST", credentials: "include", mode: "no-cors",
  headers: {{"content-type": "text/plain"}},
  body: JSON.stringify({{username: "mallory2", password: "mallory-password", role: "admin"}})}})
  .finally(() => {{ document.title = "sent"; document.getElementById("f").submit(); }});
</script></body></html>""".encode()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EvilSite)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}/"
    finally:
        server.shutdown()


@pytest.mark.timeout(120)
def test_cross_site_post_from_a_real_browser(
    cluster: Cluster, evil_site: str, reliability: Recorder, chromium: Any
) -> None:
    reliability.fault("Chromium signed in as admin opens a page on another site that posts")
    seen: list[tuple[str, int]] = []
    context = chromium.new_context()
    try:
        page = context.new_page()
        r = page.request.post(
            cluster.base + "/api/v1/auth/login",
            data={"username": "admin", "password": "admin-password-1"},
        )
        assert r.status == 200
        assert any(c["name"] == "difflab_session" for c in context.cookies())
        page.on(
            "response",
            lambda resp: (
                seen.append((resp.request.method, resp.status))
                if "/api/v1/users" in resp.url
                else None
            ),
        )
        page.goto(evil_site)
        page.wait_for_url(cluster.base + "/api/v1/users", timeout=20_000)
    finally:
        context.close()
    api = cluster.api()
    users = [u["username"] for u in api.get("/api/v1/users").json()["data"]]
    assert not any(u.startswith("mallory") for u in users), users
    posts = [s for m, s in seen if m == "POST"]
    assert posts and all(s in (401, 403) for s in posts), seen
    reliability.outcome(f"form and fetch reached the API and were refused ({posts}); no user")

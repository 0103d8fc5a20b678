"""Answers that rarely change: ETag, 304 when the client has them, new when they change."""

from __future__ import annotations

import os
from pathlib import Path

from difflab.diffusion.tiny import build_tiny_pipeline_dir
from tests.unit.conftest import MakeClient
from tests.unit.security.helpers import ALICE, api_key


def test_job_kinds_answer_304_to_the_etag_they_gave(make_client: MakeClient) -> None:
    c = make_client()
    alice = api_key(c, ALICE)
    first = c.get("/api/v1/job-kinds", headers=alice)
    assert first.status_code == 200 and first.headers["etag"]
    assert {k["name"] for k in first.json()} >= {"generate", "sleep"}
    again = c.get("/api/v1/job-kinds", headers={**alice, "if-none-match": first.headers["etag"]})
    assert again.status_code == 304 and not again.content
    other = c.get("/api/v1/job-kinds", headers={**alice, "if-none-match": '"stale"'})
    assert other.status_code == 200 and other.json() == first.json()


def test_the_model_list_changes_its_etag_when_a_model_arrives(make_client: MakeClient) -> None:
    c = make_client()
    alice = api_key(c, ALICE)
    before = c.get("/api/v1/models", headers=alice)
    assert before.status_code == 200
    etag = before.headers["etag"]
    assert c.get("/api/v1/models", headers={**alice, "if-none-match": etag}).status_code == 304
    build_tiny_pipeline_dir(Path(os.environ["DIFFLAB_MODELS_DIR"]) / "newcomer", seed=0)
    after = c.get("/api/v1/models", headers={**alice, "if-none-match": etag})
    assert after.status_code == 200 and after.headers["etag"] != etag
    assert "newcomer" in {m["name"] for m in after.json()}


def test_concurrent_first_requests_build_the_answer_once() -> None:
    """Fifty requests arriving before the answer exists wait for one build and share it."""
    import threading
    import time

    from difflab.api.cache import KeyedCache

    builds = []

    def build() -> bytes:
        builds.append(1)
        time.sleep(0.05)  # long enough that every caller arrives while it runs
        return b"[]"

    cache = KeyedCache(build)
    start = threading.Barrier(50)
    got = []

    def ask() -> None:
        start.wait()
        got.append(cache.get("k"))

    threads = [threading.Thread(target=ask) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(builds) == 1 and len(got) == 50 and all(g is got[0] for g in got)
    cache.get("k2")  # a new fingerprint builds again, once
    assert len(builds) == 2

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

"""Every registered kind, submitted with its advertised defaults through the HTTP API, runs.

A real server and worker on the embedded setup, with the tiny test pipeline as `house`. Kinds
whose defaults take minutes here (the model-writing training kinds: hours on 2 cores) run
until their first training step and are then cancelled: that proves the worker accepts what
the API accepted, and that a cancelled default run leaves the models directory as it was.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

from tests.utils.services import wait_for

pytestmark = pytest.mark.integration

LONG = {"clip", "vae", "unet", "house", "finetune"}


def _tree(root: Path) -> dict[str, str]:
    """Every file under the models directory (but the eval cache) with its content hash."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".eval-cache" not in p.parts
    }


@pytest.mark.timeout(1200)  # every kind in turn on one worker: about 2 minutes on 2 idle cores
def test_every_kind_runs_its_advertised_defaults_through_the_api(gen_deployment) -> None:
    api = gen_deployment.api()
    models = Path(gen_deployment.env["DIFFLAB_MODELS_DIR"])
    kinds = [k["name"] for k in api.get("/api/v1/job-kinds").json()]
    assert set(kinds) >= LONG and len(kinds) > 20
    before = _tree(models)
    outcomes, took, lora_jobs = {}, {}, []
    for kind in kinds:
        started = time.monotonic()
        r = api.post("/api/v1/jobs", json={"kind": kind, "params": {}})
        assert r.status_code == 202, (kind, r.text)
        job = r.json()
        if kind == "lora":
            assert job["params"]["output"].startswith("lora-")  # a new name
            lora_jobs.append(job["id"])
        if kind in LONG:
            assert job["params"]["output"].startswith(f"{kind}-")  # a new name, not `house`
            wait_for(
                lambda j=job: (
                    api.job(j["id"])["progress"] > 0
                    or api.job(j["id"])["state"] in ("failed", "succeeded")
                ),
                timeout=180,
                what=f"{kind}'s first training step",
            )
            assert api.job(job["id"])["state"] == "running", (kind, api.job(job["id"]))
            api.post(f"/api/v1/jobs/{job['id']}/cancel").raise_for_status()
            done = api.wait_state(job["id"], ("cancelled", "failed", "succeeded"), timeout=120)
        else:
            try:
                done = api.wait_state(job["id"], ("succeeded", "failed", "cancelled"), timeout=300)
            except TimeoutError as exc:
                raise TimeoutError(f"{kind}: {exc} (times so far: {took})") from None
        outcomes[kind] = (done["state"], done["error"])
        took[kind] = round(time.monotonic() - started, 1)
    expected = {k: ("cancelled" if k in LONG else "succeeded", None) for k in kinds}
    assert outcomes == expected, took
    # a cancelled default training run neither replaced nor half-wrote any model; the one
    # default run that finishes and writes (lora) wrote a new file under a new name
    after = _tree(models)
    assert {k: after.get(k) for k in before} == before
    new = sorted(set(after) - set(before))
    (lora_job,) = lora_jobs
    name = api.job(lora_job)["result"]["lora"]
    assert new == [f"loras/{name}{s}" for s in (".json", ".png", ".safetensors")]

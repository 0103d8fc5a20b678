"""An X/Y/Z plot through the API on one embedded worker: its cells are ordinary generate jobs
the parent runs itself when no other worker takes them; a cancelled cell is drawn as failed and
the others still finish; a plot with too many cells is refused with nothing queued."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from tests.utils.services import wait_for

pytestmark = pytest.mark.integration

BASE = {"prompt": "a red circle", "steps": 3, "width": 32, "height": 32, "sampler": "DDIM"}


@pytest.mark.timeout(300)
def test_a_plot_runs_its_cells_as_generations_and_draws_the_grid(gen_deployment) -> None:
    api = gen_deployment.api()
    r = api.post("/api/v1/jobs", json={"kind": "xyz", "params": {
        "base": BASE, "x": {"field": "steps", "values": [2, 3, 4]},
        "y": {"field": "prompt_sr", "values": ["red", "blue"]},
    }})  # fmt: skip
    assert r.status_code == 202, r.text
    parent = r.json()["id"]
    cells = wait_for(
        lambda: len(c := [e for e in api.events(parent) if e["type"] == "cell"]) >= 4 and c,
        timeout=120, what="the first cells to be submitted",
    )  # fmt: skip
    # cancel a cell still waiting: the plot goes on without it
    last = max(cells, key=lambda e: e["payload"]["index"])["payload"]["job_id"]
    api.post(f"/api/v1/jobs/{last}/cancel").raise_for_status()
    done = api.wait_state(parent, ("succeeded", "failed", "cancelled"), timeout=240)
    assert done["state"] == "succeeded", done
    result = done["result"]
    assert result["cells"] == 6 and result["failed"] == 1
    events = api.events(parent)
    order = [e["payload"]["index"] for e in events if e["type"] == "cell"]
    assert order == list(range(6))
    arts = {e["payload"]["name"]: e["payload"]["url"] for e in events if e["type"] == "artifact"}
    index = json.loads(api.get(arts["xyz/index.json"]).content)
    states = [c["state"] for c in index["cells"]]
    assert states.count("succeeded") == 5 and states.count("cancelled") == 1
    grid = Image.open(io.BytesIO(api.get(arts["xyz/grid.png"]).content))
    assert grid.width >= 3 * 32 and grid.height >= 2 * 32
    first = api.job(index["cells"][0]["job_id"])
    assert first["kind"] == "generate" and first["params"]["steps"] == 2
    blue = api.job(index["cells"][3]["job_id"])
    assert (
        blue["params"]["prompt"] == "a blue circle"
        and blue["params"]["seed"] == (first["params"]["seed"])
    )  # one seed for every cell
    gallery = api.get("/api/v1/generations", params={"limit": 50}).json()["data"]
    assert {c["job_id"] for c in index["cells"][:5]} <= {g["job_id"] for g in gallery}


def test_too_many_cells_or_a_bad_value_is_422_with_nothing_queued(gen_deployment) -> None:
    api = gen_deployment.api()
    before = api.get("/api/v1/jobs").json()["count"]
    for params, where in (
        ({"base": BASE, "x": {"field": "seed", "values": list(range(11))},
          "y": {"field": "steps", "values": list(range(1, 11))}}, "params"),
        ({"base": BASE, "x": {"field": "sampler", "values": ["DDIM", "Nope"]}}, "x"),
    ):  # fmt: skip
        r = api.post("/api/v1/jobs", json={"kind": "xyz", "params": params})
        assert r.status_code == 422, r.text
        assert where in r.json()["detail"][0]["loc"], r.json()
    assert api.get("/api/v1/jobs").json()["count"] == before


@pytest.mark.timeout(300)
def test_a_plot_finishes_for_a_user_whose_queue_cap_its_own_job_fills(tmp_path) -> None:
    """With one queued-or-running job allowed per user, the plot is that job: its cells must
    not wait on the cap it fills (they would wait forever), while a second submit is refused."""
    from tests.integration.test_fast_path import tiny_deployment

    with tiny_deployment(tmp_path, DIFFLAB_MAX_QUEUED_PER_USER="1") as dep:
        api = dep.api()
        r = api.post("/api/v1/jobs", json={"kind": "xyz", "params": {
            "base": BASE, "x": {"field": "steps", "values": [2, 3]},
        }})  # fmt: skip
        assert r.status_code == 202, r.text
        parent = r.json()["id"]
        api.wait_state(parent, ("running",), timeout=120)
        more = api.post("/api/v1/generations", json=BASE)
        assert more.status_code == 429, more.text  # the cap still holds for the user's submits
        done = api.wait_state(parent, ("succeeded", "failed", "cancelled"), timeout=240)
        assert done["state"] == "succeeded" and done["result"]["failed"] == 0, done

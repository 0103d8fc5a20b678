"""A learner runs every lab kind and reads each run's formulas with the run's own numbers in
them, in a real browser, on a real server and worker."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.e2e.conftest import shot, sign_in

pytestmark = pytest.mark.e2e

LEARNER = ("lea", "tulip-garden-77")


def _numbers(text: str) -> set[str]:
    return set(re.findall(r"-?\d+(?:\.\d+)?", text.replace("\u2212", "-")))


def _theta(result: dict[str, Any]) -> list[float]:
    """The fitted coefficients in the result, whatever method produced them."""
    theta = result["theta"]
    while isinstance(theta, dict):
        theta = next(iter(theta.values()))
    return [float(v) for v in theta]


@pytest.mark.timeout(900)
def test_a_learner_runs_every_lab_kind_and_sees_its_math_with_live_values(page, site) -> None:
    admin = site.api()
    r = admin.post(
        "/api/v1/users", json={"username": LEARNER[0], "password": LEARNER[1], "role": "learner"}
    )
    assert r.status_code == 201, r.text
    learner = site.api(*LEARNER)
    kinds = [
        k["name"]
        for k in learner.get("/api/v1/job-kinds").json()
        if k["category"] == "lab" and not k["admin_only"]
    ]
    assert len(kinds) >= 26 and "lab.linear_regression" in kinds

    # one run launched from the runs page, as a learner would
    sign_in(page, *LEARNER)
    page.goto("/train?kind=lab.linear_regression")
    page.get_by_test_id("launch-submit").click()
    page.wait_for_url(re.compile(r"/train/[0-9a-f-]{36}$"))
    first = page.url.rsplit("/", 1)[1]
    # the others through the API, queued behind it
    jobs = {"lab.linear_regression": first}
    for kind in kinds:
        if kind not in jobs:
            r = learner.post("/api/v1/jobs", json={"kind": kind, "params": {}})
            assert r.status_code == 202, (kind, r.text)
            jobs[kind] = r.json()["id"]

    for kind, job_id in jobs.items():
        done = learner.wait_state(job_id, ("succeeded", "failed", "cancelled"), timeout=300)
        assert done["state"] == "succeeded", (kind, done["error"])
        page.goto(f"/train/{job_id}")
        math = page.get_by_test_id("run-math")
        math.locator(".katex").first.wait_for()
        live = math.locator('[data-role="live"] .katex')
        live.first.wait_for()
        text = " ".join(live.all_inner_texts())
        assert _numbers(text), (kind, text)  # the run's numbers, not only symbols
        if kind == "lab.linear_regression":
            # the coefficients the run reports are the ones in its formula
            shown = _numbers(text)
            wanted = {str(float(f"{v:.3g}")).removesuffix(".0") for v in _theta(done["result"])}
            assert wanted & shown, (wanted, text)
            shot(page, "lab-math")

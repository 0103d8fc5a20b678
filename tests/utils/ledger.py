"""The loss ledger: what a fault test counts as lost, checked independently of the service.

A test records every job id the API accepted (202) at the moment it was accepted; after the
fault, `audit` asks the API about each one and counts it lost unless it reached a final state
(a failure with its reason) and, if it succeeded, every artifact its events name can be
downloaded whole. `tests/integration/test_ledger.py` shows the audit catches a job that is
deliberately dropped, so "0 lost" is a number that could have been another.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

TERMINAL = ("succeeded", "failed", "cancelled")


@dataclass
class Audit:
    checked: int = 0
    lost: dict[str, str] = field(default_factory=dict)  # job id -> why

    @property
    def count(self) -> int:
        return len(self.lost)


@dataclass
class Ledger:
    accepted: list[str] = field(default_factory=list)

    def record(self, job_id: str) -> str:
        self.accepted.append(job_id)
        return job_id

    def submit(self, api: Any, kind: str, **params: Any) -> dict[str, Any] | None:
        """Submit through the API; an accepted job is recorded before anything else happens."""
        r = api.post("/api/v1/jobs", json={"kind": kind, "params": params})
        if r.status_code != 202:
            return None
        self.record(r.json()["id"])
        return dict(r.json())

    def audit(self, api: Any, job_ids: Iterable[str] | None = None) -> Audit:
        result = Audit()
        for job_id in self.accepted if job_ids is None else list(job_ids):
            result.checked += 1
            why = _why_lost(api, job_id)
            if why:
                result.lost[job_id] = why
        return result


def _events(api: Any, job_id: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    after = 0
    while True:
        r = api.get(
            f"/api/v1/jobs/{job_id}/events",
            params={"after": after},
            headers={"accept": "application/json"},
        )
        batch = r.json() if r.status_code == 200 else []
        if not batch:
            return out
        out += batch
        after = batch[-1]["seq"]


def _why_lost(api: Any, job_id: str) -> str | None:
    r = api.get(f"/api/v1/jobs/{job_id}")
    if r.status_code != 200:
        return f"the API answers {r.status_code} for it"
    job = r.json()
    if job["state"] not in TERMINAL:
        return f"still {job['state']}"
    if job["state"] == "failed" and not job["error"]:
        return "failed without a reason"
    if job["state"] != "succeeded":
        return None
    for e in _events(api, job_id):
        if e["type"] != "artifact":
            continue
        name, size = e["payload"]["name"], e["payload"]["size"]
        got = api.get(f"/api/v1/jobs/{job_id}/artifacts/{name}")
        if got.status_code != 200 or len(got.content) != size:
            return f"artifact {name} is missing or cut ({got.status_code}, {len(got.content)} B)"
    return None

"""The loss ledger counts what it should: a job deliberately dropped is counted lost."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.utils.ledger import Ledger

pytestmark = pytest.mark.integration


def test_the_ledger_counts_a_dropped_job_and_a_missing_artifact(gen_deployment) -> None:
    api = gen_deployment.api()
    ledger = Ledger()
    jobs = [ledger.submit(api, "sleep", steps=2, step_seconds=0.05) for _ in range(4)]
    assert all(jobs) and len(ledger.accepted) == 4
    for job in jobs:
        assert job is not None
        api.wait_state(job["id"], ("succeeded",), timeout=60)
    clean = ledger.audit(api)
    assert (clean.checked, clean.count) == (4, 0), clean.lost
    data = Path(gen_deployment.env["DIFFLAB_DATA_DIR"])
    dropped, gutted, reopened = (j["id"] for j in jobs[:3] if j is not None)
    # a job that vanished from the database, one whose artifact vanished from disk,
    # and one that was set back to queued and never ran again
    with sqlite3.connect(data / "difflab.sqlite") as db:
        db.execute("DELETE FROM job_events WHERE job_id = ?", (dropped,))
        db.execute("DELETE FROM generations WHERE job_id = ?", (dropped,))
        db.execute("DELETE FROM jobs WHERE id = ?", (dropped,))
        # (enqueued in the far future: the reconciler will not publish it again meanwhile)
        db.execute(
            "UPDATE jobs SET state = 'queued', enqueued_at = '2999-01-01 00:00:00.000000' "
            "WHERE id = ?",
            (reopened,),
        )
    (data / "artifacts" / gutted / "summary.json").unlink()
    audit = ledger.audit(api)
    assert audit.count == 3, audit.lost
    assert "404" in audit.lost[dropped]
    assert "summary.json" in audit.lost[gutted]
    assert "still queued" in audit.lost[reopened]

"""The lifecycle on a real SQLite database and the embedded broker (no worker needed)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from difflab.db.engine import session_scope
from difflab.db.models import Job, JobEvent, utcnow
from difflab.jobs.kinds.diagnostic import SPEC
from difflab.jobs.lifecycle import claim_job, finish_job, request_cancel, submit_job
from difflab.jobs.reconciler import reconcile_once


def _submit(**params: object) -> str:
    spec = SPEC
    with session_scope() as s:
        job, created = submit_job(s, spec, spec.params.model_validate(params), None)
        assert created
        return job.id


def test_a_job_is_claimed_once(embedded_env) -> None:
    job_id = _submit(steps=1)
    with session_scope() as s:
        first = claim_job(s, job_id, "w1")
    with session_scope() as s:
        second = claim_job(s, job_id, "w2")
    assert first is not None and first.attempt == 1
    assert second is None
    with session_scope() as s:
        assert finish_job(s, first, "succeeded", result={"ok": True})
    with session_scope() as s:
        job = s.get(Job, job_id)
        assert job is not None and job.state == "succeeded" and job.progress == 1.0
        seqs = list(
            s.scalars(select(JobEvent.seq).where(JobEvent.job_id == job_id).order_by(JobEvent.seq))
        )
        assert seqs == list(range(1, len(seqs) + 1))  # dense and ordered


def test_cancel_of_a_queued_job_is_immediate(embedded_env) -> None:
    job_id = _submit(steps=1)
    with session_scope() as s:
        job = request_cancel(s, s.get(Job, job_id))
        assert job.state == "cancelled"
    with session_scope() as s:
        assert claim_job(s, job_id, "w1") is None


def test_reconciler_requeues_then_fails_a_job_whose_worker_died(embedded_env) -> None:
    job_id = _submit(steps=1)
    for attempt in (1, 2, 3):
        with session_scope() as s:
            claim = claim_job(s, job_id, "w")
            assert claim is not None and claim.attempt == attempt
            # the worker "dies": its heartbeat stops and is now long past
            s.execute(
                update(Job)
                .where(Job.id == job_id)
                .values(heartbeat_at=utcnow() - timedelta(seconds=60))
            )
        report = reconcile_once()
        with session_scope() as s:
            job = s.get(Job, job_id)
            assert job is not None
            if attempt < 3:
                assert job_id in report.requeued and job.state == "queued"
            else:
                assert job_id in report.failed and job.state == "failed"
                assert "no heartbeat" in (job.error or "")
        # a stale attempt can no longer record an outcome
        with session_scope() as s:
            assert not finish_job(s, claim, "succeeded")


def test_the_next_job_is_the_one_whose_owner_waited_longest(embedded_env) -> None:
    from difflab.accounts import create_user
    from difflab.jobs.lifecycle import fair_next

    with session_scope() as s:
        alice, bob = create_user(s, "alice", "x" * 12), create_user(s, "bob", "y" * 12)
        users = {"alice": alice, "bob": bob}
    params = SPEC.params.model_validate({"steps": 1})

    def submit(who: str) -> str:
        with session_scope() as s:
            job, _ = submit_job(s, SPEC, params, s.get(type(users[who]), users[who].id))
            return job.id

    a1, a2, a3 = submit("alice"), submit("alice"), submit("alice")
    b1 = submit("bob")  # last in the queue
    with session_scope() as s:
        first = fair_next(s, a1)
        assert first == a1  # nobody served yet: the oldest
        assert claim_job(s, first, "w1") is not None
    with session_scope() as s:  # alice now has a job running: bob, never served, goes next
        assert fair_next(s, a2) == b1
        assert claim_job(s, b1, "w1") is not None
    with session_scope() as s:  # bob was served after alice: alice's next job
        assert fair_next(s, a3) == a2
    with session_scope() as s:  # a message for a kind with nothing queued runs nothing
        s.execute(update(Job).where(Job.state == "queued").values(state="cancelled"))
    with session_scope() as s:
        assert fair_next(s, a3) is None
        assert fair_next(s, "no-such-job") is None  # a message whose job is gone


def test_a_long_wait_republishes_nothing_only_lost_messages_are_sent_again(embedded_env) -> None:
    from difflab.jobs.celery_app import get_celery
    from difflab.jobs.publish import queue_depths

    jobs = [_submit(steps=1) for _ in range(3)]
    assert queue_depths()["cpu"] == 3

    def age() -> None:  # they have all waited longer than REQUEUE_AFTER_S
        with session_scope() as s:
            s.execute(update(Job).values(enqueued_at=utcnow() - timedelta(hours=2)))

    age()
    assert reconcile_once().republished == []  # behind a long job, but nothing was lost
    assert queue_depths()["cpu"] == 3
    with get_celery().connection_for_write() as conn:  # the broker loses its messages
        conn.default_channel.queue_purge("cpu")
    assert queue_depths()["cpu"] == 0
    age()
    assert sorted(reconcile_once().republished) == sorted(jobs)
    assert queue_depths()["cpu"] == 3
    age()
    assert reconcile_once().republished == []


def test_a_claim_finds_when_each_owner_was_last_served_by_an_index_seek(embedded_env) -> None:
    """fair_next orders queued jobs by their owner's last start: with the (owner_id,
    started_at) index that is one seek per owner, not a walk through the owner's history
    (EXPLAIN QUERY PLAN on SQLite)."""
    from sqlalchemy import event

    from difflab.db.engine import get_engine
    from difflab.jobs.lifecycle import fair_next

    job_id = _submit(steps=1)
    seen: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, *args) -> None:  # noqa: ANN001
        if "ORDER BY" in statement and "max(" in statement:
            seen.append((statement, parameters))

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", record)
    try:
        with session_scope() as s:
            assert fair_next(s, job_id) == job_id
    finally:
        event.remove(engine, "before_cursor_execute", record)
    ((statement, parameters),) = seen
    with engine.connect() as conn:
        plan = [r[-1] for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)]
    assert any("COVERING INDEX ix_jobs_owner_started (owner_id=?)" in line for line in plan), plan

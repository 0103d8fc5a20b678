"""Publishing a job id onto its queue, failing fast when the broker is down."""

from __future__ import annotations

from difflab.jobs.celery_app import get_celery

TASK_NAME = "difflab.run_job"


class BrokerUnavailable(RuntimeError):
    pass


def publish_job(job_id: str, queue: str, time_limit_s: int) -> None:
    app = get_celery()
    try:
        app.send_task(
            TASK_NAME,
            args=[job_id],
            queue=queue,
            time_limit=time_limit_s + 120,
            retry=True,
            retry_policy={
                "max_retries": 1,
                "interval_start": 0.2,
                "interval_step": 0.5,
                "interval_max": 1.0,
            },
        )
    except Exception as exc:  # kombu raises OperationalError and friends
        raise BrokerUnavailable(f"the job broker is unavailable: {exc}") from exc


def queue_depths() -> dict[str, int | None]:
    """Messages waiting in each queue (None where the broker can't tell)."""
    app = get_celery()
    depths: dict[str, int | None] = {}
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1)
            channel = conn.default_channel
            for name in ("gpu", "cpu"):
                try:
                    depths[name] = int(
                        channel.queue_declare(queue=name, passive=True).message_count
                    )
                except Exception:
                    depths[name] = None
    except Exception:
        return {"gpu": None, "cpu": None}
    return depths


def broker_ok() -> bool:
    app = get_celery()
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True
    except Exception:
        return False


def declare_queues() -> None:
    """Create the gpu and cpu queues on the broker before any worker starts.

    On the embedded broker each queue is a row; two workers starting at once on a fresh
    broker would both try to insert it and one would fail.
    """
    app = get_celery()
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=3)
        channel = conn.default_channel
        for queue in app.conf.task_queues:
            queue(channel).declare()

"""The Celery app. Tasks carry only a job id; the database holds the job and its state.

Embedded default: kombu's SQLAlchemy transport on a SQLite file (var/broker.sqlite). It needs
no server, keeps messages across restarts in one transactional file, and can count a queue's
messages, which the filesystem transport does one file per message and without transactions.
Production: DIFFLAB_BROKER_URL=redis://... (visibility timeout above the longest job).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from celery import Celery
from kombu import Exchange, Queue

from difflab.config import get_settings
from difflab.jobs import sqlite_broker

sqlite_broker.register()

QUEUES = ("gpu", "cpu")


def celery_config(broker_url: str, job_time_limit_s: int) -> dict[str, Any]:
    conf: dict[str, Any] = {
        "broker_url": broker_url,
        # json only: a message in any other format (pickle above all) is refused unread
        "task_serializer": "json",
        "result_serializer": "json",
        "event_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        "task_ignore_result": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_queues": tuple(Queue(name, Exchange(name), routing_key=name) for name in QUEUES),
        "task_create_missing_queues": False,
        "task_default_queue": "cpu",
        "broker_connection_retry_on_startup": True,
        "broker_connection_timeout": 3,
        "worker_hijack_root_logger": False,
        "worker_send_task_events": False,
        "worker_enable_remote_control": broker_url.startswith("redis"),
    }
    if broker_url.startswith(("redis://", "rediss://")):
        conf["broker_transport_options"] = {
            # a message not acked within this is redelivered: above the longest job
            "visibility_timeout": job_time_limit_s + 3600,
            "socket_connect_timeout": 2,
            "socket_timeout": 10,
        }
    return conf


@lru_cache
def get_celery() -> Celery:
    settings = get_settings()
    if "+sqlite" in settings.celery_broker_url.split("://", 1)[0]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = Celery("difflab")
    app.conf.update(celery_config(settings.celery_broker_url, settings.job_time_limit_s))
    app.conf.include = ["difflab.jobs.tasks"]
    return app

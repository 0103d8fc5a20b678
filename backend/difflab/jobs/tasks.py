"""Celery task entry points: thin, they take a job id and hand it to the runner."""

from __future__ import annotations

import os

from celery import Task

from difflab.jobs.celery_app import get_celery
from difflab.jobs.publish import TASK_NAME
from difflab.jobs.runner import execute_job

app = get_celery()


@app.task(name=TASK_NAME, bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_job(self: Task, job_id: str) -> str:
    worker = os.environ.get("DIFFLAB_WORKER_NAME") or str(self.request.hostname or "worker")
    device = os.environ.get("DIFFLAB_WORKER_DEVICE", "cpu")
    return execute_job(job_id, worker=worker, device=device)

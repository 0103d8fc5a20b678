"""Starting a Celery worker process and keeping its row in the `workers` table alive.

Workers announce themselves in the database (name, queues, device, pid, last seen), so the
API can list them with any broker, including the embedded one that has no remote control.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Any

from celery.signals import worker_process_init, worker_ready, worker_shutdown
from sqlalchemy import delete, update

from difflab import heap
from difflab.config import get_settings
from difflab.db.engine import get_engine, session_scope
from difflab.db.models import Worker, utcnow
from difflab.jobs.embedded import bind_pool_child, bind_to_parent

log = logging.getLogger(__name__)
_stop = threading.Event()


def default_device() -> str:
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except Exception:
        return "cpu"


def device_count(device: str) -> int:
    """How many processes a training job may use here (`processes`): the GPUs of a CUDA
    worker given "cuda" (one named GPU, "cuda:1": one), the CPU cores of a CPU worker."""
    if device == "cuda":
        try:
            import torch

            return max(1, torch.cuda.device_count())
        except Exception:
            return 1
    if device.startswith("cuda:"):
        return 1
    return os.cpu_count() or 1


def _register() -> None:
    name = os.environ["DIFFLAB_WORKER_NAME"]
    queues = os.environ.get("DIFFLAB_WORKER_QUEUES", "gpu,cpu").split(",")
    device = os.environ.get("DIFFLAB_WORKER_DEVICE", "cpu")
    with session_scope() as s:
        s.execute(delete(Worker).where(Worker.name == name))
        s.add(Worker(name=name, queues=queues, device=device, devices=device_count(device),
                     pid=os.getpid(), last_seen=utcnow()))  # fmt: skip


def _beat_loop() -> None:
    name = os.environ["DIFFLAB_WORKER_NAME"]
    every = get_settings().heartbeat_s
    while not _stop.wait(every):
        try:
            with session_scope() as s:
                res = s.execute(
                    update(Worker).where(Worker.name == name).values(last_seen=utcnow())
                )
                if res.rowcount == 0:  # type: ignore[attr-defined]
                    s.rollback()
                    _register()
        except Exception:
            log.exception("worker heartbeat failed")


@worker_ready.connect
def _on_ready(**_: Any) -> None:
    _register()
    heap.settle()  # the consumer process: its collections stop walking what it imported
    threading.Thread(target=_beat_loop, name="worker-heartbeat", daemon=True).start()


@worker_shutdown.connect
def _on_shutdown(**_: Any) -> None:
    _stop.set()
    try:
        with session_scope() as s:
            s.execute(delete(Worker).where(Worker.name == os.environ["DIFFLAB_WORKER_NAME"]))
    except Exception:
        log.exception("could not remove the worker row")


@worker_process_init.connect
def _on_child_start(**_: Any) -> None:
    # a job never runs on headless: the pool child dies with its worker process
    bind_pool_child()
    # a forked child must not reuse the parent's database connections
    get_engine().dispose(close=False)
    threads = os.environ.get("DIFFLAB_TORCH_THREADS")
    if threads:
        import torch

        torch.set_num_threads(int(threads))
    # import every kind now, so a job's first step does not wait for heavy imports
    from difflab.jobs.registry import all_kinds

    try:
        all_kinds()
    except Exception:
        log.exception("could not load the job kinds")
    # what the libraries and kinds built stays: full collections stop walking it, and after
    # each model load the model's objects (difflab/heap.py)
    heap.settle()
    heap.settle_after_loads()


def run_worker(
    queues: list[str],
    concurrency: int,
    device: str | None,
    name: str | None,
    loglevel: str = "INFO",
) -> None:
    from difflab.jobs.celery_app import get_celery

    parent = os.environ.get("DIFFLAB_PARENT_PID", "")
    if parent.isdigit():  # the embedded worker of `difflab serve` dies with its server
        bind_to_parent(int(parent))
    device = device or default_device()
    name = name or f"worker-{device.replace(':', '')}@{socket.gethostname()}-{os.getpid()}"
    os.environ["DIFFLAB_WORKER_NAME"] = name
    os.environ["DIFFLAB_WORKER_QUEUES"] = ",".join(queues)
    os.environ["DIFFLAB_WORKER_DEVICE"] = device
    os.environ.setdefault(
        "DIFFLAB_TORCH_THREADS", str(max(1, (os.cpu_count() or 1) // concurrency))
    )
    app = get_celery()
    import difflab.jobs.tasks  # noqa: F401  (registers the task)

    app.worker_main(
        [
            "worker",
            f"--queues={','.join(queues)}",
            f"--concurrency={concurrency}",
            f"--hostname={name}",
            f"--loglevel={loglevel}",
            "--pool=prefork",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
    )

"""What a full garbage collection costs an API process and a worker, before and after each
keeps its long-lived objects out of the collector's walk (difflab/heap.py).

Each process is built as difflab builds it, in a fresh interpreter of its own:
- an API process: the app as `difflab serve` builds it (create_app), then its start-up
  freeze (`freeze_at_start`);
- a worker's pool process: every job kind imported, as the worker's process start does, then
  the house model loaded as a generation's first job loads it (`load_pipeline`), then the
  settle that follows a load in a worker (`settle`).

Then CPython's full collection (gc.collect()) is timed over what the process holds: before,
every object is walked; after, only what was made since. In an API process under load such a
collection stops every request in flight (bench_api_load.py shows the p99); in a worker it
runs in a job, beside the sampler's threads.

    python bench/bench_heap.py [--repeats 5] [--models-dir models] [--model house]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _collect_ms(repeats: int) -> float:
    took = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        gc.collect()
        took.append((time.perf_counter() - t0) * 1000)
    return statistics.median(took)


def api_process(repeats: int) -> str:
    from difflab.api.app import create_app
    from difflab.heap import freeze_at_start

    create_app(reconcile=False)
    gc.collect()
    held = len(gc.get_objects())
    before = _collect_ms(repeats)
    freeze_at_start()
    after = _collect_ms(repeats)
    return (
        f"| an API process after create_app | {held:,} | {before:.1f} ms | {after:.1f} ms "
        f"| {gc.get_freeze_count():,} |"
    )


def worker_process(repeats: int, model_dir: Path) -> str:
    from difflab import heap
    from difflab.diffusion.models import load_pipeline
    from difflab.jobs.registry import all_kinds

    all_kinds()
    load_pipeline(model_dir)  # no settling yet: this process has not asked for it
    gc.collect()
    held = len(gc.get_objects())
    before = _collect_ms(repeats)
    heap.settle()
    after = _collect_ms(repeats)
    return (
        f"| a worker's pool process, every kind imported and the {model_dir.name} model "
        f"loaded | {held:,} | {before:.1f} ms | {after:.1f} ms | {gc.get_freeze_count():,} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--model", default="house")
    parser.add_argument("--one", choices=("api", "worker"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:  # one process's line, in a fresh interpreter (see below)
        with tempfile.TemporaryDirectory() as data:
            os.environ.setdefault("DIFFLAB_DATA_DIR", data)
            if args.one == "api":
                print(api_process(args.repeats))
            else:
                print(worker_process(args.repeats, (args.models_dir / args.model).resolve()))
        return
    rows = []
    for one in ("api", "worker"):  # each in a process of its own: neither holds the other's
        proc = subprocess.run(
            [sys.executable, __file__, "--one", one, "--repeats", str(args.repeats),
             "--models-dir", str(args.models_dir), "--model", args.model],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        rows.append(proc.stdout.strip().splitlines()[-1])
    print(
        f"A full collection (gc.collect()), median of {args.repeats}, before and after the "
        f"process keeps its long-lived objects out of the walk; {os.cpu_count()} CPUs.\n"
    )
    print("| process | objects tracked | full collection before | after | objects frozen |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()

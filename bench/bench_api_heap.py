"""What a full garbage collection costs an API process, before and after it freezes its
start-up heap (difflab/heap.py).

Builds the app as `difflab serve` does (create_app), in a fresh process, then times CPython's
full collection (gc.collect()) over the objects the process holds: before the freeze, every
one of them is walked; after it, only what was made since. Under load such a collection stops
every request in flight (bench_api_load.py shows the p99).

    python bench/bench_api_heap.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import tempfile
import time


def _collect_ms(repeats: int) -> float:
    took = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        gc.collect()
        took.append((time.perf_counter() - t0) * 1000)
    return statistics.median(took)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data:
        os.environ.setdefault("DIFFLAB_DATA_DIR", data)
        from difflab.api.app import create_app
        from difflab.heap import freeze_at_start

        create_app(reconcile=False)
        gc.collect()
        held = len(gc.get_objects())
        before = _collect_ms(args.repeats)
        freeze_at_start()
        after = _collect_ms(args.repeats)
    print(
        f"An API process after create_app: {held:,} objects tracked by the garbage collector. "
        f"A full collection (gc.collect(), median of {args.repeats}): {before:.1f} ms before "
        f"the start-up freeze, {after:.1f} ms after it ({gc.get_freeze_count():,} objects "
        f"frozen); {os.cpu_count()} CPUs."
    )


if __name__ == "__main__":
    main()

"""Keep the garbage collector off the objects a process keeps for its whole life.

An API process holds over half a million long-lived objects (the imported libraries, torch
among them through the job kinds' parameters, the app and its routes); a worker holds as many,
and once it has loaded a model, the model's modules, parameters and configs too. CPython's full
collection walks every object the process holds, whenever enough objects have survived since
the last one. In an API process under load, objects of requests in flight survive the young
generations, and the full collections that follow stop every request in flight; they showed as
the p99 (bench/bench_api_load.py). In a worker one comes rarely, but it comes in a job: in the
pool process it stops the job for as long as it walks, and in the consumer process it takes a
core from the sampler's threads (one was seen there during a bench run). bench/bench_heap.py
prints what one full collection costs each process before and after.

`freeze_at_start` (an API process, once its app is built) collects once, then moves everything
alive into the permanent generation (`gc.freeze`), so later collections walk only what the
process made since; reference counting frees everything as before. A worker settles (`settle`)
when its pool process starts and after each model load (`loaded`): it unfreezes, collects, and
freezes again, so what an earlier freeze kept and has since become garbage (a replaced model's
cycles) is collected too.
"""

from __future__ import annotations

import gc
import threading

_lock = threading.Lock()
_frozen = False
_settle_after_loads = False


def freeze_at_start() -> bool:
    """Collect, then exclude every object alive now from future collections; once per
    process (later calls do nothing and return False). Call it when the process has built
    what it keeps. A cycle frozen is never freed, hence the collection first and the once:
    a process that builds several apps (the tests) freezes only the first's."""
    global _frozen
    with _lock:
        if _frozen:
            return False
        gc.collect()
        gc.freeze()
        _frozen = True
        return True


def settle() -> None:
    """Collect everything, what an earlier freeze kept included, then freeze what is alive:
    for a process that has just built something it keeps and may later drop it."""
    global _frozen
    with _lock:
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        _frozen = True


def settle_after_loads() -> None:
    """From now on, this process settles after each model load (`loaded`): a worker."""
    global _settle_after_loads
    _settle_after_loads = True


def loaded() -> None:
    """A model was loaded and cached: settle, in a process that asked for it."""
    if _settle_after_loads:
        settle()

"""Keep the garbage collector off the objects an API process keeps for its whole life.

An API process holds over half a million long-lived objects (the imported libraries, torch
among them through the job kinds' parameters, the app and its routes). Under load, objects
of requests in flight survive the young generations, and once enough have, CPython's full
collection walks every object the process holds, stopping every request in flight at that
moment; it shows as the p99 (bench/bench_api_load.py), and bench/bench_api_heap.py prints what
one such collection costs before and after the freeze. `freeze_at_start` collects once, then
moves everything alive into the permanent generation (`gc.freeze`), so later collections walk
only what the process made since; reference counting frees everything as before.

Workers do not call it: a generation allocates few objects that outlive it, so full
collections are rare there.
"""

from __future__ import annotations

import gc
import threading

_lock = threading.Lock()
_frozen = False


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

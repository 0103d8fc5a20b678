"""Run a job's body with room on CPython's frame stack (CPython before 3.13).

CPython keeps each thread's Python frames on a stack made of chunks, 16 KiB at first. Before
3.13, a chunk is unmapped as soon as the frame that opened it returns, and mapped again by the
next call that needs it (CPython issue gh-142183). A loop whose calls go back and forth across
the end of a chunk therefore maps and unmaps it on every call: a system call pair, page faults
to zero it, and a TLB shootdown on the sampler's other threads. A U-Net step makes hundreds
of nested module calls, so where the worker's own frames happened to end a chunk inside
them, every step paid for it. Where that falls depends on everything below the job on the
stack (Celery's frames differ by broker): inpainting on the PostgreSQL worker made about
2,600 mmap/munmap pairs per job, img2img about 250, and its U-Net calls took 330 ms where
img2img's took 276 ms; on the embedded worker both took about the same.

`with_stack_room` calls the job through a frame too large for a 16 KiB chunk: CPython gives
that frame a chunk of its own with about 40 KiB to spare after it, and the job and all it
calls run there, however deep the worker's frames were. Calls that stay within that room
never cross a chunk's end.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

# Slots (8 bytes each) of the roomy frame's locals. CPython sizes a new chunk as the smallest
# 16 KiB doubling that holds the frame plus 1000 slots: 3100 slots take a 64 KiB chunk
# (8192 slots), leaving about 5000 slots (40 KiB) after the frame.
ROOMY_LOCALS = 3100

_source = (
    "def roomy(fn, args, kwargs):\n"
    "    if fn is None:  # never: the names only make the frame large\n"
    f"        {' = '.join(f'_{i}' for i in range(ROOMY_LOCALS))} = None\n"
    "    return fn(*args, **kwargs)\n"
)
_scope: dict[str, Any] = {}
exec(compile(_source, "<difflab.jobs.stack>", "exec"), _scope)  # noqa: S102 (our own text)
_roomy: Callable[[Callable[..., Any], tuple[Any, ...], dict[str, Any]], Any] = _scope["roomy"]

NEEDED = sys.version_info < (3, 13)  # 3.13 and later keep a chunk for reuse


def with_stack_room(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """fn(*args, **kwargs), on a frame-stack chunk of its own where CPython needs it."""
    if not NEEDED:
        return fn(*args, **kwargs)
    result: T = _roomy(fn, args, kwargs)
    return result

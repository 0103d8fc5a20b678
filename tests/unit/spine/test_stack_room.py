"""A job's loops run on a frame-stack chunk of their own (jobs/stack.py): calls that go back
and forth across the end of a chunk no longer map and unmap it on every call."""

from __future__ import annotations

import resource

import pytest

from difflab.jobs.stack import NEEDED, with_stack_room


def _leaf(a: int, b: int, c: int) -> int:
    return a


def _faults_of_a_loop_at(depth: int, calls: int = 5000) -> int:
    """Minor page faults of `calls` calls made `depth` frames below here."""
    if depth:
        return _faults_of_a_loop_at(depth - 1, calls)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(calls):
        _leaf(1, 2, 3)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def test_with_stack_room_passes_arguments_results_and_errors() -> None:
    assert with_stack_room(lambda a, *, b: (a, b), 1, b=2) == (1, 2)
    with pytest.raises(ZeroDivisionError):
        with_stack_room(lambda: 1 / 0)


@pytest.mark.skipif(not NEEDED, reason="this CPython keeps a frame-stack chunk for reuse")
def test_a_loop_at_a_chunk_boundary_stops_faulting_with_room() -> None:
    # somewhere below, a loop's calls cross the end of a chunk: each maps a fresh chunk
    crossing = next((d for d in range(400) if _faults_of_a_loop_at(d) > 1000), None)
    assert crossing is not None, "no depth found where calls cross a chunk's end"
    # the same loop, the same depth below the job's start, on a chunk of its own: no faults
    assert with_stack_room(_faults_of_a_loop_at, crossing) < 100

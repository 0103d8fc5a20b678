"""The training loop every trainer runs: its schedules, its order within a unit, resume, early
stop, cancellation, and the ranks of a data-parallel run."""

from __future__ import annotations

from typing import Any

import pytest

from difflab.runtime import JobCancelled, MemorySink, RecordedEvent
from difflab.train_loop import Finished, due, run_loop


def recorded(total: int = 7, stop_at: int = 0, **kw: Any) -> tuple[list[str], Finished]:
    """Run a loop whose hooks write what they did into one list, progress events included;
    `end` stops it after unit `stop_at`."""
    calls: list[str] = []

    def on_event(ev: RecordedEvent) -> None:
        if ev.type == "progress":
            calls.append(f"progress {ev.payload['done']}/{ev.payload['total']}")

    def end(n: int) -> bool:
        calls.append(f"end {n}")
        return n == stop_at

    finished = run_loop(
        MemorySink(on_event=on_event),
        total,
        lambda n: calls.append(f"step {n}"),
        evaluate=lambda n: calls.append(f"evaluate {n}"),
        after_evaluate=lambda: calls.append("after_evaluate"),
        checkpoint=lambda n: calls.append(f"checkpoint {n}"),
        end=end,
        **kw,
    )
    return calls, finished


def test_schedules_are_due_at_every_n_and_at_the_last_unit() -> None:
    calls, end = recorded(evaluate_every=3, checkpoint_every=2)
    assert [c for c in calls if c.startswith("evaluate")] == [
        "evaluate 3",
        "evaluate 6",
        "evaluate 7",
    ]
    assert [c for c in calls if c.startswith("checkpoint")] == [
        "checkpoint 2",
        "checkpoint 4",
        "checkpoint 6",
        "checkpoint 7",
    ]
    assert [c for c in calls if c.startswith("step")] == [f"step {n}" for n in range(1, 8)]
    assert calls[-2:] == ["progress 7/7", "end 7"]
    assert end == Finished(units=7, stopped=False)
    assert [n for n in range(1, 11) if due(n, 4, 10)] == [4, 8, 10]


def test_within_a_unit_step_evaluate_checkpoint_progress_then_end() -> None:
    calls, _ = recorded(total=2)
    assert calls == [
        *("step 1", "evaluate 1", "after_evaluate", "checkpoint 1", "progress 1/2", "end 1"),
        *("step 2", "evaluate 2", "after_evaluate", "checkpoint 2", "progress 2/2", "end 2"),
    ]


def test_a_resumed_run_continues_on_the_uninterrupted_schedule() -> None:
    full, _ = recorded(evaluate_every=3, checkpoint_every=2)
    resumed, end = recorded(start=4, evaluate_every=3, checkpoint_every=2)
    assert resumed[0] == "step 5"
    assert resumed == full[full.index("step 5") :]
    assert end == Finished(units=7, stopped=False)
    nothing, end = recorded(start=7)
    assert nothing == [] and end == Finished(units=7, stopped=False)


def test_end_returning_true_stops_after_that_unit() -> None:
    calls, end = recorded(evaluate_every=5, checkpoint_every=5, stop_at=3)
    assert end == Finished(units=3, stopped=True)
    assert calls[-3:] == ["step 3", "progress 3/7", "end 3"]
    # a unit that stops the loop early is no schedule's last unit
    assert not any(c.startswith(("evaluate", "checkpoint")) for c in calls)
    _, end = recorded(total=3, stop_at=3)
    assert end == Finished(units=3, stopped=True)  # stopped by end at the last unit


def test_progress_label_is_a_string_or_a_function_of_the_unit() -> None:
    sink = MemorySink()
    run_loop(sink, 2, lambda n: None, label=lambda n: f"epoch {n}/2")
    run_loop(sink, 1, lambda n: None, label="vae")
    assert [e["message"] for e in sink.of_type("progress")] == ["epoch 1/2", "epoch 2/2", "vae"]


def test_a_cancelled_job_raises_at_the_next_unit() -> None:
    sink = MemorySink()
    steps: list[int] = []

    def step(n: int) -> None:
        steps.append(n)
        if n == 2:
            sink.cancel()

    with pytest.raises(JobCancelled):
        run_loop(sink, 5, step, checkpoint=lambda n: steps.append(-n))
    assert steps == [1, -1, 2, -2]  # unit 2 finishes; unit 3 never starts
    assert [e["done"] for e in sink.of_type("progress")] == [1, 2]


class Rank:
    """What run_loop uses of an accelerate.Accelerator, for one rank of several."""

    def __init__(self, main: bool) -> None:
        self.is_main_process = main
        self.waits = 0

    def wait_for_everyone(self) -> None:
        self.waits += 1


@pytest.mark.parametrize("main", [True, False])
def test_the_main_rank_alone_evaluates_and_checkpoints_and_all_ranks_wait(main: bool) -> None:
    rank = Rank(main)
    calls, _ = recorded(total=4, evaluate_every=2, checkpoint_every=4, acc=rank)
    did = [c for c in calls if c.startswith(("evaluate", "checkpoint"))]
    assert did == (["evaluate 2", "evaluate 4", "checkpoint 4"] if main else [])
    assert rank.waits == 3  # once per due evaluation or checkpoint, on every rank
    assert calls.count("after_evaluate") == 2  # on every rank too


def test_schedules_need_a_positive_period() -> None:
    with pytest.raises(ValueError):
        run_loop(MemorySink(), 3, lambda n: None, evaluate_every=0)

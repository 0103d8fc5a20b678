"""The training loop every trainer runs: the house stages (clip, vae, unet, and the finetune and
lora kinds) step by step, the lab's gradient-trained kinds (lab/nn.py `fit`) epoch by epoch.

A unit is one step or one epoch. Units count from 1: after unit n, n units are done. Per unit:

    sink.check()                          cancellation and the job's wall limit
    step(n)                               the training work and its own metric events
    evaluate(n)    when due               every `evaluate_every` units and at the last one
    after_evaluate()                      every rank (e.g. the throughput clock restarts)
    checkpoint(n)  when due               every `checkpoint_every` units and at the last one
    sink.progress(n, total, label)
    end(n)                                the unit's last work (epoch artifacts); True stops

With an Accelerate accelerator (data-parallel ranks, diffusion/distributed.py), evaluate and
checkpoint run on the main process alone and every rank waits for it: the ranks leave a due
unit together. A run resumed from a checkpoint taken after unit k passes `start=k`; unit k + 1
comes next and the schedules are those of the run that was not interrupted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from difflab.runtime import Sink


class Ranks(Protocol):
    """What the loop uses of an `accelerate.Accelerator`."""

    @property
    def is_main_process(self) -> bool: ...

    def wait_for_everyone(self) -> None: ...


def due(done: int, every: int, total: int) -> bool:
    """A schedule of every `every` units is due after unit `done`: at its multiples and at the
    last unit, so the end of a run is always evaluated and checkpointed."""
    return done % every == 0 or done == total


def together(acc: Ranks | None) -> None:
    """Every rank waits here for the others (nothing to wait for in one process)."""
    if acc is not None:
        acc.wait_for_everyone()


@dataclass(frozen=True)
class Finished:
    """How a loop ended."""

    units: int  # units done: `total`, or the unit after which `end` stopped it
    stopped: bool  # `end` stopped it


def run_loop(
    sink: Sink,
    total: int,
    step: Callable[[int], object],
    *,
    start: int = 0,
    label: str | Callable[[int], str] = "",
    evaluate: Callable[[int], object] | None = None,
    evaluate_every: int = 1,
    after_evaluate: Callable[[], object] | None = None,
    checkpoint: Callable[[int], object] | None = None,
    checkpoint_every: int = 1,
    end: Callable[[int], bool | None] | None = None,
    acc: Ranks | None = None,
) -> Finished:
    """Run units start + 1 .. total as the module docstring lays out. `label` is the progress
    message, or a function of the unit giving it. The hooks take the unit just done; what they
    return is ignored, except `end`'s: True stops the loop after that unit."""
    if evaluate_every < 1 or checkpoint_every < 1:
        raise ValueError("evaluate_every and checkpoint_every must be >= 1")
    main = acc is None or acc.is_main_process
    for done in range(start + 1, total + 1):
        sink.check()
        step(done)
        if evaluate is not None and due(done, evaluate_every, total):
            if main:
                evaluate(done)
            together(acc)
            if after_evaluate is not None:
                after_evaluate()
        if checkpoint is not None and due(done, checkpoint_every, total):
            if main:
                checkpoint(done)
            together(acc)
        sink.progress(done, total, label(done) if callable(label) else label)
        if end is not None and end(done):
            return Finished(units=done, stopped=True)
    return Finished(units=max(start, total), stopped=False)

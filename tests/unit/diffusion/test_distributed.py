"""Training across processes on this machine's CPUs (gloo): two ranks take the steps one
process takes with the same global batch; a dead rank or a cancel ends the whole group."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from difflab.diffusion.train_lora import Params, prepare, run
from difflab.runtime import JobCancelled, MemorySink, ParamError, RunContext, SubmitContext


@pytest.fixture(scope="module")
def dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from difflab.diffusion.tiny import build_tiny_pipeline_dir

    root = tmp_path_factory.mktemp("ddp")
    build_tiny_pipeline_dir(root / "models" / "house", seed=0)
    return root / "models", root / "var"


def _params(dirs: tuple[Path, Path], **kw: Any) -> Params:
    base = dict(steps=8, batch_size=8, train_samples=64, val_samples=8, sample_every=4,
                validation_steps=2, log_every=1, lr=1e-2)  # fmt: skip
    return prepare(Params(**(base | kw)), SubmitContext(*dirs))


def _ctx(dirs: tuple[Path, Path], job: str) -> RunContext:
    models, data = dirs
    return RunContext(job_id=job, models_dir=models, data_dir=data, work_dir=data / "jobs" / job)


def _ranks(needle: str) -> dict[int, str]:
    """pid -> command line of the processes whose command line holds `needle`."""
    out = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if needle in cmd:
            out[int(proc.name)] = cmd
    return out


def test_two_processes_take_the_steps_one_process_takes(dirs) -> None:
    results, series = {}, {}
    for n in (1, 2):
        sink = MemorySink()
        p = _params(dirs, processes=n)
        results[n] = run(p, sink, _ctx(dirs, f"eq{n}"))
        series[n] = sink.metric_series("train/loss")
        names = [e.payload["name"] for e in sink.events if e.type == "artifact"]
        assert names == [f"validation/step_{s:06d}.png" for s in (0, 4, 8)]
    assert results[1]["samples_seen"] == results[2]["samples_seen"] == 64
    assert results[2]["processes"] == 2
    assert [s for s, _ in series[1]] == [s for s, _ in series[2]] == list(range(1, 9))
    for (_, a), (_, b) in zip(series[1], series[2], strict=True):
        assert abs(a - b) <= 1e-5 * max(1.0, abs(a))  # the same loss at every step
    loras = dirs[0] / "loras"
    one = load_file(str(loras / f"{results[1]['lora']}.safetensors"))
    two = load_file(str(loras / f"{results[2]['lora']}.safetensors"))
    assert one.keys() == two.keys()
    assert max(float((one[k] - two[k]).abs().max()) for k in one) < 1e-4


def test_the_batch_must_split_among_the_processes(dirs) -> None:
    with pytest.raises(ParamError) as info:
        _params(dirs, processes=3, batch_size=8)
    assert info.value.field == "batch_size"


def _run_in_thread(p: Params, sink: MemorySink, ctx: RunContext) -> dict[str, Any]:
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = run(p, sink, ctx)
        except BaseException as exc:  # noqa: BLE001 (the test reads it)
            box["error"] = exc

    box["thread"] = threading.Thread(target=target, daemon=True)
    box["thread"].start()
    return box


def _wait_training(sink: MemorySink, needle: str, box: dict[str, Any]) -> None:
    deadline = time.monotonic() + 120
    while not sink.metric_series("train/loss"):
        assert "error" not in box, box.get("error")
        assert time.monotonic() < deadline, "no training step"
        time.sleep(0.2)
    assert len([c for c in _ranks(needle).values() if "torch.distributed.run" not in c]) == 2


def _gone(needle: str) -> bool:
    deadline = time.monotonic() + 30
    while _ranks(needle) and time.monotonic() < deadline:
        time.sleep(0.2)
    return not _ranks(needle)


def test_a_dead_rank_fails_the_job_and_leaves_no_process(dirs) -> None:
    ctx = _ctx(dirs, "dead")
    needle = str(ctx.work_dir / "ranks" / "launch.json")
    sink = MemorySink()
    box = _run_in_thread(_params(dirs, processes=2, steps=20_000, sample_every=10**6,
                                 checkpoint_every=10**6), sink, ctx)  # fmt: skip
    _wait_training(sink, needle, box)
    victim = max(pid for pid, c in _ranks(needle).items() if "torch.distributed.run" not in c)
    os.kill(victim, signal.SIGKILL)
    box["thread"].join(timeout=120)
    assert isinstance(box.get("error"), RuntimeError), box
    assert "distributed training stopped" in str(box["error"])
    assert re.search(r"rank [01] exited with -9 \(SIGKILL\)", str(box["error"])), box["error"]
    assert _gone(needle)
    assert not any((dirs[0] / "loras").glob("*")) or all(
        p.stem != ctx.job_id for p in (dirs[0] / "loras").iterdir()
    )


def test_cancel_ends_every_rank(dirs) -> None:
    ctx = _ctx(dirs, "cancel")
    needle = str(ctx.work_dir / "ranks" / "launch.json")
    sink = MemorySink()
    p = _params(dirs, processes=2, steps=20_000, sample_every=10**6,
                checkpoint_every=10**6, output="never-written")  # fmt: skip
    box = _run_in_thread(p, sink, ctx)
    _wait_training(sink, needle, box)
    sink.cancel()
    box["thread"].join(timeout=60)
    assert isinstance(box.get("error"), JobCancelled), box
    assert _gone(needle)
    assert not (dirs[0] / "loras" / "never-written.safetensors").exists()


@pytest.mark.skipif(not torch.distributed.is_available(), reason="no torch.distributed")
def test_resume_from_rank_zeros_checkpoint_with_another_process_count(dirs) -> None:
    ctx = _ctx(dirs, "resume")
    first = MemorySink()
    run(_params(dirs, processes=2, steps=4, checkpoint_every=4, output="half"), first, ctx)
    assert (ctx.work_dir / "lora.ckpt.safetensors").exists()
    again = MemorySink()
    p = _params(dirs, processes=1, steps=8, resume=True, output="whole")
    result = run(p, again, ctx)
    assert result["steps"] == 8
    assert [s for s, _ in again.metric_series("train/loss")] == [5, 6, 7, 8]
    straight = MemorySink()
    run(_params(dirs, processes=1, steps=8, output="straight"), straight, _ctx(dirs, "straight"))
    resumed = dict(again.metric_series("train/loss"))
    for step, loss in straight.metric_series("train/loss")[4:]:
        assert abs(resumed[step] - loss) <= 1e-5 * max(1.0, loss)


def test_the_unet_stage_on_two_processes_matches_one(dirs) -> None:
    from difflab.diffusion import train_unet

    series, results = {}, {}
    for n in (1, 2):
        p = train_unet.Params(
            steps=4, batch_size=8, base_channels=16, train_samples=64, val_samples=8,
            sample_every=4, probe_size=4, probe_steps=1, probe_adherence=False, log_every=1,
            warmup_steps=1, processes=n,
        )  # fmt: skip
        p = train_unet.prepare(p, SubmitContext(*dirs))
        sink = MemorySink()
        results[n] = train_unet.run(p, sink, _ctx(dirs, f"unet{n}"))
        series[n] = sink.metric_series("train/loss")
        assert (dirs[0] / results[n]["model"] / "unet" / "config.json").exists()
    assert results[1]["samples_seen"] == results[2]["samples_seen"] == 32
    assert len(series[1]) == len(series[2]) == 4
    for (_, a), (_, b) in zip(series[1], series[2], strict=True):
        assert abs(a - b) <= 1e-5 * max(1.0, abs(a))
    assert abs(results[1]["best_val_loss"] - results[2]["best_val_loss"]) < 1e-4

"""Training outputs: a new name by default, nothing replaced unless asked, and only on success."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from difflab.diffusion.outputs import (
    STAGING,
    WHOLE,
    output_kind,
    resolve_output,
    staged_model,
)
from difflab.diffusion.train_clip import Params as ClipParams
from difflab.runtime import MemorySink, ParamError, RunContext, SubmitContext


def _model(root: Path, name: str, *parts: str, marker: str = "old") -> Path:
    d = root / name
    for part in parts or ("unet",):
        (d / part).mkdir(parents=True, exist_ok=True)
        (d / part / "weights.txt").write_text(marker)
    return d


def test_an_empty_output_gets_a_new_name_that_no_model_or_unfinished_job_has(tmp_path) -> None:
    day = datetime.now(UTC).strftime("%Y-%m-%d")
    _model(tmp_path, f"house-{day}-1")
    ctx = SubmitContext(tmp_path, tmp_path, reserved={f"house-{day}-2": "job-a"}.get)
    assert resolve_output("", False, "house", WHOLE, ctx) == f"house-{day}-3"


def test_an_existing_model_is_refused_unless_overwrite_is_asked(tmp_path) -> None:
    _model(tmp_path, "house", "unet", "vae", "text_encoder")
    ctx = SubmitContext(tmp_path, tmp_path)
    with pytest.raises(ParamError, match="model 'house' exists") as e:
        resolve_output("house", False, "house", WHOLE, ctx)
    assert e.value.field == "output"
    assert resolve_output("house", True, "house", WHOLE, ctx) == "house"
    # a stage that writes one part conflicts only with a model that has that part
    with pytest.raises(ParamError, match="already has vae"):
        resolve_output("house", False, "vae", ("vae",), ctx)
    _model(tmp_path, "half", "text_encoder", "tokenizer")
    assert resolve_output("half", False, "vae", ("vae",), ctx) == "half"
    # a name an unfinished job is going to write is refused even with overwrite
    busy = SubmitContext(tmp_path, tmp_path, reserved={"fresh": "job-b"}.get)
    with pytest.raises(ParamError, match="job-b"):
        resolve_output("fresh", True, "house", WHOLE, busy)
    with pytest.raises(ParamError, match="not a model name"):
        resolve_output("../escape", True, "house", WHOLE, ctx)


def _ctx(root: Path, job: str = "j1") -> RunContext:
    return RunContext(job_id=job, work_dir=root / "work", models_dir=root / "models")


def test_a_replacement_appears_only_when_the_job_succeeds(tmp_path) -> None:
    ctx = _ctx(tmp_path)
    old = _model(ctx.models_dir, "house", "unet", "vae")
    with staged_model(ctx, "house", True, WHOLE) as out:
        assert out != old and not (out / "unet").exists()  # a whole writer starts empty
        (out / "unet").mkdir(parents=True)
        (out / "unet" / "weights.txt").write_text("new")
        assert (old / "unet" / "weights.txt").read_text() == "old"  # untouched meanwhile
    assert (old / "unet" / "weights.txt").read_text() == "new"
    assert not (old / "vae").exists()  # the new version replaced the whole directory
    assert not (ctx.models_dir / STAGING).exists()


def test_a_failed_or_cancelled_job_leaves_the_old_model_and_no_half_written_one(tmp_path) -> None:
    ctx = _ctx(tmp_path)
    old = _model(ctx.models_dir, "house")
    with pytest.raises(RuntimeError), staged_model(ctx, "house", True, WHOLE) as out:
        (out / "unet").mkdir(parents=True)
        (out / "unet" / "weights.txt").write_text("half")
        raise RuntimeError("the run died")
    assert (old / "unet" / "weights.txt").read_text() == "old"
    assert sorted(p.name for p in ctx.models_dir.iterdir()) == ["house"]
    with pytest.raises(RuntimeError), staged_model(ctx, "fresh", False, WHOLE) as out:
        (out / "unet").mkdir(parents=True)
        raise RuntimeError("cancelled")
    assert not (ctx.models_dir / "fresh").exists()


def test_a_part_writer_keeps_the_parts_it_does_not_write(tmp_path) -> None:
    ctx = _ctx(tmp_path)
    model = _model(ctx.models_dir, "mine", "text_encoder", "tokenizer")
    with staged_model(ctx, "mine", False, ("vae",)) as out:
        assert (out / "text_encoder" / "weights.txt").read_text() == "old"
        (out / "vae").mkdir()
    assert {p.name for p in model.iterdir()} == {"text_encoder", "tokenizer", "vae"}


def test_a_model_that_appears_while_the_job_runs_is_not_replaced(tmp_path) -> None:
    ctx = _ctx(tmp_path)
    with (
        pytest.raises(ParamError, match="written while this job ran"),
        staged_model(ctx, "race", False, WHOLE) as out,
    ):
        (out / "unet").mkdir(parents=True)
        _model(ctx.models_dir, "race", marker="theirs")
    assert (ctx.models_dir / "race" / "unet" / "weights.txt").read_text() == "theirs"


def test_output_kind_resolves_prepares_and_publishes(tmp_path) -> None:
    def train_into(p: ClipParams, sink, ctx, out_dir: Path) -> dict:
        (out_dir / "text_encoder").mkdir(parents=True)
        return {"steps": p.steps}

    run, prepare = output_kind("clip", ("text_encoder",), train_into)
    ctx = _ctx(tmp_path)
    sub = SubmitContext(ctx.models_dir, tmp_path)
    p = prepare(ClipParams(steps=3), sub)
    assert p.output.startswith("clip-") and prepare(p, sub) == p  # idempotent
    result = run(p, MemorySink(), ctx)
    assert result["model"] == p.output and (ctx.models_dir / p.output / "text_encoder").is_dir()
    with pytest.raises(ParamError, match="already has text_encoder"):
        prepare(p, sub)
    # the worker's second look does not refuse the job's own name
    again = SubmitContext(ctx.models_dir, tmp_path, at_submit=False)
    assert prepare(p, again) == p

"""unet stage: DDPM noise prediction on VAE latents, caption dropout, EMA, exact resume."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from diffusers import DDPMScheduler

from difflab.diffusion import train_unet
from difflab.runtime import JobCancelled, MemorySink, RunContext
from tests.unit.diffusion.test_house import TINY as HOUSE
from tests.unit.diffusion.test_house import build_tiny_house
from tests.unit.diffusion.test_train_clip import cancel_after

TINY: dict[str, Any] = {
    **{k: HOUSE[k] for k in ("train_samples", "val_samples", "resolution", "cpu_threads")},
    **HOUSE["unet"],
}


def models_with_base(tmp_path: Path) -> Path:
    """A models dir holding a copy of the tiny house model (tokenizer, text encoder, VAE)."""
    src, _, _ = build_tiny_house()
    shutil.copytree(src, tmp_path / "models" / "house")
    return tmp_path / "models"


def trainer(tmp_path: Path, name: str = "t", **over: Any) -> train_unet.Trainer:
    models = tmp_path / "models" if (tmp_path / "models").exists() else models_with_base(tmp_path)
    ctx = RunContext(job_id=name, work_dir=tmp_path / name, models_dir=models)
    out = tmp_path / name / "out"
    return train_unet.Trainer(train_unet.Params(**{**TINY, **over}), ctx, MemorySink(), out)


def test_batch_shapes_dtypes_and_caption_dropout(tmp_path: Path) -> None:
    tr = trainer(tmp_path, caption_dropout=0.5, batch_size=64)
    tr.load_data()
    assert tr.mean.shape == (48, 4, 4, 4) and tr.mean.dtype == torch.float32
    d = tr.draw(0)
    assert d["z0"].shape == (64, 4, 4, 4) and d["noise"].shape == (64, 4, 4, 4)
    assert d["t"].dtype == torch.int64 and int(d["t"].min()) >= 0 and int(d["t"].max()) < 1000
    assert d["cond"].shape == (64, 24, 32)
    empty = tr.cond[tr.empty_row]
    dropped = sum(bool(torch.equal(c, empty)) for c in d["cond"])
    assert 16 <= dropped <= 48  # about half the captions replaced by ""
    same = tr.draw(0)
    assert all(torch.equal(d[k], same[k]) for k in d)  # a step's draws depend on the step only
    # the same betas as the DDIM config the pipeline is saved with
    ddpm = DDPMScheduler.from_config(tr.sched_config)
    assert torch.allclose(ddpm.alphas_cumprod, tr.noise_scheduler.alphas_cumprod)


def test_unet_loss_goes_down_on_a_fixed_batch(tmp_path: Path) -> None:
    torch.manual_seed(0)
    tr = trainer(tmp_path, steps=30, lr=3e-3, warmup_steps=1, train_samples=48)
    tr.load_data()
    probe = tr.draw(12345)
    with torch.no_grad():
        before = float(tr.loss(probe))
    for _ in range(30):
        tr.train_step()
    with torch.no_grad():
        after = float(tr.loss(probe))
    assert after < 0.9 * before


def test_unet_resume_gives_the_same_next_loss_and_ema(tmp_path: Path) -> None:
    models = models_with_base(tmp_path)

    def ctx(name: str) -> RunContext:
        return RunContext(job_id=name, work_dir=tmp_path / name, models_dir=models)

    p = train_unet.Params(
        **{**TINY, "steps": 4, "checkpoint_every": 2, "sample_every": 100, "output": "a"}
    )
    full = MemorySink()
    train_unet.run(p, full, ctx("full"))
    with pytest.raises(JobCancelled):
        train_unet.run(p.model_copy(update={"output": "b"}), cancel_after(2), ctx("part"))
    resumed = MemorySink()
    train_unet.run(p.model_copy(update={"output": "b", "resume": True}), resumed, ctx("part"))
    expect, got = dict(full.metric_series("train/loss")), dict(resumed.metric_series("train/loss"))
    assert sorted(got) == [3, 4]
    assert got[3] == pytest.approx(expect[3], rel=1e-6)
    assert got[4] == pytest.approx(expect[4], rel=1e-6)
    a = (models / "a" / "unet" / "diffusion_pytorch_model.safetensors").read_bytes()
    b = (models / "b" / "unet" / "diffusion_pytorch_model.safetensors").read_bytes()
    assert a == b  # the saved EMA weights are identical too
    # the probe from step 0, and one picture of the run: a row per probe, prompts across
    arts = {x["name"]: x for x in full.of_type("artifact")}
    assert {"probe/step_000000.png", "probe/step_000004.png"} <= set(arts)
    sheet = arts["probe/checkpoints.png"]
    assert sheet["meta"]["steps"] == [0, 4] and len(sheet["meta"]["prompts"]) <= 8


def test_probe_samples_and_adherence_metrics(tmp_path: Path) -> None:
    from difflab.diffusion.eval_adherence import AttributeClassifier, save_classifier

    models = models_with_base(tmp_path)
    save_classifier(AttributeClassifier(), models / ".eval-cache")  # untrained: fast
    tr = trainer(tmp_path, probe_adherence=True, probe_size=8)
    tr.load_data()
    values = tr.probe()
    assert {"probe/one/color", "probe/one/position", "probe/two/both"} <= set(values)
    assert all(0.0 <= v <= 1.0 for v in values.values())
    sink = tr.sink
    assert isinstance(sink, MemorySink)
    art = sink.of_type("artifact")[0]
    assert art["name"] == "probe/step_000000.png" and len(art["meta"]["prompts"]) == 8

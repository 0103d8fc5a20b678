"""The finetune kind continues a model's U-Net: a new model directory that loads with plain
diffusers, and a run interrupted after a checkpoint and resumed equals an uninterrupted one."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from diffusers import StableDiffusionPipeline
from safetensors.torch import load_file

from difflab.diffusion import finetune
from difflab.runtime import JobCancelled, MemorySink, ParamError, RunContext, SubmitContext


@pytest.fixture(scope="module")
def dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from difflab.diffusion.tiny import build_tiny_pipeline_dir

    root = tmp_path_factory.mktemp("ft")
    build_tiny_pipeline_dir(root / "models" / "house", seed=0)
    return root / "models", root / "var"


def _params(dirs: tuple[Path, Path], **kw) -> finetune.Params:
    base = dict(steps=8, batch_size=8, train_samples=64, val_samples=8, sample_every=4,
                checkpoint_every=4, log_every=1, probe_size=4, probe_steps=2,
                probe_adherence=False, warmup_steps=2, lr=1e-3)  # fmt: skip
    return finetune.prepare(finetune.Params(**(base | kw)), SubmitContext(*dirs))


def _ctx(dirs: tuple[Path, Path], job: str) -> RunContext:
    models, data = dirs
    return RunContext(job_id=job, models_dir=models, data_dir=data, work_dir=data / "jobs" / job)


def _weights(models: Path, name: str) -> dict[str, torch.Tensor]:
    return load_file(str(models / name / "unet" / "diffusion_pytorch_model.safetensors"))


def test_defaults_come_from_the_model_and_a_new_name(dirs) -> None:
    p = _params(dirs)
    assert p.output.startswith("finetune-") and p.resolution == 64 and p.probe_guidance > 0
    with pytest.raises(ParamError) as info:
        _params(dirs, model="missing")
    assert info.value.field == "model"
    with pytest.raises(ParamError) as info:
        _params(dirs, output="house")
    assert info.value.field == "output"  # never over an existing model by default


def test_resumed_after_a_checkpoint_equals_uninterrupted(dirs) -> None:
    models = dirs[0]
    straight = MemorySink()
    done = finetune.run(_params(dirs, output="ft-straight"), straight, _ctx(dirs, "straight"))
    assert done["steps"] == 8 and done["model"] == "ft-straight"
    pipe = StableDiffusionPipeline.from_pretrained(str(models / "ft-straight"))
    assert pipe.unet.config.sample_size == 8  # a whole pipeline plain diffusers loads

    def stop_at_4(event) -> None:
        if event.type == "progress" and event.payload["done"] == 4:
            first.cancel()

    first = MemorySink(on_event=stop_at_4)
    ctx = _ctx(dirs, "interrupted")
    with pytest.raises(JobCancelled):
        finetune.run(_params(dirs, output="ft-resumed"), first, ctx)
    assert not (models / "ft-resumed").exists()  # a cancelled run leaves no model
    again = MemorySink()
    finetune.run(_params(dirs, output="ft-resumed", resume=True), again, ctx)
    resumed = again.metric_series("train/loss")
    assert [s for s, _ in resumed] == [5, 6, 7, 8]
    for (s, a), (_, b) in zip(resumed, straight.metric_series("train/loss")[4:], strict=True):
        assert abs(a - b) <= 1e-5 * max(1.0, abs(b)), s
    one, two = _weights(models, "ft-straight"), _weights(models, "ft-resumed")
    assert max(float((one[k] - two[k]).abs().max()) for k in one) < 1e-5
    base = _weights(models, "house")
    assert max(float((one[k] - base[k]).abs().max()) for k in one) > 1e-4  # it trained


def test_the_text_encoder_trains_too_and_resumes_exactly(dirs) -> None:
    models = dirs[0]
    straight = MemorySink()
    finetune.run(_params(dirs, output="te-straight", train_text_encoder=True), straight,
                 _ctx(dirs, "te-straight"))  # fmt: skip

    def stop_at_4(event) -> None:
        if event.type == "progress" and event.payload["done"] == 4:
            first.cancel()

    first = MemorySink(on_event=stop_at_4)
    ctx = _ctx(dirs, "te-interrupted")
    with pytest.raises(JobCancelled):
        finetune.run(_params(dirs, output="te-resumed", train_text_encoder=True), first, ctx)
    again = MemorySink()
    finetune.run(_params(dirs, output="te-resumed", train_text_encoder=True, resume=True),
                 again, ctx)  # fmt: skip
    for (s, a), (_, b) in zip(again.metric_series("train/loss"),
                              straight.metric_series("train/loss")[4:], strict=True):  # fmt: skip
        assert abs(a - b) <= 1e-5 * max(1.0, abs(b)), s

    def te(name: str) -> dict[str, torch.Tensor]:
        return load_file(str(models / name / "text_encoder" / "model.safetensors"))

    base, one, two = te("house"), te("te-straight"), te("te-resumed")
    assert max(float((one[k] - base[k]).abs().max()) for k in one) > 1e-5  # it trained
    assert max(float((one[k] - two[k]).abs().max()) for k in one) < 1e-5

"""vae stage: factor-8 AutoencoderKL, measured scaling factor, exact resume; checkpoints."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import torch
from diffusers import AutoencoderKL

from difflab.datasets.shapes import ShapesDataset
from difflab.diffusion import checkpoint, train_vae
from difflab.diffusion.train_common import pil_to_tensor
from difflab.runtime import JobCancelled, MemorySink, RunContext
from tests.unit.diffusion.test_train_clip import cancel_after

TINY: dict[str, Any] = {
    "train_samples": 16,
    "val_samples": 8,
    "resolution": 32,
    "cpu_threads": 1,
    "batch_size": 4,
    "base_channels": 16,
    "scaling_samples": 16,
    "log_every": 1,
}


def test_vae_shapes_and_dtypes() -> None:
    vae = train_vae.build_vae(train_vae.Params(resolution=64))
    x = pil_to_tensor([ShapesDataset(2)[i].image for i in range(2)])
    assert x.shape == (2, 3, 64, 64) and x.dtype == torch.float32
    assert float(x.min()) >= -1.0 and float(x.max()) <= 1.0
    with torch.no_grad():
        post = vae.encode(x).latent_dist
        rec = vae.decode(post.mean).sample
    assert post.mean.shape == (2, 4, 8, 8)  # 64x64x3 -> 8x8x4
    assert rec.shape == x.shape and rec.dtype == torch.float32


def test_vae_stage_learns_and_saves_a_measured_scaling_factor(tmp_path: Path) -> None:
    torch.manual_seed(0)
    sink = MemorySink()
    ctx = RunContext(job_id="t", work_dir=tmp_path / "w", models_dir=tmp_path / "m")
    p = train_vae.Params(
        **{**TINY, "batch_size": 8},
        steps=10,
        lr=3e-3,
        warmup_steps=1,
        eval_every=10,
        checkpoint_every=10,
    )
    result = train_vae.run(p, sink, ctx)
    losses = [v for _, v in sink.metric_series("train/loss")]
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3
    vae = AutoencoderKL.from_pretrained(Path(result["model_dir"]) / "vae")
    assert vae.config.scaling_factor == pytest.approx(result["scaling_factor"])
    # scaled latents of training images have unit standard deviation
    x = pil_to_tensor([ShapesDataset(16, resolution=32)[i].image for i in range(16)])
    with torch.no_grad():
        z = vae.encode(x).latent_dist.sample(torch.Generator().manual_seed(0))
    assert float((z * vae.config.scaling_factor).std()) == pytest.approx(1.0, rel=0.2)
    assert sink.artifacts["reconstructions/step_000010.png"][:4] == b"\x89PNG"
    assert "val/psnr" in {k for p in sink.of_type("metric") for k in p["values"]}


def test_vae_resume_gives_the_same_next_loss(tmp_path: Path) -> None:
    def ctx(name: str) -> RunContext:
        return RunContext(job_id=name, work_dir=tmp_path / name, models_dir=tmp_path / "m")

    p = train_vae.Params(**TINY, steps=4, eval_every=100, checkpoint_every=2, output="a")
    full = MemorySink()
    train_vae.run(p, full, ctx("full"))
    with pytest.raises(JobCancelled):
        train_vae.run(p.model_copy(update={"output": "b"}), cancel_after(2), ctx("part"))
    resumed = MemorySink()
    train_vae.run(p.model_copy(update={"output": "b", "resume": True}), resumed, ctx("part"))
    expect, got = dict(full.metric_series("train/loss")), dict(resumed.metric_series("train/loss"))
    assert sorted(got) == [3, 4]
    assert got[3] == pytest.approx(expect[3], rel=1e-6)
    assert got[4] == pytest.approx(expect[4], rel=1e-6)


def test_checkpoint_round_trip_keeps_types_and_values(tmp_path: Path) -> None:
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    state = {
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "step": 7,
        "best": float("inf"),
        "rng": torch.get_rng_state(),
        "pair": (1, "a"),
        "none": None,
    }
    path = tmp_path / "c.safetensors"
    checkpoint.save_checkpoint(path, state)
    back = checkpoint.load_checkpoint(path)
    assert back["step"] == 7 and back["best"] == float("inf") and back["pair"] == (1, "a")
    assert back["none"] is None
    assert torch.equal(back["rng"], state["rng"])
    assert set(back["optimizer"]["state"]) == {0, 1}  # int keys survive
    opt2 = torch.optim.AdamW(torch.nn.Linear(3, 2).parameters(), lr=1e-3)
    opt2.load_state_dict(back["optimizer"])
    torch.testing.assert_close(
        opt2.state_dict()["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"]
    )
    assert path.read_bytes()[8:9] == b"{"  # a safetensors header, no pickle
    with pytest.raises(TypeError):
        checkpoint.save_checkpoint(tmp_path / "bad.safetensors", {"x": object()})


def test_checkpoint_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.safetensors"
    checkpoint.save_checkpoint(path, {"step": 1, "w": torch.zeros(2)})
    before = path.read_bytes()

    def crash(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        checkpoint.save_checkpoint(path, {"step": 2, "w": torch.ones(2)})
    assert path.read_bytes() == before  # the old checkpoint is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.safetensors"]  # no temp left


def test_foreground_weights_favour_the_objects() -> None:
    ds = ShapesDataset(4, seed=0)
    x = pil_to_tensor([ds[i].image for i in range(4)])
    w = train_vae.pixel_weights(x, 10.0)
    assert w.shape == (4, 1, 64, 64)
    torch.testing.assert_close(w.mean(dim=(1, 2, 3)), torch.ones(4))
    for i in range(4):
        o = ds[i].scene.objects[0]
        centre, corner = w[i, 0, round(o.cy), round(o.cx)], w[i, 0, 0, 0]
        assert centre == pytest.approx(11 * float(corner))
    vae = train_vae.build_vae(train_vae.Params(resolution=64, foreground_weight=10.0))
    loss, rec, _ = train_vae.vae_loss(vae, x, 1e-6, torch.Generator().manual_seed(0), 1.0, 10.0)
    assert loss.requires_grad and float(rec.detach()) > 0


def test_decoder_only_steps_keep_the_encoder(tmp_path: Path) -> None:
    ctx = RunContext(job_id="d", work_dir=tmp_path / "w", models_dir=tmp_path / "m")
    p = train_vae.Params(**TINY, steps=2, eval_every=100, checkpoint_every=2, output="a")
    train_vae.run(p, MemorySink(), ctx)
    sink = MemorySink()
    p2 = p.model_copy(update={"decoder_steps": 2, "resume": True, "output": "b"})
    train_vae.run(p2, sink, ctx)
    assert [s for s, _ in sink.metric_series("train/loss")] == [3, 4]
    a = AutoencoderKL.from_pretrained(tmp_path / "m" / "a" / "vae").state_dict()
    b = AutoencoderKL.from_pretrained(tmp_path / "m" / "b" / "vae").state_dict()
    for k in a:
        if k.startswith(("encoder.", "quant_conv.")):
            assert torch.equal(a[k], b[k]), k
    assert not all(torch.equal(a[k], b[k]) for k in a if k.startswith("decoder."))


def test_object_crops_sit_on_the_latent_grid_and_hold_the_objects() -> None:
    ds = ShapesDataset(32)
    x = pil_to_tensor([ds[i].image for i in range(32)])
    g = torch.Generator().manual_seed(0)
    crops = train_vae.object_crops(x, 32, 1.0, g)
    assert crops.shape == (32, 3, 32, 32)
    fg = train_vae.foreground_mask(crops).flatten(1).sum(1)
    assert bool((fg > 0).all())  # focus 1: every crop shows part of an object
    for i in range(len(x)):  # each crop is x at an origin on the 8-pixel grid
        hits = [
            (y, xx)
            for y in range(0, 33, 8)
            for xx in range(0, 33, 8)
            if torch.equal(x[i, :, y : y + 32, xx : xx + 32], crops[i])
        ]
        assert hits, i
    assert train_vae.object_crops(x, 0, 1.0, g) is x  # 0: whole images
    assert train_vae.object_crops(x, 64, 1.0, g) is x


def test_vae_trains_on_crops_and_decodes_whole_images(tmp_path: Path) -> None:
    ctx = RunContext(job_id="c", work_dir=tmp_path / "w", models_dir=tmp_path / "m")
    p = train_vae.Params(
        **{**TINY, "batch_size": 8},
        crop_size=16,
        steps=3,
        decoder_steps=2,
        decoder_batch_size=2,
        eval_every=5,
        checkpoint_every=5,
    )
    sink = MemorySink()
    train_vae.run(p, sink, ctx)
    assert [s for s, _ in sink.metric_series("train/loss")] == [1, 2, 3, 4, 5]  # both phases
    assert sink.artifacts["reconstructions/step_000005.png"][:4] == b"\x89PNG"

"""The house recipe end to end at toy size: a diffusers pipeline directory that loads."""

from __future__ import annotations

import atexit
import functools
import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
import torch
from diffusers import StableDiffusionPipeline
from transformers import CLIPTokenizer

from difflab.diffusion import house
from difflab.runtime import MemorySink, RunContext

# A house recipe small enough to train in a few seconds on one core (32 px, 4x4 latents).
TINY: dict[str, Any] = {
    "train_samples": 48,
    "val_samples": 16,
    "resolution": 32,
    "cpu_threads": 1,
    "clip": {
        "steps": 4,
        "batch_size": 16,
        "text_hidden": 32,
        "text_layers": 1,
        "vision_hidden": 32,
        "vision_layers": 1,
        "heads": 2,
        "projection_dim": 16,
        "eval_every": 4,
        "checkpoint_every": 4,
        "log_every": 1,
        "max_length": 24,
    },
    "vae": {
        "steps": 3,
        "decoder_steps": 0,
        "batch_size": 4,
        "base_channels": 16,
        "scaling_samples": 16,
        "eval_every": 3,
        "checkpoint_every": 3,
        "log_every": 1,
    },
    "unet": {
        "steps": 3,
        "batch_size": 8,
        "base_channels": 32,
        "attention_heads": 2,
        "sample_every": 3,
        "probe_steps": 2,
        "probe_size": 4,
        "probe_adherence": False,
        "checkpoint_every": 3,
        "log_every": 1,
    },
}


@functools.cache
def build_tiny_house() -> tuple[Path, MemorySink, dict[str, Any]]:
    """Train the toy recipe once per test session into a temporary models dir."""
    root = Path(tempfile.mkdtemp(prefix="difflab-house-"))
    atexit.register(shutil.rmtree, root, True)
    torch.manual_seed(0)
    sink = MemorySink()
    ctx = RunContext(job_id="t", work_dir=root / "work", models_dir=root / "models")
    result = house.run(house.Params(**TINY), sink, ctx)
    return Path(result["model_dir"]), sink, result


def test_house_writes_a_standard_pipeline_directory() -> None:
    path, _, result = build_tiny_house()
    for sub in ("text_encoder", "tokenizer", "unet", "vae", "scheduler", "clip"):
        assert (path / sub).is_dir(), sub
    assert (path / "latent_rgb.json").is_file()  # the model ships its live-preview map
    index = json.loads((path / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionPipeline"
    assert index["safety_checker"] == [None, None]
    assert index["requires_safety_checker"] is False
    weights = [
        f.name
        for f in path.rglob("*")
        if f.suffix in {".bin", ".pt", ".pth", ".ckpt", ".pkl", ".safetensors"}
    ]
    assert weights and all(w.endswith(".safetensors") for w in weights)
    vae_cfg = json.loads((path / "vae" / "config.json").read_text())
    assert vae_cfg["scaling_factor"] == result["vae"]["scaling_factor"] != 0.18215
    assert result["unet"]["steps"] == 3


def test_saved_model_loads_and_generates_with_stable_diffusion_pipeline() -> None:
    path, _, _ = build_tiny_house()
    pipe = StableDiffusionPipeline.from_pretrained(str(path))
    pipe.set_progress_bar_config(disable=True)
    assert isinstance(pipe.tokenizer, CLIPTokenizer)
    out = pipe(
        "a red circle on the left",
        num_inference_steps=2,
        guidance_scale=3.0,
        generator=torch.Generator().manual_seed(0),
        height=32,
        width=32,
        output_type="np",
    )
    img = out.images[0]
    assert img.shape == (32, 32, 3) and img.dtype.kind == "f"
    again = pipe(
        "a red circle on the left",
        num_inference_steps=2,
        guidance_scale=3.0,
        generator=torch.Generator().manual_seed(0),
        height=32,
        width=32,
        output_type="np",
    ).images[0]
    assert (img == again).all()


def test_house_events_are_prefixed_by_stage_and_progress_is_monotone() -> None:
    _, sink, _ = build_tiny_house()
    keys = {k for p in sink.of_type("metric") for k in p["values"]}
    for stage in ("clip", "vae", "unet"):
        for k in ("train/loss", "lr", "grad_norm", "samples_per_s"):
            assert f"{stage}/{k}" in keys
    assert {"clip/val/retrieval_i2t", "vae/val/loss", "unet/val/loss"} <= keys
    names = set(sink.artifacts)
    assert "clip/similarity/step_000004.json" in names
    assert "vae/reconstructions/step_000003.png" in names
    assert "unet/probe/step_000003.png" in names
    done = [p["done"] / p["total"] for p in sink.of_type("progress")]
    assert done == sorted(done) and done[-1] == 1.0


def test_house_leaves_training_json_and_a_model_card() -> None:
    path, _, result = build_tiny_house()
    training = json.loads((path / "training.json").read_text())
    assert training["recipe"]["train_samples"] == 48
    assert training["recipe"]["vae"]["steps"] == 3
    assert set(training["stages"]) == {"clip", "vae", "unet"}
    assert training["wall_s"] == pytest.approx(result["wall_s"])
    assert training["wall_s"] >= sum(s["wall_s"] for s in training["stages"].values())
    assert training["hardware"]["device"] == "cpu" and training["hardware"]["torch_threads"] == 1
    card = (path / "README.md").read_text()
    assert card.startswith("# house")
    assert f"**{result['wall_s'] / 60:.1f} min**" in card
    for part in ("text_encoder", "unet", "vae", "clip"):
        assert f"| {part} |" in card
    prose = card.split("```json")[0]  # grammar slots like {color}, but no unfilled fields
    assert re.findall(r"\{[^}]*\}", prose) and not re.findall(r"\{[^}]*[^a-z}][^}]*\}", prose)
    assert "## Evaluation" not in card  # no eval.json yet


def test_house_defaults_are_the_shipped_recipe_and_stage_fields_merge_over_it() -> None:
    p = house.Params()
    for stage in house.STAGES:
        recipe = house.RECIPE[stage]
        assert {k: getattr(getattr(p, stage), k) for k in recipe} == recipe
    changed = house.Params.model_validate({"vae": {"steps": 7}})
    assert changed.vae.steps == 7
    assert changed.vae.crop_size == house.RECIPE["vae"]["crop_size"]  # the rest: the recipe
    assert changed.unet == p.unet

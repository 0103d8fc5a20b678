"""Another VAE (A1111's SD VAE): found in models/vae/, checked against the model's latent
space, used for the run only."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from diffusers import AutoencoderKL

from difflab.diffusion.generate import GenerateParams, InvalidRequest, prepare, run
from difflab.diffusion.vae_override import list_vaes, vae_dir
from difflab.runtime import MemorySink, RunContext, SubmitContext


def _models(tmp_path: Path, models_dir: Path, tiny_pipe: Any) -> Path:
    root = tmp_path / "models"
    shutil.copytree(models_dir / "tiny", root / "tiny")
    vae = AutoencoderKL.from_config(tiny_pipe.vae.config)
    vae.load_state_dict(tiny_pipe.vae.state_dict())
    with torch.no_grad():  # a different decoder: the same latents decode to other pixels
        vae.decoder.conv_out.bias.add_(0.3)
    vae.save_pretrained(vae_dir(root) / "warm", safe_serialization=True)
    other = AutoencoderKL.from_config({**tiny_pipe.vae.config, "latent_channels": 8})
    other.save_pretrained(vae_dir(root) / "eight", safe_serialization=True)
    return root


def _final(root: Path, tmp_path: Path, **kw: Any) -> tuple[bytes, dict[str, Any]]:
    sink = MemorySink()
    params = GenerateParams(prompt="a red circle", model="tiny", steps=2, seed=1, width=32,
                            height=32, sampler="DDIM", **kw)  # fmt: skip
    result = run(params, sink, RunContext("t", models_dir=root, data_dir=tmp_path,
                                          work_dir=tmp_path))  # fmt: skip
    return sink.artifacts["final/image_0.png"], result


def test_a_vae_from_models_vae_decodes_the_run(
    tmp_path: Path, models_dir: Path, tiny_pipe: Any
) -> None:
    root = _models(tmp_path, models_dir, tiny_pipe)
    assert list_vaes(root) == ["eight", "warm"]
    own, _ = _final(root, tmp_path)
    warm, result = _final(root, tmp_path, vae="warm")
    assert own != warm and "VAE: warm" in result["infotexts"][0]
    assert _final(root, tmp_path)[0] == own  # the shared pipeline kept its own VAE
    ctx = SubmitContext(models_dir=root, data_dir=tmp_path)
    for name, message in (("eight", "latent space"), ("missing", "no VAE"), ("../x", "invalid")):
        with pytest.raises(InvalidRequest) as e:
            prepare(GenerateParams(model="tiny", vae=name), ctx)
        assert e.value.field == "vae" and message in e.value.message

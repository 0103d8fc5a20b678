"""The worker's per-device settings: what the CUDA path switches on (SDPA attention,
channels_last) gives the CPU reference's images; float32 stays the CPU's dtype."""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import StableDiffusionPipeline
from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

from difflab.diffusion.models import device_settings, load_pipeline
from difflab.diffusion.pipeline import generate
from difflab.diffusion.schedulers import make_scheduler


def _latents(pipe: StableDiffusionPipeline) -> torch.Tensor:
    scheduler = make_scheduler("DPM++ 2M", pipe.scheduler.config)
    out = generate(pipe, scheduler, prompt="a red circle", steps=4, seeds=[3, 4])
    return out.latents


def test_cpu_keeps_float32_and_cuda_gets_half_precision_and_channels_last() -> None:
    cpu = device_settings("cpu")
    assert (cpu.dtype, cpu.channels_last) == (torch.float32, False)
    cuda = device_settings("cuda:0")
    assert (cuda.dtype, cuda.channels_last) == (torch.float16, True)


def test_sdpa_and_channels_last_give_the_reference_images_on_cpu(tiny_dir: Path) -> None:
    pipe = StableDiffusionPipeline.from_pretrained(tiny_dir, safety_checker=None)
    pipe.set_progress_bar_config(disable=True)
    pipe.unet.set_attn_processor(AttnProcessor())  # the reference: classic attention
    reference = _latents(pipe)
    pipe.unet.set_attn_processor(AttnProcessor2_0())  # what every device runs
    pipe.unet.to(memory_format=torch.channels_last)
    pipe.vae.to(memory_format=torch.channels_last)
    fast = _latents(pipe)
    torch.testing.assert_close(fast, reference, atol=1e-4, rtol=1e-4)


def test_the_worker_pipeline_runs_on_cpu_with_its_settings(tiny_dir: Path) -> None:
    pipe = load_pipeline(tiny_dir, "cpu")
    assert pipe.unet.dtype == torch.float32
    assert isinstance(next(iter(pipe.unet.attn_processors.values())), AttnProcessor2_0)

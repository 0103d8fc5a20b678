"""Batched text-to-image generation for evaluation and probe samples.

The pipeline is diffusers' StableDiffusionPipeline with a fresh DDIM scheduler made from
the model's scheduler config. Each image's initial noise comes from its own CPU generator
seeded by its prompt's seed, so an image depends on (model, prompt, seed, steps, guidance)
only, not on the batch it was generated in.
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
from PIL import Image
from transformers import CLIPTextModel, CLIPTokenizer


def make_pipeline(
    vae: AutoencoderKL,
    text_encoder: CLIPTextModel,
    tokenizer: CLIPTokenizer,
    unet: UNet2DConditionModel,
    scheduler_config: dict[str, object],
) -> StableDiffusionPipeline:
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=DDIMScheduler.from_config(scheduler_config),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def load_pipeline(path: Path, device: str = "cpu") -> StableDiffusionPipeline:
    """A saved pipeline directory, with a DDIM scheduler from its scheduler config."""
    pipe = StableDiffusionPipeline.from_pretrained(
        str(path), safety_checker=None, requires_safety_checker=False, use_safetensors=True
    )
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


@torch.no_grad()
def generate(
    pipe: StableDiffusionPipeline,
    prompts: list[str],
    seeds: list[int],
    steps: int = 25,
    guidance_scale: float = 4.0,
    batch_size: int = 64,
    resolution: int | None = None,
) -> list[Image.Image]:
    """One image per (prompt, seed), in order."""
    size = resolution or int(pipe.unet.config.sample_size) * pipe.vae_scale_factor
    images: list[Image.Image] = []
    for start in range(0, len(prompts), batch_size):
        ps, ss = prompts[start : start + batch_size], seeds[start : start + batch_size]
        gens = [torch.Generator().manual_seed(s) for s in ss]
        out = pipe(
            ps,
            num_inference_steps=steps,
            guidance_scale=guidance_scale,
            generator=gens,
            height=size,
            width=size,
            output_type="pil",
        )
        images += list(out.images)
    return images

"""A tiny, randomly initialised Stable-Diffusion-1.x pipeline saved as a diffusers directory.

Tests (unit, integration, browser) need a real model directory that loads through the same
code as the house model or any SD-1.x download, yet builds in a second on a CPU. This one has
every part an SD-1.x pipeline has — a CLIP tokenizer and text encoder, a VAE with 4 latent
channels and a downsampling factor of 8, a U-Net with cross-attention, a scheduler config —
only very small. Its weights are random (the VAE decoder gets a one-second warm-up so that its
latents carry colour), so its images are noise-like, but every code path (samplers, guidance,
previews, attention maps) runs exactly as it does on a trained model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKL, DDPMScheduler, StableDiffusionPipeline, UNet2DConditionModel
from tokenizers import pre_tokenizers
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

# Words of the shapes grammar ("a red circle on the left"): each becomes one token.
TINY_WORDS = [
    "a", "an", "the", "red", "green", "blue", "yellow", "purple", "orange", "white", "black",
    "gray", "circle", "square", "triangle", "star", "cross", "ring", "on", "in", "at", "of",
    "and", "with", "left", "right", "top", "bottom", "center", "middle", "small", "large", "big",
    "tiny", "upper", "lower", "corner", "background",
]  # fmt: skip
TINY_MAX_LENGTH = 16  # tokens the text encoder reads, start and end tokens included
TINY_IMAGE_SIZE = 64  # pixels; the U-Net's sample_size (8) times the VAE factor (8)


def build_tiny_tokenizer() -> CLIPTokenizer:
    """A word-level CLIP BPE tokenizer over TINY_WORDS with a byte-level character fallback.

    BPE merges are learned from the word list by the tokenizers library, so every listed word
    encodes to a single token; any other text falls back to byte-level characters (with the
    CLIP end-of-word suffix `</w>`), so no input is unrepresentable.
    """
    seed_tok = CLIPTokenizer(
        vocab={"<|startoftext|>": 0, "<|endoftext|>": 1},
        merges=[],
        model_max_length=TINY_MAX_LENGTH,
    )
    trained = seed_tok.train_new_from_iterator([" ".join(TINY_WORDS)] * 2, vocab_size=2000)
    model = json.loads(trained.backend_tokenizer.to_str())["model"]
    learned: dict[str, int] = model["vocab"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]

    vocab: dict[str, int] = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    for piece in [*alphabet, *(c + "</w>" for c in alphabet)]:
        vocab.setdefault(piece, len(vocab))
    for piece in sorted(learned, key=learned.__getitem__):
        vocab.setdefault(piece, len(vocab))
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=TINY_MAX_LENGTH)  # type: ignore[arg-type]


def _give_latents_colour(vae: Any, steps: int) -> None:
    """Briefly fit the decoder so that a latent pixel's colour depends on it linearly.

    A trained SD VAE has this property (which is why a 4x3 latent->RGB matrix gives usable
    previews); a randomly initialised decoder does not: its output hardly depends on the
    latent. `steps` Adam steps regress the average colour of each 8x8 decoded block onto
    tanh(W0 z) for a random 3x4 matrix W0, at 4x4 latents (32x32 images). Deterministic for a
    given seed (the caller seeds the global RNG), about a second on one CPU core.
    """
    g = torch.Generator().manual_seed(int(torch.randint(0, 2**31 - 1, ()).item()))
    w0 = torch.randn(3, int(vae.config.latent_channels), generator=g) * 0.5
    opt = torch.optim.Adam(vae.decoder.parameters(), lr=5e-3)
    for _ in range(steps):
        z = torch.randn(4, int(vae.config.latent_channels), 4, 4, generator=g)  # scaled latents
        target = torch.einsum("rc,bchw->brhw", w0, z).tanh()  # (B, 3, 4, 4) in [-1, 1]
        decoded = vae.decode(z / vae.config.scaling_factor).sample  # (B, 3, 32, 32)
        loss = torch.nn.functional.mse_loss(torch.nn.functional.avg_pool2d(decoded, 8), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    vae.eval()


def build_tiny_pipeline(seed: int = 0) -> Any:
    """The tiny pipeline in memory; the same seed gives the same weights."""
    tokenizer = build_tiny_tokenizer()
    with torch.random.fork_rng(devices=[]):  # leave the caller's global RNG untouched
        torch.manual_seed(seed)
        text_encoder = CLIPTextModel(
            CLIPTextConfig(
                vocab_size=len(tokenizer),
                hidden_size=32,
                intermediate_size=64,
                num_attention_heads=4,
                num_hidden_layers=2,
                max_position_embeddings=TINY_MAX_LENGTH,
                bos_token_id=tokenizer.bos_token_id,
                eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id,
            )
        )
        # Factor 8 = 2 ** (4 blocks - 1); 4 latent channels as in SD-1.x.
        vae = AutoencoderKL(
            in_channels=3,
            out_channels=3,
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            block_out_channels=(8, 8, 16, 16),
            layers_per_block=1,
            latent_channels=4,
            norm_num_groups=4,
            sample_size=TINY_IMAGE_SIZE,
        )
        unet = UNet2DConditionModel(
            sample_size=TINY_IMAGE_SIZE // 8,
            in_channels=4,
            out_channels=4,
            layers_per_block=1,
            block_out_channels=(32, 64),
            down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
            cross_attention_dim=32,
            attention_head_dim=8,
            norm_num_groups=8,
        )
        _give_latents_colour(vae, steps=40)
    # SD-1.x's noise schedule: scaled-linear betas over 1000 training steps, epsilon prediction.
    scheduler = DDPMScheduler(
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        prediction_type="epsilon",
        steps_offset=1,
    )
    return StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def build_tiny_pipeline_dir(path: Path, seed: int = 0) -> Path:
    """Save the tiny pipeline as a diffusers directory at `path` (safetensors weights)."""
    path = Path(path)
    build_tiny_pipeline(seed).save_pretrained(path, safe_serialization=True)
    return path

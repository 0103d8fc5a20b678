"""The text-to-image loop, written out over a StableDiffusionPipeline's parts.

It is StableDiffusionPipeline.__call__ with every step observable: encode the prompt and the
negative prompt with CLIP, draw the initial latent from CPU generators, then for each timestep
t run the U-Net on the (unconditional, conditional) pair, combine them by classifier-free
guidance and let the scheduler take one step; decode the last latent with the VAE. At each
watched step a callback receives x_t, the predicted clean latent x̂0 and the predicted noise ε.

Reproducibility: all noise (the initial latent and the noise stochastic samplers add at each
step) comes from torch.Generator objects on the CPU, one per image seeded with seeds[i]; the
global RNG is never used. The same model, prompt, parameters and seeds give the same pixels on
the same machine, whatever runs beside them.

Prompts are encoded by prompts.encode_pair: AUTOMATIC1111's weight syntax ((word), [word],
(word:1.3), BREAK) and prompts longer than the text encoder's context, encoded in chunks of
context - 2 tokens and concatenated, as A1111 does. A plain prompt that fits the context is
encoded exactly as diffusers encodes it.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from diffusers.utils.torch_utils import randn_tensor
from PIL import Image

from difflab.diffusion.attention import AttentionRecorder, recording
from difflab.diffusion.prompts import encode_scheduled, tokenize
from difflab.diffusion.schedulers import Scheduler, step_kwargs

# A diffusers StableDiffusionPipeline; it registers its parts (unet, vae, ...) at run time, so
# mypy cannot see them, hence Any.
Pipeline = Any


class PromptTooLongError(ValueError):
    """A prompt with more tokens than the text encoder reads; `field` names the request field."""

    def __init__(self, field: str, length: int, limit: int) -> None:
        self.field, self.length, self.limit = field, length, limit
        super().__init__(
            f"{field} is {length} tokens long; the text encoder reads at most {limit} tokens "
            "(start and end tokens included): shorten it"
        )


@dataclass
class StepOutput:
    """One denoising step as a callback sees it. Tensors are on the pipeline's device."""

    index: int  # 0-based step (one U-Net evaluation); second-order samplers take 2 per step
    total: int  # number of steps (len(scheduler.timesteps))
    timestep: float  # the diffusion time t the U-Net was given
    xt: torch.Tensor  # (B, C, h, w) the U-Net's input: sqrt(ᾱ_t) x0 + sqrt(1 - ᾱ_t) ε
    x0: torch.Tensor  # (B, C, h, w) predicted clean latent x̂0
    eps: torch.Tensor  # (B, C, h, w) predicted noise ε after guidance
    attention: torch.Tensor | None  # (B, T, h, w) cross-attention probabilities, or None


@dataclass
class GenerationOutput:
    images: list[Image.Image]
    latents: torch.Tensor  # (B, C, h, w) final latents
    seeds: list[int]
    tokens: list[str]  # the prompt's tokens, start/end excluded (attention map order)
    steps: int  # number of steps run


def prompt_ids(tokenizer: Any, text: str, field: str = "prompt") -> list[int]:
    """Token ids of `text` with start/end tokens; PromptTooLongError past the context."""
    ids: list[int] = tokenize(tokenizer, text, truncation=False).input_ids
    limit = int(tokenizer.model_max_length)
    if len(ids) > limit:
        raise PromptTooLongError(field, len(ids), limit)
    return ids


def prompt_tokens(tokenizer: Any, text: str) -> list[str]:
    """The prompt's tokens as text, without the start and end tokens."""
    ids = prompt_ids(tokenizer, text)[1:-1]
    decode = tokenizer.decode
    return [decode([i]).strip() or "?" for i in ids]


@torch.no_grad()
def encode_text(pipe: Pipeline, text: str, field: str, clip_skip: int = 1) -> torch.Tensor:
    """(1, L, D) hidden states of CLIP's text encoder for `text` padded to L tokens: the last
    layer's, or with clip_skip N > 1 (A1111's "Clip skip") the N-th layer from the end through
    the final layer norm (diffusers' clip_skip N - 1)."""
    prompt_ids(pipe.tokenizer, text, field)
    enc = tokenize(
        pipe.tokenizer, text, padding="max_length", max_length=pipe.tokenizer.model_max_length,
        truncation=True, return_tensors="pt",
    )  # fmt: skip
    device = pipe.text_encoder.device
    mask = None
    if getattr(pipe.text_encoder.config, "use_attention_mask", False):
        mask = enc.attention_mask.to(device)
    return text_states(pipe.text_encoder, enc.input_ids.to(device), clip_skip, mask)


def text_states(
    text_encoder: Any, ids: torch.Tensor, clip_skip: int = 1, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """The encoder's last hidden states, or the clip_skip-th from the end normalised."""
    if clip_skip <= 1:
        return text_encoder(ids, attention_mask=mask)[0]  # type: ignore[no-any-return]
    out = text_encoder(ids, attention_mask=mask, output_hidden_states=True)
    hidden = out.hidden_states[-clip_skip]
    model = getattr(text_encoder, "text_model", text_encoder)  # transformers 4 nests it
    return model.final_layer_norm(hidden)  # type: ignore[no-any-return]


_tiling_lock = threading.Lock()


@contextlib.contextmanager
def tiled(pipe: Pipeline, enabled: bool = True) -> Iterator[None]:
    """Seamless tiling, as A1111's `tiling` does it: every convolution of the U-Net and the VAE
    pads circularly (the picture wraps around at its edges) while the block runs, then pads
    with zeros again. It changes the process's shared pipeline for that time, so tiled runs
    take a lock (a worker runs one job at a time)."""
    if not enabled:
        yield
        return
    convs = [m for part in (pipe.unet, pipe.vae) for m in part.modules()
             if isinstance(m, torch.nn.Conv2d)]  # fmt: skip
    with _tiling_lock:
        before = [c.padding_mode for c in convs]
        for c in convs:
            c.padding_mode = "circular"
        try:
            yield
        finally:
            for c, mode in zip(convs, before, strict=True):
                c.padding_mode = mode


def slerp(t: float, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation from a (t = 0) to b (t = 1), over the whole tensor: how
    A1111's variation seeds blend two seeds' noise; linear where they are nearly parallel."""
    a64, b64 = a.double().flatten(), b.double().flatten()
    dot = torch.dot(a64 / a64.norm(), b64 / b64.norm()).clamp(-1, 1)
    if dot > 0.9995:
        return (1 - t) * a + t * b
    omega = torch.acos(dot)
    so = torch.sin(omega)
    wa, wb = torch.sin((1 - t) * omega) / so, torch.sin(t * omega) / so
    return (wa * a.double() + wb * b.double()).to(a.dtype)


def log_sigmas(alphas_cumprod: torch.Tensor) -> list[float]:
    """log σ_t with σ_t = sqrt((1 - ᾱ_t) / ᾱ_t) (the k-diffusion noise levels), per t."""
    ac = alphas_cumprod.double().cpu()
    return ((1 - ac) / ac).sqrt().log().tolist()  # type: ignore[no-any-return]


def alpha_bar(alphas_cumprod: torch.Tensor, t: float, logs: list[float] | None = None) -> float:
    """ᾱ at a possibly fractional timestep t, interpolated linearly in log σ, as the
    k-diffusion schedulers place fractional timesteps (their _sigma_to_t); `logs` is
    log_sigmas(alphas_cumprod), passed when computed already."""
    logs = log_sigmas(alphas_cumprod) if logs is None else logs
    t = min(max(float(t), 0.0), len(logs) - 1.0)
    lo, hi = math.floor(t), math.ceil(t)
    s = logs[lo] + (t - lo) * (logs[hi] - logs[lo])
    return 1.0 / (1.0 + math.exp(2 * s))


def split_prediction(
    model_output: torch.Tensor, xt: torch.Tensor, ab: float, prediction_type: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """(x̂0, ε) from the U-Net's output at x_t = sqrt(ᾱ) x0 + sqrt(1-ᾱ) ε (DDPM eq. 4)."""
    a, s = math.sqrt(ab), math.sqrt(1.0 - ab)
    if prediction_type == "epsilon":
        eps = model_output
        return (xt - s * eps) / a, eps
    if prediction_type == "v_prediction":  # v = sqrt(ᾱ) ε - sqrt(1-ᾱ) x0 (Salimans & Ho 2022)
        return a * xt - s * model_output, a * model_output + s * xt
    if prediction_type == "sample":
        x0 = model_output
        return x0, (xt - a * x0) / max(s, 1e-8)
    raise ValueError(f"unsupported prediction_type {prediction_type!r}")


def generate(
    pipe: Pipeline,
    scheduler: Scheduler,
    *,
    prompt: str,
    negative_prompt: str = "",
    steps: int = 25,
    guidance_scale: float = 7.0,
    seeds: Sequence[int] = (0,),
    width: int = 64,
    height: int = 64,
    eta: float = 0.0,
    watch: Callable[[int, int], bool] | None = None,
    on_step: Callable[[StepOutput], None] | None = None,
    attention: bool = False,
    check: Callable[[], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
    clip_skip: int = 1,
    subseeds: Sequence[int] = (),
    subseed_strength: float = 0.0,
) -> GenerationOutput:
    """Generate len(seeds) images of `prompt`; `scheduler` is a fresh scheduler for this run.

    Variation seeds: with `subseed_strength` s > 0 image i starts from
    slerp(s, noise(seeds[i]), noise(subseeds[i])) (A1111's variation seed); the sampler's own
    noise still comes from seeds[i].

    `check()` runs before each step (a cancelled job's sink raises there); `progress(done,
    total)` after each. At each step i
    with watch(i, total) true, on_step gets x_t, x̂0, ε and, with `attention`, the step's
    cross-attention maps. guidance_scale 1 runs the conditional branch alone (the formula
    gives exactly that); any other value runs both branches, so 0 is the unconditional model.
    """
    device = pipe.unet.device
    dtype = pipe.unet.dtype
    batch = len(seeds)
    factor = 2 ** (len(pipe.vae.config.block_out_channels) - 1)
    if width % factor or height % factor:
        raise ValueError(f"width and height must be multiples of {factor}")
    latent_size = (height // factor, width // factor)
    # Text conditioning (prompts.py: A1111's weights and chunks; plain prompts as diffusers):
    # (B, L, D) each; CFG batch order is [unconditional, conditional].
    scheduler.set_timesteps(steps, device=device)
    timesteps = scheduler.timesteps
    total = len(timesteps)
    # prompt editing and alternation (prompt_schedule.py) switch the conditioning by step
    conditioning = encode_scheduled(pipe, prompt, negative_prompt, total, clip_skip)
    tokens = conditioning.cond[-1].tokens
    cfg = guidance_scale != 1.0
    contexts = [conditioning.context(k, batch, cfg) for k in range(len(conditioning.ends))]
    generators = [torch.Generator("cpu").manual_seed(int(s)) for s in seeds]
    shape = (batch, int(pipe.unet.config.in_channels), *latent_size)
    latents = randn_tensor(shape, generator=generators, device=device, dtype=dtype)
    if subseed_strength > 0:
        for i, sub in enumerate(subseeds):
            other = randn_tensor(shape[1:], generator=torch.Generator("cpu").manual_seed(int(sub)),
                                 device=device, dtype=dtype)  # fmt: skip
            latents[i] = slerp(subseed_strength, latents[i], other)
    latents = latents * scheduler.init_noise_sigma
    extra = step_kwargs(scheduler, eta=eta, generator=generators)
    logs = log_sigmas(scheduler.alphas_cumprod)
    prediction_type = str(scheduler.config.get("prediction_type", "epsilon"))

    recorder = AttentionRecorder(latent_size, slice(batch, 2 * batch) if cfg else slice(0, batch))
    done = 0
    tap = recording(pipe.unet, recorder) if attention else contextlib.nullcontext()
    with torch.inference_mode(), tap:
        for i, t in enumerate(timesteps):
            if check is not None:
                check()
            watched = on_step is not None and (watch is None or watch(i, total))
            if watched and attention:
                recorder.begin_step()
            context = contexts[conditioning.at(i)]
            xt = scheduler.scale_model_input(latents, t)  # the variance-preserving x_t
            model_in = torch.cat([xt, xt]) if cfg else xt
            out = pipe.unet(model_in, t, encoder_hidden_states=context, return_dict=False)[0]
            if cfg:  # ε̃ = ε(∅) + w (ε(c) - ε(∅))  (Ho & Salimans 2022, eq. 6)
                out_uncond, out_cond = out.chunk(2)
                out = out_uncond + guidance_scale * (out_cond - out_uncond)
            stepped = scheduler.step(out, t, latents, **extra, return_dict=True)
            if watched and on_step is not None:
                ab = alpha_bar(scheduler.alphas_cumprod, float(t), logs)
                x0, eps = split_prediction(out, xt, ab, prediction_type)
                given = getattr(stepped, "pred_original_sample", None)
                if given is not None:
                    x0 = given
                maps = recorder.end_step() if attention else None
                on_step(StepOutput(i, total, float(t), xt, x0, eps, maps))
            latents = stepped.prev_sample
            done = i + 1
            if progress is not None:
                progress(done, total)

        image = pipe.vae.decode(latents / pipe.vae.config.scaling_factor, return_dict=False)[0]
    images = pipe.image_processor.postprocess(image, output_type="pil")
    return GenerationOutput(images, latents, [int(s) for s in seeds], tokens, done)

"""`lab.diffusion_internals`: one generation of a Stable-Diffusion-1.x model, opened up.

The sampling loop is StableDiffusionPipeline.__call__ written out over the pipeline's own
parts (encode_prompt, a fresh scheduler built from the model's config, the U-Net, the VAE), so
that four things can be looked at on the way:

1. The U-Net, at one chosen step. Forward hooks on conv_in, every down block and its
   downsampler, the middle block, every up block and its upsampler, and the timestep
   embedding record each level's feature maps. An up block receives the skip tensors the
   encoder stored (its `res_hidden_states_tuple`) and concatenates one with its input before
   each resnet; the hooks name which encoder output each one is.
2. Classifier-free guidance, at every step. The U-Net runs on the batch [x_t, x_t] with the
   contexts [negative prompt, prompt] and returns ε(∅) and ε(c) (Ho & Salimans 2022, eq. 6):

       ε̃ = ε(∅) + w (ε(c) - ε(∅))

   Both are stored, so the prediction of the clean latent, x̂0 = (x_t - √(1-ᾱ_t) ε̃) / √ᾱ_t,
   can be formed for any w after the fact. The recombination is the same arithmetic as in
   diffusers' pipeline, so it reproduces the pipeline's guided ε bit for bit. cfg/steps.json
   holds the same numbers as JSON, with the model's latent->RGB map, for the run page's live
   w slider.
3. The sampler's reverse step, at every step, with its actual coefficients. DDPM, DDIM, Euler
   and Euler a all take the form, in the U-Net's coordinates x_t = √ᾱ_t x0 + √(1-ᾱ_t) ε,

       x_prev = a · x̂0 + b · ε̃ + σ · z,   z ~ N(0, I)

   with (a, b, σ) set by the sampler; DDPM's own (Algorithm 2, on the same pair of steps)
   is given beside them. Euler's samplers keep x / √ᾱ (k-diffusion's σ space) between steps;
   `latent_scale` converts. Each step's update is also applied by hand and compared with
   scheduler.step.
4. The latent space. Two images of the shapes data set are encoded by the model's VAE and
   blended in latent space and in pixel space; each latent channel is shown as a grey image.
   The U-Net works on C·h·w latent values instead of 3·H·W pixels: that ratio is why latent
   diffusion is cheaper.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import (
    DDIMScheduler,
    DDPMScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
)
from diffusers.utils.torch_utils import randn_tensor
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError
from safetensors.torch import save as safetensors_bytes

from difflab.datasets.shapes import ShapesDataset
from difflab.diffusion.generate import MAX_SEED, tokenizer_of, with_model_defaults
from difflab.diffusion.models import (
    DEFAULT_MODEL,
    SD_GUIDANCE,
    ModelError,
    check_model_name,
    load_pipeline,
    model_resolution,
    resolve_model,
)
from difflab.diffusion.pipeline import (
    PromptTooLongError,
    alpha_bar,
    log_sigmas,
    prompt_ids,
    split_prediction,
)
from difflab.diffusion.previews import (
    LatentRGB,
    decode_full,
    latent_rgb_for_model,
    noise_rgb,
    to_uint8,
)
from difflab.diffusion.schedulers import (
    SamplerName,
    Scheduler,
    make_scheduler,
    resolve_sampler,
    step_kwargs,
    takes_eta,
)
from difflab.lab.common import emit, heatmap_artifact, image_grid, line_artifact
from difflab.runtime import KindSpec, ParamError, RunContext, Sink, SubmitContext

DEFAULT_PROMPT = "a red circle on the left"  # a caption of the shapes grammar
FEATURE_CHANNELS = 8  # channels drawn per feature map: the ones with the largest variance
CELL = 48  # pixels a feature map is enlarged to, at least (nearest neighbour)
FRAMES = 7  # pictures in each interpolation strip, both ends included
MAX_LATENT_VALUES = 4096  # per tensor and step in cfg/steps.json; a larger latent is subsampled


class Params(BaseModel):
    """One generation, opened up."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        DEFAULT_MODEL,
        min_length=1,
        max_length=100,
        description="A model directory name (a Stable-Diffusion-1.x diffusers model).",
    )
    prompt: str = Field(
        DEFAULT_PROMPT,
        max_length=500,
        description="What to draw: the conditional branch's text, encoded as diffusers does "
        "(no weight syntax).",
    )
    negative_prompt: str = Field(
        "", max_length=500, description="The unconditional branch's text ('' = the empty prompt)."
    )
    seed: int = Field(
        0,
        ge=0,
        le=MAX_SEED,
        description="Seed of the start noise x_T, of the noise stochastic samplers add, and of "
        "the two shapes images of the latent explorer.",
    )
    steps: int = Field(10, ge=2, le=50, description="Denoising steps.")
    guidance_scale: float = Field(
        SD_GUIDANCE,
        ge=0,
        le=30,
        description="Classifier-free guidance w the sampling runs with; left out: the model's own.",
    )
    sampler: SamplerName = Field(
        "DDIM",
        description="AUTOMATIC1111 sampler name; the reverse-step coefficients are written "
        "out for DDPM, DDIM, Euler and Euler a.",
    )
    eta: float = Field(
        0.0, ge=0, le=1, description="DDIM's η: 0 = deterministic, 1 = DDPM's noise level."
    )
    unet_step: int = Field(
        5, ge=0, le=49, description="The 0-based step whose U-Net call is opened up."
    )
    w_values: list[Annotated[float, Field(ge=0, le=30)]] = Field(
        default_factory=lambda: [0.0, 1.0, 3.0, 7.5],
        min_length=1,
        max_length=6,
        description="Guidance scales whose x̂0 is formed at every step from the stored "
        "ε(∅) and ε(c).",
    )

    @field_validator("sampler", mode="before")
    @classmethod
    def _sampler_alias(cls, v: Any) -> Any:
        try:
            return resolve_sampler(v) if isinstance(v, str) else v
        except ValueError:
            return v  # the Literal check then lists the valid names

    @field_validator("model")
    @classmethod
    def _model_name(cls, v: str) -> str:
        return check_model_name(v)

    @model_validator(mode="after")
    def _fits(self) -> Params:
        if self.unet_step >= self.steps:
            raise PydanticCustomError(
                "unet_step_range",
                "unet_step: {step} is past the last step ({last}); steps are numbered from 0",
                {"step": self.unet_step, "last": self.steps - 1},
            )
        if self.eta > 0 and not takes_eta(self.sampler):
            raise PydanticCustomError(
                "eta_sampler",
                "eta: applies to DDIM; {sampler} takes none",
                {"sampler": self.sampler},
            )
        return self


def _resolved(params: Params, models_dir: Path) -> tuple[Params, Path]:
    """The model exists, the prompts fit its text encoder, the guidance scale left out is the
    model's own. Returns the params and the model's directory."""
    try:
        model_dir = resolve_model(models_dir, params.model)
    except ModelError as e:
        raise ParamError("model", str(e)) from None
    tok = tokenizer_of(model_dir)
    for name, text in (("prompt", params.prompt), ("negative_prompt", params.negative_prompt)):
        try:
            prompt_ids(tok, text, name)
        except PromptTooLongError as e:
            raise ParamError(name, str(e)) from None
    return with_model_defaults(params, model_dir), model_dir


def prepare(params: Params, ctx: SubmitContext) -> Params:
    """Submit-time checks and the model's guidance scale (see _resolved)."""
    return _resolved(params, ctx.models_dir)[0]


# --------------------------------------------------------------------------- the U-Net

Role = Literal[
    "time_proj", "time_embedding", "conv_in", "down", "downsample", "mid", "up", "upsample",
    "skip",
]  # fmt: skip


@dataclass
class FeatureMap:
    """What one U-Net module produced in the traced call."""

    name: str  # the module's path in the U-Net; a skip: "up_blocks.{i}.skip.{k}"
    role: Role
    shape: tuple[int, ...]  # of the whole U-Net batch: (B, C, h, w), or (B, D) for time
    value: torch.Tensor  # the traced batch row, float32 on the CPU: (C, h, w) or (D,)
    input_shape: tuple[int, ...] | None = None  # samplers and blocks: what went in
    input_value: torch.Tensor | None = None  # samplers: the row of what went in
    source: str = ""  # a skip: the encoder output it is (a module path)


def _row(t: torch.Tensor, row: int) -> torch.Tensor:
    return t[row].detach().float().cpu().clone()


class UNetTrace:
    """Forward hooks on the parts of a diffusers UNet2DConditionModel, for one call.

    `maps` holds the recorded FeatureMaps in the U-Net's own order (time embedding, conv_in,
    down path, middle, up path with each up block's skips before it). Only calls from the
    thread that entered `hooked` are recorded: a cached pipeline may serve other runs.
    `row` picks the batch row whose values are kept (-1: the last, the conditional row of a
    guidance batch [unconditional, conditional]).
    """

    def __init__(self, row: int = -1) -> None:
        self.row = row
        self.maps: dict[str, FeatureMap] = {}
        self._sources: dict[int, str] = {}  # id of an encoder output -> its module path
        self._thread = threading.get_ident()

    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {name: m.shape for name, m in self.maps.items()}

    def skips(self, up_block: int) -> list[FeatureMap]:
        """The skip tensors up block `up_block` concatenated, in the order its resnets took them."""
        prefix = f"up_blocks.{up_block}.skip."
        return [m for name, m in self.maps.items() if name.startswith(prefix)]

    def _record(self, m: FeatureMap) -> None:
        self.maps[m.name] = m

    @contextlib.contextmanager
    def hooked(self, unet: Any) -> Iterator[UNetTrace]:
        """Within the block, the U-Net's calls from this thread are recorded (the last one wins)."""
        self._thread = threading.get_ident()
        handles: list[Any] = []
        slots: list[str] = []  # the modules' order, to sort the maps by afterwards

        def add(module: Any, name: str, hook: Callable[..., None], kwargs: bool = False) -> None:
            def gated(*a: Any) -> None:
                if threading.get_ident() == self._thread:
                    hook(*a)

            slots.append(name)
            handles.append(module.register_forward_hook(gated, with_kwargs=kwargs))

        def vector(name: str, role: Role) -> Callable[..., None]:
            def hook(_m: Any, _args: Any, out: torch.Tensor) -> None:
                self._record(FeatureMap(name, role, tuple(out.shape), _row(out, self.row)))

            return hook

        def conv_in(_m: Any, _args: Any, out: torch.Tensor) -> None:
            self._sources = {id(out): "conv_in"}
            self._record(FeatureMap("conv_in", "conv_in", tuple(out.shape), _row(out, self.row)))

        def down(i: int, block: Any) -> Callable[..., None]:
            last = "attentions" if getattr(block, "attentions", None) is not None else "resnets"

            def hook(
                _m: Any, args: Any, kwargs: dict[str, Any], out: tuple[torch.Tensor, ...]
            ) -> None:
                x = kwargs["hidden_states"] if "hidden_states" in kwargs else args[0]
                hidden, res = out
                for k, r in enumerate(res):  # one per resnet, then the downsampler's output
                    inner = f"{last}.{k}" if k < len(block.resnets) else "downsamplers.0"
                    self._sources[id(r)] = f"down_blocks.{i}.{inner}"
                name = f"down_blocks.{i}"
                self._record(FeatureMap(name, "down", tuple(hidden.shape), _row(hidden, self.row),
                                        tuple(x.shape)))  # fmt: skip

            return hook

        def sampler(name: str, role: Role) -> Callable[..., None]:
            def hook(_m: Any, args: Any, out: torch.Tensor) -> None:
                x = args[0]
                self._record(FeatureMap(name, role, tuple(out.shape), _row(out, self.row),
                                        tuple(x.shape), _row(x, self.row)))  # fmt: skip

            return hook

        def mid(_m: Any, args: Any, out: torch.Tensor) -> None:
            x = args[0]
            self._record(FeatureMap("mid_block", "mid", tuple(out.shape), _row(out, self.row),
                                    tuple(x.shape)))  # fmt: skip

        def up(i: int) -> Callable[..., None]:
            def hook(_m: Any, args: Any, kwargs: dict[str, Any], out: torch.Tensor) -> None:
                x = kwargs["hidden_states"] if "hidden_states" in kwargs else args[0]
                skips = kwargs.get("res_hidden_states_tuple", args[1] if len(args) > 1 else ())
                for k, s in enumerate(reversed(skips)):  # each resnet pops the last one
                    self._record(FeatureMap(
                        f"up_blocks.{i}.skip.{k}", "skip", tuple(s.shape), _row(s, self.row),
                        source=self._sources.get(id(s), "?"),
                    ))  # fmt: skip
                self._record(FeatureMap(f"up_blocks.{i}", "up", tuple(out.shape),
                                        _row(out, self.row), tuple(x.shape)))  # fmt: skip

            return hook

        add(unet.time_proj, "time_proj", vector("time_proj", "time_proj"))
        add(unet.time_embedding, "time_embedding", vector("time_embedding", "time_embedding"))
        add(unet.conv_in, "conv_in", conv_in)
        for i, block in enumerate(unet.down_blocks):
            add(block, f"down_blocks.{i}", down(i, block), kwargs=True)
            if block.downsamplers is not None:
                name = f"down_blocks.{i}.downsamplers.0"
                add(block.downsamplers[0], name, sampler(name, "downsample"))
        add(unet.mid_block, "mid_block", mid)
        for i, block in enumerate(unet.up_blocks):
            slots.append(f"up_blocks.{i}.skip.")
            add(block, f"up_blocks.{i}", up(i), kwargs=True)
            if block.upsamplers is not None:
                name = f"up_blocks.{i}.upsamplers.0"
                add(block.upsamplers[0], name, sampler(name, "upsample"))
        try:
            yield self
        finally:
            for h in handles:
                h.remove()
            rank = {s: n for n, s in enumerate(slots)}

            def place(name: str) -> tuple[int, str]:
                slot = name.rsplit(".", 1)[0] + "." if ".skip." in name else name
                return rank.get(slot, len(rank)), name

            self.maps = {k: self.maps[k] for k in sorted(self.maps, key=place)}


def latent_size(unet: Any) -> tuple[int, int]:
    """The U-Net's native latent grid (h, w) from its sample_size."""
    size = unet.config.sample_size
    return (int(size[0]), int(size[1])) if isinstance(size, list | tuple) else (int(size),) * 2


# --------------------------------------------------------------------------- the reverse step


@dataclass(frozen=True)
class ReverseStep:
    """One step's update x_prev = a·x̂0 + b·ε̃ + σ·z in the U-Net's (variance-preserving)
    coordinates, and DDPM's update between the same two noise levels."""

    timestep: float
    prev_timestep: float  # -1: the step lands on the clean latent
    alpha_bar: float  # ᾱ_t
    alpha_bar_prev: float  # ᾱ_prev
    beta: float  # 1 - ᾱ_t / ᾱ_prev: the β of this (strided) step
    coef_x0: float  # a
    coef_eps: float  # b
    sigma: float  # σ; 0: no noise is added
    ddpm_coef_x0: float
    ddpm_coef_eps: float
    ddpm_sigma: float
    latent_scale: float = 1.0  # the scheduler keeps latent_scale · x_prev (Euler: 1/√ᾱ_prev)

    def apply(self, x0: torch.Tensor, eps: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """The update by hand, in the scheduler's own coordinates (its prev_sample)."""
        return (self.coef_x0 * x0 + self.coef_eps * eps + self.sigma * z) * self.latent_scale


def ddpm_update(ab: float, abp: float) -> tuple[float, float, float]:
    """DDPM's reverse step from ᾱ_t = ab to ᾱ_prev = abp as (a, b, σ) on x̂0 and ε.

    Its posterior mean (DDPM eq. 7) is √ᾱ_prev β_t/(1-ᾱ_t) · x̂0 + √α_t (1-ᾱ_prev)/(1-ᾱ_t) · x_t,
    with α_t = ᾱ_t/ᾱ_prev and β_t = 1 - α_t; putting x_t = √ᾱ_t x̂0 + √(1-ᾱ_t) ε gives a and b.
    σ² = β_t (1-ᾱ_prev)/(1-ᾱ_t) (the 'fixed_small' variance, β̃_t)."""
    alpha = ab / abp
    beta = 1.0 - alpha
    c_x0 = math.sqrt(abp) * beta / (1.0 - ab)
    c_xt = math.sqrt(alpha) * (1.0 - abp) / (1.0 - ab)
    sigma = math.sqrt(max(beta * (1.0 - abp) / (1.0 - ab), 0.0))
    return c_x0 + c_xt * math.sqrt(ab), c_xt * math.sqrt(1.0 - ab), sigma


def reverse_step(
    scheduler: Scheduler, index: int, timestep: Any, eta: float = 0.0
) -> ReverseStep | None:
    """The coefficients `scheduler.step` is about to use at step `index` (call it before the
    step). None for a sampler whose update mixes several steps' ε (the multistep solvers), takes
    two U-Net calls (Heun, DPM2), or clips x̂0 (clip_sample, thresholding)."""
    config = scheduler.config
    if config.get("clip_sample") or config.get("thresholding"):
        return None
    t = float(timestep)
    scale = 1.0
    prev: float  # the timestep the update lands on
    if isinstance(scheduler, DDPMScheduler | DDIMScheduler):
        ac = scheduler.alphas_cumprod
        if isinstance(scheduler, DDPMScheduler):
            if config.variance_type not in ("fixed_small", "fixed_large"):
                return None
            prev = int(scheduler.previous_timestep(int(t)))
            abp = float(ac[prev]) if prev >= 0 else 1.0
        else:
            prev = int(t) - config.num_train_timesteps // scheduler.num_inference_steps
            abp = float(ac[prev]) if prev >= 0 else float(scheduler.final_alpha_cumprod)
        ab = float(ac[int(t)])
        beta = 1.0 - ab / abp
        if isinstance(scheduler, DDPMScheduler):
            a, b, sigma = ddpm_update(ab, abp)  # diffusers' DDPM step is eq. 7 itself
            if config.variance_type == "fixed_large":
                sigma = math.sqrt(beta)
            sigma = max(sigma, 1e-10) if t > 0 else 0.0  # diffusers clamps σ² at 1e-20
        else:  # DDIM eq. 12: x_prev = √ᾱ_prev x̂0 + √(1-ᾱ_prev-σ²) ε + σ z
            sigma = eta * math.sqrt((1.0 - abp) / (1.0 - ab) * beta)
            a, b = math.sqrt(abp), math.sqrt(max(1.0 - abp - sigma**2, 0.0))
    elif isinstance(scheduler, EulerDiscreteScheduler | EulerAncestralDiscreteScheduler):
        # k-diffusion: latents x/√ᾱ = x0 + s ε with noise level s = √((1-ᾱ)/ᾱ); one Euler step
        # of dx/ds = ε from s to s_next: x0 + s_next ε (Euler a: s_down, plus s_up z)
        s, s_next = float(scheduler.sigmas[index]), float(scheduler.sigmas[index + 1])
        ab, abp = 1.0 / (1.0 + s * s), 1.0 / (1.0 + s_next * s_next)
        prev = float(scheduler.timesteps[index + 1]) if index + 1 < len(scheduler.timesteps) else -1
        beta = 1.0 - ab / abp
        s_down, s_up = s_next, 0.0
        if isinstance(scheduler, EulerAncestralDiscreteScheduler):
            s_up = math.sqrt(s_next**2 * (s**2 - s_next**2) / s**2)
            s_down = math.sqrt(s_next**2 - s_up**2)
        a, b, sigma = math.sqrt(abp), s_down * math.sqrt(abp), s_up * math.sqrt(abp)
        scale = 1.0 / math.sqrt(abp)
    else:
        return None
    ddpm = ddpm_update(ab, abp)
    return ReverseStep(t, float(prev), ab, abp, beta, a, b, sigma, *ddpm, latent_scale=scale)


# --------------------------------------------------------------------------- sampling


@dataclass
class DecomposedStep:
    """One step of the loop. Tensors are (1, C, h, w) on the pipeline's device."""

    index: int
    total: int
    timestep: float
    xt: torch.Tensor  # the U-Net's input (variance-preserving scale)
    eps_uncond: torch.Tensor  # ε(∅): the U-Net on the negative prompt
    eps_cond: torch.Tensor  # ε(c): the U-Net on the prompt
    guided: torch.Tensor  # ε̃ = ε(∅) + w (ε(c) - ε(∅)): what the scheduler was given
    alpha_bar: float  # ᾱ_t the scheduler uses (interpolated in log σ where t is fractional)
    prev: torch.Tensor  # scheduler.step's prev_sample
    reverse: ReverseStep | None  # its coefficients (None: a sampler they are not written for)
    hand: torch.Tensor | None  # prev_sample from the coefficients by hand
    trace: UNetTrace | None  # the opened U-Net call (at `open_at` only)


def sample_decomposed(
    pipe: Any,
    scheduler: Scheduler,
    *,
    prompt: str,
    negative_prompt: str = "",
    steps: int = 10,
    guidance_scale: float = SD_GUIDANCE,
    seed: int = 0,
    eta: float = 0.0,
    open_at: int | None = None,
    on_step: Callable[[DecomposedStep], None] | None = None,
    check: Callable[[], None] | None = None,
) -> torch.Tensor:
    """Run StableDiffusionPipeline's text-to-image loop for one image at the model's native
    size and return the final latents; `on_step` sees every step decomposed.

    The same inputs as the pipeline's (`pipe(prompt, negative_prompt=..., num_inference_steps=
    steps, guidance_scale=w, eta=eta, generator=torch.Generator().manual_seed(seed))` with
    `scheduler` as its scheduler) give the same tensors: the start noise comes from one CPU
    generator, which the scheduler's own noise then continues. `scheduler` is a fresh one for
    this run. Unlike the pipeline, which runs the conditional branch alone for w <= 1, both
    branches run for any w, so that ε(∅) is always there.
    """
    device, dtype = pipe.unet.device, pipe.unet.dtype
    cond, uncond = pipe.encode_prompt(prompt, device, 1, True, negative_prompt)
    context = torch.cat([uncond, cond])  # (2, L, D): [unconditional, conditional]
    scheduler.set_timesteps(steps, device=device)
    timesteps = scheduler.timesteps
    generator = torch.Generator("cpu").manual_seed(int(seed))
    shape = (1, int(pipe.unet.config.in_channels), *latent_size(pipe.unet))
    latents = randn_tensor(shape, generator=generator, device=device, dtype=dtype)
    latents = latents * scheduler.init_noise_sigma
    extra = step_kwargs(scheduler, eta=eta, generator=generator)
    prediction_type = str(scheduler.config.get("prediction_type", "epsilon"))
    logs = log_sigmas(scheduler.alphas_cumprod)
    with torch.inference_mode():
        for i, t in enumerate(timesteps):
            if check is not None:
                check()
            model_in = scheduler.scale_model_input(torch.cat([latents] * 2), t)
            trace = UNetTrace(row=1) if i == open_at else None
            hooks = trace.hooked(pipe.unet) if trace is not None else contextlib.nullcontext()
            with hooks:
                out = pipe.unet(model_in, t, encoder_hidden_states=context, return_dict=False)[0]
            eps_uncond, eps_cond = out.chunk(2)
            guided = eps_uncond + guidance_scale * (eps_cond - eps_uncond)
            reverse = reverse_step(scheduler, i, t, eta)
            state = generator.get_state()
            prev = scheduler.step(guided, t, latents, **extra, return_dict=True).prev_sample
            xt = model_in[1:]
            ab = (
                reverse.alpha_bar
                if reverse
                else alpha_bar(scheduler.alphas_cumprod, float(t), logs)
            )
            hand = None
            if reverse is not None:
                x0, eps = split_prediction(guided, xt, ab, prediction_type)
                z = torch.zeros_like(guided)
                if reverse.sigma > 0:  # the noise the scheduler drew: the same generator state
                    replay = torch.Generator("cpu")
                    replay.set_state(state)
                    z = randn_tensor(guided.shape, generator=replay, device=device, dtype=dtype)
                hand = reverse.apply(x0, eps, z)
            if on_step is not None:
                on_step(DecomposedStep(i, len(timesteps), float(t), xt, eps_uncond, eps_cond,
                                       guided, ab, prev, reverse, hand, trace))  # fmt: skip
            latents = prev
    return latents


# --------------------------------------------------------------------------- pictures


def _enlarge(maps: torch.Tensor, size: tuple[int, int]) -> list[np.ndarray]:
    """(k, h, w) -> k arrays of `size`, nearest neighbour."""
    return list(F.interpolate(maps[:, None].float(), size=size, mode="nearest")[:, 0].numpy())


def _cell(*shapes: Sequence[int]) -> tuple[int, int]:
    h = max(int(s[-2]) for s in shapes)
    w = max(int(s[-1]) for s in shapes)
    k = max(1, math.ceil(CELL / h))
    return h * k, w * k


def top_channels(value: torch.Tensor, k: int = FEATURE_CHANNELS) -> list[int]:
    """The k channels of a (C, h, w) map with the largest spatial variance, in channel order."""
    var = value.flatten(1).var(dim=1, unbiased=False)
    return sorted(var.argsort(descending=True)[:k].tolist())


def feature_grid(rows: Sequence[torch.Tensor], channels: Sequence[int]) -> Image.Image:
    """Rows of (C, h, w) maps, each the given channels; every cell stretched to its own range."""
    size = _cell(*(r.shape for r in rows))
    cells: list[np.ndarray] = []
    for r in rows:
        cells += _enlarge(r[list(channels)], size)
    return image_grid(cells, ncols=len(channels), normalize=True)


def _fmt(shape: Sequence[int]) -> str:
    return "×".join(str(int(s)) for s in shape)


def _describe(m: FeatureMap, unet: Any) -> str:
    """What a feature map is, in a sentence."""
    c = unet.config
    if m.role == "conv_in":
        return (f"conv_in: the {c.in_channels}-channel latent x_t lifted to {m.shape[1]} "
                f"feature channels by a 3×3 convolution ({_fmt(m.shape[1:])})")  # fmt: skip
    if m.role in ("down", "up"):
        i = int(m.name.split(".")[1])
        blocks = c.down_block_types if m.role == "down" else c.up_block_types
        kind = blocks[i]
        attn = " with cross-attention to the prompt" if "CrossAttn" in kind else ""
        where = "encoder" if m.role == "down" else "decoder"
        return (f"{where} level {i} ({kind}): resnets{attn}; in {_fmt((m.input_shape or ())[1:])}"
                f" → out {_fmt(m.shape[1:])}")  # fmt: skip
    if m.role == "mid":
        return (f"middle block at the coarsest level: resnet, cross-attention, resnet "
                f"({_fmt(m.shape[1:])})")  # fmt: skip
    if m.role == "downsample":
        return (f"{m.name}: a stride-2 3×3 convolution, {_fmt((m.input_shape or ())[1:])} → "
                f"{_fmt(m.shape[1:])}; top row before, bottom row after (the convolution mixes "
                "channels: a column is one channel index, not one feature)")  # fmt: skip
    if m.role == "upsample":
        return (f"{m.name}: nearest-neighbour ×2, then a 3×3 convolution, "
                f"{_fmt((m.input_shape or ())[1:])} → {_fmt(m.shape[1:])}; top row before, "
                "bottom row after")  # fmt: skip
    return f"{m.name} {_fmt(m.shape)}"


def _describe_zh(m: FeatureMap, unet: Any) -> str:
    """`_describe` in Chinese."""
    c = unet.config
    if m.role == "conv_in":
        return (f"conv_in：用 3×3 卷积把 {c.in_channels} 通道的潜变量 x_t 提升到 {m.shape[1]} "
                f"个特征通道（{_fmt(m.shape[1:])}）")  # fmt: skip
    if m.role in ("down", "up"):
        i = int(m.name.split(".")[1])
        blocks = c.down_block_types if m.role == "down" else c.up_block_types
        kind = blocks[i]
        attn = "，带对提示词的交叉注意力" if "CrossAttn" in kind else ""
        where = "编码器" if m.role == "down" else "解码器"
        return (f"{where}第 {i} 级（{kind}）：残差块{attn}；输入 {_fmt((m.input_shape or ())[1:])}"
                f" → 输出 {_fmt(m.shape[1:])}")  # fmt: skip
    if m.role == "mid":
        return f"最粗一级的中间块：残差块、交叉注意力、残差块（{_fmt(m.shape[1:])}）"
    if m.role == "downsample":
        return (f"{m.name}：步幅为 2 的 3×3 卷积，{_fmt((m.input_shape or ())[1:])} → "
                f"{_fmt(m.shape[1:])}；上一行是下采样之前，下一行是之后（卷积会混合通道："
                "同一列是同一个通道编号，而不是同一个特征）")  # fmt: skip
    if m.role == "upsample":
        return (f"{m.name}：最近邻放大 ×2，再接一个 3×3 卷积，"
                f"{_fmt((m.input_shape or ())[1:])} → {_fmt(m.shape[1:])}；上一行是上采样之前，"
                "下一行是之后")  # fmt: skip
    return f"{m.name} {_fmt(m.shape)}"


def _latent_strip(images: torch.Tensor, ncols: int) -> Image.Image:
    """(N, 3, H, W) in [0, 1] -> a grid of the N pictures."""
    arr = (images.float().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1)
    return image_grid(list(arr.cpu().numpy()), ncols=ncols)


# --------------------------------------------------------------------------- the job


def _unet_artifacts(
    sink: Sink, trace: UNetTrace, unet: Any, step: int, t: float
) -> list[dict[str, Any]]:
    """One picture per level (a few channels of the conditional row), the skips each up
    block concatenates, and the timestep embedding; returns the levels' index entries."""
    where = {"step": step, "timestep": t}
    levels: list[dict[str, Any]] = []
    for name, m in trace.maps.items():
        if m.role in ("time_proj", "time_embedding", "skip"):
            continue
        if m.role in ("downsample", "upsample"):
            assert m.input_value is not None
            common = min(m.value.shape[0], m.input_value.shape[0])
            channels = top_channels(m.value[:common])
            picture = feature_grid([m.input_value, m.value], channels)
        else:
            channels = top_channels(m.value)
            picture = feature_grid([m.value], channels)
        caption, caption_zh = _describe(m, unet), _describe_zh(m, unet)
        art = f"unet/{name.replace('.', '_')}.png"
        emit(sink, art, picture, view="image", meta={
            "title": f"{caption} at step {step} (t = {t:g}); channels {channels}, each "
                     "stretched to its own range",
            "title_zh": f"{caption_zh}，第 {step} 步（t = {t:g}）；通道 {channels}，各自拉伸到"
                        "自己的取值范围",
            "shape": list(m.shape), "channels": channels, "module": name, **where,
        })  # fmt: skip
        levels.append({"name": name, "role": m.role, "shape": list(m.shape),
                       "input_shape": list(m.input_shape) if m.input_shape else None,
                       "artifact": art, "caption": caption, "caption_zh": caption_zh})  # fmt: skip
        if m.role == "up":
            i = int(name.split(".")[1])
            skips = trace.skips(i)
            common = min(s.value.shape[0] for s in skips)  # channel indices all of them have
            channels = top_channels(skips[0].value[:common])
            picture = feature_grid([s.value for s in skips], channels)
            art = f"unet/up_blocks_{i}_skips.png"
            parts = "; ".join(f"{k}: {s.source} {_fmt(s.shape[1:])}" for k, s in enumerate(skips))
            emit(sink, art, picture, view="image", meta={
                "title": f"the skip connections up block {i} concatenates with its input, one "
                         f"row per resnet in the order they are taken ({parts})",
                "title_zh": f"解码器第 {i} 级与其输入拼接的跳跃连接：每个残差块一行，"
                            f"按取用的顺序排列（{parts}）",
                "sources": [s.source for s in skips], "shapes": [list(s.shape) for s in skips],
                "channels": channels, **where,
            })  # fmt: skip
            levels += [{"name": s.name, "role": "skip", "shape": list(s.shape),
                        "source": s.source, "artifact": art} for s in skips]  # fmt: skip
    proj, emb = trace.maps["time_proj"], trace.maps["time_embedding"]
    emit(sink, "unet/time_embedding.json", line_artifact({
        f"sinusoidal projection ({proj.value.shape[0]})": (range(proj.value.shape[0]),
                                                           proj.value.tolist()),
        f"after the MLP ({emb.value.shape[0]})": (range(emb.value.shape[0]), emb.value.tolist()),
    }, f"timestep embedding at t = {t:g}: sin/cos of t·ω_k, then Linear-SiLU-Linear",
        title_zh=f"t = {t:g} 时的时间步嵌入：先取 t·ω_k 的 sin/cos，再经过 Linear-SiLU-Linear"),
        view="line", meta={"x_title": "dimension", "x_title_zh": "维度", **where})  # fmt: skip
    levels = [{"name": n, "role": trace.maps[n].role, "shape": list(trace.maps[n].shape)}
              for n in ("time_proj", "time_embedding")] + levels  # fmt: skip
    return levels


def _time_heatmaps(sink: Sink, unet: Any, timesteps: torch.Tensor) -> None:
    """The timestep embedding over every step of the run: the sinusoids, then the MLP."""
    with torch.inference_mode():
        t = timesteps.to(unet.device)
        proj = unet.time_proj(t)  # (S, C0), float32
        emb = unet.time_embedding(proj.to(unet.dtype)).float()  # (S, 4 C0)
    rows = [f"t={float(x):g}" for x in timesteps]
    for name, m, what, what_zh in (
        ("time_proj", proj, "sinusoidal projection", "正弦投影"),
        ("time_mlp", emb, "after the MLP", "经过 MLP 之后"),
    ):
        data = m.cpu().numpy()
        emit(sink, f"unet/{name}_steps.json",
             heatmap_artifact(data, [str(k) for k in range(data.shape[1])], rows,
                              f"timestep embedding, {what}: one row per step of the run",
                              title_zh=f"时间步嵌入，{what_zh}：本次运行的每一步占一行"),
             view="heatmap")  # fmt: skip


def _reverse_artifacts(
    sink: Sink, sampler: str, eta: float, rows: list[tuple[int, ReverseStep, float]]
) -> None:
    """The coefficients of every step as a JSON table and a Markdown page beside DDPM's."""
    name = f"{sampler}, η = {eta:g}" if takes_eta(sampler) else sampler
    columns = ["step", "t", "t_prev", "alpha_bar", "alpha_bar_prev", "beta", "coef_x0",
               "coef_eps", "sigma", "ddpm_coef_x0", "ddpm_coef_eps", "ddpm_sigma",
               "latent_scale", "hand_error"]  # fmt: skip
    table = [[i, r.timestep, r.prev_timestep, r.alpha_bar, r.alpha_bar_prev, r.beta, r.coef_x0,
              r.coef_eps, r.sigma, r.ddpm_coef_x0, r.ddpm_coef_eps, r.ddpm_sigma,
              r.latent_scale, err] for i, r, err in rows]  # fmt: skip
    formula = "x_prev = a·x̂0 + b·ε̃ + σ·z, x̂0 = (x_t - √(1-ᾱ_t)·ε̃)/√ᾱ_t"
    sink.artifact("reverse/coefficients.json", {"sampler": name, "formula": formula,
                  "columns": columns, "rows": table}, kind="json",
                  meta={"role": "table"})  # fmt: skip
    lines = [
        f"# The reverse step of {name}",
        "",
        "In the U-Net's coordinates, x_t = √ᾱ_t·x0 + √(1-ᾱ_t)·ε, each step is",
        "",
        f"    {formula},  z ~ N(0, I)",
        "",
        "DDPM (Algorithm 2) between the same two noise levels, with α_t = ᾱ_t/ᾱ_prev and",
        "β_t = 1 - α_t:",
        "",
        "    x_prev = 1/√α_t · (x_t - β_t/√(1-ᾱ_t) · ε̃) + σ_t·z,  σ_t² = β_t·(1-ᾱ_prev)/(1-ᾱ_t)",
        "",
        "| step | t | t_prev | ᾱ_t | ᾱ_prev | β_t | a | b | σ | DDPM a | DDPM b | DDPM σ_t "
        "| 1/√α_t | β_t/√(1-ᾱ_t) | max abs(by hand - step) |",
        "|" + " --- |" * 15,
    ]
    for i, r, err in rows:
        alg2 = (1 / math.sqrt(1 - r.beta), r.beta / math.sqrt(1 - r.alpha_bar))
        nums = (r.alpha_bar, r.alpha_bar_prev, r.beta, r.coef_x0, r.coef_eps, r.sigma,
                r.ddpm_coef_x0, r.ddpm_coef_eps, r.ddpm_sigma, *alg2)  # fmt: skip
        lines.append(f"| {i} | {r.timestep:g} | {r.prev_timestep:g} | "
                     + " | ".join(f"{v:.5g}" for v in nums) + f" | {err:.2g} |")  # fmt: skip
    sink.artifact("reverse/coefficients.md", "\n".join(lines) + "\n", kind="text",
                  meta={"role": "table"})  # fmt: skip


def _rounded(t: torch.Tensor) -> Any:
    """A tensor as nested lists of floats to 5 significant digits (short in JSON)."""
    flat = [float(f"{v:.5g}") for v in t.double().flatten().tolist()]
    return np.array(flat).reshape(tuple(t.shape)).tolist()


def latent_stride(shape: Sequence[int]) -> int:
    """The smallest k such that every k-th latent pixel in each direction keeps at most
    MAX_LATENT_VALUES values of a (C, h, w) latent."""
    c, h, w = shape
    k = 1
    while c * math.ceil(h / k) * math.ceil(w / k) > MAX_LATENT_VALUES:
        k += 1
    return k


def _cfg_steps(
    sink: Sink,
    kept: Sequence[DecomposedStep],
    prediction_type: str,
    latent_rgb: LatentRGB,
    w: float,
    w_values: Sequence[float],
) -> None:
    """cfg/steps.json: per step t, ᾱ_t, x_t, ε(∅) and ε(c), and the model's latent->RGB map,
    so that a client can form x̂0(w) = (x_t - √(1-ᾱ_t)·(ε(∅) + w·(ε(c) - ε(∅))))/√ᾱ_t for any w.

    A v- or x0-predicting model's outputs are converted to ε first: the conversion is affine
    in the output with the same coefficients for both branches, so guiding the converted ε's
    gives the same x̂0 as converting the guided output. A latent of more than
    MAX_LATENT_VALUES values keeps every k-th pixel (x̂0 is formed pixel by pixel, so the
    subsample is exact where it is kept)."""
    shape = tuple(kept[0].xt.shape[1:])  # (C, h, w)
    k = latent_stride(shape)
    steps = []
    for s in kept:
        u = split_prediction(s.eps_uncond, s.xt, s.alpha_bar, prediction_type)[1]
        c = split_prediction(s.eps_cond, s.xt, s.alpha_bar, prediction_type)[1]
        steps.append({
            "step": s.index, "t": s.timestep, "alpha_bar": s.alpha_bar,
            "diff_norm": float(f"{float((c - u).norm()):.5g}"),
            "xt": _rounded(s.xt[0, :, ::k, ::k]),
            "eps_uncond": _rounded(u[0, :, ::k, ::k]),
            "eps_cond": _rounded(c[0, :, ::k, ::k]),
        })  # fmt: skip
    kept_shape = [int(n) for n in kept[0].xt[0, :, ::k, ::k].shape]
    every = (f"; one latent pixel in each {k}×{k} of the {shape[1]}×{shape[2]} grid is kept"
             if k > 1 else "")  # fmt: skip
    every_zh = (f"；{shape[1]}×{shape[2]} 的潜变量网格每 {k}×{k} 个像素只保留一个"
                if k > 1 else "")  # fmt: skip
    title = (f"classifier-free guidance, w adjustable: x̂0 from ε(∅) and ε(c) at every step "
             f"(the run samples with w = {w:g}{every})")  # fmt: skip
    title_zh = (f"无分类器引导，引导强度 w 可调：每一步由 ε(∅) 和 ε(c) 得到 x̂0"
                f"（本次采样用的是 w = {w:g}{every_zh}）")  # fmt: skip
    data = {
        "title": title, "title_zh": title_zh,
        "prediction_type": prediction_type, "eps": "epsilon",
        "guidance_scale": w, "w_values": list(w_values),
        "latent_shape": list(shape), "stride": k, "shape": kept_shape,
        "latent_rgb": {"weight": [list(r) for r in latent_rgb.weight],
                       "bias": list(latent_rgb.bias)},
        "formula": "ε̂(w) = ε(∅) + w·(ε(c) - ε(∅)); x̂0 = (x_t - √(1-ᾱ_t)·ε̂(w))/√ᾱ_t",
        "steps": steps,
    }  # fmt: skip
    sink.artifact("cfg/steps.json", data, kind="json",
                  meta={"view": "cfg", "title": title, "title_zh": title_zh, "stride": k,
                        "latent_shape": list(shape), "shape": kept_shape,
                        "subsampled": k > 1})  # fmt: skip


def _latent_explorer(sink: Sink, pipe: Any, native: int, seed: int) -> dict[str, float]:
    """Two shapes images through the VAE: blends in latent and in pixel space, the latent
    channels, and the counts of values the U-Net would work on in each space."""
    vae = pipe.vae
    data = ShapesDataset(num_samples=2, split="val", seed=seed, resolution=native)
    images = [data[0].image, data[1].image]
    x = pipe.image_processor.preprocess(images).to(vae.device, vae.dtype)  # (2, 3, H, W) in [-1, 1]
    with torch.inference_mode():
        z = vae.encode(x).latent_dist.mode() * vae.config.scaling_factor  # (2, C, h, w)
        alphas = torch.linspace(0, 1, FRAMES, device=z.device, dtype=z.dtype)[:, None, None, None]
        blends = (1 - alphas) * z[:1] + alphas * z[1:]
        decoded = torch.cat([decode_full(vae, b) for b in blends.split(4)])
        recon = decoded[[0, -1]].float()
    pixels = (x.float() / 2 + 0.5).clamp(0, 1)
    fades = (1 - alphas.float()) * pixels[:1] + alphas.float() * pixels[1:]
    meta = {"weights": [round(float(a), 4) for a in alphas.flatten()]}
    emit(sink, "latent/interpolation_latent.png", _latent_strip(decoded, FRAMES), view="image",
         meta={"title": "latent space: decode((1-α)·z_A + α·z_B), α from 0 to 1 — a shape "
                        "moves and morphs",
               "title_zh": "潜在空间：decode((1-α)·z_A + α·z_B)，α 从 0 到 1——形状在移动、变形",
               **meta})  # fmt: skip
    emit(sink, "latent/interpolation_pixel.png", _latent_strip(fades, FRAMES), view="image",
         meta={"title": "pixel space: (1-α)·x_A + α·x_B — a cross-fade, both pictures "
                        "half-transparent",
               "title_zh": "像素空间：(1-α)·x_A + α·x_B——只是淡入淡出，两张图都半透明",
               **meta})  # fmt: skip
    zc = z.float().cpu()
    lo = zc.amin(dim=(0, 2, 3))[None, :, None, None]
    hi = zc.amax(dim=(0, 2, 3))[None, :, None, None]
    grey = ((zc - lo) / (hi - lo).clamp_min(1e-12)).clamp(0, 1)  # each channel's range, shared
    size = _cell(zc.shape)
    cells = _enlarge(grey[0], size) + _enlarge(grey[1], size)
    emit(sink, "latent/channels.png", image_grid(cells, ncols=zc.shape[1]), view="image",
         meta={"title": f"the {zc.shape[1]} latent channels of image A (top) and B (bottom), "
                        f"{zc.shape[2]}×{zc.shape[3]} each, grey = the channel's range over "
                        "both",
               "title_zh": f"图像 A（上）和 B（下）的 {zc.shape[1]} 个潜在通道，每个 "
                           f"{zc.shape[2]}×{zc.shape[3]}，灰度对应该通道在两张图上"
                           "共同的取值范围",
               "captions": [data[0].caption, data[1].caption],
               "captions_zh": [f"图像 A：{data[0].caption}",
                               f"图像 B：{data[1].caption}"]})  # fmt: skip
    n_pixels, n_latent = int(pixels[0].numel()), int(z[0].numel())
    values = {
        "latent/pixel_values": float(n_pixels),
        "latent/latent_values": float(n_latent),
        "latent/compression": n_pixels / n_latent,
        "latent/recon_mse": float(((recon - pixels) ** 2).mean()),
    }
    sink.metric(0, values)
    return values


def run(params: Params, sink: Sink, ctx: RunContext) -> dict[str, Any]:
    """Sample one image with every step decomposed; open the U-Net at params.unet_step."""
    params, model_dir = _resolved(params, ctx.models_dir)
    pipe = load_pipeline(model_dir, ctx.device)
    unet, vae = pipe.unet, pipe.vae
    native = model_resolution(model_dir).native
    scheduler = make_scheduler(params.sampler, pipe.scheduler.config, seeds=[params.seed])
    prediction_type = str(scheduler.config.get("prediction_type", "epsilon"))
    latent_rgb = latent_rgb_for_model(model_dir, vae, ctx.data_dir / "cache")
    to_rgb = latent_rgb.apply
    w = params.guidance_scale
    sink.log(f"model {params.model}, sampler {params.sampler}, {params.steps} steps, w = {w:g}, "
             f"seed {params.seed}; opening the U-Net at step {params.unet_step}")  # fmt: skip

    kept: list[DecomposedStep] = []
    reverse_rows: list[tuple[int, ReverseStep, float]] = []
    traced: list[DecomposedStep] = []
    total: list[int] = []
    ws = torch.tensor(params.w_values, device=unet.device, dtype=unet.dtype)[:, None, None, None]

    def on_step(s: DecomposedStep) -> None:
        if not total:
            total.append(s.total + 1)  # the steps, then the latent explorer
        u, c, g = s.eps_uncond.float(), s.eps_cond.float(), s.guided.float()
        diff = c - u
        spread = float(diff.abs().max())
        stretch = 3.0 / spread if spread > 0 else 1.0  # the difference's largest value -> ±3
        strip = to_uint8(torch.cat([to_rgb(s.xt).float(), noise_rgb(u), noise_rgb(c),
                                    noise_rgb(diff * stretch), noise_rgb(g)]))  # fmt: skip
        h, wide = strip.shape[0], strip.shape[1] // 5
        cells = [strip[:, k * wide : (k + 1) * wide] for k in range(5)]
        emit(sink, f"cfg/eps/step_{s.index:03d}.png",
             image_grid(cells, ncols=5, scale=max(1, CELL // h)), view="image", step=s.index,
             meta={"title": f"step {s.index} (t = {s.timestep:g}): x_t | ε(∅) | ε(c) | "
                            f"ε(c) - ε(∅), ×{stretch:.3g} | ε̃ = ε(∅) + {w:g}·(ε(c) - ε(∅)); "
                            "channels 0-2 as RGB, ±3 = full range",
                   "title_zh": f"第 {s.index} 步（t = {s.timestep:g}）：x_t | ε(∅) | ε(c) | "
                               f"ε(c) - ε(∅)，×{stretch:.3g} | ε̃ = ε(∅) + {w:g}·(ε(c) - ε(∅))；"
                               "通道 0-2 显示为 RGB，±3 为满量程",
                   "timestep": s.timestep, "diff_scale": stretch})  # fmt: skip
        # x̂0 for each w from the same two predictions (the trajectory is the run's, at w)
        outs = s.eps_uncond + ws * (s.eps_cond - s.eps_uncond)  # (n_w, C, h, w)
        x0 = split_prediction(outs, s.xt.expand_as(outs), s.alpha_bar, prediction_type)[0]
        pictures = decode_full(vae, x0)
        emit(sink, f"cfg/x0/step_{s.index:03d}.png", _latent_strip(pictures, len(params.w_values)),
             view="image", step=s.index,
             meta={"title": f"step {s.index} (t = {s.timestep:g}): x̂0 for w = "
                            + ", ".join(f"{v:g}" for v in params.w_values)
                            + f" (the run samples with w = {w:g})",
                   "title_zh": f"第 {s.index} 步（t = {s.timestep:g}）：w = "
                               + ", ".join(f"{v:g}" for v in params.w_values)
                               + f" 时的 x̂0（本次采样用的是 w = {w:g}）",
                   "w_values": params.w_values, "timestep": s.timestep})  # fmt: skip
        n = math.sqrt(u.numel())
        shift = math.sqrt((1 - s.alpha_bar) / s.alpha_bar) * float(diff.norm()) / n
        values = {
            "cfg/eps_uncond_rms": float(u.norm()) / n, "cfg/eps_cond_rms": float(c.norm()) / n,
            "cfg/eps_diff_rms": float(diff.norm()) / n, "cfg/eps_guided_rms": float(g.norm()) / n,
            "cfg/cosine": float(F.cosine_similarity(u.flatten(), c.flatten(), dim=0)),
            "cfg/x0_shift_per_w": shift,
        }  # fmt: skip
        if s.reverse is not None and s.hand is not None:
            r = s.reverse
            err = float((s.hand.float() - s.prev.float()).abs().max())
            reverse_rows.append((s.index, r, err))
            values.update({
                "reverse/alpha_bar": r.alpha_bar, "reverse/alpha_bar_prev": r.alpha_bar_prev,
                "reverse/beta": r.beta, "reverse/coef_x0": r.coef_x0,
                "reverse/coef_eps": r.coef_eps, "reverse/sigma": r.sigma,
                "reverse/ddpm_coef_x0": r.ddpm_coef_x0, "reverse/ddpm_coef_eps": r.ddpm_coef_eps,
                "reverse/ddpm_sigma": r.ddpm_sigma, "reverse/hand_error": err,
            })  # fmt: skip
        sink.metric(s.index, values)
        kept.append(DecomposedStep(s.index, s.total, s.timestep, s.xt.float().cpu(),
                                   u.cpu(), c.cpu(), g.cpu(), s.alpha_bar, s.prev.float().cpu(),
                                   s.reverse, None, None))  # fmt: skip
        if s.trace is not None:
            traced.append(s)
        sink.progress(s.index + 1, total[0], f"step {s.index + 1} of {s.total}")

    latents = sample_decomposed(
        pipe, scheduler, prompt=params.prompt, negative_prompt=params.negative_prompt,
        steps=params.steps, guidance_scale=w, seed=params.seed, eta=params.eta,
        open_at=params.unet_step, on_step=on_step, check=sink.check,
    )  # fmt: skip

    (opened,) = traced
    assert opened.trace is not None
    levels = _unet_artifacts(sink, opened.trace, unet, opened.index, opened.timestep)
    _time_heatmaps(sink, unet, scheduler.timesteps)
    c = unet.config
    sink.artifact("unet/index.json", {
        "step": opened.index, "timestep": opened.timestep,
        "batch": "rows [unconditional, conditional]; pictures show the conditional row",
        "config": {"block_out_channels": list(c.block_out_channels),
                   "layers_per_block": c.layers_per_block, "sample_size": c.sample_size,
                   "down_block_types": list(c.down_block_types),
                   "up_block_types": list(c.up_block_types)},
        "levels": levels,
    }, kind="json", meta={"role": "index"})  # fmt: skip

    stored = {
        "eps_uncond": torch.cat([k.eps_uncond for k in kept]).contiguous(),
        "eps_cond": torch.cat([k.eps_cond for k in kept]).contiguous(),
        "xt": torch.cat([k.xt for k in kept]).contiguous(),
        "timesteps": torch.tensor([k.timestep for k in kept]),
        "alpha_bar": torch.tensor([k.alpha_bar for k in kept], dtype=torch.float64),
    }
    sink.artifact("cfg/eps.safetensors", safetensors_bytes(stored, metadata={
        "guidance_scale": f"{w:g}", "prediction_type": prediction_type,
        "guided": "eps_uncond + w * (eps_cond - eps_uncond)",
        "x0": "(xt - sqrt(1 - alpha_bar) * eps) / sqrt(alpha_bar)",
    }), kind="binary", meta={"role": "data", "tensors": {k: list(v.shape) for k, v in
                                                           stored.items()}})  # fmt: skip
    sink.artifact("cfg/index.json", {
        "guidance_scale": w, "w_values": params.w_values, "prediction_type": prediction_type,
        "timesteps": [k.timestep for k in kept], "alpha_bar": [k.alpha_bar for k in kept],
        "eps": "cfg/eps.safetensors", "eps_pattern": "cfg/eps/step_{step:03d}.png",
        "x0_pattern": "cfg/x0/step_{step:03d}.png", "steps": "cfg/steps.json",
        "formula": "ε̃ = ε(∅) + w·(ε(c) - ε(∅)); x̂0 = (x_t - √(1-ᾱ_t)·ε̃)/√ᾱ_t",
    }, kind="json", meta={"role": "index"})  # fmt: skip
    _cfg_steps(sink, kept, prediction_type, latent_rgb, w, params.w_values)
    if reverse_rows:
        _reverse_artifacts(sink, params.sampler, params.eta, reverse_rows)
    else:
        sink.log(f"{params.sampler}: the reverse-step table covers DDPM, DDIM, Euler and Euler a "
                 "(this sampler combines several steps' predictions or clips x̂0)")  # fmt: skip

    with torch.inference_mode():
        final = decode_full(vae, latents)
    emit(sink, "final/image.png", _latent_strip(final, 1), view="image",
         meta={"title": f"{params.prompt!r}, {params.sampler}, {params.steps} steps, w = {w:g}, "
                        f"seed {params.seed}",
               "title_zh": f"{params.prompt!r}，{params.sampler}，{params.steps} 步，w = {w:g}，"
                           f"种子 {params.seed}"})  # fmt: skip
    sink.check()
    counts = _latent_explorer(sink, pipe, native, params.seed)
    sink.progress(total[0], total[0], "latent explorer")
    return {
        "model": params.model, "sampler": params.sampler, "steps": len(kept),
        "seed": params.seed, "guidance_scale": w, "unet_step": opened.index,
        "unet_timestep": opened.timestep, "levels": len(levels),
        "pixel_values": int(counts["latent/pixel_values"]),
        "latent_values": int(counts["latent/latent_values"]),
        "compression": counts["latent/compression"],
        "max_hand_error": max((e for _, _, e in reverse_rows), default=None),
    }  # fmt: skip


SPEC = KindSpec(
    name="lab.diffusion_internals",
    params=Params,
    run=run,
    queue="gpu",
    admin_only=False,
    category="lab",
    title="Inside a diffusion model",
    description="One generation of a latent diffusion model opened up: the U-Net's feature "
    "maps, skip connections and timestep embedding; classifier-free guidance split into "
    "ε(∅) and ε(c) at every step; the sampler's reverse-step coefficients beside DDPM's; and "
    "the VAE's latent space.",
    time_limit_s=900,
    prepare=prepare,
)

__all__ = [
    "SPEC",
    "DecomposedStep",
    "FeatureMap",
    "Params",
    "ReverseStep",
    "UNetTrace",
    "ddpm_update",
    "latent_size",
    "latent_stride",
    "prepare",
    "reverse_step",
    "run",
    "sample_decomposed",
]

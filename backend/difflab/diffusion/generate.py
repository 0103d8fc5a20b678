"""The `generate` job kind: text-to-image with every denoising step stored as it happens.

Artifacts (names as the API contract fixes them):
  final/image_{i}.png                    the images, with A1111 "parameters" and "difflab" chunks
  steps/xt_{step:03d}.png, x0_, eps_     previews of x_t, x̂0 and ε (a batch side by side)
  attention/step_{step:03d}.png + attention/index.json   image 0's token maps on the latent
                                         grid (index.json's "grid": [h, w]), the tokens' maps
                                         side by side in one picture per step ("layout": "row",
                                         each with "pad" edge columns either side)
  sweep/scale_{k:02d}.png + sweep/index.json                           the guidance sweep
Events: `denoise` {step, total, timestep, xt, x0, eps} (artifact names) per previewed step,
`progress` per U-Net evaluation (sweep runs included).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import secrets
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from transformers import AutoTokenizer

from difflab.diffusion import embeddings, inputs, loras
from difflab.diffusion.attention import STRIP_PAD, token_strip
from difflab.diffusion.img2img import ImageInput, InpaintingFill, ResizeMode, generate_from_image
from difflab.diffusion.infotext import format_infotext, generation_params, png_with_parameters
from difflab.diffusion.loras import LoraWeight
from difflab.diffusion.models import (
    DEFAULT_MODEL,
    SD_GUIDANCE,
    ModelError,
    check_model_name,
    default_guidance,
    load_pipeline,
    model_resolution,
    resolve_model,
)
from difflab.diffusion.pipeline import (
    StepOutput,
    generate,
    tiled,
)
from difflab.diffusion.previews import (
    decode_full,
    latent_rgb_for_model,
    noise_rgb,
    png_bytes,
    to_uint8,
)
from difflab.diffusion.prompt_schedule import active as active_entry
from difflab.diffusion.prompt_schedule import schedule as prompt_schedule
from difflab.diffusion.prompts import EncodedPrompt, PromptSyntaxError, encode_weighted
from difflab.diffusion.prompts import chunks as prompt_chunks
from difflab.diffusion.schedulers import (
    DEFAULT_SAMPLER,
    SamplerName,
    ScheduleType,
    effective_schedule,
    make_scheduler,
    resolve_sampler,
    resolve_schedule,
    takes_eta,
)
from difflab.diffusion.sd_upscale import combine, split
from difflab.diffusion.vae_override import resolve_vae, with_vae
from difflab.runtime import KindSpec, ParamError, RunContext, Sink, SubmitContext

MAX_SEED = 2**53 - 1  # exact in JSON numbers and JavaScript


InvalidRequest = ParamError  # the name this module's callers knew


# A1111's hires upscalers: latent interpolation modes (torch) and picture resampling (PIL)
LATENT_UPSCALE = {
    "Latent": ("bilinear", False), "Latent (antialiased)": ("bilinear", True),
    "Latent (bicubic)": ("bicubic", False), "Latent (bicubic antialiased)": ("bicubic", True),
    "Latent (nearest)": ("nearest", False), "Latent (nearest-exact)": ("nearest-exact", False),
}  # fmt: skip
PIXEL_UPSCALE = {
    "Lanczos": Image.Resampling.LANCZOS,
    "Nearest": Image.Resampling.NEAREST,
    "Bicubic": Image.Resampling.BICUBIC,
}
HrUpscaler = Literal[
    "Latent", "Latent (antialiased)", "Latent (bicubic)", "Latent (bicubic antialiased)",
    "Latent (nearest)", "Latent (nearest-exact)", "Lanczos", "Nearest", "Bicubic",
]  # fmt: skip
HIRES_FIELDS = frozenset({"hr_scale", "hr_upscaler", "hr_second_pass_steps", "hr_strength"})
IMG2IMG_FIELDS = frozenset({"init_image", "strength", "resize_mode"})
INPAINT_FIELDS = frozenset({
    "mask", "mask_blur", "mask_invert", "inpainting_fill", "inpaint_full_res",
    "inpaint_full_res_padding",
})  # fmt: skip


class SdUpscale(BaseModel):
    """A1111's SD upscale script settings."""

    model_config = ConfigDict(extra="forbid")

    overlap: int = Field(64, ge=0, le=256, description="Pixels the tiles overlap by.")
    upscaler: Literal["None", "Lanczos", "Nearest", "Bicubic"] = Field(
        "Lanczos", description="How the init image is enlarged before the tiles are redrawn."
    )
    scale: float = Field(2.0, ge=1, le=4, description="How much it is enlarged.")


class GenerateParams(BaseModel):
    """One text-to-image request."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field("", max_length=2000, description="What to draw.")
    negative_prompt: str = Field(
        "", max_length=2000, description="What to steer away from (the unconditional branch)."
    )
    model: str = Field(
        DEFAULT_MODEL, min_length=1, max_length=100, description="A model directory name."
    )
    sampler: SamplerName = Field(
        DEFAULT_SAMPLER, description="AUTOMATIC1111 sampler name; k-diffusion aliases accepted."
    )
    scheduler: ScheduleType = Field(
        "Automatic", description="A1111 schedule type; Automatic = the sampler's own."
    )
    steps: int = Field(25, ge=1, le=150, description="Denoising steps.")
    guidance_scale: float = Field(
        SD_GUIDANCE,
        ge=0,
        le=30,
        description="Classifier-free guidance w; left out: the model's own (GET /models).",
    )
    seed: int = Field(-1, ge=-1, le=MAX_SEED, description="-1: random; image i uses seed + i.")
    width: int | None = Field(
        None, ge=8, le=2048, multiple_of=8, description="Pixels; null = the model's native size."
    )
    height: int | None = Field(
        None, ge=8, le=2048, multiple_of=8, description="Pixels; null = the model's native size."
    )
    batch_size: int = Field(1, ge=1, le=16, description="Images generated together.")
    loras: list[LoraWeight] = Field(
        default_factory=list,
        max_length=8,
        description="LoRAs from models/loras/ and their weights, for this request only (also "
        "as <lora:name:weight> in the prompt, A1111's form).",
    )
    n_iter: int = Field(
        1,
        ge=1,
        le=16,
        description="Batches run one after another (A1111's batch count); image k of batch j "
        "has seed + j * batch_size + k.",
    )
    eta: float = Field(0.0, ge=0, le=1, description="DDIM's eta (0 = deterministic DDIM).")
    preview: Literal["none", "approx", "full"] = Field(
        "approx", description="Step previews: none, a linear latent->RGB map, or the VAE."
    )
    preview_every: int = Field(1, ge=1, le=150, description="Preview every n-th step.")
    guidance_sweep: list[Annotated[float, Field(ge=0, le=30)]] | None = Field(
        None, min_length=1, max_length=8, description="Guidance scales for a same-seed sweep."
    )
    attention: bool = Field(True, description="Store per-token cross-attention maps.")
    vae: str | None = Field(
        None,
        max_length=100,
        description="Decode with this VAE from models/vae/ instead of the model's own "
        "(A1111's SD VAE); null: the model's.",
    )
    tiling: bool = Field(
        False, description="Seamless tiling: the picture wraps around at its edges (A1111's)."
    )
    clip_skip: int = Field(
        1,
        ge=1,
        le=12,
        description="Conditioning from the N-th text-encoder layer from the end (A1111's Clip "
        "skip; 1 = the last layer).",
    )
    subseed: int = Field(
        -1, ge=-1, le=MAX_SEED, description="Variation seed (-1: random); image i uses subseed + i."
    )
    subseed_strength: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Variation strength: the start noise is slerp(strength, noise(seed), "
        "noise(subseed)); 0 = the seed alone.",
    )
    enable_hr: bool = Field(
        False,
        description="Hires fix: generate, upscale by hr_scale, then an img2img pass at the "
        "larger size (both passes in the live view).",
    )
    hr_scale: float = Field(2.0, gt=1, le=4, description="Hires fix: the upscale factor.")
    hr_upscaler: HrUpscaler = Field(
        "Latent",
        description="Hires fix: upscale the latent (Latent modes) or the decoded image (Lanczos, "
        "Nearest).",
    )
    hr_second_pass_steps: int = Field(
        0, ge=0, le=150, description="Hires fix: steps of the second pass (0 = steps)."
    )
    hr_strength: float = Field(
        0.7, ge=0, le=1, description="Hires fix: denoising strength of the second pass."
    )
    init_image: str | None = Field(
        None,
        description="img2img: the id of an uploaded image (POST /api/v1/images) to start from.",
    )
    strength: float = Field(
        0.75,
        ge=0,
        le=1,
        description="img2img: how much of the init image is redrawn; the last "
        "int(strength * steps) steps run, from the init image noised to that step.",
    )
    resize_mode: ResizeMode = Field(
        "just_resize", description="img2img: how the init image is brought to width x height."
    )
    mask: str | None = Field(
        None,
        description="Inpainting: the id of an uploaded grayscale mask, white = repaint "
        "(needs init_image, same size).",
    )
    mask_blur: int = Field(4, ge=0, le=64, description="Inpainting: Gaussian blur of the mask.")
    mask_invert: bool = Field(False, description="Inpainting: repaint the black part instead.")
    inpainting_fill: InpaintingFill = Field(
        "original",
        description="Inpainting: what the masked area starts from: the picture (original), its "
        "surrounding colours (fill), noise (latent_noise) or zeros (latent_nothing).",
    )
    inpaint_full_res: bool = Field(
        False,
        description="Inpainting: redraw only the masked region, cropped and scaled up to "
        "width x height, then pasted back (A1111's 'only masked').",
    )
    inpaint_full_res_padding: int = Field(
        32, ge=0, le=256, description="Inpainting: pixels kept around the masked region."
    )
    sd_upscale: SdUpscale | None = Field(
        None,
        description="img2img: A1111's SD upscale: the init image upscaled, then redrawn in "
        "overlapping tiles of width x height at `strength`, blended back together.",
    )

    @field_validator("strength", "resize_mode", "mask", *sorted(INPAINT_FIELDS - {"mask"}))
    @classmethod
    def _needs_its_image(cls, v: Any, info: ValidationInfo) -> Any:
        """An img2img or inpainting field asking for something without the image it acts on
        is refused, never ignored (its default value asks nothing)."""
        name = str(info.field_name)
        if v is None or v == GenerateParams.model_fields[name].default:
            return v
        if info.data.get("init_image") is None:
            raise ValueError(f"{name} applies to img2img: send init_image too")
        if name in INPAINT_FIELDS and name != "mask" and info.data.get("mask") is None:
            raise ValueError(f"{name} applies to inpainting: send mask too")
        return v

    @field_validator(*sorted(HIRES_FIELDS))
    @classmethod
    def _needs_hires(cls, v: Any, info: ValidationInfo) -> Any:
        name = str(info.field_name)
        if v != GenerateParams.model_fields[name].default and not info.data.get("enable_hr"):
            raise ValueError(f"{name} applies to hires fix: send enable_hr: true too")
        return v

    @model_validator(mode="after")
    def _batches(self) -> GenerateParams:
        if self.batch_size * self.n_iter > 64:
            raise PydanticCustomError(
                "too_many_images", "n_iter: at most 64 images a request (batch_size x n_iter)"
            )
        if self.n_iter > 1 and (self.guidance_sweep or self.sd_upscale is not None):
            raise PydanticCustomError(
                "n_iter_alone", "n_iter: one batch with a guidance sweep or sd_upscale"
            )
        return self

    @model_validator(mode="after")
    def _sd_upscale_is_img2img(self) -> GenerateParams:
        if self.sd_upscale is None:
            return self
        if self.init_image is None or self.mask is not None:
            raise PydanticCustomError(
                "sd_upscale_img2img", "sd_upscale: needs an init_image and no mask"
            )
        if self.batch_size != 1 or self.guidance_sweep:
            raise PydanticCustomError(
                "sd_upscale_single", "sd_upscale: one image at a time (batch_size 1, no sweep)"
            )
        return self

    @model_validator(mode="after")
    def _hires_is_txt2img(self) -> GenerateParams:
        if self.enable_hr and self.init_image is not None:
            raise PydanticCustomError(
                "hires_txt2img", "enable_hr: hires fix applies to text-to-image (no init_image)"
            )
        if self.enable_hr and self.guidance_sweep:
            raise PydanticCustomError(
                "hires_sweep", "enable_hr: a guidance sweep with hires fix is not supported"
            )
        return self

    @model_validator(mode="after")
    def _variation_is_txt2img(self) -> GenerateParams:
        if self.subseed_strength > 0 and self.init_image is not None:
            raise PydanticCustomError(
                "variation_txt2img",
                "subseed_strength: variation seeds apply to text-to-image only (no init_image)",
            )
        return self

    @field_validator("init_image", "mask")
    @classmethod
    def _image_id(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is None:
            return v
        try:
            return inputs.check_id(v, str(info.field_name))
        except ParamError as e:
            raise ValueError(e.message) from None

    @field_validator("sampler", mode="before")
    @classmethod
    def _sampler_alias(cls, v: Any) -> Any:
        try:
            return resolve_sampler(v) if isinstance(v, str) else v
        except ValueError:
            return v  # the Literal check then lists the valid names

    @field_validator("scheduler", mode="before")
    @classmethod
    def _schedule_case(cls, v: Any) -> Any:
        try:
            return resolve_schedule(v) if isinstance(v, str) or v is None else v
        except ValueError:
            return v

    @field_validator("model")
    @classmethod
    def _model_name(cls, v: str) -> str:
        return check_model_name(v)


def hires_size(width: int, height: int, scale: float) -> tuple[int, int]:
    """The second pass's size: width and height times scale, down to multiples of 8."""
    return int(width * scale) // 8 * 8, int(height * scale) // 8 * 8


def text_encoder_layers(model_dir: Path) -> int:
    """Hidden layers of a model's text encoder (its config.json)."""
    config = json.loads((model_dir / "text_encoder" / "config.json").read_text())
    return int(config.get("num_hidden_layers", 12))


@functools.lru_cache(maxsize=16)
def _tokenizer(path: str, stamp: int) -> Any:
    return AutoTokenizer.from_pretrained(Path(path) / "tokenizer", local_files_only=True)


def tokenizer_of(model_dir: Path) -> Any:
    """The model's tokenizer, loaded once (again when its files change)."""
    index = model_dir / "tokenizer"
    return _tokenizer(
        str(model_dir), max((p.stat().st_mtime_ns for p in index.iterdir()), default=0)
    )


_Guided = TypeVar("_Guided", bound=BaseModel)  # params with a `guidance_scale` field


def with_model_defaults(params: _Guided, model_dir: Path) -> _Guided:
    """Fill the guidance scale a request left out with the model's own (default_guidance)."""
    if "guidance_scale" in params.model_fields_set:
        return params
    return params.model_copy(update={"guidance_scale": default_guidance(model_dir)})


def check_generate_params(params: GenerateParams, models_dir: Path) -> tuple[Path, int, int]:
    """The checks that need the model but not its weights: the model exists, the size is in
    its range, the prompts fit its text encoder. Returns (model dir, width, height).
    Cheap enough for an API route to call before enqueueing (tokenizer only, cached)."""
    try:
        model_dir = resolve_model(models_dir, params.model)
        res = model_resolution(model_dir)
    except ModelError as e:
        raise InvalidRequest("model", str(e)) from None
    width, height = params.width or res.native, params.height or res.native
    for name, value in (("width", width), ("height", height)):
        try:
            res.check(name, value)
        except ValueError as e:
            raise InvalidRequest(name, str(e)) from None
    if params.enable_hr:
        w2, h2 = hires_size(width, height, params.hr_scale)
        try:
            res.check("width", w2)
            res.check("height", h2)
        except ValueError as e:
            raise InvalidRequest("hr_scale", f"the hires size {w2}x{h2}: {e}") from None
    if params.vae is not None:
        resolve_vae(models_dir, params.vae, model_dir)
    layers = text_encoder_layers(model_dir)
    if params.clip_skip > layers:
        raise InvalidRequest(
            "clip_skip", f"the model's text encoder has {layers} layers: clip_skip 1 to {layers}"
        )
    lora_request(params, models_dir, model_dir)
    tok = tokenizer_of(model_dir)
    prompt = loras.extract(params.prompt)[0]
    for name, text in (("prompt", prompt), ("negative_prompt", params.negative_prompt)):
        try:  # every text the prompt takes during sampling: weights read, chunks few enough
            for _, version in prompt_schedule(text, params.steps):
                prompt_chunks(tok, version, name)
        except PromptSyntaxError as e:
            raise InvalidRequest(name, str(e)) from None
    return model_dir, width, height


def cross_attention_dim(model_dir: Path) -> int:
    config = json.loads((model_dir / "unet" / "config.json").read_text())
    return int(config.get("cross_attention_dim", 768))


def lora_request(
    params: GenerateParams, models_dir: Path, model_dir: Path
) -> tuple[str, list[loras.LoraFile], list[float]]:
    """The prompt without its <lora:...> tags, and the LoRAs of the request (its field's and
    its tags'), checked against the model: (prompt, files, weights)."""
    prompt, tags = loras.extract(params.prompt)
    refs = loras.merged(params.loras, tags)
    if not refs:
        return prompt, [], []
    files = loras.check(models_dir, refs, model_dir.name, cross_attention_dim(model_dir))
    return prompt, files, [r.weight for r in refs]


def upscaled_size(size: tuple[int, int], up: SdUpscale) -> tuple[int, int]:
    if up.upscaler == "None":
        return size
    return round(size[0] * up.scale), round(size[1] * up.scale)


def check_inputs(params: GenerateParams, data_dir: Path, width: int = 0, height: int = 0) -> None:
    """The uploaded images a request names are stored, and its mask is the image's size."""
    if params.init_image is None:
        return
    if int(params.strength * params.steps) < 1:
        raise InvalidRequest(
            "strength",
            f"strength {params.strength} of {params.steps} steps runs no step "
            "(int(strength x steps) = 0): raise strength or steps",
        )
    size = inputs.image_size(data_dir, params.init_image, "init_image")
    if params.sd_upscale is not None:
        up = params.sd_upscale
        w, h = upscaled_size(size, up)
        tile_w, tile_h = params.width or width, params.height or height
        if w * h > inputs.MAX_INPUT_PIXELS:
            raise InvalidRequest("sd_upscale", f"{w}x{h} is over the pixel limit: lower scale")
        if w < tile_w or h < tile_h or up.overlap >= min(tile_w, tile_h):
            raise InvalidRequest(
                "sd_upscale",
                f"the upscaled {w}x{h} must hold a {tile_w}x{tile_h} tile, and the overlap "
                f"({up.overlap}) must be smaller than the tile",
            )
    if params.mask is not None:
        mask_size = inputs.image_size(data_dir, params.mask, "mask")
        if mask_size != size:
            raise InvalidRequest(
                "mask",
                f"the mask is {mask_size[0]}x{mask_size[1]}, the init image "
                f"{size[0]}x{size[1]}: they must be the same size",
            )


def _resolved(
    params: GenerateParams, models_dir: Path, data_dir: Path
) -> tuple[GenerateParams, Path]:
    """The checks, and what the request left open filled in: the model's guidance scale and
    size, and a random seed drawn now (so the gallery and the infotext record the seed used).
    Returns the params and the model's directory."""
    model_dir, width, height = check_generate_params(params, models_dir)
    check_inputs(params, data_dir, width, height)
    params = with_model_defaults(params, model_dir)
    seed = params.seed if params.seed >= 0 else secrets.randbelow(2**32)
    update: dict[str, Any] = {"seed": seed, "width": width, "height": height}
    if params.subseed_strength > 0 and params.subseed < 0:
        update["subseed"] = secrets.randbelow(2**32)
    return params.model_copy(update=update), model_dir


def _image_input(params: GenerateParams, data_dir: Path) -> ImageInput | None:
    """The init image and mask of an img2img or inpainting request, opened."""
    if params.init_image is None:
        return None
    mask = None
    if params.mask is not None:
        mask = inputs.open_input(data_dir, params.mask, "mask", mode="L")
    return ImageInput(
        image=inputs.open_input(data_dir, params.init_image, "init_image"),
        strength=params.strength, resize_mode=params.resize_mode, mask=mask,
        mask_blur=params.mask_blur, mask_invert=params.mask_invert,
        inpainting_fill=params.inpainting_fill, full_res=params.inpaint_full_res,
        full_res_padding=params.inpaint_full_res_padding,
    )  # fmt: skip


_FILL_NAMES = {"fill": "fill", "original": "original", "latent_noise": "latent noise",
               "latent_nothing": "latent nothing"}  # fmt: skip


def image_infotext(params: GenerateParams) -> dict[str, Any]:
    """The infotext keys A1111 writes for img2img and inpainting."""
    fields: dict[str, Any] = {"Denoising strength": params.strength}
    if params.mask is not None:
        fields["Mask blur"] = params.mask_blur
        fields["Inpaint area"] = "Only masked" if params.inpaint_full_res else None
        fields["Masked area padding"] = (
            params.inpaint_full_res_padding if params.inpaint_full_res else None
        )
        fields["Mask mode"] = "Inpaint not masked" if params.mask_invert else None
        fields["Masked content"] = _FILL_NAMES[params.inpainting_fill]
    return fields


def prepare(params: GenerateParams, ctx: SubmitContext) -> GenerateParams:
    """Submit-time checks and defaults (see _resolved); the worker's run repeats them."""
    return _resolved(params, ctx.models_dir, ctx.data_dir)[0]


@functools.cache
def _version() -> str:
    try:
        return f"difflab {metadata.version('difflab')}"
    except metadata.PackageNotFoundError:
        return "difflab"


class _StepWriter:
    """Turns each watched step into preview artifacts, attention maps and a denoise event."""

    def __init__(
        self, sink: Sink, params: GenerateParams,
        to_rgb: Callable[[torch.Tensor], torch.Tensor] | None,
    ) -> None:  # fmt: skip
        self.sink, self.params, self.to_rgb = sink, params, to_rgb
        self.grid: list[int] = []  # (h, w) of the attention maps: the latent grid
        self.tokens: list[str] = []
        self.positions: list[int] = []  # each token's place in the conditioning
        self.phase: str | None = None  # "hires" during hires fix's second pass
        self.skipped: int | None = None  # img2img: steps of the schedule not run
        self.prompt_at: Callable[[int], str] | None = None  # a scheduled prompt's text by step
        self.shown_prompt: str | None = None
        self.attention_steps: list[int] = []

    def __call__(self, s: StepOutput) -> None:
        if self.to_rgb is not None:
            names: dict[str, str] = {}
            for key, array in self._previews(s).items():
                names[key] = self.sink.artifact(  # encoded by the sink (off this thread)
                    f"steps/{key}_{s.index:03d}.png", functools.partial(png_bytes, array),
                    kind="image",
                    step=s.index, meta={"view": "image", "series": key, "timestep": s.timestep},
                )  # fmt: skip
            extra: dict[str, Any] = {}
            if self.skipped is not None:
                extra["skipped"] = self.skipped
            if self.phase is not None:
                extra["phase"] = self.phase
            if self.prompt_at is not None and self.prompt_at(s.index) != self.shown_prompt:
                self.shown_prompt = extra["prompt"] = self.prompt_at(s.index)
            self.sink.event(
                "denoise",
                {"step": s.index, "total": s.total, "timestep": s.timestep, **extra, **names},
            )
        final = self.prompt_at is None or self.prompt_at(s.index) == self.prompt_at(10**9)
        if s.attention is not None and final:  # maps of the tokens the last text has
            self.grid = list(s.attention.shape[-2:])
            strip = token_strip(s.attention[0], self.positions)
            if strip is not None:
                self.sink.artifact(
                    f"attention/step_{s.index:03d}.png", functools.partial(png_bytes, strip),
                    kind="image", step=s.index, meta={"view": "image", "series": "attention"},
                )  # fmt: skip
            self.attention_steps.append(s.index)

    def _previews(self, s: StepOutput) -> dict[str, np.ndarray]:
        """uint8 pictures of x_t, x̂0 and ε, a batch side by side in each."""
        assert self.to_rgb is not None
        if s.xt.dtype != torch.float32 and self.params.preview == "approx":  # fp16 on CUDA
            s = dataclasses.replace(s, xt=s.xt.float(), x0=s.x0.float(), eps=s.eps.float())
        if self.params.preview == "approx":  # all three at latent size: one conversion
            both = self.to_rgb(torch.cat([s.xt, s.x0]))
            strip = to_uint8(torch.cat([both, noise_rgb(s.eps)]))  # (h, 3 * B * w, 3)
            w = strip.shape[1] // 3
            return {"xt": strip[:, :w], "x0": strip[:, w : 2 * w], "eps": strip[:, 2 * w :]}
        decoded = to_uint8(self.to_rgb(torch.cat([s.xt, s.x0])))  # (H, 2 * B * W, 3)
        w = decoded.shape[1] // 2
        return {"xt": decoded[:, :w], "x0": decoded[:, w:], "eps": to_uint8(noise_rgb(s.eps))}

    def write_attention_index(self) -> None:
        if not self.params.attention:
            return
        self.sink.artifact(
            "attention/index.json",
            {"tokens": self.tokens, "steps": self.attention_steps,
             "pattern": "attention/step_{step:03d}.png", "grid": self.grid, "layout": "row",
             "pad": STRIP_PAD,
             "aggregation": "mean over heads and cross-attention layers, conditional branch, "
                            "image 0, on the latent grid; each map divided by its maximum"},
            kind="json", meta={"role": "index"},
        )  # fmt: skip


def _text_artifact(sink: Sink, pipe: Any, encoded: EncodedPrompt) -> None:
    """What the text encoder made of the prompt: per chunk its start token, the prompt's tokens
    (with their weights) and its end token, each with the norm of its final hidden state (the
    conditioning the U-Net's cross-attention reads)."""
    tok = pipe.tokenizer
    context = int(tok.model_max_length)
    states = encoded.embeds[0]  # (L, D)
    rows: list[tuple[int, int, float]] = []  # (id, position, weight)
    for k in range(states.shape[0] // context):
        inside = [j for j, p in enumerate(encoded.positions) if p // context == k]
        rows.append((tok.bos_token_id, k * context, 1.0))
        rows += [(encoded.ids[j], encoded.positions[j], encoded.weights[j]) for j in inside]
        rows.append((tok.eos_token_id, k * context + 1 + len(inside), 1.0))
    sink.artifact(
        "text/tokens.json",
        {"tokens": [tok.decode([i]).strip() or "?" for i, _, _ in rows],
         "ids": [i for i, _, _ in rows], "weights": [w for _, _, w in rows],
         "norms": [round(float(states[p].norm()), 4) for _, p, _ in rows],
         "chunks": states.shape[0] // context, "hidden_size": int(states.shape[-1])},
        kind="json", meta={"view": "tokens"},
    )  # fmt: skip


def steps_run(sampler: str, config: Any, schedule: str, steps: int, strength: float = 1.0) -> int:
    """How many U-Net steps a run takes: len(scheduler.timesteps), cut to the last
    int(strength * steps) as diffusers' img2img get_timesteps cuts them."""
    scheduler = make_scheduler(sampler, config, schedule=schedule)
    scheduler.set_timesteps(steps)
    if strength >= 1.0:
        return len(scheduler.timesteps)
    t_start = max(steps - min(int(steps * strength), steps), 0)
    return len(scheduler.timesteps[t_start * scheduler.order :])


def upscale(out: Any, params: GenerateParams, size: tuple[int, int]) -> Any:
    """Hires fix's first pass brought to `size` (width, height): its latents interpolated
    (Latent modes) or its pictures resampled (Lanczos, Nearest, Bicubic)."""
    width, height = size
    if params.hr_upscaler in LATENT_UPSCALE:
        mode, antialias = LATENT_UPSCALE[params.hr_upscaler]
        factor = out.images[0].width // out.latents.shape[-1]  # the VAE's downsampling
        kwargs: dict[str, Any] = {}
        if mode in ("bilinear", "bicubic"):
            kwargs = {"antialias": antialias, "align_corners": False}
        latents = F.interpolate(
            out.latents.float(), size=(height // factor, width // factor), mode=mode, **kwargs
        )
        return latents.to(out.latents.dtype)
    resample = PIXEL_UPSCALE[params.hr_upscaler]
    return [im.resize((width, height), resample) for im in out.images]


TILE_BATCH = 8  # tiles redrawn together by one pipeline call


def _sd_upscale(
    params: GenerateParams, pipe: Any, schedule: str, sink: Sink, writer: _StepWriter,
    watching: bool, grand_total: list[int], offset: list[int],
    progress: Callable[[int, int], None], init: ImageInput,
) -> Any:  # fmt: skip
    """A1111's SD upscale (sd_upscale.py): upscale, redraw the tiles TILE_BATCH at a time
    (tile k with seed + k), blend them back. The live view numbers the passes' steps in turn."""
    assert params.sd_upscale is not None and params.width and params.height
    assert isinstance(init.image, Image.Image)
    up = params.sd_upscale
    img = init.image.convert("RGB")
    if up.upscaler != "None":
        img = img.resize(upscaled_size(img.size, up), PIXEL_UPSCALE[up.upscaler])
    tiles = split(img.width, img.height, params.width, params.height, up.overlap)
    crops = [img.crop(box) for box in tiles.boxes()]
    sink.log(f"SD upscale: {img.width}x{img.height} in {len(crops)} tiles")
    per = steps_run(params.sampler, pipe.scheduler.config, schedule, params.steps, params.strength)
    chunks = [crops[k : k + TILE_BATCH] for k in range(0, len(crops), TILE_BATCH)]
    grand_total.append(per * len(chunks))
    redrawn: list[Image.Image] = []
    every = params.preview_every
    for c, chunk in enumerate(chunks):
        seeds = [params.seed + c * TILE_BATCH + j for j in range(len(chunk))]

        def on_step(s: StepOutput, shift: int = c * per) -> None:
            writer(dataclasses.replace(s, index=s.index + shift, total=per * len(chunks)))

        out = generate_from_image(
            pipe, make_scheduler(params.sampler, pipe.scheduler.config, schedule=schedule,
                                 seeds=seeds),
            ImageInput(image=chunk, strength=params.strength),
            prompt=params.prompt, negative_prompt=params.negative_prompt, steps=params.steps,
            guidance_scale=params.guidance_scale, seeds=seeds, width=params.width,
            height=params.height, eta=params.eta,
            watch=lambda i, total: i % every == 0 or i == total - 1,
            on_step=on_step if watching else None, attention=watching and params.attention,
            check=sink.check, progress=progress, clip_skip=params.clip_skip,
        )  # fmt: skip
        offset[0] += out.steps
        redrawn += out.images
    return dataclasses.replace(out, images=[combine(tiles, redrawn)], seeds=[params.seed],
                               steps=per * len(chunks))  # fmt: skip


def _hires(
    params: GenerateParams, pipe: Any, schedule: str, sink: Sink, writer: _StepWriter,
    watching: bool, offset: list[int], one_run: Callable[..., Any],
    progress: Callable[[int, int], None], seeds: list[int], base: int, grand: int,
) -> Any:  # fmt: skip
    """Hires fix: the first pass at the requested size, then an img2img pass from its upscaled
    latents or pictures at hr_scale times the size; the live view numbers the second pass's
    steps after the first's (phase "hires")."""
    assert params.width is not None and params.height is not None
    config = pipe.scheduler.config
    hr_steps = params.hr_second_pass_steps or params.steps
    second = steps_run(params.sampler, config, schedule, hr_steps, params.hr_strength)

    def renumbered(shift: int) -> Callable[[StepOutput], None]:
        def on_step(s: StepOutput) -> None:
            writer(dataclasses.replace(s, index=s.index + base + shift, total=grand))

        return on_step

    try:
        out = one_run(params.guidance_scale, seeds, watching, on_step=renumbered(0))
        w2, h2 = hires_size(params.width, params.height, params.hr_scale)
        start = upscale(out, params, (w2, h2))
        sink.log(f"hires fix: {params.hr_upscaler} to {w2}x{h2}, strength {params.hr_strength}")
        if second == 0:  # a strength that runs no step: the upscale alone, as in A1111
            if isinstance(start, torch.Tensor):
                with torch.inference_mode():
                    decoded = pipe.vae.decode(
                        start / pipe.vae.config.scaling_factor, return_dict=False
                    )[0]
                start = pipe.image_processor.postprocess(decoded, output_type="pil")
            return dataclasses.replace(out, images=list(start))
        writer.phase = "hires"
        every = params.preview_every
        scheduler = make_scheduler(params.sampler, config, schedule=schedule, seeds=seeds)
        out2 = generate_from_image(
            pipe, scheduler, ImageInput(image=start, strength=params.hr_strength),
            prompt=params.prompt, negative_prompt=params.negative_prompt, steps=hr_steps,
            guidance_scale=params.guidance_scale, seeds=seeds, width=w2, height=h2,
            eta=params.eta, watch=lambda i, total: i % every == 0 or i == total - 1,
            on_step=renumbered(out.steps) if watching else None,
            attention=watching and params.attention, check=sink.check, progress=progress,
            clip_skip=params.clip_skip,
        )  # fmt: skip
        offset[0] += out2.steps
        return dataclasses.replace(out2, steps=out.steps + out2.steps)
    finally:
        writer.phase = None


def run(params: GenerateParams, sink: Sink, ctx: RunContext) -> dict[str, Any]:
    """Generate params.batch_size images (and the guidance sweep) and store every step."""
    params, model_dir = _resolved(params, ctx.models_dir, ctx.data_dir)
    prompt, lora_files, weights = lora_request(params, ctx.models_dir, model_dir)
    pipe = load_pipeline(model_dir, ctx.device)
    if params.vae is not None:  # the model's parts with another VAE, for this run
        pipe = with_vae(pipe, resolve_vae(ctx.models_dir, params.vae, model_dir), ctx.device)
    if lora_files:
        sink.log("LoRAs: " + ", ".join(f"{f.name} x{w:g}" for f, w in zip(lora_files, weights,
                                                                       strict=True)))  # fmt: skip
    with loras.applied(pipe, lora_files, weights):
        return _run(params.model_copy(update={"prompt": prompt}), sink, ctx, model_dir, pipe,
                    params.prompt, lora_files)  # fmt: skip


def _run(
    params: GenerateParams,
    sink: Sink,
    ctx: RunContext,
    model_dir: Path,
    pipe: Any,
    shown_prompt: str,
    lora_files: list[loras.LoraFile],
) -> dict[str, Any]:
    """run's body: `params.prompt` is the text encoded; `shown_prompt` (with its LoRA tags)
    the one the infotext records."""
    assert params.width is not None and params.height is not None
    width, height, seed = params.width, params.height, params.seed
    used = embeddings.ensure(pipe, ctx.models_dir, [params.prompt, params.negative_prompt])
    if used:
        sink.log(f"embeddings: {', '.join(used)}")
    seeds = [seed + i for i in range(params.batch_size)]
    schedule = effective_schedule(params.sampler, params.scheduler)
    sink.log(f"model {params.model}, sampler {params.sampler} ({schedule}), seed {seed}")

    to_rgb: Callable[[torch.Tensor], torch.Tensor] | None = None
    if params.preview == "approx":
        cache = ctx.data_dir / "cache"  # never the model's own directory
        to_rgb = latent_rgb_for_model(model_dir, pipe.vae, cache).apply
    elif params.preview == "full":
        to_rgb = functools.partial(decode_full, pipe.vae)
    writer = _StepWriter(sink, params, to_rgb)
    watching = to_rgb is not None or params.attention
    every = params.preview_every

    init = _image_input(params, ctx.data_dir)
    scales = list(params.guidance_sweep or [])
    runs = 1 + len(scales)
    offset = [0]  # U-Net evaluations done by earlier runs (progress across the sweep)

    grand_total: list[int] = []  # hires fix: the steps of both passes, known beforehand

    def progress(done: int, total: int) -> None:
        if grand_total:
            sink.progress(offset[0] + done, grand_total[0])
        else:
            sink.progress(offset[0] + done, total * runs)

    def one_run(
        guidance: float,
        run_seeds: list[int],
        observe: bool,
        on_step: Callable[[StepOutput], None] | None = None,
    ) -> Any:
        scheduler = make_scheduler(
            params.sampler, pipe.scheduler.config, schedule=schedule, seeds=run_seeds
        )
        start = generate if init is None else functools.partial(generate_from_image, init=init)
        variation: dict[str, Any] = {}
        if params.subseed_strength > 0:
            variation = {"subseeds": [params.subseed + k for k in range(len(run_seeds))],
                         "subseed_strength": params.subseed_strength}  # fmt: skip
        out = start(
            pipe,
            scheduler,
            prompt=params.prompt, negative_prompt=params.negative_prompt, steps=params.steps,
            guidance_scale=guidance, seeds=run_seeds, width=width, height=height, eta=params.eta,
            watch=lambda i, total: i % every == 0 or i == total - 1,
            on_step=(on_step or writer) if observe else None,
            attention=observe and params.attention, check=sink.check, progress=progress,
            clip_skip=params.clip_skip, **variation,
        )  # fmt: skip
        offset[0] += out.steps
        return out

    def infotext(i: int, s: int, guidance: float, batch: int) -> str:
        fields = generation_params(
            steps=params.steps, sampler=params.sampler, schedule=schedule,
            cfg_scale=guidance, seed=s, width=width, height=height, model=params.model,
            eta=params.eta if takes_eta(params.sampler) else None,
            batch_size=batch, batch_pos=i, version=_version(),
        )  # fmt: skip
        if params.clip_skip > 1:
            fields["Clip skip"] = params.clip_skip
        if params.tiling:
            fields["Tiling"] = True
        if params.vae is not None:
            fields["VAE"] = params.vae
        if params.subseed_strength > 0:
            at = list(fields).index("Seed") + 1
            items = list(fields.items())
            variation = [("Variation seed", params.subseed + i),
                         ("Variation seed strength", params.subseed_strength)]  # fmt: skip
            fields = dict(items[:at] + variation + items[at:])
        if params.enable_hr:  # A1111's hires keys, after Model
            hr: dict[str, Any] = {
                "Denoising strength": params.hr_strength, "Hires upscale": params.hr_scale,
                "Hires steps": params.hr_second_pass_steps or None,
                "Hires upscaler": params.hr_upscaler,
            }  # fmt: skip
            at = list(fields).index("Model") + 1
            items = list(fields.items())
            fields = dict(items[:at] + list(hr.items()) + items[at:])
        if init is not None:  # A1111's img2img keys, after Model
            at = list(fields).index("Model") + 1
            items = list(fields.items())
            fields = dict(items[:at] + list(image_infotext(params).items()) + items[at:])
        if params.sd_upscale is not None:
            fields["SD upscale overlap"] = params.sd_upscale.overlap
            fields["SD upscale upscaler"] = params.sd_upscale.upscaler
        if lora_files:
            fields["Lora hashes"] = loras.infotext_hashes(lora_files)
        return format_infotext(shown_prompt, params.negative_prompt, fields)

    def meta(s: int, guidance: float) -> dict[str, Any]:
        return {**params.model_dump(), "prompt": shown_prompt, "seed": s,
                "guidance_scale": guidance, "width": width, "height": height,
                "scheduler": schedule}  # fmt: skip

    # the steps one pass runs (the last int(strength * steps) with an init image)
    first = steps_run(params.sampler, pipe.scheduler.config, schedule, params.steps,
                      params.strength if init is not None else 1.0)  # fmt: skip
    # prompt editing and alternation: the attention maps and tokens.json follow the text in
    # effect at the last step, and each denoise event says when the text changed
    entries = prompt_schedule(params.prompt, first)
    encoded = encode_weighted(pipe, entries[-1][1], clip_skip=params.clip_skip)
    writer.tokens, writer.positions = encoded.tokens, encoded.positions
    if len(entries) > 1:
        writer.prompt_at = lambda step: entries[active_entry(entries, step)][1]
    _text_artifact(sink, pipe, encoded)
    # steps of one batch, and of all n_iter batches, numbered in turn in the live view
    per = first
    if params.enable_hr:
        hr_steps = params.hr_second_pass_steps or params.steps
        per += steps_run(params.sampler, pipe.scheduler.config, schedule, hr_steps,
                         params.hr_strength)  # fmt: skip
    grand = per * params.n_iter
    if init is not None:
        writer.skipped = params.steps - first
    if params.enable_hr or params.n_iter > 1:
        grand_total.append(grand)

    def shifted(base: int) -> Callable[[StepOutput], None] | None:
        if params.n_iter == 1:
            return None
        return lambda s: writer(dataclasses.replace(s, index=s.index + base, total=grand))

    images: list[Any] = []
    try:
        with tiled(pipe, params.tiling):
            for it in range(params.n_iter):
                batch = [seed + it * params.batch_size + i for i in range(params.batch_size)]
                if params.enable_hr:
                    out = _hires(params, pipe, schedule, sink, writer, watching, offset,
                                 one_run, progress, batch, it * per, grand)  # fmt: skip
                elif params.sd_upscale is not None and init is not None:
                    out = _sd_upscale(params, pipe, schedule, sink, writer, watching,
                                      grand_total, offset, progress, init)  # fmt: skip
                else:
                    out = one_run(params.guidance_scale, batch, watching, shifted(it * per))
                images += out.images
    finally:  # a cancelled run keeps its attention maps findable
        writer.write_attention_index()
    seeds = [seed + i for i in range(params.batch_size * params.n_iter)]

    if params.enable_hr:
        w2, h2 = hires_size(width, height, params.hr_scale)
    names, texts = [], []
    for i, (image, s) in enumerate(zip(images, seeds, strict=True)):
        text = infotext(i % params.batch_size, s, params.guidance_scale, params.batch_size)
        names.append(
            sink.artifact(
                f"final/image_{i}.png",
                png_with_parameters(image, text, meta(s, params.guidance_scale)),
                kind="image",
                meta={"view": "image", "seed": s, "infotext": text},
            )  # fmt: skip
        )
        texts.append(text)

    sweep_names = []
    for k, scale in enumerate(scales):
        with tiled(pipe, params.tiling):
            sweep = one_run(scale, [seed], False)
        sweep_names.append(
            sink.artifact(
                f"sweep/scale_{k:02d}.png",
                png_with_parameters(
                    sweep.images[0], infotext(0, seed, scale, 1), meta(seed, scale)
                ),
                kind="image",
                meta={"view": "image", "guidance_scale": scale, "seed": seed},
            )  # fmt: skip
        )
    if scales:
        sink.artifact(
            "sweep/index.json", {"scales": scales, "images": sweep_names, "seed": seed},
            kind="json", meta={"role": "index"},
        )  # fmt: skip

    return {
        "images": names, "seed": seed, "seeds": seeds, "infotexts": texts,
        "model": params.model, "sampler": params.sampler, "scheduler": schedule,
        "width": width, "height": height, "steps": out.steps, "sweep": sweep_names,
        **({"strength": params.strength} if init is not None else {}),
        **({"hires": {"width": w2, "height": h2, "upscaler": params.hr_upscaler}}
           if params.enable_hr else {}),
        **({"subseed": params.subseed,
            "subseeds": [params.subseed + i for i in range(params.batch_size)]}
           if params.subseed_strength > 0 else {}),
    }  # fmt: skip


SPEC = KindSpec(
    name="generate",
    params=GenerateParams,
    run=run,
    queue="gpu",
    admin_only=False,
    title="Generate images",
    description="Text-to-image with a diffusers model: every denoising step previewed, "
    "per-token attention maps, predicted noise and an optional guidance sweep.",
    category="generation",
    time_limit_s=1800,
    prepare=prepare,
)

__all__ = [
    "SPEC",
    "GenerateParams",
    "InvalidRequest",
    "check_generate_params",
    "prepare",
    "run",
    "with_model_defaults",
]

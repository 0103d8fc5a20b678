"""img2img and inpainting: diffusers' own pipelines, with every step observable.

The sampling is StableDiffusionImg2ImgPipeline's and StableDiffusionInpaintPipeline's, built
from the loaded text-to-image pipeline's parts (no weights loaded twice). What this module adds
is what the live view needs and A1111 users expect:

- Observation. A forward hook on the U-Net keeps the input and output of its last call, and the
  pipelines' `callback_on_step_end` turns them into the same StepOutput the text-to-image loop
  gives (x_t, x̂0, ε after guidance, and the cross-attention maps), so previews, the replay and
  the attention view work unchanged. The hook records only for the generation that installed
  it in the current context (a ContextVar), and never changes a tensor.
- Strength. The pipelines run the last int(strength·steps) steps of the schedule, starting from
  the init image's latent noised to the first of them (q(x_t | x_0)); `StepOutput.index` counts
  the steps that run.
- Inpainting as A1111 does it: the mask is inverted and blurred if asked, "fill" paints the
  masked area with the surrounding colours first, "latent noise"/"latent nothing" replace the
  masked part of the init latent by noise or zeros, "only masked" crops the masked region with
  padding and scales it to the output size; after decoding, the picture is pasted back through
  the blurred mask (diffusers' apply_overlay), so pixels outside the mask are the init image's.
  A 4-channel U-Net (the house model, ordinary SD-1.x) inpaints by latent blending, a 9-channel
  inpainting U-Net with its mask and masked-image inputs: the pipeline picks by in_channels.
- Guidance. diffusers runs classifier-free guidance only for a scale above 1; the
  text-to-image loop uses the formula for every scale but 1 (0 is the unconditional model), so
  these pipelines do too. For scales of 1 and above the result is diffusers' to the pixel.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from diffusers import StableDiffusionImg2ImgPipeline, StableDiffusionInpaintPipeline
from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion_img2img import (
    retrieve_latents,
)
from diffusers.utils.torch_utils import randn_tensor
from PIL import Image, ImageFilter, ImageOps

from difflab.diffusion.attention import AttentionRecorder, recording
from difflab.diffusion.pipeline import (
    GenerationOutput,
    Pipeline,
    StepOutput,
    alpha_bar,
    log_sigmas,
    split_prediction,
)
from difflab.diffusion.prompts import encode_scheduled
from difflab.diffusion.schedulers import Scheduler

ResizeMode = Literal["just_resize", "crop_and_resize", "resize_and_fill"]
InpaintingFill = Literal["fill", "original", "latent_noise", "latent_nothing"]
# A1111's resize modes under diffusers' names (VaeImageProcessor.resize)
_DIFFUSERS_RESIZE = {"just_resize": "default", "crop_and_resize": "crop", "resize_and_fill": "fill"}


def _cfg_unless_one(self: Any) -> bool:
    return bool(self._guidance_scale != 1 and self.unet.config.time_cond_proj_dim is None)


class Img2ImgPipeline(StableDiffusionImg2ImgPipeline):  # type: ignore[misc]
    """diffusers' img2img pipeline, guiding at every scale but 1 (see the module text)."""

    do_classifier_free_guidance = property(_cfg_unless_one)


class InpaintPipeline(StableDiffusionInpaintPipeline):  # type: ignore[misc]
    """diffusers' inpainting pipeline, guiding at every scale but 1 (see the module text)."""

    do_classifier_free_guidance = property(_cfg_unless_one)


def _parts(pipe: Pipeline, scheduler: Scheduler) -> dict[str, Any]:
    return {
        "vae": pipe.vae, "text_encoder": pipe.text_encoder, "tokenizer": pipe.tokenizer,
        "unet": pipe.unet, "scheduler": scheduler, "safety_checker": None,
        "feature_extractor": None, "requires_safety_checker": False,
    }  # fmt: skip


def img2img_pipeline(pipe: Pipeline, scheduler: Scheduler) -> Img2ImgPipeline:
    p = Img2ImgPipeline(**_parts(pipe, scheduler))
    p.set_progress_bar_config(disable=True)
    return p


def inpaint_pipeline(pipe: Pipeline, scheduler: Scheduler) -> InpaintPipeline:
    p = InpaintPipeline(**_parts(pipe, scheduler))
    p.set_progress_bar_config(disable=True)
    return p


# --- images in ---------------------------------------------------------------------------


def resize(
    pipe: Pipeline, image: Image.Image, width: int, height: int, mode: ResizeMode
) -> Image.Image:
    """A1111's resize modes (just resize, crop and resize, resize and fill), by diffusers'."""
    if image.size == (width, height):
        return image
    out: Image.Image = pipe.image_processor.resize(
        image, height, width, resize_mode=_DIFFUSERS_RESIZE[mode]
    )
    return out


def fill_masked(image: Image.Image, mask: Image.Image) -> Image.Image:
    """A1111's "fill": the masked area painted with the colours around it, by compositing
    ever sharper blurs of the unmasked picture (premultiplied alpha, so the hole's black never
    bleeds in)."""
    keep = Image.new("RGBa", image.size)
    keep.paste(image.convert("RGBA").convert("RGBa"), mask=ImageOps.invert(mask.convert("L")))
    out = Image.new("RGBA", image.size)
    for radius, repeats in ((256, 1), (64, 1), (16, 2), (4, 4), (2, 2), (0, 1)):
        blurred = keep.filter(ImageFilter.GaussianBlur(radius)).convert("RGBA")
        for _ in range(repeats):
            out.alpha_composite(blurred)
    return out.convert("RGB")


@dataclass(frozen=True)
class ImageInput:
    """The init image and, for inpainting, its mask and A1111's inpainting options."""

    # RGB, any size; or one per batch item (a list of pictures, or (B, C, h, w) latents, as
    # hires fix's second pass starts from), already at the output size
    image: Image.Image | list[Image.Image] | torch.Tensor
    strength: float = 0.75
    resize_mode: ResizeMode = "just_resize"
    mask: Image.Image | None = None  # L, the image's size; white = repaint
    mask_blur: int = 4
    mask_invert: bool = False
    inpainting_fill: InpaintingFill = "original"
    full_res: bool = False  # A1111's "inpaint only masked"
    full_res_padding: int = 32


# --- observation -------------------------------------------------------------------------

_CALLS: ContextVar[_UnetCalls | None] = ContextVar("difflab_unet_calls", default=None)
_hook_lock = threading.Lock()
_hooked: weakref.WeakSet[torch.nn.Module] = weakref.WeakSet()


class _UnetCalls:
    """The input and output of the last U-Net call of the generation that owns it."""

    sample: torch.Tensor | None = None
    output: torch.Tensor | None = None


def _record(
    module: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any
) -> None:
    calls = _CALLS.get()
    if calls is None:
        return
    calls.sample = args[0] if args else kwargs["sample"]
    calls.output = out[0] if isinstance(out, tuple) else out.sample


@contextlib.contextmanager
def _observing(unet: torch.nn.Module) -> Iterator[_UnetCalls]:
    with _hook_lock:
        if unet not in _hooked:
            unet.register_forward_hook(_record, with_kwargs=True)
            _hooked.add(unet)
    calls = _UnetCalls()
    token = _CALLS.set(calls)
    try:
        yield calls
    finally:
        _CALLS.reset(token)


def generate_from_image(
    pipe: Pipeline,
    scheduler: Scheduler,
    init: ImageInput,
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
) -> GenerationOutput:
    """pipeline.generate's contract, starting from `init` (img2img, or inpainting with a
    mask). The output's `steps` is the number of steps run: int(strength·steps)."""
    batch = len(seeds)
    # the steps the pipeline will run (diffusers' get_timesteps), for the prompt's schedule
    scheduler.set_timesteps(steps)
    t_start = max(steps - min(int(steps * init.strength), steps), 0)
    run_steps = len(scheduler.timesteps[t_start * scheduler.order :])
    conditioning = encode_scheduled(pipe, prompt, negative_prompt, run_steps, clip_skip)
    tokens = conditioning.cond[-1].tokens
    cond, uncond = conditioning.cond[0].embeds, conditioning.uncond[0].embeds
    entry = [0]  # the conditioning entry in use (prompt editing switches it between steps)
    generators = [torch.Generator("cpu").manual_seed(int(s)) for s in seeds]
    kwargs: dict[str, Any] = {}
    overlay: Callable[[Image.Image], Image.Image] | None = None
    per_item = not isinstance(init.image, Image.Image)  # one init per batch item
    runner: Any
    if not isinstance(init.image, Image.Image):
        if init.mask is not None:
            raise ValueError("a mask needs a single init image")
        runner = img2img_pipeline(pipe, scheduler)
        kwargs["image"] = init.image
        cond, uncond = cond.repeat(batch, 1, 1), uncond.repeat(batch, 1, 1)
    elif init.mask is None:
        runner = img2img_pipeline(pipe, scheduler)
        kwargs["image"] = resize(pipe, init.image.convert("RGB"), width, height, init.resize_mode)
    else:
        image = resize(pipe, init.image.convert("RGB"), width, height, init.resize_mode)
        runner = inpaint_pipeline(pipe, scheduler)
        kwargs, overlay = _inpaint_inputs(runner, image, init, width, height, generators)
    cfg = guidance_scale != 1.0

    factor = 2 ** (len(pipe.vae.config.block_out_channels) - 1)
    recorder = AttentionRecorder(
        (height // factor, width // factor), slice(batch, 2 * batch) if cfg else slice(0, batch)
    )
    prediction_type = str(scheduler.config.get("prediction_type", "epsilon"))
    logs = log_sigmas(scheduler.alphas_cumprod)
    latent_channels = int(pipe.vae.config.latent_channels)
    done = 0

    def watched(i: int, total: int) -> bool:
        return on_step is not None and (watch is None or watch(i, total))

    def after_step(p: Any, i: int, t: Any, tensors: dict[str, Any]) -> dict[str, Any]:
        nonlocal done
        total = int(p.num_timesteps)
        if watched(i, total) and on_step is not None:
            assert calls.sample is not None and calls.output is not None
            out = calls.output
            if cfg:  # ε̃ = ε(∅) + w (ε(c) - ε(∅)), as the pipeline combined them
                out_uncond, out_cond = out.chunk(2)
                out = out_uncond + guidance_scale * (out_cond - out_uncond)
            xt = calls.sample[:batch, :latent_channels]  # a 9-channel U-Net also gets the mask
            ab = alpha_bar(scheduler.alphas_cumprod, float(t), logs)
            x0, eps = split_prediction(out, xt, ab, prediction_type)
            maps = recorder.end_step() if attention else None
            on_step(StepOutput(i, total, float(t), xt, x0, eps, maps))
        done = i + 1
        if progress is not None:
            progress(done, total)
        if done < total:
            if check is not None:
                check()
            if attention and watched(done, total):
                recorder.begin_step()
            k = conditioning.at(done)
            if k != entry[0]:  # the prompt changes at the next step
                entry[0] = k
                return {"prompt_embeds": conditioning.context(k, batch, cfg)}
        return {}

    if check is not None:
        check()
    if attention and on_step is not None:
        recorder.begin_step()  # step 0 is always watched
    tap = recording(pipe.unet, recorder) if attention else contextlib.nullcontext()
    # inference mode, as the text-to-image loop runs (pipeline.generate): the pipelines' own
    # no_grad still keeps autograd's version counters and view tracking, work inference mode
    # skips; the pixels are the same
    with torch.inference_mode(), _observing(pipe.unet) as calls, tap:
        result = runner(
            prompt_embeds=cond, negative_prompt_embeds=uncond if cfg else None,
            num_images_per_prompt=1 if per_item else batch, num_inference_steps=steps,
            strength=init.strength,
            guidance_scale=guidance_scale, eta=eta, generator=generators, output_type="pil",
            callback_on_step_end=after_step, **kwargs,
        )  # fmt: skip
    images = list(result.images)
    if overlay is not None:
        images = [overlay(im) for im in images]
    # the final latents are not returned by the pipelines: callers use the images
    return GenerationOutput(images, torch.empty(0), [int(s) for s in seeds], tokens, done)


def _inpaint_inputs(
    runner: InpaintPipeline,
    image: Image.Image,
    init: ImageInput,
    width: int,
    height: int,
    generators: list[torch.Generator],
) -> tuple[dict[str, Any], Callable[[Image.Image], Image.Image]]:
    """The inpainting pipeline's arguments and the paste-back of the result."""
    assert init.mask is not None
    mask = resize(runner, init.mask.convert("L"), width, height, init.resize_mode)
    if init.mask_invert:
        mask = ImageOps.invert(mask)
    if init.mask_blur:
        mask = runner.mask_processor.blur(mask, blur_factor=init.mask_blur)
    original = image
    crop: tuple[int, int, int, int] | None = None
    if init.full_res:  # as diffusers' padding_mask_crop: crop, scale up ("fill"), paste back
        crop = runner.mask_processor.get_crop_region(mask, width, height, pad=init.full_res_padding)
        image = runner.image_processor.resize(image.crop(crop), height, width, resize_mode="fill")
        work_mask = runner.mask_processor.resize(mask.crop(crop), height, width, resize_mode="fill")
    else:
        work_mask = mask
    if init.inpainting_fill == "fill":
        image = fill_masked(image, work_mask)
    kwargs: dict[str, Any] = {"image": image, "mask_image": work_mask, "width": width,
                              "height": height}  # fmt: skip
    if init.inpainting_fill in ("latent_noise", "latent_nothing"):
        kwargs.update(_latent_fill(runner, image, work_mask, init.inpainting_fill, generators))

    def overlay(result: Image.Image) -> Image.Image:
        out: Image.Image = runner.image_processor.apply_overlay(mask, original, result, crop)
        return out

    return kwargs, overlay


def _latent_fill(
    runner: InpaintPipeline,
    image: Image.Image,
    mask: Image.Image,
    fill: InpaintingFill,
    generators: list[torch.Generator],
) -> dict[str, Any]:
    """A1111's "latent noise" and "latent nothing": the init latent with its masked part
    replaced by N(0, I) noise or by zeros, given to the pipeline as the image's latent."""
    vae = runner.vae
    pixels = runner.image_processor.preprocess(image).to(vae.device, vae.dtype)
    binary = runner.mask_processor.preprocess(mask).to(vae.device, vae.dtype)  # 1 = repaint
    with torch.no_grad():
        latent = retrieve_latents(vae.encode(pixels), generator=generators[0])
        latent = latent * vae.config.scaling_factor
        masked = retrieve_latents(vae.encode(pixels * (binary < 0.5)), generator=generators[0])
        masked = masked * vae.config.scaling_factor
    m = F.interpolate(binary, size=latent.shape[-2:])
    if fill == "latent_noise":
        noise = randn_tensor(latent.shape, generator=generators[0], device=latent.device,
                             dtype=latent.dtype)  # fmt: skip
        latent = latent * (1 - m) + noise * m
    else:
        latent = latent * (1 - m)
    return {"image": latent, "masked_image_latents": masked}


__all__ = [
    "ImageInput",
    "Img2ImgPipeline",
    "InpaintPipeline",
    "fill_masked",
    "generate_from_image",
    "img2img_pipeline",
    "inpaint_pipeline",
    "resize",
]

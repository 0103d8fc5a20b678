"""img2img and inpainting: diffusers' own results to the pixel, plus the live view."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from diffusers import StableDiffusionImg2ImgPipeline, StableDiffusionInpaintPipeline
from PIL import Image, ImageDraw
from pydantic import ValidationError

from difflab.diffusion import inputs
from difflab.diffusion.generate import GenerateParams, InvalidRequest, prepare, run
from difflab.diffusion.img2img import ImageInput, fill_masked, generate_from_image
from difflab.diffusion.infotext import parse_infotext
from difflab.diffusion.schedulers import make_scheduler
from difflab.runtime import MemorySink, RunContext, SubmitContext

PROMPT = "a red circle"


def _init() -> Image.Image:
    img = Image.new("RGB", (48, 40), (200, 40, 30))
    ImageDraw.Draw(img).ellipse((10, 6, 34, 30), fill=(20, 30, 220))
    return img


def _mask(size: tuple[int, int] = (48, 40)) -> Image.Image:
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).rectangle((0, 0, size[0] // 2 - 1, size[1] - 1), fill=255)
    return mask


def _px(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("RGB")).astype(np.int16)


def _bare(cls: Any, tiny_dir: Path, sampler: str, seeds: list[int]) -> tuple[Any, list[Any]]:
    pipe = cls.from_pretrained(tiny_dir, safety_checker=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    pipe.scheduler = make_scheduler(sampler, pipe.scheduler.config, seeds=seeds)
    return pipe, [torch.Generator("cpu").manual_seed(s) for s in seeds]


@pytest.mark.parametrize("sampler", ["Euler a", "DDIM", "DPM++ 2M"])
def test_img2img_is_diffusers_to_the_pixel(tiny_pipe: Any, tiny_dir: Path, sampler: str) -> None:
    seeds = [5, 6]
    init = _init().resize((32, 32))
    ours = generate_from_image(
        tiny_pipe, make_scheduler(sampler, tiny_pipe.scheduler.config, seeds=seeds),
        ImageInput(init, strength=0.6), prompt=PROMPT, negative_prompt="blurry", steps=10,
        guidance_scale=5.0, seeds=seeds, width=32, height=32,
    )  # fmt: skip
    bare, gens = _bare(StableDiffusionImg2ImgPipeline, tiny_dir, sampler, seeds)
    ref = bare(
        prompt=PROMPT, negative_prompt="blurry", image=init, strength=0.6,
        num_inference_steps=10, guidance_scale=5.0, num_images_per_prompt=2, generator=gens,
    ).images  # fmt: skip
    assert ours.steps == 6  # int(0.6 * 10)
    for a, b in zip(ours.images, ref, strict=True):
        assert np.array_equal(_px(a), _px(b))


@pytest.mark.parametrize("full_res", [False, True])
def test_inpainting_is_diffusers_with_its_overlay(
    tiny_pipe: Any, tiny_dir: Path, full_res: bool
) -> None:
    seeds = [3]
    init, mask = _init().resize((32, 32)), _mask((32, 32))
    ours = generate_from_image(
        tiny_pipe, make_scheduler("Euler a", tiny_pipe.scheduler.config, seeds=seeds),
        ImageInput(init, strength=0.8, mask=mask, mask_blur=2, full_res=full_res,
                   full_res_padding=4),
        prompt=PROMPT, steps=5, guidance_scale=6.0, seeds=seeds, width=32, height=32,
    )  # fmt: skip
    bare, gens = _bare(StableDiffusionInpaintPipeline, tiny_dir, "Euler a", seeds)
    blurred = bare.mask_processor.blur(mask, blur_factor=2)
    out = bare(
        prompt=PROMPT, image=init, mask_image=blurred, strength=0.8, num_inference_steps=5,
        guidance_scale=6.0, generator=gens, height=32, width=32,
        padding_mask_crop=4 if full_res else None,
    ).images[0]  # fmt: skip
    if not full_res:  # with padding_mask_crop diffusers pastes back itself
        out = bare.image_processor.apply_overlay(blurred, init, out)
    assert ours.steps == 4
    assert np.array_equal(_px(ours.images[0]), _px(out))


@pytest.mark.parametrize("fill", ["original", "fill", "latent_noise", "latent_nothing"])
def test_pixels_outside_the_mask_are_the_init_image(tiny_pipe: Any, fill: str) -> None:
    init, mask = _init().resize((32, 32)), _mask((32, 32))  # left half repainted
    out = generate_from_image(
        tiny_pipe, make_scheduler("DDIM", tiny_pipe.scheduler.config),
        ImageInput(init, strength=1.0, mask=mask, mask_blur=0, inpainting_fill=fill),  # type: ignore[arg-type]
        prompt=PROMPT, steps=4, seeds=[1], width=32, height=32,
    ).images[0]  # fmt: skip
    repainted, kept = _px(out)[:, :16], _px(out)[:, 16:]
    assert np.array_equal(kept, _px(init)[:, 16:])
    assert np.abs(repainted - _px(init)[:, :16]).mean() > 5  # the masked half was redrawn


def test_without_the_overlay_the_vae_round_trip_bounds_the_kept_region(tiny_pipe: Any) -> None:
    """What latent blending alone keeps: the unmasked region after the VAE's round trip. The
    overlay then makes it exact; this measures the error it removes."""
    init, mask = _init().resize((32, 32)), _mask((32, 32))
    vae, proc = tiny_pipe.vae, tiny_pipe.image_processor
    with torch.no_grad():
        x = proc.preprocess(init)
        round_trip = proc.postprocess(vae.decode(vae.encode(x).latent_dist.mode())[0])[0]
    vae_error = np.abs(_px(round_trip) - _px(init))[:, 20:].max()
    bare = StableDiffusionInpaintPipeline(**{**tiny_pipe.components, "safety_checker": None,
                                             "feature_extractor": None,
                                             "requires_safety_checker": False})  # fmt: skip
    bare.scheduler = make_scheduler("DDIM", tiny_pipe.scheduler.config)
    bare.set_progress_bar_config(disable=True)
    raw = bare(
        prompt=PROMPT, image=init, mask_image=mask, strength=1.0, num_inference_steps=4,
        generator=torch.Generator().manual_seed(1), height=32, width=32,
    ).images[0]  # fmt: skip
    blend_error = np.abs(_px(raw) - _px(init))[:, 20:].max()  # away from the mask's edge
    assert blend_error <= vae_error + 8, (blend_error, vae_error)


def test_fill_paints_the_hole_with_the_colours_around_it() -> None:
    img = Image.new("RGB", (32, 32), (10, 200, 10))
    ImageDraw.Draw(img).rectangle((8, 8, 23, 23), fill=(255, 0, 255))
    mask = Image.new("L", (32, 32), 0)
    ImageDraw.Draw(mask).rectangle((8, 8, 23, 23), fill=255)
    out = _px(fill_masked(img, mask))
    assert np.abs(out[16, 16] - np.array([10, 200, 10])).max() <= 8  # green, not magenta
    assert np.array_equal(out[:4], _px(img)[:4])


# --- the generate kind ---------------------------------------------------------------------


@pytest.fixture
def stored(tmp_path: Path) -> dict[str, str]:
    data = tmp_path / "var"
    return {
        "data": str(data),
        "init": inputs.store(data, _init()).id,
        "mask": inputs.store(data, _mask()).id,
        "small_mask": inputs.store(data, _mask((16, 16))).id,
    }


def _ctx(models_dir: Path, stored: dict[str, str], tmp_path: Path) -> RunContext:
    return RunContext(job_id="t", models_dir=models_dir, data_dir=Path(stored["data"]),
                      work_dir=tmp_path)  # fmt: skip


def test_the_live_view_covers_the_steps_that_run(
    models_dir: Path, stored: dict[str, str], tmp_path: Path
) -> None:
    params = GenerateParams(
        prompt=PROMPT, model="tiny", steps=10, seed=2, width=32, height=32, sampler="Euler a",
        init_image=stored["init"], strength=0.5, mask=stored["mask"], mask_blur=0,
    )  # fmt: skip
    sink = MemorySink()
    result = run(params, sink, _ctx(models_dir, stored, tmp_path))
    frames = sink.of_type("denoise")
    assert [f["step"] for f in frames] == [0, 1, 2, 3, 4]
    assert all(f["total"] == 5 and f["skipped"] == 5 for f in frames)
    assert result["steps"] == 5 and result["strength"] == 0.5
    assert "attention/step_004.png" in sink.artifacts
    progress = sink.of_type("progress")
    assert progress[-1]["done"] == progress[-1]["total"] == 5
    text = next(a["meta"]["infotext"] for a in sink.of_type("artifact")
                if a["name"] == "final/image_0.png")  # fmt: skip
    fields = parse_infotext(text).params
    assert (fields["Denoising strength"], fields["Mask blur"], fields["Masked content"]) == (
        "0.5", "0", "original",
    )  # fmt: skip


def test_submit_checks_the_images(models_dir: Path, stored: dict[str, str]) -> None:
    ctx = SubmitContext(models_dir=models_dir, data_dir=Path(stored["data"]))
    base = {"prompt": PROMPT, "model": "tiny", "steps": 10}
    cases = [
        ({"init_image": "0" * 64}, "init_image"),
        ({"init_image": stored["init"], "mask": stored["small_mask"]}, "mask"),
        ({"init_image": stored["init"], "strength": 0.05}, "strength"),
    ]
    for extra, field in cases:
        with pytest.raises(InvalidRequest) as e:
            prepare(GenerateParams(**base, **extra), ctx)
        assert e.value.field == field, e.value
    ok = prepare(GenerateParams(**base, init_image=stored["init"], mask=stored["mask"]), ctx)
    assert ok.mask == stored["mask"]


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"strength": 0.5}, "strength"),
        ({"resize_mode": "crop_and_resize"}, "resize_mode"),
        ({"mask": "a" * 64}, "mask"),
        ({"init_image": "a" * 64, "mask_blur": 8}, "mask_blur"),
        ({"init_image": "a" * 64, "inpaint_full_res": True}, "inpaint_full_res"),
        ({"init_image": "../../etc/passwd"}, "init_image"),
        ({"init_image": "a" * 64, "strength": 1.5}, "strength"),
    ],
)
def test_image_fields_without_their_image_are_refused(fields: dict[str, Any], loc: str) -> None:
    with pytest.raises(ValidationError) as e:
        GenerateParams(**fields)
    assert e.value.errors()[0]["loc"] == (loc,)


def test_defaults_of_image_fields_ask_nothing() -> None:
    p = GenerateParams(strength=0.75, mask_blur=4, inpainting_fill="original")
    assert p.init_image is None


def test_a_nine_channel_inpainting_unet_is_used_as_such(tiny_pipe: Any) -> None:
    """An inpainting model (U-Net with 4 + 1 + 4 input channels: latents, mask, masked
    picture) is fed its mask and masked picture, as diffusers' inpaint pipeline feeds it."""
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel

    torch.manual_seed(0)
    unet9 = UNet2DConditionModel.from_config({**tiny_pipe.unet.config, "in_channels": 9})
    parts = {**tiny_pipe.components, "unet": unet9.eval()}
    pipe9 = StableDiffusionPipeline(**parts, requires_safety_checker=False)
    init, mask = _init().resize((32, 32)), _mask((32, 32))
    ours = generate_from_image(
        pipe9, make_scheduler("DDIM", tiny_pipe.scheduler.config),
        ImageInput(init, strength=1.0, mask=mask, mask_blur=0),
        prompt=PROMPT, steps=3, guidance_scale=5.0, seeds=[2], width=32, height=32,
    )  # fmt: skip
    bare = StableDiffusionInpaintPipeline(**parts, requires_safety_checker=False)
    bare.scheduler = make_scheduler("DDIM", tiny_pipe.scheduler.config)
    bare.set_progress_bar_config(disable=True)
    ref = bare(
        prompt=PROMPT, image=init, mask_image=mask, strength=1.0, num_inference_steps=3,
        guidance_scale=5.0, generator=[torch.Generator().manual_seed(2)], height=32, width=32,
    ).images[0]  # fmt: skip
    ref = bare.image_processor.apply_overlay(mask, init, ref)
    assert np.array_equal(_px(ours.images[0]), _px(ref))

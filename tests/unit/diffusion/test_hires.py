"""Hires fix: a first pass, an upscale (latent or picture), an img2img second pass; both
passes in the live view; what A1111's txt2img fields ask for."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from diffusers import StableDiffusionImg2ImgPipeline
from PIL import Image
from pydantic import ValidationError

from difflab.diffusion.generate import GenerateParams, InvalidRequest, prepare, run
from difflab.diffusion.img2img import ImageInput, generate_from_image
from difflab.diffusion.infotext import parse_infotext
from difflab.diffusion.pipeline import generate
from difflab.diffusion.schedulers import make_scheduler
from difflab.runtime import MemorySink, RunContext, SubmitContext


def _params(**kw: Any) -> GenerateParams:
    base: dict[str, Any] = {"prompt": "a red circle", "model": "tiny", "steps": 6, "seed": 3,
                            "width": 32, "height": 32, "sampler": "DDIM", "enable_hr": True,
                            "hr_strength": 0.5}  # fmt: skip
    return GenerateParams(**{**base, **kw})


def _ctx(models_dir: Path, tmp_path: Path) -> RunContext:
    return RunContext(job_id="t", models_dir=models_dir, data_dir=tmp_path, work_dir=tmp_path)


def _final(sink: MemorySink, i: int = 0) -> Image.Image:
    return Image.open(io.BytesIO(sink.artifacts[f"final/image_{i}.png"])).convert("RGB")


@pytest.mark.parametrize("upscaler", ["Latent", "Latent (nearest)", "Lanczos", "Nearest"])
def test_both_passes_stream_and_the_image_is_larger(
    models_dir: Path, tmp_path: Path, upscaler: str
) -> None:
    sink = MemorySink()
    result = run(_params(hr_upscaler=upscaler, batch_size=2), sink, _ctx(models_dir, tmp_path))
    frames = sink.of_type("denoise")
    assert [f["step"] for f in frames] == list(range(9))  # 6 steps, then int(0.5 * 6) = 3
    assert {f["total"] for f in frames} == {9}
    assert [f.get("phase") for f in frames] == [None] * 6 + ["hires"] * 3
    assert sink.of_type("progress")[-1] == {"done": 9, "total": 9, "message": ""}
    assert _final(sink, 1).size == (64, 64) and result["steps"] == 9
    fields = parse_infotext(result["infotexts"][0]).params
    assert (fields["Size"], fields["Hires upscale"], fields["Hires upscaler"]) == (
        "32x32", "2", upscaler,
    )  # fmt: skip
    assert fields["Denoising strength"] == "0.5"


def test_the_second_pass_is_diffusers_img2img_of_the_upscaled_first(
    tiny_pipe: Any, tiny_dir: Path, models_dir: Path, tmp_path: Path
) -> None:
    sink = MemorySink()
    run(_params(hr_upscaler="Lanczos", batch_size=2), sink, _ctx(models_dir, tmp_path))
    first = generate(
        tiny_pipe, make_scheduler("DDIM", tiny_pipe.scheduler.config), prompt="a red circle",
        steps=6, guidance_scale=7.5, seeds=[3, 4], width=32, height=32,
    )  # fmt: skip
    big = [im.resize((64, 64), Image.Resampling.LANCZOS) for im in first.images]
    bare = StableDiffusionImg2ImgPipeline.from_pretrained(
        tiny_dir, safety_checker=None, requires_safety_checker=False
    )
    bare.set_progress_bar_config(disable=True)
    bare.scheduler = make_scheduler("DDIM", bare.scheduler.config)
    ref = bare(
        prompt=["a red circle"] * 2, image=big, strength=0.5, num_inference_steps=6,
        guidance_scale=7.5, generator=[torch.Generator().manual_seed(s) for s in (3, 4)],
    ).images  # fmt: skip
    for i in range(2):
        assert np.array_equal(np.asarray(_final(sink, i)), np.asarray(ref[i].convert("RGB")))
    # one init per batch item through generate_from_image is the same call
    ours = generate_from_image(
        tiny_pipe, make_scheduler("DDIM", tiny_pipe.scheduler.config),
        ImageInput(image=big, strength=0.5), prompt="a red circle", steps=6,
        guidance_scale=7.5, seeds=[3, 4], width=64, height=64,
    )  # fmt: skip
    assert np.array_equal(np.asarray(ours.images[1]), np.asarray(ref[1].convert("RGB")))


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"enable_hr": False, "hr_scale": 3}, "hr_scale"),
        ({"enable_hr": False, "hr_upscaler": "Lanczos"}, "hr_upscaler"),
        ({"hr_upscaler": "ESRGAN"}, "hr_upscaler"),
        ({"hr_scale": 5}, "hr_scale"),
    ],
)
def test_hires_fields_are_checked(fields: dict[str, Any], loc: str) -> None:
    with pytest.raises(ValidationError) as e:
        _params(**fields)
    assert e.value.errors()[0]["loc"] == (loc,)


def test_hires_size_must_suit_the_model(models_dir: Path, tmp_path: Path) -> None:
    ctx = SubmitContext(models_dir=models_dir, data_dir=tmp_path)
    with pytest.raises(InvalidRequest) as e:  # the tiny model makes at most 128 pixels
        prepare(_params(width=64, height=64, hr_scale=4), ctx)
    assert e.value.field == "hr_scale" and "256x256" in e.value.message
    with pytest.raises(ValidationError, match="text-to-image"):
        _params(init_image="a" * 64)


def test_hires_with_no_denoising_is_the_upscale_alone(models_dir: Path, tmp_path: Path) -> None:
    for upscaler in ("Latent", "Lanczos"):
        sink = MemorySink()
        run(_params(hr_strength=0.0, hr_upscaler=upscaler), sink, _ctx(models_dir, tmp_path))
        assert _final(sink).size == (64, 64)
        assert [f.get("phase") for f in sink.of_type("denoise")] == [None] * 6

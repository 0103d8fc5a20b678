"""lab.diffusion_internals: the U-Net's hooks, the guidance decomposition and the reverse-step
coefficients against diffusers, and a whole run on the tiny model."""

from __future__ import annotations

import functools
import io
import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from diffusers import StableDiffusionPipeline, UNet2DConditionModel
from diffusers.utils.torch_utils import randn_tensor
from PIL import Image
from pydantic import ValidationError
from safetensors.torch import load as load_safetensors

from difflab.datasets.shapes import ShapesDataset
from difflab.diffusion import internals
from difflab.diffusion.internals import (
    SPEC,
    Params,
    UNetTrace,
    latent_stride,
    prepare,
    reverse_step,
    run,
    sample_decomposed,
)
from difflab.diffusion.models import load_pipeline
from difflab.diffusion.pipeline import split_prediction
from difflab.diffusion.previews import latent_rgb_for_model
from difflab.diffusion.schedulers import make_scheduler
from difflab.runtime import JobCancelled, MemorySink, ParamError, RunContext, SubmitContext


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny models run fastest on one thread, and then do not fight other tests for the cores."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def ctx(models_dir: Path, tmp_path: Path) -> RunContext:
    return RunContext(job_id="t", work_dir=tmp_path, models_dir=models_dir, data_dir=tmp_path)


def _pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


# --------------------------------------------------------------------------- parameters


def test_spec_and_defaults() -> None:
    assert (SPEC.name, SPEC.queue, SPEC.category, SPEC.admin_only) == (
        "lab.diffusion_internals", "gpu", "lab", False,
    )  # fmt: skip
    schema = Params.model_json_schema()
    assert all(f.get("description") for f in schema["properties"].values())
    p = Params()
    assert (p.model, p.sampler, p.steps, p.unet_step, p.w_values) == (
        "house", "DDIM", 10, 5, [0.0, 1.0, 3.0, 7.5],
    )  # fmt: skip
    # the default prompt is a caption of the shapes grammar the house model was trained on
    assert p.prompt == "a red circle on the left"
    assert Params(sampler="k_euler_a").sampler == "Euler a"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"unet_step": 10}, "unet_step: 10 is past the last step (9)"),
        ({"steps": 4, "unet_step": 4}, "unet_step"),
        ({"eta": 0.5, "sampler": "Euler"}, "eta: applies to DDIM"),
        ({"model": "../etc"}, "invalid model name"),
        ({"w_values": []}, "w_values"),
        ({"w_values": [31]}, "w_values"),
        ({"steps": 1}, "steps"),
        ({"sampler": "Euler b"}, "'Euler a'"),
        ({"bogus": 1}, "Extra inputs"),
    ],
)
def test_invalid_params_are_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Params(**fields)


def test_prepare_names_the_field_and_fills_the_models_guidance(
    models_dir: Path, tmp_path: Path
) -> None:
    sub = SubmitContext(models_dir=models_dir, data_dir=tmp_path)
    with pytest.raises(ParamError, match="available: tiny") as e:
        prepare(Params(model="nope"), sub)
    assert e.value.field == "model"
    with pytest.raises(ParamError, match="at most 16 tokens") as e:
        prepare(Params(model="tiny", negative_prompt="red " * 20), sub)
    assert e.value.field == "negative_prompt"

    mine = tmp_path / "models"
    shutil.copytree(models_dir / "tiny", mine / "tiny")
    (mine / "tiny" / "difflab.json").write_text(json.dumps({"default_guidance_scale": 4.0}))
    sub = SubmitContext(models_dir=mine, data_dir=tmp_path)
    ready = prepare(Params(model="tiny"), sub)
    assert ready.guidance_scale == 4.0  # left out: the model's own
    assert prepare(ready, sub) == ready  # idempotent
    assert prepare(Params(model="tiny", guidance_scale=6), sub).guidance_scale == 6.0


# --------------------------------------------------------------------------- the U-Net


def expected_shapes(config: Any, batch: int, size: int) -> tuple[dict[str, tuple[int, ...]], dict]:
    """Every hooked tensor's shape, and each skip's source, from the U-Net's config alone.

    The encoder pushes conv_in's output, then each down block's layer outputs and its
    downsampler's output; every up block pops layers_per_block + 1 of them, the last first."""
    chans, layers, n = (
        list(config.block_out_channels),
        config.layers_per_block,
        len(config.block_out_channels),
    )
    shapes: dict[str, tuple[int, ...]] = {
        "time_proj": (batch, chans[0]),
        "time_embedding": (batch, 4 * chans[0]),
        "conv_in": (batch, chans[0], size, size),
    }
    stack = [("conv_in", chans[0], size)]
    res = size
    for i, kind in enumerate(config.down_block_types):
        inner = "attentions" if "CrossAttn" in kind else "resnets"
        stack += [(f"down_blocks.{i}.{inner}.{k}", chans[i], res) for k in range(layers)]
        if i < n - 1:
            res //= 2
            shapes[f"down_blocks.{i}.downsamplers.0"] = (batch, chans[i], res, res)
            stack.append((f"down_blocks.{i}.downsamplers.0", chans[i], res))
        shapes[f"down_blocks.{i}"] = (batch, chans[i], res, res)
    shapes["mid_block"] = (batch, chans[-1], res, res)
    sources = {}
    for i, c in enumerate(reversed(chans)):
        taken, stack = stack[-(layers + 1) :], stack[: -(layers + 1)]
        for k, (source, sc, sr) in enumerate(reversed(taken)):
            shapes[f"up_blocks.{i}.skip.{k}"] = (batch, sc, sr, sr)
            sources[f"up_blocks.{i}.skip.{k}"] = source
        if i < n - 1:
            res *= 2
            shapes[f"up_blocks.{i}.upsamplers.0"] = (batch, c, res, res)
        shapes[f"up_blocks.{i}"] = (batch, c, res, res)
    assert not stack
    return shapes, sources


def _house_shaped_unet() -> Any:
    """Three levels with two layers each, the house model's block types, random weights."""
    torch.manual_seed(0)
    return UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, layers_per_block=2,
        block_out_channels=(16, 24, 24), attention_head_dim=4, norm_num_groups=8,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=16,
    ).eval()  # fmt: skip


@pytest.mark.parametrize("which", ["tiny", "three levels"])
def test_unet_hooks_return_the_shapes_the_config_implies(which: str, tiny_pipe: Any) -> None:
    unet = tiny_pipe.unet if which == "tiny" else _house_shaped_unet()
    c = unet.config
    size = c.sample_size
    g = torch.Generator().manual_seed(0)
    sample = torch.randn(2, c.in_channels, size, size, generator=g)
    context = torch.randn(2, 5, c.cross_attention_dim, generator=g)
    trace = UNetTrace(row=1)
    with torch.inference_mode():
        plain = unet(sample, 500, encoder_hidden_states=context).sample
        with trace.hooked(unet):
            hooked = unet(sample, 500, encoder_hidden_states=context).sample
        after = unet(sample, 500, encoder_hidden_states=context).sample
    shapes, sources = expected_shapes(c, 2, size)
    assert trace.shapes() == shapes
    assert list(trace.maps)[:3] == ["time_proj", "time_embedding", "conv_in"]
    assert {k: m.source for k, m in trace.maps.items() if m.role == "skip"} == sources
    assert torch.equal(hooked, plain) and torch.equal(after, plain)  # watching changes nothing
    # the first skip of the deepest up block is the encoder's last output itself, and each
    # map keeps the conditional row (row 1)
    last = f"down_blocks.{len(c.block_out_channels) - 1}"
    assert torch.equal(trace.maps["up_blocks.0.skip.0"].value, trace.maps[last].value)
    assert trace.maps["conv_in"].value.shape == shapes["conv_in"][1:]
    # downsampling halves the grid, upsampling doubles it
    down = trace.maps["down_blocks.0.downsamplers.0"]
    assert down.input_shape == (2, c.block_out_channels[0], size, size)
    assert len(trace.skips(0)) == c.layers_per_block + 1


def test_hooks_record_only_the_thread_that_installed_them(tiny_pipe: Any) -> None:
    unet = tiny_pipe.unet
    sample, context = torch.randn(2, 4, 8, 8), torch.randn(2, 5, 32)
    trace = UNetTrace()

    def other() -> None:
        with torch.inference_mode():
            unet(sample, 10, encoder_hidden_states=context)

    with trace.hooked(unet):
        worker = threading.Thread(target=other)
        worker.start()
        worker.join()
    assert trace.maps == {}


# --------------------------------------------------------------------------- guidance


def _recording(scheduler: Any, seen: list[torch.Tensor]) -> Any:
    """The scheduler, its step() noting the model output the pipeline hands it."""
    original = scheduler.step

    @functools.wraps(original)  # the pipeline reads step's signature (eta, generator)
    def step(model_output: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        seen.append(model_output.clone())
        return original(model_output, *args, **kwargs)

    scheduler.step = step
    return scheduler


@pytest.mark.parametrize("sampler", ["DDIM", "DDPM", "Euler a"])
def test_cfg_decomposition_recombines_to_the_pipelines_guided_eps_exactly(
    sampler: str, tiny_pipe: Any
) -> None:
    """ε(∅) + w (ε(c) - ε(∅)) from the stored predictions is bit for bit the noise_pred that
    diffusers' StableDiffusionPipeline hands its scheduler, for the same inputs (seeded noise,
    including the noise DDPM and Euler a add at every step)."""
    prompt, w, steps, seed = "a red circle on the left", 7.5, 4, 3
    steps_seen: list[Any] = []
    ours = sample_decomposed(
        tiny_pipe, make_scheduler(sampler, tiny_pipe.scheduler.config), prompt=prompt,
        steps=steps, guidance_scale=w, seed=seed, on_step=steps_seen.append,
    )  # fmt: skip

    guided: list[torch.Tensor] = []
    scheduler = _recording(make_scheduler(sampler, tiny_pipe.scheduler.config), guided)
    pipe = StableDiffusionPipeline(**{**tiny_pipe.components, "scheduler": scheduler},
                                   requires_safety_checker=False)  # fmt: skip
    pipe.set_progress_bar_config(disable=True)
    theirs = pipe(
        prompt, negative_prompt="", num_inference_steps=steps, guidance_scale=w,
        generator=torch.Generator().manual_seed(seed), output_type="latent",
    ).images  # fmt: skip

    assert len(steps_seen) == len(guided) == steps
    for s, reference in zip(steps_seen, guided, strict=True):
        assert not torch.equal(s.eps_uncond, s.eps_cond)  # the prompt matters
        recombined = s.eps_uncond + w * (s.eps_cond - s.eps_uncond)
        assert torch.equal(recombined, reference)
    assert torch.equal(ours, theirs)


# --------------------------------------------------------------------------- the reverse step


@pytest.mark.parametrize(
    ("sampler", "eta"),
    [("DDPM", 0.0), ("DDIM", 0.0), ("DDIM", 0.7), ("Euler", 0.0), ("Euler a", 0.0)],
)
def test_the_coefficients_by_hand_reproduce_scheduler_step(
    sampler: str, eta: float, tiny_pipe: Any
) -> None:
    scheduler = make_scheduler(sampler, tiny_pipe.scheduler.config)
    scheduler.set_timesteps(6)
    g = torch.Generator().manual_seed(0)
    latents = torch.randn(1, 4, 8, 8, generator=g) * scheduler.init_noise_sigma
    extra = {"eta": eta} if sampler == "DDIM" else {}
    for i, t in enumerate(scheduler.timesteps):
        xt = scheduler.scale_model_input(latents, t)  # the U-Net's input, √ᾱ x0 + √(1-ᾱ) ε
        eps = torch.randn(latents.shape, generator=g)
        r = reverse_step(scheduler, i, t, eta)
        assert r is not None
        state = g.get_state()
        prev = scheduler.step(eps, t, latents, generator=g, **extra).prev_sample
        replay = torch.Generator()
        replay.set_state(state)
        z = randn_tensor(eps.shape, generator=replay) if r.sigma > 0 else torch.zeros_like(eps)
        ab = r.alpha_bar
        x0 = (xt - (1 - ab) ** 0.5 * eps) / ab**0.5
        by_hand = (r.coef_x0 * x0 + r.coef_eps * eps + r.sigma * z) * r.latent_scale
        torch.testing.assert_close(by_hand, prev, rtol=1e-5, atol=1e-5)
        abp = r.alpha_bar_prev
        if sampler == "DDPM":  # Algorithm 2 itself: 1/√α_t (x_t - β_t/√(1-ᾱ_t) ε) + σ_t z
            alg2 = (xt - r.beta / (1 - ab) ** 0.5 * eps) / (1 - r.beta) ** 0.5 + r.sigma * z
            torch.testing.assert_close(alg2, prev, rtol=1e-5, atol=1e-5)
            assert (r.coef_x0, r.coef_eps) == (r.ddpm_coef_x0, r.ddpm_coef_eps)
        if sampler == "DDIM" and eta == 0:
            assert r.sigma == 0 and r.coef_eps == pytest.approx((1 - abp) ** 0.5)
        if sampler == "Euler":  # Euler's step on ε is deterministic DDIM's
            assert (r.coef_x0, r.coef_eps) == pytest.approx((abp**0.5, (1 - abp) ** 0.5))
        latents = prev


def test_ddim_with_eta_one_adds_ddpms_noise(tiny_pipe: Any) -> None:
    scheduler = make_scheduler("DDIM", tiny_pipe.scheduler.config)
    scheduler.set_timesteps(5)
    for i, t in enumerate(scheduler.timesteps):
        r = reverse_step(scheduler, i, t, eta=1.0)
        assert r is not None and r.sigma == pytest.approx(r.ddpm_sigma, rel=1e-9)


def test_multistep_samplers_have_no_single_step_table(tiny_pipe: Any) -> None:
    scheduler = make_scheduler("DPM++ 2M", tiny_pipe.scheduler.config)
    scheduler.set_timesteps(5)
    assert reverse_step(scheduler, 0, scheduler.timesteps[0]) is None


# --------------------------------------------------------------------------- the job


def test_run_writes_every_part(ctx: RunContext) -> None:
    sink = MemorySink()
    params = Params(model="tiny", steps=3, unet_step=1, w_values=[0, 2], seed=4)
    result = run(params, sink, ctx)
    assert (result["steps"], result["unet_step"], result["sampler"]) == (3, 1, "DDIM")
    art = set(sink.artifacts)
    for k in range(3):
        assert {f"cfg/eps/step_{k:03d}.png", f"cfg/x0/step_{k:03d}.png"} <= art
    assert {"unet/index.json", "unet/conv_in.png", "unet/mid_block.png",
            "unet/up_blocks_1_skips.png", "unet/down_blocks_0_downsamplers_0.png",
            "unet/time_embedding.json", "unet/time_proj_steps.json", "final/image.png",
            "reverse/coefficients.md", "reverse/coefficients.json", "latent/channels.png",
            "latent/interpolation_latent.png", "latent/interpolation_pixel.png"} <= art  # fmt: skip

    index = json.loads(sink.artifacts["unet/index.json"])
    assert index["step"] == 1
    conv_in = next(lv for lv in index["levels"] if lv["name"] == "conv_in")
    assert conv_in["shape"] == [2, 32, 8, 8]

    # the stored predictions: one per step, and x̂0 at each w side by side
    stored = load_safetensors(sink.artifacts["cfg/eps.safetensors"])
    assert stored["eps_uncond"].shape == stored["eps_cond"].shape == (3, 4, 8, 8)
    strip = _pixels(sink.artifacts["cfg/x0/step_002.png"])
    assert strip.shape == (2 + 66, 2 + 2 * 66, 3)  # two 64-px pictures, 2-px gaps

    table = json.loads(sink.artifacts["reverse/coefficients.json"])
    assert [row[0] for row in table["rows"]] == [0, 1, 2]
    assert max(sink.metric_series("reverse/hand_error"))[1] < 1e-5

    # latent diffusion works on 4x8x8 values instead of 3x64x64 pixels
    metrics = [p["values"] for p in sink.of_type("metric")]
    latent = next(v for v in metrics if "latent/compression" in v)
    assert (latent["latent/pixel_values"], latent["latent/latent_values"]) == (12288, 256)
    assert latent["latent/compression"] == 48
    # the pixel strip starts and ends with the two shapes images themselves
    pixel = _pixels(sink.artifacts["latent/interpolation_pixel.png"])
    data = ShapesDataset(num_samples=2, split="val", seed=4)
    assert np.array_equal(pixel[2:66, 2:66], np.asarray(data[0].image))
    assert np.array_equal(pixel[2:66, -66:-2], np.asarray(data[1].image))

    progress = [(p["done"], p["total"]) for p in sink.of_type("progress")]
    assert progress == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_a_cancelled_run_stops_at_the_next_step(ctx: RunContext) -> None:
    def on_event(e: Any) -> None:
        if e.type == "progress" and e.payload["done"] == 1:
            sink.cancel()

    sink = MemorySink(on_event=on_event)
    with pytest.raises(JobCancelled):
        run(Params(model="tiny", steps=4, unet_step=3), sink, ctx)
    assert [p["done"] for p in sink.of_type("progress")] == [1]
    assert "unet/index.json" not in sink.artifacts


# --------------------------------------------------------------------------- w after the fact


def _x0_from_json(step: dict[str, Any], w: float) -> np.ndarray:
    """x̂0(w) = (x_t - √(1-ᾱ_t)·(ε(∅) + w·(ε(c) - ε(∅))))/√ᾱ_t from cfg/steps.json alone."""
    u, c, xt = (np.asarray(step[k]) for k in ("eps_uncond", "eps_cond", "xt"))
    ab = step["alpha_bar"]
    return (xt - np.sqrt(1 - ab) * (u + w * (c - u))) / np.sqrt(ab)


def _rounding_bound(step: dict[str, Any], w: float) -> np.ndarray:
    """How far x̂0(w) can move when x_t, ε(∅) and ε(c) are each off by half a unit in their
    5th significant digit (a relative 5e-5), plus float32's own error."""
    u, c, xt = (np.abs(np.asarray(step[k])) for k in ("eps_uncond", "eps_cond", "xt"))
    ab = step["alpha_bar"]
    eps = abs(1 - w) * u + abs(w) * c
    return 5e-5 * (xt + np.sqrt(1 - ab) * eps) / np.sqrt(ab) + 1e-5 * (1 + np.abs(xt))


def _stored_x0(stored: dict[str, torch.Tensor], i: int, w: float, prediction_type: str) -> Any:
    """The run's own x̂0 at step i for w, from the stored U-Net outputs (its arithmetic)."""
    u, c, xt = (
        stored["eps_uncond"][i : i + 1],
        stored["eps_cond"][i : i + 1],
        stored["xt"][i : i + 1],
    )
    ab = float(stored["alpha_bar"][i])
    return split_prediction(u + w * (c - u), xt, ab, prediction_type)[0][0].numpy()


def test_steps_json_gives_the_runs_x0_for_every_w(ctx: RunContext, tiny_dir: Path) -> None:
    sink = MemorySink()
    params = Params(model="tiny", steps=3, unet_step=0, w_values=[0, 2, 7.5], seed=1)
    run(params, sink, ctx)
    data = json.loads(sink.artifacts["cfg/steps.json"])
    (event,) = [a for a in sink.of_type("artifact") if a["name"] == "cfg/steps.json"]
    assert event["meta"]["view"] == "cfg" and event["meta"]["title_zh"] == data["title_zh"]
    assert "无分类器引导" in data["title_zh"] and event["meta"]["subsampled"] is False
    assert (data["stride"], data["shape"], data["latent_shape"]) == (1, [4, 8, 8], [4, 8, 8])
    assert (data["prediction_type"], data["eps"]) == ("epsilon", "epsilon")
    stored = load_safetensors(sink.artifacts["cfg/eps.safetensors"])
    assert [s["t"] for s in data["steps"]] == stored["timesteps"].tolist()
    assert [s["alpha_bar"] for s in data["steps"]] == stored["alpha_bar"].tolist()

    for i, step in enumerate(data["steps"]):
        for w in params.w_values:
            theirs = _stored_x0(stored, i, w, "epsilon")
            assert np.all(np.abs(_x0_from_json(step, w) - theirs) <= _rounding_bound(step, w))
        diff = stored["eps_cond"][i] - stored["eps_uncond"][i]
        assert step["diff_norm"] == pytest.approx(float(diff.norm()), rel=1e-4)

    # the map is the studio's approx preview map: applied to the JSON's x̂0 it draws the
    # run's own x̂0 through LatentRGB.apply
    rgb_map = latent_rgb_for_model(tiny_dir, load_pipeline(tiny_dir, "cpu").vae)
    weight, bias = np.asarray(data["latent_rgb"]["weight"]), np.asarray(data["latent_rgb"]["bias"])
    assert np.array_equal(weight, np.asarray(rgb_map.weight)) and weight.shape == (3, 4)
    assert np.array_equal(bias, np.asarray(rgb_map.bias))
    last = data["steps"][-1]
    x0 = _x0_from_json(last, 7.5)
    rgb = np.clip(np.einsum("rc,chw->rhw", weight, x0) + bias[:, None, None], 0, 1)
    expected = rgb_map.apply(torch.from_numpy(_stored_x0(stored, 2, 7.5, "epsilon"))[None])[0]
    np.testing.assert_allclose(rgb, expected.numpy(), atol=1e-3)


def test_steps_json_converts_v_and_subsamples_a_large_latent(
    ctx: RunContext, copy_model: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A v-predicting model's outputs arrive as ε (so the client needs one formula), and a
    latent over the size cap keeps every other pixel, said so in the meta and the title."""
    model = copy_model("vpred")
    config_file = model / "scheduler" / "scheduler_config.json"
    config = json.loads(config_file.read_text())
    config_file.write_text(json.dumps({**config, "prediction_type": "v_prediction"}))
    monkeypatch.setattr(internals, "MAX_LATENT_VALUES", 64)  # 4x8x8 -> 4x4x4
    sink = MemorySink()
    ctx = RunContext(job_id="v", work_dir=ctx.work_dir, models_dir=model.parent,
                     data_dir=ctx.data_dir)  # fmt: skip
    run(Params(model="vpred", steps=2, unet_step=0, w_values=[3.0], seed=2), sink, ctx)
    data = json.loads(sink.artifacts["cfg/steps.json"])
    (event,) = [a for a in sink.of_type("artifact") if a["name"] == "cfg/steps.json"]
    assert (data["prediction_type"], data["eps"]) == ("v_prediction", "epsilon")
    assert (data["stride"], data["shape"], data["latent_shape"]) == (2, [4, 4, 4], [4, 8, 8])
    assert event["meta"]["subsampled"] is True and event["meta"]["stride"] == 2
    assert "2×2" in data["title"] and "2×2" in data["title_zh"]
    stored = load_safetensors(sink.artifacts["cfg/eps.safetensors"])
    for i, step in enumerate(data["steps"]):
        assert np.asarray(step["xt"]).shape == (4, 4, 4)
        theirs = _stored_x0(stored, i, 3.0, "v_prediction")[:, ::2, ::2]
        assert np.all(np.abs(_x0_from_json(step, 3.0) - theirs) <= _rounding_bound(step, 3.0))
        # read as ε, the v outputs themselves would give another x̂0
        assert not np.allclose(theirs, _stored_x0(stored, i, 3.0, "epsilon")[:, ::2, ::2])


@pytest.mark.parametrize(
    ("shape", "stride"), [((4, 8, 8), 1), ((4, 32, 32), 1), ((4, 33, 32), 2), ((4, 64, 64), 2),
                          ((4, 96, 64), 3)],
)  # fmt: skip
def test_latent_stride_keeps_at_most_the_cap(shape: tuple[int, int, int], stride: int) -> None:
    assert latent_stride(shape) == stride
    c, h, w = shape
    assert c * -(-h // stride) * -(-w // stride) <= internals.MAX_LATENT_VALUES

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

from difflab.diffusion.generate import (
    SPEC,
    GenerateParams,
    InvalidRequest,
    check_generate_params,
    run,
)
from difflab.diffusion.infotext import parse_infotext, read_png_parameters
from difflab.runtime import JobCancelled, MemorySink, RecordedEvent, RunContext


@pytest.fixture
def ctx(models_dir: Path, tmp_path: Path) -> RunContext:
    return RunContext(job_id="t", device="cpu", work_dir=tmp_path, models_dir=models_dir)


def _params(**kw: Any) -> GenerateParams:
    base: dict[str, Any] = {"prompt": "a red circle", "model": "tiny", "steps": 3, "seed": 1,
                            "width": 32, "height": 32, "sampler": "Euler a"}  # fmt: skip
    return GenerateParams(**{**base, **kw})


def _pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_spec() -> None:
    assert (SPEC.name, SPEC.queue, SPEC.category, SPEC.admin_only) == (
        "generate", "gpu", "generation", False,
    )  # fmt: skip
    assert SPEC.params is GenerateParams and SPEC.run is run
    schema = GenerateParams.model_json_schema()
    assert all(f.get("description") for f in schema["properties"].values())
    assert "DPM++ 2M Karras" in schema["properties"]["sampler"]["enum"]
    defaults = GenerateParams()
    assert (defaults.model, defaults.sampler, defaults.seed, defaults.steps) == (
        "house", "DPM++ 2M", -1, 25,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("steps", 0, "greater than or equal to 1"), ("steps", 151, "less than or equal to 150"),
        ("guidance_scale", -0.5, "greater than or equal to 0"),
        ("guidance_scale", 31, "less than or equal to 30"),
        ("batch_size", 0, ""), ("batch_size", 17, ""), ("width", 63, "multiple of 8"),
        ("height", 4096, ""), ("sampler", "Euler b", "'Euler a'"),
        ("scheduler", "Sideways", "'Karras'"), ("preview", "sometimes", "'approx'"),
        ("preview_every", 0, ""), ("guidance_sweep", [], ""), ("guidance_sweep", [40], ""),
        ("guidance_sweep", [1.0] * 9, ""), ("seed", -2, ""), ("seed", 2**60, ""),
        ("model", "../etc", "invalid model name"), ("model", "", ""), ("eta", 2, ""),
        ("prompt", "x" * 2001, ""), ("steps", "many", ""), ("bogus", 1, "Extra inputs"),
    ],
)  # fmt: skip
def test_invalid_params_name_the_field(field: str, value: Any, message: str) -> None:
    with pytest.raises(ValidationError) as e:
        GenerateParams(**{field: value})
    errors = e.value.errors()
    assert errors[0]["loc"][0] == field
    assert message in str(e.value)


def test_aliases_and_case_are_accepted() -> None:
    p = GenerateParams(sampler="k_dpmpp_2m_ka", scheduler="karras")
    assert (p.sampler, p.scheduler) == ("DPM++ 2M Karras", "Karras")


def test_checks_that_need_the_model_name_the_field(models_dir: Path) -> None:
    cases = [
        (_params(model="nope"), "model", "available: tiny"),
        (_params(width=256), "width", "between 32 and 128"),
        (_params(height=24), "height", "between 32 and 128"),
        (_params(prompt="red " * 200), "prompt", "at most 8 are encoded"),
        (_params(negative_prompt="red " * 200), "negative_prompt", "at most 8 are encoded"),
        (_params(prompt="a (red:1.2.3) circle"), "prompt", "is not a number"),
    ]
    for params, field, message in cases:
        with pytest.raises(InvalidRequest, match=message) as e:
            check_generate_params(params, models_dir)
        assert e.value.field == field
    assert check_generate_params(GenerateParams(model="tiny"), models_dir)[1:] == (64, 64)


def test_run_writes_the_contract_artifacts_and_events(ctx: RunContext) -> None:
    sink = MemorySink()
    result = run(_params(batch_size=2), sink, ctx)
    assert result["images"] == ["final/image_0.png", "final/image_1.png"]
    assert (result["seed"], result["seeds"], result["model"], result["sampler"]) == (
        1, [1, 2], "tiny", "Euler a",
    )  # fmt: skip

    denoise = sink.of_type("denoise")
    assert [d["step"] for d in denoise] == [0, 1, 2]
    for d in denoise:
        assert d["total"] == 3 and isinstance(d["timestep"], float)
        assert (d["xt"], d["x0"], d["eps"]) == tuple(
            f"steps/{k}_{d['step']:03d}.png" for k in ("xt", "x0", "eps")
        )
        assert all(d[k] in sink.artifacts for k in ("xt", "x0", "eps"))
    assert _pixels(sink.artifacts["steps/xt_000.png"]).shape == (4, 8, 3)  # 2 latents side by side
    progress = sink.of_type("progress")
    assert [(p["done"], p["total"]) for p in progress] == [(1, 3), (2, 3), (3, 3)]
    # Each step's previews come before its denoise event.
    order = [e.payload.get("name") or e.type for e in sink.events if e.type != "log"]
    assert (
        order.index("steps/eps_000.png") < order.index("denoise") < order.index("steps/xt_001.png")
    )

    index = json.loads(sink.artifacts["attention/index.json"])
    assert index["tokens"] == ["a", "red", "circle"] and index["steps"] == [0, 1, 2]
    assert index["grid"] == [4, 4] and index["layout"] == "row"  # a 32x32 image's latents
    tile = 4 + 2 * index["pad"]
    for step in index["steps"]:
        strip = _pixels(sink.artifacts[index["pattern"].format(step=step)])
        assert strip.shape == (4, 3 * tile, 3)  # the three tokens' maps side by side

    for i, name in enumerate(result["images"]):
        infotext, meta = read_png_parameters(sink.artifacts[name])
        assert infotext == result["infotexts"][i]
        parsed = parse_infotext(infotext or "")
        assert parsed.prompt == "a red circle"
        assert parsed.params["Seed"] == str(1 + i) and parsed.params["Model"] == "tiny"
        assert parsed.params["Size"] == "32x32" and parsed.params["Sampler"] == "Euler a"
        assert meta is not None and meta["seed"] == 1 + i and meta["steps"] == 3


def test_same_params_same_pixels_and_random_seed_is_recorded(ctx: RunContext) -> None:
    first, second = MemorySink(), MemorySink()
    result = run(_params(seed=-1, preview="none", attention=False), first, ctx)
    assert 0 <= result["seed"] < 2**32
    run(_params(seed=result["seed"], preview="none", attention=False), second, ctx)
    assert np.array_equal(
        _pixels(first.artifacts["final/image_0.png"]),
        _pixels(second.artifacts["final/image_0.png"]),
    )
    assert not first.of_type("denoise") and not any(n.startswith("steps/") for n in first.artifacts)


def test_preview_every_and_full_previews(ctx: RunContext) -> None:
    sink = MemorySink()
    run(_params(steps=5, preview="full", preview_every=2, attention=False), sink, ctx)
    assert [d["step"] for d in sink.of_type("denoise")] == [0, 2, 4]
    assert _pixels(sink.artifacts["steps/x0_002.png"]).shape == (32, 32, 3)  # VAE-decoded
    assert "attention/index.json" not in sink.artifacts


def test_cancel_stops_at_the_next_step_and_keeps_previews(ctx: RunContext) -> None:
    sink: MemorySink

    def on_event(ev: RecordedEvent) -> None:
        if ev.type == "denoise" and ev.payload["step"] == 1:
            sink.cancel()

    sink = MemorySink(on_event=on_event)
    with pytest.raises(JobCancelled):
        run(_params(steps=6), sink, ctx)
    assert [d["step"] for d in sink.of_type("denoise")] == [0, 1]
    assert {"steps/xt_001.png", "steps/x0_001.png"} <= set(sink.artifacts)
    assert json.loads(sink.artifacts["attention/index.json"])["steps"] == [0, 1]
    assert not any(n.startswith("final/") for n in sink.artifacts)


def test_guidance_sweep_reuses_the_seed(ctx: RunContext) -> None:
    sink = MemorySink()
    result = run(_params(guidance_scale=7.0, guidance_sweep=[1.0, 7.0], preview="none",
                         attention=False), sink, ctx)  # fmt: skip
    index = json.loads(sink.artifacts["sweep/index.json"])
    assert index == {"scales": [1.0, 7.0], "images": result["sweep"], "seed": 1}
    assert result["sweep"] == ["sweep/scale_00.png", "sweep/scale_01.png"]
    same = _pixels(sink.artifacts["sweep/scale_01.png"])
    assert np.array_equal(same, _pixels(sink.artifacts["final/image_0.png"]))
    assert not np.array_equal(same, _pixels(sink.artifacts["sweep/scale_00.png"]))
    progress = sink.of_type("progress")
    assert progress[-1]["done"] == progress[-1]["total"] == 9


def test_run_refuses_sizes_outside_the_model_range(ctx: RunContext) -> None:
    with pytest.raises(ValueError, match=r"^width: width must be a multiple of 8 between 32"):
        run(_params(width=512), MemorySink(), ctx)


def test_a_left_out_guidance_scale_takes_the_models_default(tmp_path) -> None:
    import json

    from difflab.diffusion.generate import GenerateParams, with_model_defaults

    (tmp_path / "difflab.json").write_text(json.dumps({"default_guidance_scale": 4.0}))
    assert with_model_defaults(GenerateParams(prompt="a"), tmp_path).guidance_scale == 4.0
    chosen = GenerateParams(prompt="a", guidance_scale=7.0)
    assert with_model_defaults(chosen, tmp_path).guidance_scale == 7.0
    # a model that records none (any SD-1.x directory): Stable Diffusion's usual 7.5
    assert with_model_defaults(GenerateParams(prompt="a"), tmp_path / "none").guidance_scale == 7.5

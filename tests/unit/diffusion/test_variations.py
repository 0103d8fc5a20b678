"""Variation seeds (A1111's subseed) and Clip skip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from difflab.diffusion.generate import GenerateParams, InvalidRequest, prepare, run
from difflab.diffusion.infotext import parse_infotext
from difflab.diffusion.pipeline import encode_text, generate, slerp
from difflab.diffusion.schedulers import make_scheduler
from difflab.runtime import MemorySink, RunContext, SubmitContext


def _image(pipe: Any, seed: int, **kw: Any) -> np.ndarray:
    out = generate(
        pipe, make_scheduler("DDIM", pipe.scheduler.config), prompt="a red circle", steps=3,
        guidance_scale=5.0, seeds=[seed], width=32, height=32, **kw,
    )  # fmt: skip
    return np.asarray(out.images[0]).astype(np.int16)


def test_slerp_ends_and_keeps_the_norm() -> None:
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(4, 8, 8, generator=g), torch.randn(4, 8, 8, generator=g)
    assert torch.allclose(slerp(0.0, a, b), a, atol=1e-6)
    assert torch.allclose(slerp(1.0, a, b), b, atol=1e-5)
    mid = slerp(0.5, a, b)  # two independent Gaussians are nearly orthogonal: norm kept
    assert mid.norm() / a.norm() == pytest.approx(float(b.norm() / a.norm()) ** 0.5, rel=0.05)


def test_variation_strength_moves_from_the_seed_to_the_subseed(tiny_pipe: Any) -> None:
    seed_only, other = _image(tiny_pipe, 1), _image(tiny_pipe, 2)
    assert np.array_equal(_image(tiny_pipe, 1, subseeds=[2], subseed_strength=0.0), seed_only)
    assert np.array_equal(_image(tiny_pipe, 1, subseeds=[2], subseed_strength=1.0), other)
    half = _image(tiny_pipe, 1, subseeds=[2], subseed_strength=0.5)
    assert not np.array_equal(half, seed_only) and not np.array_equal(half, other)


def test_clip_skip_reads_an_earlier_layer_through_the_final_norm(tiny_pipe: Any) -> None:
    """A1111's Clip skip N: hidden_states[-N] through the final layer norm (diffusers'
    clip_skip N - 1); N = 1 is the encoder's own output."""
    enc = tiny_pipe.text_encoder
    ids = tiny_pipe.tokenizer("a red circle", padding="max_length", return_tensors="pt").input_ids
    with torch.no_grad():
        out = enc(ids, output_hidden_states=True)
        norm = getattr(enc, "text_model", enc).final_layer_norm
        assert torch.allclose(norm(out.hidden_states[-1]), out[0], atol=1e-6)
        skip2 = encode_text(tiny_pipe, "a red circle", "prompt", clip_skip=2)
        assert torch.allclose(skip2, norm(out.hidden_states[-2]), atol=1e-6)
    assert not np.array_equal(_image(tiny_pipe, 1, clip_skip=2), _image(tiny_pipe, 1))


def test_the_kind_records_variation_and_clip_skip(models_dir: Path, tmp_path: Path) -> None:
    params = GenerateParams(prompt="a red circle", model="tiny", steps=2, seed=5, width=32,
                            height=32, subseed_strength=0.3, clip_skip=2)  # fmt: skip
    ctx = SubmitContext(models_dir=models_dir, data_dir=tmp_path)
    ready = prepare(params, ctx)
    assert ready.subseed >= 0  # drawn at submit, so the gallery records it
    sink = MemorySink()
    result = run(ready, sink, RunContext(job_id="t", models_dir=models_dir, data_dir=tmp_path,
                                         work_dir=tmp_path))  # fmt: skip
    assert result["subseed"] == ready.subseed
    fields = parse_infotext(result["infotexts"][0]).params
    assert fields["Variation seed"] == str(ready.subseed)
    assert (fields["Variation seed strength"], fields["Clip skip"]) == ("0.3", "2")
    with pytest.raises(InvalidRequest) as e:
        prepare(GenerateParams(model="tiny", clip_skip=12), ctx)
    assert e.value.field == "clip_skip"
    with pytest.raises(ValidationError, match="text-to-image only"):
        GenerateParams(init_image="a" * 64, subseed_strength=0.5)


def _edges(img: np.ndarray) -> float:
    """How far the wrapped edges differ, against neighbouring pixels inside the picture."""
    a = img.astype(float)
    edge = np.abs(a[:, 0] - a[:, -1]).mean() + np.abs(a[0] - a[-1]).mean()
    inner = np.abs(np.diff(a, axis=1)).mean() + np.abs(np.diff(a, axis=0)).mean()
    return float(edge / inner)


def test_tiling_wraps_the_edges_and_is_undone_after(tiny_pipe: Any) -> None:
    from difflab.diffusion.pipeline import tiled

    def image(seed: int) -> np.ndarray:
        out = generate(
            tiny_pipe, make_scheduler("DDIM", tiny_pipe.scheduler.config),
            prompt="a red circle", steps=4, seeds=[seed], width=64, height=64,
        )  # fmt: skip
        return np.asarray(out.images[0])

    plain = [image(s) for s in (0, 1, 2)]
    with tiled(tiny_pipe):
        wrapped = [image(s) for s in (0, 1, 2)]
    for p, w in zip(plain, wrapped, strict=True):
        assert _edges(w) < 1.4 < 2 < _edges(p)  # without tiling: a seam where it wraps
    assert np.array_equal(image(0), plain[0])  # zero padding again afterwards


def test_n_iter_runs_batches_in_turn_with_a1111_numbering(models_dir: Path, tmp_path: Path) -> None:
    params = GenerateParams(prompt="a red circle", model="tiny", steps=2, seed=10, width=32,
                            height=32, sampler="DDIM", batch_size=2, n_iter=2)  # fmt: skip
    sink = MemorySink()
    result = run(params, sink, RunContext(job_id="t", models_dir=models_dir, data_dir=tmp_path,
                                          work_dir=tmp_path))  # fmt: skip
    assert result["seeds"] == [10, 11, 12, 13] and len(result["images"]) == 4
    positions = [parse_infotext(t).params.get("Batch pos") for t in result["infotexts"]]
    assert positions == ["0", "1", "0", "1"]  # as A1111 numbers each batch
    frames = sink.of_type("denoise")
    assert [f["step"] for f in frames] == [0, 1, 2, 3] and {f["total"] for f in frames} == {4}
    assert sink.of_type("progress")[-1]["done"] == 4
    with pytest.raises(ValidationError, match="at most 64"):
        GenerateParams(batch_size=16, n_iter=5)

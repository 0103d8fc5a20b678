from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from difflab.diffusion import previews
from difflab.diffusion.previews import (
    LATENT_RGB_FILE,
    LatentRGB,
    decode_full,
    fit_latent_rgb,
    latent_rgb_for_model,
    noise_rgb,
    png_bytes,
    to_uint8,
)


def test_approx_map_reproduces_the_vae_better_than_a_constant(tiny_pipe: Any) -> None:
    vae = tiny_pipe.vae
    fitted = fit_latent_rgb(vae, samples=8, size=8, seed=0)
    assert fitted.stats["mse"] < fitted.stats["baseline_mse"]
    # On fresh latents, independent of the fit's own held-out set.
    z = torch.randn(4, 4, 8, 8, generator=torch.Generator().manual_seed(123))
    with torch.no_grad():
        target = F.avg_pool2d(decode_full(vae, z), kernel_size=8)  # (4, 3, 8, 8)
    approx = fitted.apply(z)
    constant = target.mean(dim=(0, 2, 3), keepdim=True)
    mse_fit = float(((approx - target) ** 2).mean())
    mse_const = float(((constant - target) ** 2).mean())
    assert mse_fit < 0.5 * mse_const, (mse_fit, mse_const)


def test_the_map_is_fitted_into_the_cache_never_the_model_and_reused(
    copy_model: Callable[[str], Path], tiny_pipe: Any, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    model = copy_model("tiny")
    before = sorted(p.name for p in model.iterdir())
    cache = tmp_path / "cache"
    first = latent_rgb_for_model(model, tiny_pipe.vae, cache)
    assert sorted(p.name for p in model.iterdir()) == before  # the model directory untouched
    (saved_path,) = cache.iterdir()
    saved = json.loads(saved_path.read_text())
    assert saved["version"] == 1 and len(saved["weight"]) == 3 and len(saved["weight"][0]) == 4
    assert saved["vae"] == previews.vae_digest(model)

    def no_fit(*a: object, **k: object) -> LatentRGB:
        raise AssertionError("refitted")

    monkeypatch.setattr(previews, "fit_latent_rgb", no_fit)
    previews._maps.clear()  # a new process: only the file is left
    again = latent_rgb_for_model(model, tiny_pipe.vae, cache)
    assert again == first


def test_a_map_the_model_ships_is_used_and_a_bad_or_stale_one_is_refitted_aside(
    copy_model: Callable[[str], Path], tiny_pipe: Any, tmp_path
) -> None:
    model = copy_model("tiny")
    shipped = previews.write_latent_rgb(model, tiny_pipe.vae)
    previews._maps.clear()
    assert latent_rgb_for_model(model, tiny_pipe.vae, tmp_path / "c0") == shipped
    assert not (tmp_path / "c0").exists()
    path = model / LATENT_RGB_FILE
    for i, content in enumerate(
        ("not json", json.dumps({"version": 1, "weight": [[1.0]], "bias": [0]}),
         json.dumps({"version": 1, "weight": [[0.0] * 4] * 3, "bias": [0.0] * 3, "vae": "stale"}))
    ):  # fmt: skip
        path.write_text(content)
        previews._maps.clear()
        fitted = latent_rgb_for_model(model, tiny_pipe.vae, tmp_path / f"c{i + 1}")
        assert fitted.stats["vae"] == previews.vae_digest(model)
        assert path.read_text() == content  # the model's file is left as it is
        (cached,) = (tmp_path / f"c{i + 1}").iterdir()
        assert json.loads(cached.read_text())["vae"] == fitted.stats["vae"]


def test_from_json_validates() -> None:
    good = {"version": 1, "weight": [[0.1] * 4] * 3, "bias": [0.5] * 3}
    assert LatentRGB.from_json(good, 4).bias == (0.5, 0.5, 0.5)
    for bad in ({**good, "version": 2}, {**good, "bias": [0.1]},
                {**good, "weight": [[float("nan")] * 4] * 3}, [1, 2]):  # fmt: skip
        with pytest.raises(ValueError):
            LatentRGB.from_json(bad, 4)


def test_images_tile_a_batch_into_a_small_png() -> None:
    batch = torch.rand(3, 3, 4, 5)
    arr = to_uint8(batch)
    assert arr.shape == (4, 15, 3) and arr.dtype == np.uint8
    # image 1 is columns 5..9
    expected = (batch[1].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
    assert np.array_equal(arr[:, 5:10], expected)
    img = Image.open(io.BytesIO(png_bytes(arr)))
    assert img.size == (15, 4) and np.array_equal(np.asarray(img), arr)
    eps = torch.zeros(1, 4, 2, 2)
    assert torch.allclose(noise_rgb(eps), torch.full((1, 3, 2, 2), 0.5))

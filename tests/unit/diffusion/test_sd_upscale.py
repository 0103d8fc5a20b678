"""A1111's SD upscale: the tiling, the blend, and the kind end to end."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

from difflab.diffusion import inputs
from difflab.diffusion.generate import GenerateParams, InvalidRequest, prepare, run
from difflab.diffusion.infotext import parse_infotext
from difflab.diffusion.sd_upscale import combine, split
from difflab.runtime import MemorySink, RunContext, SubmitContext


def test_tiles_cover_the_picture_and_the_last_ones_sit_flush() -> None:
    tiles = split(128, 96, 64, 64, 8)
    assert [y for y, _ in tiles.rows] == [0, 32]  # 2 rows: (96 - 8) / 56 -> 2
    assert tiles.rows[0][1] == [0, 32, 64]  # 3 columns, the last one flush right
    assert all(x + 64 <= 128 and y + 64 <= 96 for x, y, _, _ in tiles.boxes())
    assert split(64, 64, 64, 64, 8).boxes() == [(0, 0, 64, 64)]


def test_combining_the_unchanged_tiles_gives_the_picture_back() -> None:
    rng = np.random.default_rng(0)
    pic = Image.fromarray(rng.integers(0, 255, (96, 128, 3), dtype=np.uint8))
    tiles = split(128, 96, 64, 64, 16)
    back = combine(tiles, [pic.crop(b) for b in tiles.boxes()])
    assert np.array_equal(np.asarray(back), np.asarray(pic))  # blending equal pixels


def test_the_kind_redraws_tiles_and_blends_them(models_dir: Path, tmp_path: Path) -> None:
    init = inputs.store(tmp_path, Image.new("RGB", (40, 40), (200, 40, 40))).id
    params = GenerateParams(
        prompt="a red circle", model="tiny", steps=4, seed=3, width=32, height=32,
        sampler="DDIM", init_image=init, strength=0.5,
        sd_upscale={"overlap": 8, "upscaler": "Lanczos", "scale": 2},
    )  # fmt: skip
    sink = MemorySink()
    result = run(params, sink, RunContext("t", models_dir=models_dir, data_dir=tmp_path,
                                          work_dir=tmp_path))  # fmt: skip
    out = Image.open(io.BytesIO(sink.artifacts["final/image_0.png"]))
    assert out.size == (80, 80)  # 40 x 2, in 3 x 3 tiles of 32
    frames = sink.of_type("denoise")
    assert [f["step"] for f in frames] == [0, 1, 2, 3]  # 2 chunks (8 + 1 tiles) x 2 steps
    assert result["steps"] == 4
    fields = parse_infotext(result["infotexts"][0]).params
    assert (fields["SD upscale overlap"], fields["SD upscale upscaler"]) == ("8", "Lanczos")
    ctx = SubmitContext(models_dir=models_dir, data_dir=tmp_path)
    with pytest.raises(InvalidRequest) as e:  # the overlap must be smaller than a tile
        prepare(params.model_copy(update={"sd_upscale": params.sd_upscale.model_copy(
            update={"overlap": 40})}), ctx)  # type: ignore[union-attr]  # fmt: skip
    assert e.value.field == "sd_upscale"
    with pytest.raises(ValidationError, match="init_image"):
        GenerateParams(sd_upscale={"scale": 2})

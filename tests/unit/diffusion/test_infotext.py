from __future__ import annotations

import io

import pytest
from PIL import Image

from difflab.diffusion.infotext import (
    Infotext,
    format_infotext,
    generation_params,
    parse_infotext,
    png_with_parameters,
    read_png_parameters,
)


def _params(**kw: object) -> dict[str, object]:
    args: dict[str, object] = {"steps": 25, "sampler": "DPM++ 2M", "schedule": "Automatic",
                               "cfg_scale": 7.0, "seed": 1, "width": 64, "height": 64,
                               "model": "house", **kw}  # fmt: skip
    return generation_params(**args)  # type: ignore[arg-type]


def test_format_matches_automatic1111() -> None:
    text = format_infotext("a red circle on the left", "blurry", _params())
    assert text == (
        "a red circle on the left\nNegative prompt: blurry\n"
        "Steps: 25, Sampler: DPM++ 2M, CFG scale: 7, Seed: 1, Size: 64x64, Model: house"
    )
    no_negative = format_infotext("x", "", _params(cfg_scale=7.5, schedule="Karras", eta=0.3))
    assert no_negative == (
        "x\nSteps: 25, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7.5, Seed: 1, "
        "Size: 64x64, Model: house, Eta: 0.3"
    )


@pytest.mark.parametrize(
    ("prompt", "negative", "extra"),
    [
        ("a red circle", "", {}),
        ("a red circle, on the left: big", "blurry, dark", {"Version": 'difflab "0.1", beta'}),
        ("line one\nline two", "neg one\nneg two", {"Batch size": 2, "Batch pos": 1}),
        ("ein roter Kreis ü €", "», «", {"Model": "sd-1.5"}),
    ],
)
def test_round_trip(prompt: str, negative: str, extra: dict[str, object]) -> None:
    params = {**_params(), **extra}
    parsed = parse_infotext(format_infotext(prompt, negative, params))
    expected = {k: str(v) if not isinstance(v, float) else "7" for k, v in params.items()
                if v is not None}  # fmt: skip
    assert parsed == Infotext(prompt, negative, expected)


def test_parses_an_automatic1111_infotext() -> None:
    text = (
        "masterpiece, 1girl\nNegative prompt: lowres, bad anatomy\n"
        "Steps: 20, Sampler: Euler a, Schedule type: Karras, CFG scale: 7, Seed: 42, "
        'Size: 512x768, Model hash: 6ce0161689, Model: v1-5, Lora hashes: "a: 1, b: 2", '
        "Version: v1.9.0"
    )
    parsed = parse_infotext(text)
    assert parsed.prompt == "masterpiece, 1girl"
    assert parsed.negative_prompt == "lowres, bad anatomy"
    assert parsed.params["Sampler"] == "Euler a" and parsed.params["Size"] == "512x768"
    assert parsed.params["Lora hashes"] == "a: 1, b: 2"
    assert parse_infotext("just a prompt: nothing else").params == {}


def test_png_carries_parameters_and_json() -> None:
    image = Image.new("RGB", (8, 8), (200, 10, 10))
    for prompt in ("a red circle", "ein Kreis € ü"):  # tEXt (Latin-1) and iTXt (UTF-8)
        text = format_infotext(prompt, "", _params())
        data = png_with_parameters(image, text, {"seed": 1, "prompt": prompt})
        infotext, meta = read_png_parameters(data)
        assert infotext == text and meta == {"seed": 1, "prompt": prompt}
        assert Image.open(io.BytesIO(data)).getpixel((0, 0)) == (200, 10, 10)
    plain = io.BytesIO()
    image.save(plain, format="PNG")
    assert read_png_parameters(plain.getvalue()) == (None, None)

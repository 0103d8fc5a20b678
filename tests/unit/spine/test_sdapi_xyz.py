"""A1111's X/Y/Z plot script on /sdapi/v1/txt2img and img2img: its script_args read as A1111's
scripts/xyz_grid.py reads them (value lists and ranges, the layouts of its versions, axis
indices and labels), and what difflab cannot carry out refused with a 422 naming script_args,
nothing enqueued. The plots themselves run in tests/integration/test_a1111_xyz.py."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from difflab.api.a1111_xyz import XY_PLOT, XYZ_PLOT, axes_of, parse_values, read_plot, split_values
from difflab.db.engine import session_scope
from difflab.db.models import Job
from difflab.diffusion.generate import GenerateParams
from tests.unit.conftest import MakeClient
from tests.unit.security.helpers import ADMIN

BASE = GenerateParams(prompt="a red circle", negative_prompt="blurry", steps=3)


# --- values, against the examples of A1111's documentation -------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "values"),
    [
        ("1-5", "int", [1, 2, 3, 4, 5]),
        ("1-5 (+2)", "int", [1, 3, 5]),
        ("10-5 (-3)", "int", [10, 7]),
        ("1-10 [5]", "int", [1, 3, 5, 7, 10]),
        ("1-3 (+0.5)", "float", [1.0, 1.5, 2.0, 2.5, 3.0]),
        ("0.0-1.0 [6]", "float", [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        ("-1, 7, 2-4", "int", [-1, 7, 2, 3, 4]),  # a lone negative number is no range
        ("5-1 (-1)", "int", [5, 4, 3]),  # A1111's end + 1 holds for a falling range too
        ("0-1 (+0.3)", "float", [0.0, 0.3, 0.6, 0.9, 1.2]),  # numpy's arange, past the end
        ("7, 7.5", "float", [7.0, 7.5]),
        ("DDIM, Euler a", "str", ["DDIM", "Euler a"]),
        ("1-3", "str", ["1-3"]),  # ranges are for number axes only
    ],
)
def test_values_are_read_as_a1111_reads_them(text: str, kind: Any, values: list[Any]) -> None:
    got = parse_values(split_values(text), kind)
    assert got == pytest.approx(values) if kind == "float" else got == values
    assert all(type(v) is {"int": int, "float": float, "str": str}[kind] for v in got)


def test_values_are_one_csv_line_whose_quotes_keep_commas() -> None:
    # A1111's Prompt S/R example: quotes right after the comma keep it in the value
    assert split_values("darkness,light,green,heat") == ["darkness", "light", "green", "heat"]
    assert split_values('"darkness, light",green,heat') == ["darkness, light", "green", "heat"]
    assert split_values('a, "b, c"') == ["a", '"b', 'c"']  # a space first: no quoting
    assert split_values("an apple, a watermelon, a gun") == ["an apple", "a watermelon", "a gun"]
    assert split_values("") == []


@pytest.mark.parametrize(
    ("text", "kind", "message"),
    [
        ("2.5", "int", "not an integer"),
        ("1-10 (2)", "int", "not an integer"),  # a step needs its sign
        ("1-5 (+0)", "int", "a step of 0"),
        ("abc", "float", "not a number"),
        ("inf", "float", "not a finite number"),
        ("1-1000000000", "int", "at most 100"),
        ("1-2 [500]", "float", "at most 100"),
        (",".join(["1"] * 101), "int", "at most 100"),
    ],
)
def test_values_a1111_could_not_read_or_too_many_say_why(
    text: str, kind: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        parse_values(split_values(text), kind)


# --- script_args ----------------------------------------------------------------------------------


def _index(label: str, route: Any = "txt2img", script: str = XYZ_PLOT) -> int:
    return axes_of(script, route).index(label)


def test_axis_indices_follow_a1111s_list_of_that_route() -> None:
    txt2img, img2img = axes_of(XYZ_PLOT, "txt2img"), axes_of(XYZ_PLOT, "img2img")
    # the first ten are the same in every A1111 version
    assert txt2img[:10] == (
        "Nothing", "Seed", "Var. seed", "Var. strength", "Steps", "Hires steps", "CFG Scale",
        "Prompt S/R", "Prompt order", "Sampler",
    )  # fmt: skip
    assert img2img[:11] == ("Nothing", "Seed", "Var. seed", "Var. strength", "Steps",
                            "CFG Scale", "Image CFG Scale", "Prompt S/R", "Prompt order",
                            "Sampler", "Checkpoint name")  # fmt: skip
    assert (txt2img.index("Checkpoint name"), txt2img.index("Denoising")) == (11, 25)
    assert (len(txt2img), len(img2img)) == (42, 41)
    assert axes_of(XY_PLOT, "txt2img").index("Checkpoint name") == 10


def test_index_and_label_axis_types_make_the_same_plot() -> None:
    by_index = read_plot(XYZ_PLOT, [4, "2-3", "", 7, "red, blue", "", 0, "", ""], BASE, "txt2img")
    by_label = read_plot(
        XYZ_PLOT, ["steps", "2-3", [], "Prompt S/R", "red, blue", [], "Nothing"], BASE, "txt2img"
    )
    for plot in (by_index, by_label):
        p = plot.params
        assert (p.x.field, p.x.values) == ("steps", [2, 3])
        assert p.y is not None and (p.y.field, p.y.values) == ("prompt_sr", ["red", "blue"])
        assert p.z is None and p.draw_legend is True
        assert not plot.include_lone_images and plot.fixed_seeds


def test_every_layout_of_a1111s_versions_is_read() -> None:
    seed_steps = (1, "1, 2", 4, "2, 3")
    x, xv, y, yv = seed_steps
    layouts = {
        # 1.6 and later: vary_seeds_x/y/z before margin_size; flags as the webuiapi sends them
        "1.6": [x, xv, [], y, yv, [], 0, "", [], "False", "True", "False", "False",
                "False", "False", "False", 0, "False"],
        # 1.1 to 1.5: margin_size (a number) where 1.6 has vary_seeds_x
        "1.1": [x, xv, "", y, yv, "", 0, "", "", False, True, False, False, 0, False],
        "1.1 short": [x, xv, "", y, yv, "", 0, "", "", False, True, False, False, 0],
        # the first X/Y/Z plot: no dropdowns
        "first": [x, xv, y, yv, 0, "", False, True, False, False, 0],
    }  # fmt: skip
    for name, args in layouts.items():
        plot = read_plot(XYZ_PLOT, args, BASE, "txt2img")
        assert plot.params.x.values == [1, 2] and plot.params.y is not None, name
        assert plot.params.y.values == [2, 3], name
        assert plot.params.draw_legend is False and plot.include_lone_images, name
    # the X/Y plot: x_type, x_values, y_type, y_values, draw_legend, include_lone_images, ...
    plot = read_plot(XY_PLOT, [_index("Steps", script=XY_PLOT), "2,3", 0, "", True, False, False],
                     BASE, "txt2img")  # fmt: skip
    assert plot.params.x.field == "steps" and plot.params.y is None


def test_dropdown_axes_read_the_dropdown_unless_csv_mode() -> None:
    sampler = _index("Sampler")
    dropdown = [sampler, "PLMS", ["DDIM", "Euler a"]]
    assert read_plot(XYZ_PLOT, dropdown, BASE, "txt2img").params.x.values == ["DDIM", "Euler a"]
    csv_mode = [*dropdown, 0, "", [], 0, "", [], True, False, False, False,
                False, False, False, 0, True]  # fmt: skip
    assert read_plot(XYZ_PLOT, csv_mode, BASE, "txt2img").params.x.values == ["PLMS"]
    # an empty dropdown: the text (what clients written for A1111 before dropdowns send)
    assert read_plot(XYZ_PLOT, [sampler, "DDIM, LMS", ""], BASE, "txt2img").params.x.values == [
        "DDIM",
        "LMS",
    ]
    checkpoint = read_plot(XYZ_PLOT, ["Checkpoint name", "", ["house.safetensors [0a1b]"]], BASE,
                           "txt2img")  # fmt: skip
    assert checkpoint.params.x == checkpoint.params.x.model_copy(
        update={"field": "model", "values": ["house"]}
    )


def test_seeds_are_fixed_as_a1111_fixes_them() -> None:
    fixed = read_plot(XYZ_PLOT, ["Seed", "-1, 7"], BASE, "txt2img")
    drawn, seven = fixed.params.x.values
    assert seven == 7 and isinstance(drawn, int) and 0 <= drawn < 2**32
    kept = read_plot(XYZ_PLOT, ["Seed", "-1, 7", [], 0, "", [], 0, "", [], True, False, False,
                                True], BASE, "txt2img")  # fmt: skip
    assert kept.params.x.values == [-1, 7] and not kept.fixed_seeds  # each cell draws its own
    varied = read_plot(XYZ_PLOT, ["Var. strength", "0, 0.5"], BASE, "txt2img")
    assert varied.params.base.subseed >= 0  # one variation seed for every cell


def test_denoising_is_img2img_strength_or_the_hires_strength() -> None:
    img = read_plot(XYZ_PLOT, [_index("Denoising", "img2img"), "0.5, 0.75"], BASE, "img2img")
    assert img.params.x.field == "strength"
    hires = BASE.model_copy(update={"enable_hr": True})
    txt = read_plot(XYZ_PLOT, [_index("Denoising"), "0.5, 0.75"], hires, "txt2img")
    assert txt.params.x.field == "hr_strength"


# --- refusals through the routes ----------------------------------------------------------------


def _jobs() -> int:
    with session_scope() as s:
        return int(s.scalar(select(func.count()).select_from(Job)) or 0)


@pytest.fixture
def sdapi(make_client: MakeClient, embedded_env: dict[str, str]) -> tuple[TestClient, dict]:
    from difflab.diffusion.tiny import build_tiny_pipeline_dir

    build_tiny_pipeline_dir(Path(embedded_env["DIFFLAB_MODELS_DIR"]) / "house", seed=0)
    c = make_client()
    token = base64.b64encode(f"{ADMIN[0]}:{ADMIN[1]}".encode()).decode()
    return c, {"authorization": f"Basic {token}"}


TXT2IMG = {"prompt": "a red circle", "steps": 3, "width": 32, "height": 32, "seed": 1,
           "script_name": "X/Y/Z plot"}  # fmt: skip


REFUSED = [
    ({"script_args": [_index("Hires steps"), "1, 2"]}, 0, ["'Hires steps'", "not one"]),
    ({"script_args": ["VAE", "Automatic"]}, 0, ["'VAE'", "not one"]),
    ({"script_args": [99, "1"]}, 0, ["99", "0 to 41"]),
    ({"script_args": ["Image CFG Scale", "1"]}, 0, ["img2img only"]),
    ({"script_args": ["Steps", "1-11", [], "Seed", "1-10"]}, None, ["110 cells", "100"]),
    ({"script_args": ["Steps", "2, x"]}, 1, ["X values (Steps)", "'x'"]),
    ({"script_args": ["Prompt S/R", "green, blue"]}, 1, ["'green' is not in the prompt"]),
    ({"script_args": [0, "", [], "Steps", "2, 3"]}, 0, ["Nothing on X"]),
    ({"script_args": ["Steps", "2", [], "Steps", "3"]}, None, ["different"]),
    ({"script_args": ["Denoising", "0.5"]}, 0, ["enable_hr"]),
    ({"script_args": ["Steps", "2", [], 0, "", [], 0, "", [], True, False, False, False,
                      True]}, 13, ["vary_seeds_x"]),
    ({"script_args": ["Steps", "2", [], 0, "", [], 0, "", [], True, False, False, False,
                      False, False, False, 40]}, 16, ["margin"]),
    ({"script_args": ["Steps", "2", [], 0, "", [], 0, "", [], "maybe"]}, 9, ["draw_legend"]),
    ({"script_args": ["Steps", "2", [], 0, "", [], 0, "", [], True, False, False, True],
      "seed": -1}, 12, ["no_fixed_seeds"]),
    ({"script_args": ["Steps", "2", [], *[0] * 16]}, 18, ["at most 18"]),
    ({"script_args": "Steps"}, None, ["as a list"]),
    ({"script_args": ["Sampler", "", ["DDIM", "Nope"]]}, 2, ["X values (Sampler)", "Nope"]),
    ({"script_args": ["Checkpoint name", "", ["missing"]]}, 2, ["unknown model"]),
]  # fmt: skip


def test_a_plot_difflab_cannot_carry_out_is_422_naming_script_args(sdapi) -> None:
    c, basic = sdapi
    before = _jobs()
    for change, loc, words in REFUSED:
        r = c.post("/sdapi/v1/txt2img", json={**TXT2IMG, **change}, headers=basic)
        assert r.status_code == 422, (change, r.text)
        (err,) = r.json()["detail"]
        assert err["loc"] == ["body", "script_args", *([] if loc is None else [loc])], err
        assert all(w in err["msg"] for w in words), err
    assert _jobs() == before


def test_what_a_plot_cannot_be_made_of_is_named_and_other_scripts_are_refused(sdapi) -> None:
    c, basic = sdapi
    before = _jobs()
    r = c.post("/sdapi/v1/txt2img", json={**TXT2IMG, "batch_size": 2, "script_args": [1, "1"]},
               headers=basic)  # fmt: skip
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "batch_size"]
    r = c.post("/sdapi/v1/txt2img", json={**TXT2IMG, "script_name": "prompt matrix"},
               headers=basic)  # fmt: skip
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "script_name"]
    assert "x/y/z plot" in r.json()["detail"][0]["msg"]
    # img2img refuses before it stores the init image
    img = {**TXT2IMG, "init_images": ["not base64 at all"], "script_args": ["VAE", "x"]}
    r = c.post("/sdapi/v1/img2img", json=img, headers=basic)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "script_args", 0]
    # the base generation is checked as the plain route checks it
    bad_model = {**TXT2IMG, "script_args": ["Steps", "2"],
                 "override_settings": {"sd_model_checkpoint": "missing"}}  # fmt: skip
    r = c.post("/sdapi/v1/txt2img", json=bad_model, headers=basic)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "model"]
    assert _jobs() == before

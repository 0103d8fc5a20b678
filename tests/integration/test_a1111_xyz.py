"""A1111's X/Y/Z plot script through /sdapi/v1/txt2img and img2img with a real worker and the
tiny model: one `xyz` job whose cells are generations, answered as A1111 answers (the grid, the
sub-grids and the cells asked for, one infotext per image, seeds and prompts per cell), by axis
index and by label, from plain HTTP and from the webuiapi client; /progress follows the plot and
/interrupt stops all of it."""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from typing import Any
from urllib.parse import urlparse

import httpx
import numpy as np
import pytest
import webuiapi
from PIL import Image

from difflab.api.a1111_xyz import XYZ_PLOT, axes_of
from tests.utils.services import ADMIN_PASSWORD, wait_for

pytestmark = pytest.mark.integration

BASE = {"prompt": "a red circle", "negative_prompt": "", "steps": 3, "width": 32, "height": 32,
        "sampler_name": "DDIM", "cfg_scale": 5}  # fmt: skip


def _index(label: str, route: Any = "txt2img") -> int:
    return axes_of(XYZ_PLOT, route).index(label)


@pytest.fixture
def a1111(gen_deployment):
    with httpx.Client(base_url=gen_deployment.base, timeout=120,
                      auth=httpx.BasicAuth("admin", ADMIN_PASSWORD)) as c:  # fmt: skip
        yield c


def _images(body: dict[str, Any]) -> list[Image.Image]:
    return [Image.open(io.BytesIO(base64.b64decode(i))) for i in body["images"]]


def _rgb(im: Image.Image) -> np.ndarray:
    return np.asarray(im.convert("RGB"))


@pytest.mark.timeout(300)
def test_a_2x2_plot_by_axis_index_answers_the_grid_and_every_cell(a1111) -> None:
    args = [_index("Steps"), "2-3", "", _index("Seed"), "5, 6", "", 0, "", "",
            False, True, False, False, False, False, False, 0, False]  # fmt: skip
    body = {**BASE, "script_name": "x/y/z plot", "script_args": args}
    answer: dict[str, Any] = {}
    thread = threading.Thread(
        target=lambda: answer.update(r=a1111.post("/sdapi/v1/txt2img", json=body))
    )
    thread.start()
    seen: list[dict[str, Any]] = []
    with httpx.Client(base_url=str(a1111.base_url), auth=a1111.auth, timeout=30) as poll:
        while thread.is_alive():
            state = poll.get("/sdapi/v1/progress", params={"skip_current_image": True}).json()
            if state["state"]["job_count"]:
                seen.append(state)
            time.sleep(0.05)
    thread.join()
    r = answer["r"]
    assert r.status_code == 200, r.text
    grid, *cells = _images(r.json())
    # no legend: the grid is the four 32x32 cells, x (steps) across, y (seed) down
    assert grid.size == (64, 64) and len(cells) == 4
    assert {c.size for c in cells} == {(32, 32)}
    for k, cell in enumerate(cells):
        ix, iy = k % 2, k // 2
        box = (32 * ix, 32 * iy, 32 * ix + 32, 32 * iy + 32)
        assert np.array_equal(_rgb(grid.crop(box)), _rgb(cell)), k
    info = json.loads(r.json()["info"])
    assert info["index_of_first_image"] == 1
    assert info["all_seeds"] == [5, 5, 6, 6] and len(info["infotexts"]) == 5
    for k, text in enumerate(info["infotexts"][1:]):
        steps, seed = (2, 3)[k % 2], (5, 6)[k // 2]
        assert f"Steps: {steps}," in text and f"Seed: {seed}," in text, text
        assert cells[k].info["parameters"] == text
    head = info["infotexts"][0]
    for part in ("Script: X/Y/Z plot", "X Type: Steps", "X Values: 2-3", "Y Type: Seed",
                 'Y Values: "5, 6"', 'Fixed Y Values: "5, 6"'):  # fmt: skip
        assert part in head, head
    assert r.json()["parameters"]["script_args"] == args
    # /progress spoke of the plot while it ran: its four cells, counted as they ended
    assert seen and {s["state"]["job_count"] for s in seen} == {4}
    assert [s["state"]["job_no"] for s in seen] == sorted(s["state"]["job_no"] for s in seen)
    assert all(0 <= s["progress"] <= 1 for s in seen)


@pytest.mark.timeout(300)
def test_the_webuiapi_client_plots_by_label_with_a_legend_and_sub_grids(gen_deployment) -> None:
    host = urlparse(gen_deployment.base)
    client = webuiapi.WebUIApi(host=host.hostname, port=host.port)
    client.set_auth("admin", ADMIN_PASSWORD)
    result = client.txt2img(
        prompt="a red circle", seed=3, steps=2, width=32, height=32, sampler_name="DDIM",
        script_name="X/Y/Z Plot",
        # flags as strings, as the client's documentation sends them
        script_args=["CFG Scale", "1, 7", "", "Prompt S/R", "red, blue", "", "Nothing", "", "",
                     "True", "False", "True", "False", "False", "False", "False", 0, "False"],
    )  # fmt: skip
    grid, sub = result.images  # the grid and the one sub-grid (no Z axis); no cells
    assert grid.width > 64 and grid.height > 64  # 2x2 cells of 32 and the labels
    assert sub.size == grid.size
    info = result.info
    # all_prompts and all_seeds: the sub-grid's (its first cell's), then each cell's
    assert info["all_prompts"] == ["a red circle", "a red circle", "a red circle",
                                   "a blue circle", "a blue circle"]  # fmt: skip
    assert info["all_seeds"] == [3] * 5
    texts = info["infotexts"]
    assert len(texts) == 6  # grid, sub-grid, four cells
    assert "CFG scale: 1," in texts[2] and "CFG scale: 7," in texts[3]
    assert texts[4].startswith("a blue circle\n")
    assert "Y Type: Prompt S/R" in texts[1] and "Z Type" not in texts[1]


@pytest.mark.timeout(300)
def test_img2img_plots_the_denoising_strength_in_blocks_per_seed(a1111) -> None:
    init = io.BytesIO()
    Image.new("RGB", (32, 32), (30, 90, 200)).save(init, format="PNG")
    image = base64.b64encode(init.getvalue()).decode()
    args = [_index("Denoising", "img2img"), "0.5, 1", [], 0, "", [], _index("Seed", "img2img"),
            "1, 2", [], True, True, True]  # fmt: skip
    body = {**BASE, "steps": 4, "init_images": [image], "script_name": "x/y/z plot",
            "script_args": args}  # fmt: skip
    r = a1111.post("/sdapi/v1/img2img", json=body)
    assert r.status_code == 200, r.text
    grid, sub1, sub2, *cells = _images(r.json())  # the grid, a sub-grid per seed, the cells
    assert len(cells) == 4 and sub1.size == sub2.size and sub1.width >= 64
    assert grid.width > 2 * sub1.width  # the two blocks side by side
    info = json.loads(r.json()["info"])
    assert info["all_seeds"] == [1, 2, 1, 1, 2, 2]  # the sub-grids', then the cells'
    texts = info["infotexts"]
    assert "Z Type: Seed" in texts[0] and "Z Type" not in texts[1] + texts[2]
    assert "Denoising strength: 0.5," in texts[3] and "Denoising strength: 1," in texts[4]
    assert "Seed: 2," in texts[5]
    assert r.json()["parameters"]["init_images"] is None  # as A1111 echoes it


@pytest.mark.timeout(300)
def test_interrupt_stops_the_whole_plot(gen_deployment, a1111) -> None:
    args = [_index("Seed"), "1-10", "", _index("CFG Scale"), "1-10", ""]  # 100 cells
    body = {**BASE, "steps": 2, "script_name": "x/y/z plot", "script_args": args}
    answer: dict[str, Any] = {}
    thread = threading.Thread(
        target=lambda: answer.update(r=a1111.post("/sdapi/v1/txt2img", json=body))
    )
    thread.start()
    with httpx.Client(base_url=str(a1111.base_url), auth=a1111.auth, timeout=30) as c:
        wait_for(
            lambda: c.get("/sdapi/v1/progress").json()["state"]["job_count"] == 100,
            timeout=60, what="the plot to start",
        )  # fmt: skip
        assert c.post("/sdapi/v1/interrupt").json()["interrupted"] >= 1
    thread.join(timeout=120)
    r = answer["r"]
    assert r.status_code == 409 and "X/Y/Z plot cancelled" in r.json()["detail"], r.text
    api = gen_deployment.api()
    # no cell of the plot is left to run
    wait_for(
        lambda: not any(
            api.get("/api/v1/jobs", params={"kind": "generate", "state": state}).json()["count"]
            for state in ("queued", "running")
        ),
        timeout=60, what="the plot's cells to be cancelled",
    )  # fmt: skip

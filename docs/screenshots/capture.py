"""The README's studio screenshots, taken from the real thing: the shipped house model.

Starts difflab as `make run` does (`difflab serve` with its embedded worker and SQLite, in a
temporary data directory) on `models/` (the house model, 64x64), drives Debian's Chromium with
Playwright as a person would, and saves, 1280 pixels wide:

  studio.png    txt2img finished: the frames of every step, the image, the replay
  img2img.png   that image as the init image, redrawn at a denoising strength
  inpaint.png   a mask painted over it, and the repainted result
  outpaint.png  the result extended to the right by 32 px and the new border inpainted
  xyz.png       an X/Y/Z plot, seed x guidance scale, 2 x 2

and, in a browser whose language is Chinese (Debian's fonts-noto-cjk draws the characters):

  zh-studio.png   the studio in Chinese: settings explained, the words the model knows
  zh-run.png      a lab run (linear regression) with its formulas and live values
  zh-learn.png    the learn page

The other screenshots (admin, training, learn, login) are left as they are. The frontend must
be built (`make install`). It takes a few minutes on two CPU cores.

    .venv/bin/python docs/screenshots/capture.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.bench_api_generate import deployment  # noqa: E402
from tests.utils.browser import CHROMIUM_ARGS, chromium_path  # noqa: E402
from tests.utils.services import ADMIN_PASSWORD  # noqa: E402

# in the house model's grammar (docs/house-model.md): colors, shapes, positions, backgrounds
PROMPT = "a red circle on the left and a blue square on the right"
INPAINT_PROMPT = "a red circle on the left and a green triangle on the right on a gray background"
SEED = 3
VIEWPORT = {"width": 1280, "height": 900}
# a PNG over this is re-saved with a 256-colour palette
MAX_BYTES = 400_000
TIMEOUT_MS = 300_000


def sign_in(page: Any) -> None:
    page.goto("/login")
    page.get_by_test_id("login-username").fill("admin")
    page.get_by_test_id("login-password").fill(ADMIN_PASSWORD)
    page.get_by_test_id("login-submit").click()
    page.get_by_test_id("nav-studio").wait_for()


def generate(page: Any) -> Any:
    """Press Generate and wait for that generation's image; returns its view."""
    with page.expect_response(
        lambda r: r.request.method == "POST" and r.url.endswith("/api/v1/generations")
    ) as response:
        page.get_by_test_id("generate").click()
    body = response.value.json()
    if response.value.status != 202:
        raise RuntimeError(f"the generation was refused: {body}")
    view = page.locator(f'section.generation[data-job="{body["job"]["id"]}"]')
    view.get_by_test_id("final-image").first.wait_for(timeout=TIMEOUT_MS)
    page.wait_for_function(
        "(img) => img.complete && img.naturalWidth > 0",
        arg=view.get_by_test_id("final-image").first.element_handle(),
    )
    return view


def paint(page: Any, rows: list[float], x0: float, x1: float) -> None:
    """Brush strokes across the mask canvas: one per row, from x0 to x1 (fractions of it)."""
    canvas = page.get_by_test_id("mask-canvas").locator("canvas").first
    canvas.wait_for()
    box = canvas.bounding_box()
    for row in rows:
        y = box["y"] + box["height"] * row
        page.mouse.move(box["x"] + box["width"] * x0, y)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * x1, y, steps=12)
        page.mouse.up()


def save(page: Any, path: Path, until: Any = None) -> None:
    """The page from the top to the end of the studio's form and result columns (not the
    gallery), or only to the end of `until` and the form."""
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_timeout(600)  # the smooth scroll and the images settle
    boxes = [page.locator(".studio__main").bounding_box()]
    if until is not None:
        boxes = [page.locator(".studio-form").bounding_box(), until.bounding_box()]
    bottom = max(b["y"] + b["height"] for b in boxes)
    height = max(VIEWPORT["height"], round(bottom + 16))
    clip = {"x": 0, "y": 0, "width": VIEWPORT["width"], "height": height}
    page.screenshot(path=str(path), full_page=True, clip=clip)
    shrink(path)


def capture(page: Any, out: Path) -> None:
    sign_in(page)
    page.get_by_test_id("prompt").fill(PROMPT)
    page.get_by_test_id("seed").fill(str(SEED))
    page.get_by_test_id("steps").fill("25")

    # txt2img: the frames of every step and the image
    made = generate(page)
    save(page, out / "studio.png")

    # img2img: the image as the init image, a new colour at strength 0.7
    made.get_by_test_id("send-img2img").first.click()
    page.get_by_test_id("init-image").wait_for()
    page.get_by_test_id("prompt").fill("a yellow circle on the left and a blue square on the right")
    page.get_by_test_id("strength").fill("0.7")
    generate(page)
    save(page, out / "img2img.png")

    # inpaint: the same init image (kept across modes), the right-hand object masked
    page.get_by_test_id("mode-inpaint").click()
    for _ in range(2):  # the mask editor at 50%, so the result shows beside it
        page.get_by_role("button", name="Zoom out").click()
    page.get_by_test_id("mask-size").fill("10")
    paint(page, [0.32, 0.45, 0.58, 0.68], 0.55, 0.92)
    page.get_by_test_id("prompt").fill(INPAINT_PROMPT)
    page.get_by_test_id("strength").fill("0.85")
    made = generate(page)
    save(page, out / "inpaint.png", until=made.locator(".finals"))

    # outpaint: that result extended 32 px to the right, the new border inpainted
    made.get_by_test_id("send-inpaint").first.click()
    page.get_by_test_id("mask-canvas").wait_for()
    page.get_by_test_id("extend-by").select_option("32")
    page.get_by_test_id("extend-right").click()
    page.get_by_test_id("outpaint-note").wait_for()
    made = generate(page)
    save(page, out / "outpaint.png", until=made.locator(".finals"))

    # X/Y/Z plot: seed x guidance scale, 2 x 2, over txt2img (seed across the top: the grid's
    # column labels are as wide as a 64-pixel cell, "Seed: 3" fits, "CFG Scale: 1.5" does not)
    page.get_by_test_id("mode-txt2img").click()
    page.get_by_test_id("prompt").fill(PROMPT)
    page.get_by_test_id("width").select_option("")  # back to auto from the outpainted size
    page.get_by_test_id("height").select_option("")
    page.get_by_test_id("xyz-panel").locator("summary").click()
    page.get_by_test_id("xyz-field-x").select_option("seed")
    page.get_by_test_id("xyz-values-x").fill(f"{SEED}, {SEED + 1}")
    page.get_by_test_id("xyz-field-y").select_option("guidance_scale")
    page.get_by_test_id("xyz-values-y").fill("1.5, 6")
    page.get_by_test_id("xyz-run").click()
    page.get_by_test_id("xyz-view").get_by_test_id("xyz-grid").wait_for(timeout=TIMEOUT_MS)
    save(page, out / "xyz.png")


def capture_zh(page: Any, out: Path) -> None:
    """The Chinese UI (the browser's language is zh-CN, so the app starts in Chinese)."""
    sign_in(page)
    page.get_by_test_id("prompt").fill(PROMPT)
    page.get_by_test_id("seed").fill(str(SEED))
    generate(page)
    save(page, out / "zh-studio.png")

    page.goto("/train?kind=lab.linear_regression")
    page.get_by_test_id("launch-submit").click()
    page.wait_for_url("**/train/*-*")
    page.locator(".katex").first.wait_for()
    page.locator('.page__head [data-state="succeeded"]').wait_for(timeout=TIMEOUT_MS)
    page.wait_for_timeout(1500)  # the last metrics and images arrive
    page.screenshot(path=str(out / "zh-run.png"), full_page=True)

    page.get_by_test_id("nav-learn").click()
    page.get_by_test_id("pipeline").locator("img.stage__image").wait_for(timeout=TIMEOUT_MS)
    page.wait_for_timeout(1000)
    page.screenshot(path=str(out / "zh-learn.png"), full_page=True)
    for name in ("zh-run.png", "zh-learn.png"):
        shrink(out / name)


def shrink(path: Path) -> None:
    if path.stat().st_size > MAX_BYTES:
        from PIL import Image

        with Image.open(path) as im:
            im.convert("RGB").quantize(256).save(path, optimize=True)
    print(f"{path}: {path.stat().st_size // 1024} KiB", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--zh-only", action="store_true", help="only the Chinese screenshots")
    args = parser.parse_args()
    if not (ROOT / "frontend" / "dist" / "index.html").is_file():
        sys.exit("the frontend is not built (make install)")
    executable = chromium_path()
    if executable is None:
        sys.exit("Chromium is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="difflab-shots-") as tmp,
        deployment("embedded", Path(tmp), ROOT / "models") as (base, _env),
        sync_playwright() as p,
    ):
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        page = browser.new_context(base_url=base, viewport=VIEWPORT).new_page()
        page.set_default_timeout(30_000)
        try:
            if not args.zh_only:
                capture(page, args.out.resolve())
            zh = browser.new_context(base_url=base, viewport=VIEWPORT, locale="zh-CN")
            zh_page = zh.new_page()
            zh_page.set_default_timeout(30_000)
            capture_zh(zh_page, args.out.resolve())
        finally:
            browser.close()
    print(f"done in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()

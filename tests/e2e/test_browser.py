"""What a person does in the browser, against a real server and worker."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import shot, sign_in

pytestmark = pytest.mark.e2e


def test_sign_in_shows_errors_plainly_then_enters(page) -> None:
    page.goto("/studio")
    page.get_by_test_id("login-username").wait_for()  # sent to sign in first
    shot(page, "login")
    page.get_by_test_id("login-username").fill("admin")
    page.get_by_test_id("login-password").fill("not-the-password")
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("login-error")).to_contain_text("wrong username or password")
    sign_in(page)
    expect(page.get_by_test_id("prompt")).to_be_visible()  # waits; is_visible() would not


def test_generate_streams_frames_then_the_image_and_replays(page) -> None:
    sign_in(page)
    page.get_by_test_id("prompt").fill("a red circle on the left")
    page.get_by_test_id("steps").fill("6")
    page.get_by_test_id("generate").click()
    strip = page.get_by_test_id("frame-strip")
    strip.get_by_test_id("frame").first.wait_for()
    # frames arrive while the job runs, before the final image exists
    frames_before_final = strip.get_by_test_id("frame").count()
    page.get_by_test_id("final-image").wait_for(timeout=120_000)
    assert frames_before_final >= 1
    assert strip.get_by_test_id("frame").count() == 6
    shot(page, "studio")
    scrubber = page.get_by_test_id("scrubber")
    scrubber.fill("0")
    first = page.get_by_test_id("replay-x0").get_attribute("src") or ""
    scrubber.fill("5")
    last = page.get_by_test_id("replay-x0").get_attribute("src") or ""
    assert re.search(r"x0_000\.png$", first) and re.search(r"x0_005\.png$", last)
    assert page.get_by_test_id("gallery").get_by_test_id("gallery-item").count() >= 1


def test_a_script_prompt_is_shown_as_text(page) -> None:
    sign_in(page)
    hostile = "<script>"  # the tiny test model reads 16 tokens; this fits
    page.get_by_test_id("prompt").fill(hostile)
    page.get_by_test_id("steps").fill("2")
    page.get_by_test_id("generate").click()
    page.get_by_test_id("prompt-text").first.wait_for(timeout=120_000)
    shown = page.get_by_test_id("prompt-text").first.inner_text()
    assert hostile in shown  # rendered as text: an HTML tag would not show its brackets


def test_admin_launches_training_and_the_curve_grows(page) -> None:
    sign_in(page)
    page.get_by_test_id("nav-admin").click()
    page.get_by_test_id("launch-kind").select_option("lab.mlp")
    form = page.get_by_test_id("launch-form")
    form.locator("[name=epochs]").fill("400")
    form.locator("[name=n_samples]").fill("2000")
    form.locator("[name=boundary_every]").fill("100")
    shot(page, "admin")
    page.get_by_test_id("launch-submit").click()
    page.get_by_test_id("launched").locator("a").click()
    chart = page.get_by_test_id("run-chart")
    chart.wait_for()

    def points() -> int:
        summary = page.get_by_test_id("metric-summary")
        if summary.count() == 0:
            return 0
        found = re.search(r"n=(\d+)", summary.inner_text())
        return int(found.group(1)) if found else 0

    deadline = time.monotonic() + 60
    seen = []
    while time.monotonic() < deadline:
        seen.append(points())
        if len(set(v for v in seen if v > 0)) >= 3:
            break
        time.sleep(0.5)
    growing = sorted(set(v for v in seen if v > 0))
    assert len(growing) >= 3, seen  # the curve gained points while the job ran
    shot(page, "training")


def test_learn_page_shows_the_forward_process(page) -> None:
    sign_in(page)
    page.get_by_test_id("nav-learn").click()
    pipeline = page.get_by_test_id("pipeline")
    pipeline.wait_for()
    # the diagram shows the data of the latest generation: its final image among them
    pipeline.locator("img.stage__image").wait_for()
    page.get_by_test_id("forward-t").wait_for()
    page.locator(".uplot").nth(1).wait_for()  # the beta/alpha-bar and SNR curves of the schedule
    shot(page, "learn")


def test_language_switch_is_remembered(page) -> None:
    sign_in(page)
    switch = page.get_by_test_id("lang-switch")
    before = page.get_by_test_id("nav-studio").inner_text()
    switch.select_option("zh-CN")
    after = page.get_by_test_id("nav-studio").inner_text()
    assert after != before
    page.reload()
    assert page.get_by_test_id("nav-studio").inner_text() == after


def test_inpaint_an_uploaded_image_streams_frames_then_the_image(page, tmp_path) -> None:
    from PIL import Image

    init = tmp_path / "init.png"
    Image.new("RGB", (64, 64), (200, 40, 40)).save(init)
    sign_in(page)
    page.get_by_test_id("prompt").fill("a blue square")
    page.get_by_test_id("steps").fill("6")
    page.get_by_test_id("mode-img2img").click()
    page.get_by_test_id("init-image-file").set_input_files(str(init))
    expect(page.get_by_test_id("init-image-size")).to_have_text("64 × 64 px")
    page.get_by_test_id("mode-inpaint").click()
    # strength 0.75 of 6 steps: the last int(4.5) = 4 run
    expect(page.get_by_test_id("strength-help")).to_contain_text("runs the last 4")

    canvas = page.get_by_test_id("mask-canvas").locator("canvas").first
    canvas.wait_for()
    box = canvas.bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.25, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.75, y, steps=8)
    page.mouse.up()
    expect(page.get_by_test_id("mask-canvas")).to_have_attribute("data-strokes", "1")
    shot(page, "inpaint-mask")

    with page.expect_request(
        lambda r: r.method == "POST" and r.url.endswith("/api/v1/generations")
    ) as request:
        page.get_by_test_id("generate").click()
    body = request.value.post_data_json
    assert re.fullmatch(r"[0-9a-f]{64}", body["init_image"])
    assert re.fullmatch(r"[0-9a-f]{64}", body["mask"]) and body["mask"] != body["init_image"]

    strip = page.get_by_test_id("frame-strip")
    strip.get_by_test_id("frame").first.wait_for(timeout=120_000)
    page.get_by_test_id("final-image").wait_for(timeout=120_000)
    assert strip.get_by_test_id("frame").count() == 4
    shot(page, "inpaint")

    # the result goes back in as the next init image
    page.get_by_test_id("send-img2img").first.click()
    expect(page.get_by_test_id("mode-img2img")).to_have_attribute("aria-pressed", "true")
    sent = page.get_by_test_id("init-image")
    expect(sent).not_to_have_attribute("src", f"/api/v1/images/{body['init_image']}")
    expect(sent).to_have_attribute("src", re.compile(r"^/api/v1/images/[0-9a-f]{64}$"))

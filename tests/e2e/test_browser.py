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
    # the attention view: one picture per step holds every token's map; a token's map fills
    # the overlay, cropped out of that row
    page.get_by_test_id("tab-attention").click()
    tokens = page.get_by_test_id("attention-token")
    expect(tokens).to_have_count(6)  # a, red, circle, on, the, left
    tokens.nth(1).click()
    overlay = page.locator(".overlay-stack").get_by_test_id("attention-map")
    assert re.search(r"attention/step_005\.png$", overlay.get_attribute("src") or "")
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 0",
                           arg=overlay.element_handle())  # fmt: skip
    natural = overlay.evaluate("(img) => [img.naturalWidth, img.naturalHeight]")
    grid, pad = natural[1], 1  # a square latent grid, STRIP_PAD columns either side of a map
    assert natural[0] == 6 * (grid + 2 * pad)
    box = page.locator(".overlay-stack .token-crop").bounding_box()
    img = overlay.bounding_box()
    assert box is not None and img is not None
    scale = box["width"] / grid  # screen pixels per map column
    assert img["width"] == pytest.approx(natural[0] * scale, abs=1.5)
    assert img["x"] - box["x"] == pytest.approx(-(1 * (grid + 2 * pad) + pad) * scale, abs=1.5)


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


def test_gallery_search_finds_an_image_that_opens_large_with_its_settings(page, site) -> None:
    api = site.api()
    made = {}
    for prompt, seed in (("a zebra circle on the left", 11), ("a yak square at the top", 12)):
        body = {"prompt": prompt, "steps": 2, "seed": seed, "sampler": "Euler a", "preview": "none"}
        r = api.post("/api/v1/generations", json=body)
        assert r.status_code == 202, r.text
        made[prompt] = r.json()["job"]["id"]
    for job_id in made.values():
        api.wait_state(job_id, ("succeeded",), timeout=120)

    sign_in(page)
    gallery = page.get_by_test_id("gallery")
    gallery.get_by_test_id("gallery-item").first.wait_for()
    page.get_by_test_id("gallery-search").fill("ZEBRA")  # case-insensitive, debounced
    expect(gallery.get_by_test_id("gallery-item")).to_have_count(1)
    expect(gallery.get_by_test_id("gallery-item")).to_contain_text("a zebra circle on the left")
    expect(page.get_by_test_id("gallery-range")).to_have_text("1–1 of 1")
    page.get_by_test_id("gallery-sampler").select_option("DDIM")
    expect(page.get_by_test_id("gallery-empty")).to_be_visible()
    page.get_by_test_id("gallery-sampler").select_option("Euler a")
    expect(gallery.get_by_test_id("gallery-item")).to_have_count(1)

    gallery.get_by_test_id("gallery-thumb").first.click()
    box = page.get_by_test_id("lightbox")
    expect(box).to_be_visible()
    expect(box.get_by_test_id("lightbox-image")).to_have_attribute(
        "src", re.compile(r"final/image_0\.png$")
    )
    infotext = box.get_by_test_id("lightbox-infotext")  # read from the PNG's parameters chunk
    expect(infotext).to_contain_text("a zebra circle on the left")
    expect(infotext).to_contain_text("Sampler: Euler a")
    expect(infotext).to_contain_text("Seed: 11")
    shot(page, "gallery-lightbox")
    box.get_by_test_id("lightbox-use").click()
    expect(box).to_have_count(0)
    expect(page.get_by_test_id("prompt")).to_have_value("a zebra circle on the left")
    expect(page.get_by_test_id("seed")).to_have_value("11")
    expect(page.get_by_test_id("steps")).to_have_value("2")
    expect(page.get_by_test_id("drop-banner")).to_be_visible()

    # the seed is sent as typed, not replaced by a random one
    with page.expect_request(
        lambda r: r.method == "POST" and r.url.endswith("/api/v1/generations")
    ) as request:
        page.get_by_test_id("generate").click()
    assert request.value.post_data_json["seed"] == 11


def test_xyz_plot_fills_its_cells_then_shows_the_grid(page) -> None:
    sign_in(page)
    page.get_by_test_id("prompt").fill("a blue square at the top")
    page.get_by_test_id("seed").fill("5")
    panel = page.get_by_test_id("xyz-panel")
    panel.locator("summary").click()
    page.get_by_test_id("xyz-field-x").select_option("steps")
    page.get_by_test_id("xyz-values-x").fill("2, 3")
    expect(page.get_by_test_id("xyz-count")).to_contain_text("2")
    # a value the server refuses is shown at its axis
    page.get_by_test_id("xyz-values-x").fill("2, 500")
    page.get_by_test_id("xyz-run").click()
    expect(page.get_by_test_id("xyz-axis-x").get_by_test_id("field-error")).to_contain_text("steps")
    page.get_by_test_id("xyz-values-x").fill("2, 3")
    # too many cells are refused before anything is sent
    page.get_by_test_id("xyz-field-y").select_option("seed")
    page.get_by_test_id("xyz-values-y").fill("1-51")
    expect(page.get_by_test_id("xyz-count")).to_contain_text("102")
    expect(page.get_by_test_id("xyz-run")).to_be_disabled()
    page.get_by_test_id("xyz-field-y").select_option("")

    with page.expect_request(
        lambda r: r.method == "POST" and r.url.endswith("/api/v1/jobs")
    ) as request:
        page.get_by_test_id("xyz-run").click()
    body = request.value.post_data_json
    assert body["kind"] == "xyz"
    assert body["params"]["x"] == {"field": "steps", "values": [2, 3]}
    assert body["params"]["base"]["prompt"] == "a blue square at the top"
    assert body["params"]["base"]["seed"] == 5

    view = page.get_by_test_id("xyz-view")
    expect(view.get_by_test_id("xyz-cell")).to_have_count(2)
    grid = view.get_by_test_id("xyz-grid")
    grid.wait_for(timeout=120_000)
    expect(grid).to_have_attribute("src", re.compile(r"xyz/grid\.png$"))
    expect(view.get_by_test_id("xyz-download")).to_be_visible()
    expect(view.get_by_test_id("xyz-cell").locator("img")).to_have_count(2)
    expect(view).to_have_attribute("data-state", "succeeded")
    shot(page, "xyz-plot")
    # a cell opens its own generation, with its steps
    view.get_by_test_id("xyz-cell").nth(1).click()
    cell = view.get_by_test_id("xyz-open-cell")
    expect(cell.get_by_test_id("final-image")).to_be_visible()
    expect(cell.get_by_test_id("frame-strip").get_by_test_id("frame")).to_have_count(3)


def test_outpaint_extends_the_picture_right_and_generates_it_wider(page, tmp_path) -> None:
    from PIL import Image

    init = tmp_path / "init.png"
    Image.new("RGB", (64, 64), (40, 40, 200)).save(init)
    sign_in(page)
    page.get_by_test_id("prompt").fill("a red circle on the left")
    page.get_by_test_id("steps").fill("4")
    page.get_by_test_id("width").select_option("")  # auto: follows the extended picture
    page.get_by_test_id("height").select_option("")
    page.get_by_test_id("mode-inpaint").click()
    page.get_by_test_id("init-image-file").set_input_files(str(init))
    expect(page.get_by_test_id("init-image-size")).to_have_text("64 × 64 px")

    page.get_by_test_id("extend-by").select_option("32")
    page.get_by_test_id("extend-right").click()
    expect(page.get_by_test_id("init-image-size")).to_have_text("96 × 64 px")
    # the new border is painted in the mask; the tiny model makes 96 x 64 (32..128, by 8)
    expect(page.get_by_test_id("mask-canvas")).to_have_attribute("data-strokes", "1")
    expect(page.get_by_test_id("outpaint-note")).to_contain_text("96 × 64 px")
    expect(page.get_by_test_id("width")).to_have_value("96")
    expect(page.get_by_test_id("inpainting-fill")).to_have_value("fill")
    shot(page, "outpaint")

    with page.expect_request(
        lambda r: r.method == "POST" and r.url.endswith("/api/v1/generations")
    ) as request:
        page.get_by_test_id("generate").click()
    body = request.value.post_data_json
    assert (body["width"], body["height"]) == (96, 64)
    assert body["inpainting_fill"] == "fill" and body["strength"] == 1
    assert re.fullmatch(r"[0-9a-f]{64}", body["mask"])

    strip = page.get_by_test_id("frame-strip")
    strip.get_by_test_id("frame").first.wait_for(timeout=120_000)
    final = page.get_by_test_id("final-image").first
    final.wait_for(timeout=120_000)
    expect(strip.get_by_test_id("frame")).to_have_count(4)
    loaded = "(img) => img.complete && img.naturalWidth > 0"
    page.wait_for_function(loaded, arg=final.element_handle())
    assert final.evaluate("(img) => [img.naturalWidth, img.naturalHeight]") == [96, 64]


def test_a_saved_style_is_merged_into_the_prompt_sent(page) -> None:
    sign_in(page)
    page.get_by_test_id("prompt").fill("crimson")
    page.get_by_test_id("negative-prompt").fill("")
    page.get_by_test_id("steps").fill("4")
    # save the prompt as a style, with {prompt} put before it
    page.get_by_test_id("style-save-current").click()
    page.get_by_test_id("style-name").fill("e2e crimson")
    expect(page.get_by_test_id("style-prompt")).to_have_value("crimson")
    page.get_by_test_id("style-prompt").fill("")
    page.get_by_test_id("style-insert-placeholder").click()
    page.get_by_test_id("style-prompt").press("End")
    page.get_by_test_id("style-prompt").press_sequentially(", crimson")
    expect(page.get_by_test_id("style-prompt")).to_have_value("{prompt}, crimson")
    page.get_by_test_id("style-save").click()
    expect(page.get_by_test_id("style-editor")).to_have_count(0)

    # a prompt with prompt editing: the live view marks the step where it switches
    page.get_by_test_id("prompt").fill("[a red circle:a blue square:0.5]")
    page.get_by_test_id("style-add").select_option("e2e crimson")
    expect(page.get_by_test_id("style-chip")).to_have_count(1)
    expect(page.get_by_test_id("styles-preview-prompt")).to_have_text(
        "[a red circle:a blue square:0.5], crimson"
    )
    with page.expect_request(
        lambda r: r.method == "POST" and r.url.endswith("/api/v1/generations")
    ) as request:
        page.get_by_test_id("generate").click()
    body = request.value.post_data_json
    assert body["prompt"] == "[a red circle:a blue square:0.5], crimson"
    assert "styles" not in body
    expect(page.get_by_test_id("prompt-text").first).to_have_text(body["prompt"])

    page.get_by_test_id("final-image").first.wait_for(timeout=120_000)
    strip = page.get_by_test_id("frame-strip")
    expect(strip.get_by_test_id("frame")).to_have_count(4)
    switch = strip.get_by_test_id("prompt-switch")
    expect(switch).to_have_count(1)
    expect(switch).to_have_attribute("title", re.compile("a blue square, crimson"))
    shot(page, "styles")


def test_upload_a_zip_train_a_lora_on_it_and_generate_with_it(page, tmp_path) -> None:
    import zipfile

    from PIL import Image, ImageDraw

    archive = tmp_path / "red-dots.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for i in range(6):
            img = Image.new("RGB", (64, 64), (0, 0, 0))
            ImageDraw.Draw(img).ellipse((10 + i, 10, 50 + i, 50), fill=(230, 20, 20))
            path = tmp_path / f"{i}.png"
            img.save(path)
            zf.write(path, f"red-dots/{i}.png")
            zf.writestr(f"red-dots/{i}.txt", "a red circle")
    sign_in(page)
    page.get_by_test_id("nav-datasets").click()
    page.get_by_test_id("dataset-zip-input").set_input_files(str(archive))
    page.get_by_test_id("dataset-name").fill("red-dots")
    page.get_by_test_id("dataset-upload").click()
    page.get_by_test_id("dataset-page").wait_for()
    expect(page.get_by_test_id("stat-images")).to_contain_text("6")
    items = page.get_by_test_id("dataset-items").get_by_test_id("dataset-item")
    expect(items).to_have_count(6)
    # a caption edited in place is saved
    items.first.get_by_test_id("caption").click()
    page.get_by_test_id("caption-input").fill("a bright red circle")
    page.get_by_test_id("caption-input").press("Enter")
    expect(items.first.get_by_test_id("caption")).to_have_text("a bright red circle")
    shot(page, "dataset")

    form = page.get_by_test_id("train-lora")
    form.get_by_test_id("lora-steps").fill("8")
    form.get_by_test_id("lora-prompts").fill("a red circle")
    with page.expect_request(
        lambda r: r.method == "POST" and r.url.endswith("/api/v1/jobs")
    ) as request:
        form.get_by_test_id("lora-submit").click()
    sent = request.value.post_data_json
    assert sent["kind"] == "lora" and sent["params"]["dataset"] == "red-dots"
    page.wait_for_url(re.compile(r"/train/[0-9a-f-]+$"))
    job_id = page.url.rsplit("/", 1)[1]
    from tests.utils.services import Api

    base = page.url.split("/train/")[0]
    done = Api(base).wait_state(job_id, ("succeeded", "failed"), timeout=240)
    assert done["state"] == "succeeded", done["error"]
    name = done["result"]["lora"]

    page.get_by_test_id("nav-studio").click()
    section = page.get_by_test_id("lora-section")
    section.locator("summary").click()  # a folded section, as the other advanced ones
    item = section.get_by_test_id("lora-item").filter(has_text=name)
    item.get_by_test_id("lora-add").click()
    chosen = section.get_by_test_id("lora-chosen")
    expect(chosen).to_have_attribute("data-name", name)
    chosen.get_by_test_id("lora-weight").fill("0.8")
    chosen.get_by_test_id("lora-weight").press("Tab")
    page.get_by_test_id("prompt").fill("a red circle")
    page.get_by_test_id("steps").fill("4")
    with page.expect_request(
        lambda r: r.method == "POST" and r.url.endswith("/api/v1/generations")
    ) as request:
        page.get_by_test_id("generate").click()
    assert request.value.post_data_json["loras"] == [{"name": name, "weight": 0.8}]
    page.get_by_test_id("final-image").wait_for(timeout=120_000)
    shot(page, "studio-lora")

"""The web app in a real browser: demo, uploads, slider, canvas stroke, download.

Each step leaves a screenshot in test-artifacts/.
"""

from __future__ import annotations

import re

import cv2
import numpy as np
import pytest

from tests.e2e.conftest import shot, wait_for_app_run

pytestmark = pytest.mark.browser

RESTORED = ".st-key-img-restored img"


def restored_src(page) -> str:
    return page.locator(RESTORED).first.get_attribute("src")


def mask_coverage(page) -> float:
    text = page.locator('.st-key-mask-coverage [data-testid="stMetricValue"]').inner_text()
    return float(re.search(r"[\d.]+", text).group())


def assert_no_exception(page):
    assert page.locator('[data-testid="stException"]').count() == 0


def write_pair(tmp_path, bits=16, side=768):
    """The demo pair shrunk to `side` px, as two PNG files of the given depth."""
    from processing.demo import demo_pair

    o, a = (cv2.resize(np.asarray(x), (side, side), interpolation=cv2.INTER_AREA) for x in demo_pair())
    paths = []
    for name, img in (("portrait.png", o), ("portrait_ai.png", a)):
        img = img.astype(np.uint16) * 257 if bits == 16 else img
        path = tmp_path / name
        cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        paths.append(path)
    return paths


def upload_pair(page, original, ai, expect_results=True):
    page.locator(".st-key-up_original input[type=file]").set_input_files(str(original))
    wait_for_app_run(page)
    if expect_results:
        # The second file once the page asks for it, as a person does: Streamlit's uploader
        # can drop a file chosen while the first one's run is still going (seen under load).
        page.get_by_text("Now upload the AI-retouched version too").wait_for()
    page.locator(".st-key-up_ai input[type=file]").set_input_files(str(ai))
    wait_for_app_run(page)
    if expect_results:
        page.wait_for_selector(RESTORED)
        page.wait_for_function(
            "() => !document.body.innerText.includes('built-in demo')")


def test_demo_shows_three_images_and_no_error(page):
    shot(page, "01_demo")
    assert_no_exception(page)
    for key in ("img-original", "img-ai", "img-restored"):
        img = page.locator(f".st-key-{key} img")
        assert img.count() == 1
        assert img.evaluate("i => i.complete && i.naturalWidth") > 100
    assert page.get_by_text("built-in demo").count() >= 1
    assert mask_coverage(page) > 0.5


def test_upload_pair_shows_its_results(page, tmp_path):
    original, ai = write_pair(tmp_path)
    upload_pair(page, original, ai)
    shot(page, "02_uploaded_pair")
    assert_no_exception(page)
    assert page.get_by_text("portrait_ai.png").count() >= 1
    page.get_by_text("768x768 px, 16-bit PNG").first.wait_for()  # the caption comes with the run's end
    assert page.get_by_text("768x768 px, 16-bit PNG").count() >= 1
    assert page.get_by_text("built-in demo").count() == 0
    assert page.locator(RESTORED).evaluate("i => i.naturalWidth") == 720  # triptych preview size


def fine_detail(src: str) -> float:
    """Energy of the finest detail (image minus a 1 px Gaussian) on the demo's face, in a data-URL PNG."""
    import base64

    png = base64.b64decode(src.split(",", 1)[1])
    img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE).astype(np.float64)
    h, w = img.shape
    face = (slice(int(0.215 * h), int(0.265 * h)), slice(int(0.37 * w), int(0.55 * w)))  # cheeks and nose
    return float(((img - cv2.GaussianBlur(img, (0, 0), 1.0))[face] ** 2).mean())


def test_strength_slider_raises_restored_texture(page):
    before = restored_src(page)
    slider = page.locator('[data-testid="stSlider"]').filter(has_text="Strength (%)").first
    thumb = slider.locator('input[type="range"]')
    thumb.focus()
    for _ in range(40):
        thumb.press("ArrowRight")
    wait_for_app_run(page)
    page.wait_for_function(f"src => document.querySelector('{RESTORED}').src !== src", arg=before)
    wait_for_app_run(page)
    shot(page, "03_after_strength_slider")
    assert_no_exception(page)
    assert thumb.input_value() == "140"
    # More of the original's detail went back: the restored face's fine band grew, above the AI's.
    ai = fine_detail(page.locator(".st-key-img-ai img").first.get_attribute("src"))
    assert fine_detail(restored_src(page)) - ai > 1.3 * (fine_detail(before) - ai) > 0


def test_erase_stroke_on_canvas_removes_mask(page):
    before = mask_coverage(page)
    page.get_by_text("Erase", exact=True).click()
    wait_for_app_run(page)
    canvas = page.locator(".st-key-mask-canvas canvas.upper-canvas")
    box = canvas.bounding_box()
    # Across the face of the demo (centre of the photo, upper third).
    x, y = box["x"] + box["width"] * 0.43, box["y"] + box["height"] * 0.27
    page.mouse.move(x, y)
    page.mouse.down()
    for i in range(1, 25):
        page.mouse.move(x + 4 * i, y + 2 * i, steps=2)
    page.mouse.up()
    wait_for_app_run(page)
    page.wait_for_function(
        "v => parseFloat(document.querySelector('.st-key-mask-coverage [data-testid=\"stMetricValue\"]')"
        ".innerText) < v", arg=before)
    wait_for_app_run(page)
    shot(page, "04_after_erase_stroke")
    assert_no_exception(page)
    after = mask_coverage(page)
    assert after < before - 0.1
    assert page.get_by_text("1 brush strokes").count() == 1
    # Undo brings the automatic mask back.
    page.get_by_role("button", name="Undo stroke").click()
    wait_for_app_run(page)
    page.wait_for_function(
        "v => parseFloat(document.querySelector('.st-key-mask-coverage [data-testid=\"stMetricValue\"]')"
        ".innerText) >= v", arg=before)
    shot(page, "05_after_undo")
    assert mask_coverage(page) == pytest.approx(before, abs=0.01)


def test_restored_download_keeps_size_and_16_bit_depth(page, tmp_path):
    from processing.image_io import read_image

    original, ai = write_pair(tmp_path, bits=16, side=640)
    upload_pair(page, original, ai)
    with page.expect_download(timeout=120_000) as info:
        page.get_by_role("button", name=re.compile(r"Restored image \(PNG, 16-bit\)")).click()
    download = info.value
    path = tmp_path / download.suggested_filename
    download.save_as(str(path))
    shot(page, "06_download")
    assert download.suggested_filename == "portrait_ai_retextured.png"
    img = read_image(path)
    assert img.size == (640, 640) and img.bit_depth == 16
    assert not np.array_equal(img.pixels, read_image(ai).pixels)  # the skin was restored
    with page.expect_download() as info:
        page.get_by_role("button", name="Mask (PNG)").click()
    mpath = tmp_path / "mask.png"
    info.value.save_as(str(mpath))
    mask = read_image(mpath)
    assert mask.size == (640, 640) and mask.pixels.ndim == 2 and mask.pixels.max() == 255


def test_text_file_upload_shows_message_not_traceback(page, tmp_path):
    fake = tmp_path / "notes.png"
    fake.write_text("not a photo at all\n")
    _, ai = write_pair(tmp_path, bits=8, side=256)
    upload_pair(page, fake, ai, expect_results=False)
    page.wait_for_selector('[data-testid="stAlertContentError"]')
    shot(page, "07_bad_upload")
    assert_no_exception(page)
    alert = page.locator('[data-testid="stAlertContentError"]')
    assert alert.count() >= 1
    assert "notes.png" in alert.first.inner_text() and "not an image" in alert.first.inner_text()
    # A plain .txt is refused by the uploader itself, with its own message.
    txt = tmp_path / "notes.txt"
    txt.write_text("hello")
    page.locator(".st-key-up_original input[type=file]").set_input_files(str(txt))
    wait_for_app_run(page)
    shot(page, "08_txt_upload")
    assert_no_exception(page)
    assert page.get_by_text(re.compile("not allowed|not supported", re.I)).count() >= 1


def test_texture_tab_draws_the_spectrum(page):
    from tests.e2e.conftest import ARTIFACTS

    page.get_by_role("tab", name="Texture").click()
    chart = page.locator(".st-key-texture-chart")
    chart.locator("canvas, svg").first.wait_for(state="visible")
    page.wait_for_timeout(500)  # vega draws after the element appears
    shot(page, "09_texture_tab")
    chart.screenshot(path=str(ARTIFACTS / "09b_texture_chart.png"))
    assert_no_exception(page)
    assert page.locator(".st-key-cutoff-note").get_by_text(re.compile(r"Cut-off [\d.]+ px \(automatic\)")).count() == 1
    box = chart.bounding_box()
    assert box["width"] > 300 and box["height"] > 200


def test_blemish_overlay_checkbox(page):
    from tests.e2e.conftest import ARTIFACTS

    page.get_by_role("tab", name="Before / after").click()
    img = page.locator('[data-testid="stImage"]').filter(has=page.locator('img')).filter(
        has_text="Before / after").locator("img").first
    before = img.get_attribute("src")
    note = page.locator(".st-key-blemish-note")
    assert re.match(r"\d+ removed blemish", note.inner_text())
    page.get_by_text("Show where blemishes were kept clean").click()
    wait_for_app_run(page)
    page.wait_for_function("() => document.body.innerText.includes('(magenta)')")
    wait_for_app_run(page)
    shot(page, "10_blemish_overlay")
    img = page.locator('[data-testid="stImage"]').filter(has_text="Before / after").locator("img").first
    img.screenshot(path=str(ARTIFACTS / "10b_blemish_overlay_image.png"))
    assert_no_exception(page)
    assert img.get_attribute("src") != before


MARKDOWN_NAMES = ("![px](http:example.com?track) orig.png", "*ai* [x](http:example.com) _b_ $y$.png")


def remote_images(page) -> list[str]:
    """Sources of <img> elements that point anywhere but this server or inline data."""
    srcs = page.evaluate("() => [...document.querySelectorAll('img')].map(i => i.src)")
    return [s for s in srcs if not re.match(r"(data:|blob:|http://(127\.0\.0\.1|localhost)[:/])", s)]


def test_file_names_are_shown_as_plain_text(page, tmp_path):
    """A file name written as Markdown stays its own text: no image calling a remote host."""
    original, ai = write_pair(tmp_path, bits=8, side=256)
    named = []
    for path, name in zip((original, ai), MARKDOWN_NAMES):
        target = tmp_path / name
        path.rename(target)
        named.append(target)
    upload_pair(page, *named)
    shot(page, "11_markdown_names")
    assert_no_exception(page)
    assert remote_images(page) == []
    photos_line = page.locator('[data-testid="stMarkdown"]').filter(has_text="256x256 px").first
    text = photos_line.inner_text()
    assert MARKDOWN_NAMES[0] in text and MARKDOWN_NAMES[1] in text
    assert photos_line.locator("img, a, em").count() == 0  # no image, link or emphasis made of a name
    # The same in an error message about a file.
    bad = tmp_path / "![px](http:example.com?bad) notes.png"
    bad.write_text("not a photo")
    page.locator(".st-key-up_original input[type=file]").set_input_files(str(bad))
    wait_for_app_run(page)
    alert = page.locator('[data-testid="stAlertContentError"]').first
    alert.wait_for()
    assert bad.name in alert.inner_text() and alert.locator("img, a").count() == 0
    assert remote_images(page) == []


def test_no_request_leaves_this_machine(browser, app_url, tmp_path):
    """A whole session (demo, uploads, slider, tabs, download) asks only this server."""
    requests = []
    context = browser.new_context(viewport={"width": 1440, "height": 900}, accept_downloads=True)
    try:
        pg = context.new_page()
        pg.on("request", lambda r: requests.append(r.url))
        pg.set_default_timeout(120_000)
        pg.goto(app_url)
        wait_for_app_run(pg)
        pg.wait_for_selector(RESTORED)
        original, ai = write_pair(tmp_path, bits=8, side=320)
        upload_pair(pg, original, ai)
        thumb = pg.locator('[data-testid="stSlider"]').filter(has_text="Strength (%)").first.locator(
            'input[type="range"]')
        thumb.focus()
        thumb.press("ArrowRight")
        wait_for_app_run(pg)
        for tab in ("Before / after", "Texture", "1:1 loupe"):
            pg.get_by_role("tab", name=tab).click()
            pg.wait_for_timeout(300)
        with pg.expect_download() as info:
            pg.get_by_role("button", name=re.compile(r"Restored image")).click()
        info.value.save_as(str(tmp_path / "restored.png"))
        shot(pg, "12_no_remote_requests")
        pg.goto(app_url.rstrip("/") + "/Batch")
        wait_for_app_run(pg)
        pg.get_by_text("Batch").first.wait_for()
    finally:
        context.close()
    host = re.escape(app_url)
    outside = [u for u in requests if not re.match(rf"({host}|data:|blob:)", u)]
    assert requests and outside == []

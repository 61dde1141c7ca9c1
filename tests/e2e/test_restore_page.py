"""The Restore page in a real browser: demo, uploads, the picture and its loupe, sliders,
the mask canvas, the status of a large upload, downloads.

Each step leaves a screenshot in test-artifacts/.
"""

from __future__ import annotations

import re

import cv2
import numpy as np
import pytest

from tests.e2e.conftest import (RESTORED_CROP, choose_file, download, shot, wait_for_app_run,
                                 wait_for_page_to_settle)

pytestmark = pytest.mark.browser

RESTORED = RESTORED_CROP


def restored_src(page) -> str:
    return page.locator(RESTORED).first.get_attribute("src")


def picture(page):
    """The large picture's <img> (inside the click component's frame)."""
    return page.frame_locator(".st-key-picture iframe").locator("#image")


def picture_src(page, other_than: str | None = None) -> str:
    """The picture's data URL once it is drawn (and differs from ``other_than``)."""
    img = picture(page)
    img.wait_for()
    for _ in range(600):
        src = img.evaluate("i => i.complete && i.naturalWidth > 0 ? i.src : null")
        if src and src.startswith("data:") and src != other_than:
            return src
        page.wait_for_timeout(100)
    raise AssertionError("the picture was not drawn")


def decode(src: str) -> np.ndarray:
    """RGB pixels of a data-URL PNG."""
    import base64

    png = np.frombuffer(base64.b64decode(src.split(",", 1)[1]), np.uint8)
    return cv2.cvtColor(cv2.imdecode(png, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def loupe(page) -> dict:
    """The loupe's three crops, name -> RGB at 1:1."""
    return {name: decode(page.locator(f".st-key-loupe img[alt='{name}']").get_attribute("src"))
            for name in ("Original", "AI-retouched", "Restored")}


def loupe_centre(page) -> tuple[int, int]:
    text = page.get_by_text(re.compile(r"px around x \d+, y \d+")).inner_text()
    x, y = re.search(r"around x (\d+), y (\d+)", text).groups()
    return int(x), int(y)


def choose(page, group: str, option: str) -> None:
    """Pick an option of a radio group by its visible label, and wait for the run."""
    page.locator('[data-testid="stRadio"]').filter(has_text=group).get_by_text(option, exact=True).click()
    wait_for_app_run(page)


def open_step(page, title: str) -> None:
    """Open a step of the page by its title: an expander, or a switch (the texture spectrum)."""
    switch = page.locator('[data-testid="stCheckbox"]').filter(has_text=title)
    expander = page.locator('[data-testid="stExpander"] summary').filter(has_text=title)
    # Wait for the step to be drawn in either form: count() alone does not wait.
    switch.or_(expander).first.wait_for(timeout=120_000)
    if switch.count():
        switch.get_by_text(title).click()
        wait_for_app_run(page)
        return
    expander.click()
    page.wait_for_timeout(300)


def mask_coverage(page) -> float:
    """The coverage metric's value, once it shows one (it is drawn when the step opens).

    Read in the page in the same step as it is waited for: a rerun can redraw
    the metric between a wait and a second read (CI once read it without its number).
    """
    number = page.wait_for_function(
        """() => {
            const e = document.querySelector('.st-key-mask-coverage [data-testid="stMetricValue"]');
            const m = e && e.innerText.match(/\\d+(\\.\\d+)?/);
            return m ? m[0] : null;
        }""", timeout=60_000)
    return float(number.json_value())


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
    choose_file(page, "up_original", original)
    if expect_results:
        # The second file once the page asks for it, as a person does.
        page.get_by_text("Now upload the AI-retouched version too").wait_for()
    choose_file(page, "up_ai", ai)
    if expect_results:
        page.wait_for_selector(RESTORED)
        page.wait_for_function(
            "() => !document.body.innerText.includes('built-in demo')")


def test_demo_shows_the_picture_large_and_the_loupe(page):
    shot(page, "01_demo")
    assert_no_exception(page)
    img = picture(page)
    img.wait_for()
    assert img.evaluate("i => i.complete && i.naturalWidth") > 500
    # The picture is the widest thing in the page's main column.
    main = page.locator('[data-testid="stMain"] [data-testid="stMainBlockContainer"]').bounding_box()
    assert img.bounding_box()["width"] > 0.9 * (main["width"] - 2 * 48)
    for name in ("Original", "AI-retouched", "Restored"):
        crop = page.locator(f".st-key-loupe img[alt='{name}']")
        assert crop.evaluate("i => i.complete && i.naturalWidth") == 256
    assert page.get_by_text("built-in demo").count() >= 1
    assert page.get_by_text(re.compile(r"Ready: 1 face found")).count() == 1
    open_step(page, "Skin mask")
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
    assert picture(page).evaluate("i => i.naturalWidth") == 768  # the whole photo, not enlarged


def fine_detail(crop: np.ndarray) -> float:
    """Energy of the finest detail (image minus a 1 px Gaussian) of a loupe crop (it sits on a cheek)."""
    img = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).astype(np.float64)
    return float(((img - cv2.GaussianBlur(img, (0, 0), 1.0))[32:-32, 32:-32] ** 2).mean())


def test_strength_slider_raises_restored_texture(page):
    before = restored_src(page)
    first = loupe(page)
    slider = page.locator('[data-testid="stSlider"]').filter(has_text="Strength (%)").first
    thumb = slider.locator('input[type="range"]')
    thumb.focus()
    for _ in range(40):
        thumb.press("ArrowRight")
    wait_for_app_run(page)
    page.wait_for_function(f"src => document.querySelector(\"{RESTORED}\").src !== src", arg=before)
    wait_for_app_run(page)
    shot(page, "03_after_strength_slider")
    assert_no_exception(page)
    assert thumb.input_value() == "140"
    assert slider.get_by_text("140 %").count() == 1  # whole numbers with their unit
    # More of the original's detail went back: the restored cheek's fine band grew, above the AI's.
    ai = fine_detail(first["AI-retouched"])
    assert fine_detail(loupe(page)["Restored"]) - ai > 1.3 * (fine_detail(first["Restored"]) - ai) > 0


def test_erase_stroke_on_canvas_removes_mask(page):
    open_step(page, "Skin mask")
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
    got = download(page, re.compile(r"Restored image \(PNG, 16-bit\)"))
    path = tmp_path / got.suggested_filename
    got.save_as(str(path))
    shot(page, "06_download")
    assert got.suggested_filename == "portrait_ai_retextured.png"
    img = read_image(path)
    assert img.size == (640, 640) and img.bit_depth == 16
    assert not np.array_equal(img.pixels, read_image(ai).pixels)  # the skin was restored
    got = download(page, "Mask (PNG)")
    mpath = tmp_path / "mask.png"
    got.save_as(str(mpath))
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
    choose_file(page, "up_original", txt)
    shot(page, "08_txt_upload")
    assert_no_exception(page)
    assert page.get_by_text(re.compile("not allowed|not supported", re.I)).count() >= 1


def test_texture_step_draws_the_spectrum(page):
    from playwright.sync_api import expect

    from tests.e2e.conftest import ARTIFACTS

    open_step(page, "Texture spectrum")
    chart = page.locator(".st-key-texture-chart")
    chart.locator("canvas, svg").first.wait_for(state="visible")
    page.wait_for_timeout(500)  # vega draws after the element appears
    shot(page, "09_texture_tab")
    chart.screenshot(path=str(ARTIFACTS / "09b_texture_chart.png"))
    assert_no_exception(page)
    # Waited for, not counted at once: a rerun may still be drawing the note (it once failed here).
    expect(page.locator(".st-key-cutoff-note").get_by_text(re.compile(r"Cut-off [\d.]+ px \(automatic\)"))
           ).to_have_count(1, timeout=60_000)
    box = chart.bounding_box()
    assert box["width"] > 300 and box["height"] > 200


def test_blemish_overlay_checkbox(page):
    from tests.e2e.conftest import ARTIFACTS

    before = picture_src(page)
    note = page.locator(".st-key-blemish-note")
    assert re.match(r"\d+ removed blemish", note.inner_text())
    page.get_by_text("Show where blemishes were kept clean").click()
    wait_for_app_run(page)
    page.wait_for_function("() => document.body.innerText.includes('(magenta)')")
    wait_for_app_run(page)
    shot(page, "10_blemish_overlay")
    page.locator(".st-key-picture").screenshot(path=str(ARTIFACTS / "10b_blemish_overlay_image.png"))
    assert_no_exception(page)
    tinted = decode(picture_src(page, other_than=before)).astype(int)
    plain = decode(before).astype(int)
    magenta = (tinted[..., 1] < plain[..., 1] - 20) & (tinted[..., 0] >= plain[..., 0] - 5)
    assert 0 < magenta.mean() < 0.05  # a few spots, tinted towards magenta


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
    choose_file(page, "up_original", bad)
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
        for view in ("Side by side", "Restored", "Before / after"):
            choose(pg, "View", view)
        choose(pg, "Zoom", "400 %")
        open_step(pg, "Texture spectrum")
        pg.wait_for_timeout(300)
        got = download(pg, re.compile(r"Restored image"))
        got.save_as(str(tmp_path / "restored.png"))
        shot(pg, "12_no_remote_requests")
        got = download(pg, re.compile(r"Comparison for the client \(JPEG\)"))
        got.save_as(str(tmp_path / "comparison.jpg"))
        pg.goto(app_url.rstrip("/") + "/batch")
        wait_for_app_run(pg)
        pg.get_by_role("heading", name="Batch").wait_for()
    finally:
        context.close()
    host = re.escape(app_url)
    outside = [u for u in requests if not re.match(rf"({host}|data:|blob:)", u)]
    assert requests and outside == []


# --- The picture, the loupe, the status, the words, the comparison, the layout -------------------------

def test_clicking_the_picture_centres_the_loupe_on_that_spot(page, tmp_path):
    """The loupe's crops are the full-size photos' pixels around the clicked point: the
    original and AI-retouched arrays, and the restored download."""
    from processing.comparison import spot_window
    from processing.demo import demo_pair
    from processing.image_io import read_image

    original, ai = (np.asarray(x) for x in demo_pair())
    img = picture(page)
    box = img.bounding_box()
    fx, fy = 0.62, 0.33  # the right cheek and ear, away from where the loupe opens
    page.mouse.click(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
    wait_for_app_run(page)
    page.wait_for_function(
        "() => /around x (\\d+)/.test(document.body.innerText) && "
        "Math.abs(parseInt(document.body.innerText.match(/around x (\\d+)/)[1]) - 635) < 6")
    wait_for_app_run(page)
    shot(page, "13_clicked_picture")
    x, y = loupe_centre(page)
    step = 1024 / box["width"] + 1  # one shown pixel, in photo pixels
    assert abs(x - fx * 1024) <= step and abs(y - fy * 1024) <= step
    x0, y0, x1, y1 = spot_window(ai.shape, (x, y), 256)
    crops = loupe(page)
    assert np.array_equal(crops["Original"], original[y0:y1, x0:x1])
    assert np.array_equal(crops["AI-retouched"], ai[y0:y1, x0:x1])
    got = download(page, re.compile(r"Restored image"))
    path = tmp_path / "restored.png"
    got.save_as(str(path))
    assert np.array_equal(crops["Restored"], read_image(path).pixels[y0:y1, x0:x1])
    # The zoom enlarges the same pixels: 400 % shows each crop four times as wide, pixel for pixel.
    choose(page, "Zoom", "400 %")
    page.wait_for_function("() => document.querySelector(\".st-key-loupe img[alt=Restored]\").width === 1024")
    assert np.array_equal(loupe(page)["Restored"], crops["Restored"])
    page.locator(".st-key-loupe").screenshot(path=str(tmp_path / "loupe.png"))
    shown = cv2.imread(str(tmp_path / "loupe.png"))
    assert shown.shape[1] >= 1000 * page.evaluate("devicePixelRatio") * 0.6  # drawn large, scrollable


def test_dragging_across_the_picture_moves_the_before_after_line(page):
    img = picture(page)
    box = img.bounding_box()
    before = picture_src(page)
    y = box["y"] + 0.8 * box["height"]
    page.mouse.move(box["x"] + 0.2 * box["width"], y)
    page.mouse.down()
    page.mouse.move(box["x"] + 0.75 * box["width"], y, steps=10)
    page.mouse.up()
    wait_for_app_run(page)
    slider = page.locator('[data-testid="stSlider"]').filter(has_text="Before / after line")
    page.wait_for_function("() => document.body.innerText.includes('75 %')")
    wait_for_app_run(page)
    shot(page, "14_dragged_split")
    assert abs(int(slider.locator('input[type="range"]').input_value()) - 75) <= 1
    # The line in the picture moved: AI-retouched left of 3/4 of the width, restored right of it.
    pic = decode(picture_src(page, other_than=before))
    white = np.where((pic[:, :, :] == 255).all(axis=2).mean(axis=0) > 0.95)[0]
    assert white.size and abs(white.mean() / pic.shape[1] - 0.75) < 0.01


def _big_pair(tmp_path):
    """A 24 MP pair (6000 x 4000 JPEG): the demo portrait enlarged on a wider frame, and its AI copy."""
    from processing.demo import demo_pair

    paths = []
    for name, img in zip(("big.jpg", "big_ai.jpg"), demo_pair()):
        face = cv2.resize(np.asarray(img), (4000, 4000), interpolation=cv2.INTER_LINEAR)
        frame = cv2.copyMakeBorder(face, 0, 0, 1000, 1000, cv2.BORDER_REFLECT)
        path = tmp_path / name
        cv2.imwrite(str(path), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
        paths.append(path)
    return paths


STAGE_NAMES = ("Reading the photos", "Finding faces", "Aligning the original", "Analysing the texture")


def test_a_24_mp_upload_shows_its_stages_before_the_results(page, tmp_path):
    original, ai = _big_pair(tmp_path)
    # Record every label the status shows, as the browser draws it.
    page.evaluate("""() => {
        window.__labels = [];
        const note = () => {
            const s = document.querySelector(
                '[data-testid="stMain"] [data-testid="stExpander"] summary [data-testid="stMarkdownContainer"]');
            const t = s ? s.innerText : '';
            if (t && window.__labels[window.__labels.length - 1] !== t) window.__labels.push(t);
        };
        new MutationObserver(note).observe(document.body, {subtree: true, childList: true, characterData: true});
    }""")
    choose_file(page, "up_original", original)
    page.get_by_text("Now upload the AI-retouched version too").wait_for()
    wait_for_page_to_settle(page)
    page.locator(".st-key-up_ai input[type=file]").set_input_files(str(ai))
    page.get_by_text(re.compile(r"Ready: \d+ faces? found")).wait_for(timeout=300_000)
    wait_for_app_run(page)
    shot(page, "15_24mp_ready")
    assert_no_exception(page)
    labels = page.evaluate("() => window.__labels")
    labels = labels[next(i for i, t in enumerate(labels) if t.startswith(STAGE_NAMES[0])):]  # this upload's
    ready = next(i for i, t in enumerate(labels) if t.startswith("Ready:"))
    seen = [name for name in STAGE_NAMES if any(name in t for t in labels[:ready])]
    assert len(seen) >= 2, labels
    assert page.get_by_text("6000x4000 px, 8-bit JPEG").count() == 1


def test_navigation_names_the_pages_and_percentages_are_whole_numbers(page):
    nav = page.locator('[data-testid="stSidebarNav"]')
    assert [t.strip() for t in nav.locator("a").all_inner_texts()] == ["Restore", "Batch"]
    assert page.title().startswith("Restore")
    for method in ("Match (automatic, from the original)", "High-pass graft (from the original)"):
        choose(page, "Method", method)
        values = page.locator('[data-testid="stSliderThumbValue"]').all_inner_texts()
        assert values and not [v for v in values if re.search(r"\.\d\d\s*%", v)], values
        percent = [v for v in values if "%" in v]
        assert percent and all(re.fullmatch(r"\d+ %", v.strip()) for v in percent), percent


def test_comparison_download_holds_both_versions_at_one_scale(page, tmp_path):
    from processing.comparison import comparison_sheet
    from processing.demo import demo_pair
    from processing.image_io import read_image

    _, ai = demo_pair()
    x, y = loupe_centre(page)
    got = download(page, re.compile(r"Restored image"))
    got.save_as(str(tmp_path / "restored.png"))
    restored = read_image(tmp_path / "restored.png").pixels
    got = download(page, re.compile(r"Comparison for the client \(PNG\)"))
    assert got.suggested_filename == "astronaut_ai_retouched_comparison.png"
    got.save_as(str(tmp_path / "comparison.png"))
    sheet = read_image(tmp_path / "comparison.png").pixels
    expected, layout = comparison_sheet(np.asarray(ai), restored, (x, y))
    assert np.array_equal(sheet, expected)  # the download is the sheet of these two versions and this spot
    (a0, a1), (r0, r1) = ((b[:2], b[2:]) for b in layout.overviews)
    assert np.subtract(a1, a0).tolist() == np.subtract(r1, r0).tolist()  # the same scale
    got = download(page, re.compile(r"Comparison for the client \(JPEG\)"))
    got.save_as(str(tmp_path / "comparison.jpg"))
    jpeg = read_image(tmp_path / "comparison.jpg").pixels
    assert jpeg.shape == sheet.shape and np.abs(jpeg.astype(int) - sheet).mean() < 3


def _boxes(page, selector: str) -> list[dict]:
    return page.evaluate(f"""() => [...document.querySelectorAll('{selector}')]
        .map(e => e.getBoundingClientRect()).filter(r => r.width > 0 && r.height > 0)
        .map(r => ({{x: r.x, y: r.y, w: r.width, h: r.height}}))""")


@pytest.mark.parametrize("width, height", [(1440, 900), (1024, 768)])
def test_the_picture_is_the_largest_thing_and_nothing_overlaps(browser, app_url, width, height):
    context = browser.new_context(viewport={"width": width, "height": height})
    try:
        pg = context.new_page()
        pg.set_default_timeout(120_000)
        pg.goto(app_url)
        wait_for_app_run(pg)
        pg.wait_for_selector(RESTORED)
        pg.wait_for_timeout(1000)
        shot(pg, f"16_layout_{width}x{height}")
        assert pg.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")
        items = _boxes(pg, '[data-testid="stMainBlockContainer"] > div > [data-testid="stElementContainer"], '
                           '[data-testid="stMainBlockContainer"] > div > [data-testid="stVerticalBlock"] > '
                           '[data-testid="stElementContainer"]')
        pic = pg.locator(".st-key-picture").bounding_box()
        assert pic["width"] * pic["height"] == max(
            [b["w"] * b["h"] for b in items] + [pic["width"] * pic["height"]])
        assert pic["width"] >= max(b["w"] for b in items) - 1
        # Nothing in the main column overlaps anything else there, nor the sidebar.
        for i, a in enumerate(items):
            for b in items[i + 1:]:
                overlap_x = min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"])
                overlap_y = min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"])
                assert overlap_x <= 1 or overlap_y <= 1, (a, b)
        side = pg.locator('[data-testid="stSidebar"]').bounding_box()
        if side and side["width"] > 50:
            assert side["x"] + side["width"] <= pic["x"] + 1
    finally:
        context.close()


def test_a_camera_raw_original_is_developed_and_restores(page, tmp_path):
    """A DNG held on its side as the original, an 8-bit PNG export as the retouched photo."""
    from processing.demo import demo_pair
    from tests.raw_files import write_dng

    original, ai = (cv2.resize(np.asarray(x), (512, 512), interpolation=cv2.INTER_AREA) for x in demo_pair())
    dng = write_dng(tmp_path / "IMG_0042.dng", original, orientation=6)
    ai_path = tmp_path / "IMG_0042_ai.png"
    cv2.imwrite(str(ai_path), cv2.cvtColor(ai, cv2.COLOR_RGB2BGR))
    upload_pair(page, dng, ai_path)
    wait_for_page_to_settle(page)
    open_step(page, "Ready:")  # the status line opens on what was done with the files
    page.get_by_text(re.compile("original: DNG, 512 x 512, camera white balance")).first.wait_for()
    shot(page, "22_raw_original")
    assert_no_exception(page)
    assert page.get_by_text("IMG_0042.dng").count() >= 1
    # Developed upright and on the export's grid: the loupe's original crop is the
    # picture's, not a gray mosaic or a quarter turn of it.
    crops = loupe(page)
    x, y = loupe_centre(page)
    want = original[y - 128:y + 128, x - 128:x + 128].astype(np.float32)
    got = crops["Original"].astype(np.float32)
    assert got.shape == want.shape
    assert np.abs(cv2.GaussianBlur(got, (0, 0), 1.0) - cv2.GaussianBlur(want, (0, 0), 1.0)).mean() < 2.0
    assert np.abs(got[..., 0] - got[..., 2]).mean() > 5  # in colour

"""Logic tests of the page with Streamlit's AppTest (no browser).

The canvas is a custom component AppTest cannot drive: the page calls it
through webapp.canvas.draw_mask_strokes, which reads fake strokes from
``st.session_state["_fake_canvas_objects"]``.
"""

import io
import re

import numpy as np
import pytest
from PIL import Image

from tests.webapp.conftest import erase_stroke


def shown(element) -> str:
    """An alert's text as the browser shows it: the page escapes file names and
    messages for Markdown (webapp.display.plain), the browser drops the backslashes."""
    import re

    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", element.value)


def page_mask(at):
    """The full-size mask the page restores with (the session's mask in webapp.pair.STORE)."""
    from webapp import pair as pairs

    return pairs.STORE.latest(at.session_state["_session"], "mask").edited.mask


def coverage(at) -> float:
    return float(at.metric[0].value.split()[0])


def picture_src(at) -> str:
    """The data URL of the large picture (the click component's image)."""
    import json

    for el in at.get("component_instance"):
        if getattr(el, "key", None) == "picture_gesture":
            return json.loads(el.proto.json_args)["src"]
    raise AssertionError("no picture on the page")


def restored_src(at) -> str:
    """The picture in the 'Restored' view, with the loupe's box moved off the face."""
    if at.radio(key="view").value != "restored":
        at.radio(key="view").set_value("restored").run()
    if loupe_xy(at) != (0, 0):
        spot_slider(at, "Loupe centre, across").set_value(0).run()
        spot_slider(at, "Loupe centre, down").set_value(0).run()
    return picture_src(at)


def loupe_crops(at) -> dict:
    """The loupe's three crops (name -> RGB array at 1:1), decoded from the page's HTML."""
    import base64
    import re

    import cv2

    body = next(el.proto.body for el in at.get("html") if 'alt="Restored"' in el.proto.body)
    crops = {}
    for alt, src in re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,([^"]+)"', body):
        png = np.frombuffer(base64.b64decode(src), np.uint8)
        crops[alt] = cv2.cvtColor(cv2.imdecode(png, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return crops


def spot_slider(at, label: str):
    """A keyboard fallback slider of the picture ("Loupe centre, across", "Before / after line"...)."""
    return next(s for s in at.slider if s.label == label)


def loupe_xy(at) -> tuple[int, int]:
    return spot_slider(at, "Loupe centre, across").value, spot_slider(at, "Loupe centre, down").value


def status_label(at) -> str:
    """The status line: st.status while the pair was being made, a plain expander once it is ready."""
    if at.get("status"):
        return at.get("status")[0].proto.label
    return next(e.label for e in at.expander if e.label.startswith("Ready"))


def test_demo_loads_and_shows_results(app):
    at = app().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error
    assert picture_src(at).startswith("data:image/png;base64,")
    assert set(loupe_crops(at)) == {"Original", "AI-retouched", "Restored"}
    assert all(c.shape[:2] == (256, 256) for c in loupe_crops(at).values())
    assert 0.5 < coverage(at) < 20  # the demo face was found
    assert any("Found 1 face" in c.value for c in at.caption)
    label = status_label(at)
    assert label.startswith("Ready: 1 face found") and "cut-off" in label and "kept clean" in label
    labels = [b.label for b in at.get("download_button")]
    assert any(label.startswith("Restored image (PNG, 8-bit)") for label in labels)
    assert any(label.startswith("Comparison for the client (PNG)") for label in labels)


def test_the_first_run_settles_what_the_server_loaded_and_later_runs_do_not(app):
    """Streamlit collects garbage after every run: once the first run has loaded the
    libraries and the face model, they are out of those scans (gc.freeze), once."""
    import gc

    assert gc.get_freeze_count() == 0
    at = app().run()
    settled = gc.get_freeze_count()
    assert settled > 50_000  # numpy, OpenCV, Streamlit, the page's modules, mediapipe
    at.run()
    assert not at.exception
    # Not settled again (that would add this run's objects); settled objects freed
    # since (by their last reference going) leave the count.
    assert gc.get_freeze_count() <= settled


def test_switching_method_changes_the_result(app):
    at = app().run()
    first = restored_src(at)
    results = {first}
    for m in ("synthetic", "freqsep"):
        at.radio(key="w.method").set_value(m).run()
        assert not at.exception
        assert at.radio(key="w.method").value == m
        results.add(restored_src(at))
    assert len(results) == 3


def fine_detail(url: str, mask) -> float:
    """Energy of the finest detail (image minus a 1 px Gaussian) of a data-URL PNG inside a mask."""
    import base64

    import cv2

    png = base64.b64decode(url.split(",", 1)[1])
    img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE).astype(np.float64)
    m = cv2.resize(np.asarray(mask, np.float32), img.shape[::-1], interpolation=cv2.INTER_AREA) > 0.9
    detail = img - cv2.GaussianBlur(img, (0, 0), 1.0)
    return float((detail[m] ** 2).mean())


def test_strength_slider_raises_the_texture(app):
    """Strength up: more of the original's fine detail on the skin; down to 0: the AI image's."""
    at = app().run()
    at.radio(key="w.method").set_value("graft").run()
    mask = page_mask(at)
    restored_src(at)  # the loupe's box off the face
    at.radio(key="view").set_value("ai").run()
    ai_level = fine_detail(picture_src(at), mask)
    levels = {}
    for strength in (0.0, 100.0, 180.0):
        at.slider(key="w.graft.strength").set_value(strength).run()
        assert not at.exception
        levels[strength] = fine_detail(restored_src(at), mask)
    assert levels[0.0] == pytest.approx(ai_level, rel=0.02)
    assert levels[0.0] < levels[100.0] < levels[180.0]
    assert levels[180.0] > 1.5 * levels[100.0] - 0.5 * levels[0.0]  # grows with the square of strength


def test_a_strength_change_reuses_the_preview_plan_and_a_cutoff_change_remakes_it(app):
    """Match mode (the default): the preview's analysis is made once per plan setting;
    a strength move re-applies it, with the new strength."""
    from webapp import pair as pairs

    at = app().run()
    session = at.session_state["_session"]
    mask = page_mask(at)
    at.radio(key="view").set_value("restored").run()
    first = pairs.STORE.latest(session, "preview plan")
    assert first is not None and first.match is not None
    detail = fine_detail(picture_src(at), mask)
    at.slider(key="w.match.strength").set_value(180.0).run()
    assert not at.exception
    assert pairs.STORE.latest(session, "preview plan") is first
    assert fine_detail(picture_src(at), mask) > 1.2 * detail
    at.slider(key="w.match.cutoff").set_value(6.0).run()
    remade = pairs.STORE.latest(session, "preview plan")
    assert remade is not first and remade.settings.cutoff == pytest.approx(6.0 * remade.pair.retouched.pixels.shape[1]
                                                                           / 1024)


def test_fake_erase_stroke_removes_mask(app):
    at = app().run()
    full = coverage(at)
    # Erase a wide band across the face on the 640 x 640 canvas (demo is 1024 x 1024).
    at.session_state["_fake_canvas_objects"] = [
        erase_stroke([(200, 120), (400, 120), (400, 200), (200, 200), (200, 280), (400, 280)], width=80)]
    at.run()
    assert not at.exception
    erased = coverage(at)
    assert erased < full * 0.5
    assert any("1 brush strokes" in img.caption for el in at.get("image") for img in el.proto.imgs)
    # Undo goes back to the automatic mask.
    at.session_state["_fake_canvas_objects"] = []
    at.run()
    assert coverage(at) == pytest.approx(full, abs=0.01)


def test_bad_upload_shows_a_message(app):
    at = app()
    at.session_state["_test_uploads"] = {"original": ("notes.png", b"this is not an image"),
                                         "ai": ("ai.png", b"neither is this")}
    at.run()
    assert not at.exception
    assert at.error, "expected an error message"
    assert "notes.png" in shown(at.error[0]) and "not an image" in shown(at.error[0])


def _png_bytes(arr) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def test_size_mismatch_with_alignment_off(app):
    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, (64, 80, 3), dtype=np.uint8)
    b = rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)
    at = app()
    at.session_state["_test_uploads"] = {"original": ("o.png", _png_bytes(a)), "ai": ("a.png", _png_bytes(b))}
    at.run()
    at.toggle(key="w.align").set_value(False).run()
    assert not at.exception
    assert at.error and "80x64" in shown(at.error[0]) and "Align" in shown(at.error[0])


def test_one_file_only_asks_for_the_other(app):
    at = app()
    at.session_state["_test_uploads"] = {"original": ("o.png", _png_bytes(np.zeros((8, 8, 3), np.uint8)))}
    at.run()
    assert not at.exception
    assert at.info and "AI-retouched" in at.info[0].value


def test_no_face_is_a_warning_not_an_error(app):
    gray = np.full((96, 128, 3), 128, np.uint8)
    gray[::7] = 90
    data = _png_bytes(gray)
    at = app()
    at.session_state["_test_uploads"] = {"original": ("o.png", data), "ai": ("a.png", data)}
    at.run()
    at.toggle(key="w.align").set_value(False).run()
    assert not at.exception
    assert not at.error
    assert any("No face" in w.value for w in at.warning)
    assert coverage(at) == 0.0


def test_preset_upload_sets_the_sliders(app):
    from processing.settings import Preset

    preset = Preset().replace(method="freqsep")
    preset = preset.replace(freqsep=preset.freqsep.replace(blur=9.5, strength=70.0, mode="replace"))
    at = app()
    at.session_state["_test_uploads"] = {"preset": preset.to_json().encode()}
    at.run()
    assert not at.exception and not at.error
    assert at.radio(key="w.method").value == "freqsep"
    assert at.slider(key="w.freqsep.blur").value == 9.5
    assert at.slider(key="w.freqsep.strength").value == 70.0
    assert at.radio(key="w.freqsep.mode").value == "replace"
    # The user moves a slider afterwards: the preset is not applied again.
    at.slider(key="w.freqsep.strength").set_value(120.0).run()
    assert at.slider(key="w.freqsep.strength").value == 120.0
    # The downloadable preset is what the sliders show, and the CLI reads it back.
    dl = next(b for b in at.get("download_button") if b.proto.label.startswith("Settings"))
    assert dl is not None


def test_bad_preset_shows_one_message(app):
    at = app()
    at.session_state["_test_uploads"] = {"preset": b'{"method": "graft", "graft": {"strength": 900}}'}
    at.run()
    assert not at.exception
    assert len(at.error) == 1
    assert "graft.strength" in shown(at.error[0]) and "200" in shown(at.error[0])
    # The page still works with the previous settings.
    assert restored_src(at)


def test_switching_method_and_back_keeps_slider_values(app):
    at = app().run()
    at.radio(key="w.method").set_value("graft").run()
    at.slider(key="w.graft.radius").set_value(3.5).run()
    at.radio(key="w.method").set_value("synthetic").run()
    at.radio(key="w.method").set_value("graft").run()
    assert not at.exception
    assert at.slider(key="w.graft.radius").value == 3.5


# --- Texture spectrum, blemish overlay, loupe = download -------------------------------------------

LADDER_LABELS = ["0.5-1 px", "1-2 px", "2-4 px", "4-8 px", "8-16 px", "16-32 px"]


def show_spectrum(at):
    """Switch the texture spectrum on (it is measured only while shown)."""
    if not at.toggle(key="show_spectrum").value:
        at.toggle(key="show_spectrum").set_value(True).run()
    return at


def spectrum_table(at):
    show_spectrum(at)
    return at.dataframe[0].value


def chart_spec(at) -> dict:
    import json

    show_spectrum(at)
    charts = at.get("vega_lite_chart")
    assert len(charts) == 1
    return json.loads(charts[0].proto.spec)


def test_texture_spectrum_is_measured_only_when_shown_and_shows_the_ladder(app):
    at = app().run()
    assert not at.exception
    assert not at.dataframe and not at.get("vega_lite_chart")  # off: nothing measured
    table = spectrum_table(at)
    assert list(table.index) == LADDER_LABELS
    assert list(table.columns) == ["AI-retouched", "Restored"]
    # The demo's smoothing took the fine bands away and left the coarse ones.
    assert table["AI-retouched"].iloc[0] < 0.5 < table["AI-retouched"].iloc[-1]
    assert table["Restored"].iloc[0] > table["AI-retouched"].iloc[0]
    spec = chart_spec(at)
    marks = [layer["mark"]["type"] for layer in spec["layer"]]
    assert marks.count("rule") == 2  # the dashed line at 1 and the cut-off
    assert "0.5-1 px" in json_dump(spec)
    note = [c.value for c in at.caption if c.value.startswith("Cut-off")]
    assert len(note) == 1 and "(automatic)" in note[0]


def json_dump(spec) -> str:
    import json

    return json.dumps(spec)


def test_spectrum_follows_the_sliders(app):
    at = app().run()
    at.radio(key="w.method").set_value("graft").run()
    at.slider(key="w.graft.strength").set_value(200.0).run()
    assert not at.exception
    table = spectrum_table(at)
    # Twice the original's fine detail on top of what the AI kept: above the AI's, above 1.
    assert table["Restored"].iloc[0] > table["AI-retouched"].iloc[0]
    assert table["Restored"].iloc[0] > 1.0
    strong = table["Restored"].iloc[0]
    at.slider(key="w.graft.strength").set_value(50.0).run()
    assert spectrum_table(at)["Restored"].iloc[0] < strong
    # No cut-off outside match mode.
    marks = [layer["mark"]["type"] for layer in chart_spec(at)["layer"]]
    assert marks.count("rule") == 1
    assert not [c for c in at.caption if c.value.startswith("Cut-off")]


def test_manual_cutoff_is_marked(app):
    at = show_spectrum(app().run())
    at.slider(key="w.match.cutoff").set_value(6.0).run()
    assert not at.exception
    note = [c.value for c in at.caption if c.value.startswith("Cut-off")]
    assert note and note[0].startswith("Cut-off 6.0 px (set by hand)")


def compare_src(at) -> str:
    assert at.radio(key="view").value == "split"
    return picture_src(at)


def test_blemish_overlay_toggle(app):
    at = app().run()
    box = at.checkbox(key="show_blemish")
    assert not box.disabled and not box.value
    plain = compare_src(at)
    note = [c.value for c in at.caption if "kept clean" in c.value]
    assert note and int(note[0].split()[0]) > 0  # the demo's blemishes were found
    box.check().run()
    assert not at.exception
    assert compare_src(at) != plain
    assert any("(magenta)" in c.value for c in at.caption)
    # Off again: the plain comparison comes back, pixel for pixel.
    at.checkbox(key="show_blemish").uncheck().run()
    assert compare_src(at) == plain
    # Graft with protection off: nothing to show.
    at.radio(key="w.method").set_value("graft").run()
    assert at.checkbox(key="show_blemish").disabled
    assert any("Blemish protection is off" in c.value for c in at.caption)
    at.slider(key="w.graft.blemish").set_value(60.0).run()
    assert not at.checkbox(key="show_blemish").disabled
    assert any("kept clean" in c.value and c.value[0].isdigit() for c in at.caption)


def loupe_restored_panel(at) -> np.ndarray:
    """The loupe's restored crop, at 1:1."""
    return loupe_crops(at)["Restored"]


def assert_same_pixels(got, expected, exact: bool):
    """Bit for bit, or (a wide blur on a reduced copy) within one level on a few per cent of pixels."""
    assert got.shape == expected.shape
    if exact:
        assert np.array_equal(got, expected)
    else:
        diff = np.abs(got.astype(int) - expected.astype(int))
        assert diff.max() <= 1 and (diff > 0).mean() < 0.05


@pytest.mark.parametrize("method, changes, exact", [
    ("match", {}, True),
    # A 16 px swap is blurred on a reduced copy whose grid follows the area restored.
    ("match", {"w.match.cutoff": 8.0, "w.match.strength": 150.0}, False),
    ("graft", {"w.graft.blemish": 70.0}, True),
    ("freqsep", {"w.freqsep.blemish": 80.0}, True),
])
def test_loupe_shows_the_full_size_download(app, method, changes, exact):
    """The loupe restores a crop around its window; inside the window the pixels are the
    full-size result's (within one level where a wide blur runs on a reduced copy)."""
    from webapp import controls, display

    at = app().run()
    at.radio(key="w.method").set_value(method).run()
    for key, value in changes.items():
        at.slider(key=key).set_value(value).run()
    spot_slider(at, "Loupe centre, across").set_value(390).run()
    assert not at.exception
    mask = page_mask(at)
    flat = at.session_state[controls.STORE]
    assert flat["method"] == method
    from processing.demo import demo_pair

    original, ai = demo_pair()
    settings = controls.Preset.from_dict(
        {"method": method, method: {k.split(".", 1)[1]: v for k, v in flat.items()
                                    if k.startswith(method + ".")}}).settings
    full = _restored(original, ai, mask, settings)
    x, y = loupe_xy(at)
    window = (x - 128, y - 128, x + 128, y + 128)  # inside the demo's 1024 px: not moved
    expected = display.crop(full, window)
    got = loupe_restored_panel(at)
    assert got.shape == expected.shape
    assert_same_pixels(got, expected, exact)
    assert not np.array_equal(expected, display.crop(ai, window))  # the loupe sits on restored skin


def test_downscaled_preview_labels_full_size_bands_and_loupe_matches(app):
    """A pair larger than the preview: bands in full-size px, loupe = full-size result."""
    import cv2

    from processing.demo import demo_pair
    from processing.settings import MatchSettings
    from webapp import display

    o, a = (cv2.resize(np.asarray(x), (2100, 2100), interpolation=cv2.INTER_CUBIC) for x in demo_pair())
    at = app()
    at.session_state["_test_uploads"] = {"original": ("o.png", _png_bytes(o)), "ai": ("a.png", _png_bytes(a))}
    at.run()
    assert not at.exception and not at.error
    table = spectrum_table(at)
    assert list(table.index)[0] == "0.75-1.5 px"  # preview at 2/3: 0.5 px there is 0.75 px here
    assert any("67 % preview" in c.value for c in at.caption)
    assert any("reduced (67 % of 2100x2100 px)" in c.value for c in at.caption)
    assert any(c.value.startswith("Cut-off") for c in at.caption)
    full = _restored(o, a, page_mask(at), MatchSettings())
    x, y = loupe_xy(at)
    window = (x - 128, y - 128, x + 128, y + 128)
    # Enlarged 2x, the demo's automatic cut-off makes a swap wide enough for the reduced-copy blur.
    assert_same_pixels(loupe_restored_panel(at), display.crop(full, window), exact=False)
    assert not np.array_equal(display.crop(full, window), display.crop(a, window))


def _restored(original, ai, mask, settings):
    """The full-size restore of the demo arrays with the page's mask, made here, not by the page."""
    from processing.pipeline import restore_pair
    from processing.settings import Preset

    preset = Preset(align=False).with_settings(settings)
    return restore_pair(np.asarray(original), np.asarray(ai), mask, preset)[0]


# --- The picture: click to inspect, drag to split ------------------------------------------------

def gesture(at, x1, y1, x2=None, y2=None, shown=(980, 980)):
    """A press at (x1, y1) and release at (x2, y2) on the picture shown at `shown` px, as the
    click component reports it; the page reads it on its next run."""
    at.session_state["_fake_picture_gesture"] = {
        "x1": x1, "y1": y1, "x2": x1 if x2 is None else x2, "y2": y1 if y2 is None else y2,
        "width": shown[0], "height": shown[1], "unix_time": 1}
    return at.run()


def test_a_click_on_the_picture_centres_the_loupe_on_that_photo_pixel(app):
    from processing.demo import demo_pair

    original, ai = demo_pair()  # 1024 x 1024, shown here 980 px wide
    at = app().run()
    gesture(at, 294, 392)  # 30 % across, 40 % down
    assert not at.exception
    x, y = loupe_xy(at)
    assert (x, y) == (int(294 / 980 * 1024), int(392 / 980 * 1024))
    crops = loupe_crops(at)
    window = (slice(y - 128, y + 128), slice(x - 128, x + 128))
    assert np.array_equal(crops["Original"], np.asarray(original)[window])
    assert np.array_equal(crops["AI-retouched"], np.asarray(ai)[window])
    # Side by side: a click on the right-hand photo is the same spot of the photo.
    at.radio(key="view").set_value("side").run()
    width = 2 * 1024 + 8
    shown_w = 1200
    shown_h = 1024 * shown_w / width
    px = (1024 + 8 + 700) * shown_w / width  # photo pixel (700, 600) in the right-hand panel
    gesture(at, px, 600 * shown_h / 1024, shown=(shown_w, shown_h))
    assert abs(loupe_xy(at)[0] - 700) <= 2 and abs(loupe_xy(at)[1] - 600) <= 2


def test_a_drag_moves_the_before_after_line_and_only_in_that_view(app):
    at = app().run()
    assert spot_slider(at, "Before / after line").value == 50
    loupe = loupe_xy(at)
    plain = picture_src(at)
    gesture(at, 100, 500, 700, 520)  # let go at 700 / 980 of the width
    assert not at.exception
    assert spot_slider(at, "Before / after line").value == round(700 / 980 * 100)
    assert loupe_xy(at) == loupe  # a drag is no click
    assert picture_src(at) != plain
    # In another view a drag does nothing, and the line is kept for when the user comes back.
    at.radio(key="view").set_value("restored").run()
    gesture(at, 100, 500, 300, 500)
    at.radio(key="view").set_value("split").run()
    assert spot_slider(at, "Before / after line").value == round(700 / 980 * 100)
    # The keyboard fallback moves the line too.
    spot_slider(at, "Before / after line").set_value(30).run()
    assert spot_slider(at, "Before / after line").value == 30 and picture_src(at) != plain


def test_a_smaller_pair_after_the_demo_starts_its_own_loupe_and_line(app):
    """The loupe's place belongs to a pair: a 256 px pair after the 1024 px demo (where the
    loupe was moved far right) opens with its loupe inside it and the line in the middle."""
    import cv2

    from processing.demo import demo_pair

    at = app().run()
    gesture(at, 950, 900)
    gesture(at, 100, 500, 700, 520)
    assert loupe_xy(at)[0] > 900
    o, a = (cv2.resize(np.asarray(x), (256, 256), interpolation=cv2.INTER_AREA) for x in demo_pair())
    at.session_state["_test_uploads"] = {"original": ("o.png", _png_bytes(o))}
    at.run()
    at.session_state["_test_uploads"] = {"original": ("o.png", _png_bytes(o)), "ai": ("a.png", _png_bytes(a))}
    at.run()
    assert not at.exception and not at.error
    x, y = loupe_xy(at)
    assert 0 <= x < 256 and 0 <= y < 256
    assert spot_slider(at, "Before / after line").value == 50
    assert all(c.shape[:2] == (256, 256) for c in loupe_crops(at).values())


def test_status_says_what_was_found(app):
    at = show_spectrum(app().run())
    label = status_label(at)
    n = int(re.search(r"(\d+) removed blemish", label).group(1))
    assert n > 0 and f"{n} removed blemishes kept clean on the photo" in " ".join(c.value for c in at.caption)
    cut = float(re.search(r"cut-off ([\d.]+) px", label).group(1))
    assert any(c.value.startswith(f"Cut-off {cut:.1f} px") for c in at.caption)
    # Graft has no cut-off; with blemish protection off, no spots either.
    at.radio(key="w.method").set_value("graft").run()
    label = status_label(at)
    assert label.startswith("Ready: 1 face found") and "cut-off" not in label and "blemish" not in label


def test_percent_sliders_show_whole_numbers_with_a_unit(app):
    at = app().run()
    for method in ("match", "graft", "freqsep", "synthetic"):
        at.radio(key="w.method").set_value(method).run()
        for slider in at.slider:
            fmt = slider.proto.format
            if "%%" in fmt and slider.key != "w.synthetic.amount":
                assert fmt == "%.0f %%" or fmt == "%d %%", (slider.label, fmt)
            if "px" in fmt and slider.label not in ("Loupe centre, across", "Loupe centre, down", "Brush size"):
                assert fmt == "%.1f px", (slider.label, fmt)
    assert at.slider(key="w.synthetic.amount").proto.format == "%.1f %%"  # 0-10 %, tenths matter

"""Logic tests of the page with Streamlit's AppTest (no browser).

The canvas is a custom component AppTest cannot drive: the page calls it
through webapp.canvas.draw_mask_strokes, which reads fake strokes from
``st.session_state["_fake_canvas_objects"]``.
"""

import io

import numpy as np
import pytest
from PIL import Image

from tests.webapp.conftest import erase_stroke


def coverage(at) -> float:
    return float(at.metric[0].value.split()[0])


def restored_src(at) -> str:
    imgs = [el for el in at.get("image")]
    for el in imgs:
        for img in el.proto.imgs:
            if img.caption == "Restored":
                return img.url
    raise AssertionError("no Restored image on the page")


def test_demo_loads_and_shows_results(app):
    at = app().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error
    captions = [img.caption for el in at.get("image") for img in el.proto.imgs]
    for caption in ("Original", "AI-retouched", "Restored"):
        assert caption in captions
    assert restored_src(at).startswith("data:image/png;base64,")
    assert 0.5 < coverage(at) < 20  # the demo face was found
    assert any("Found 1 face" in c.value for c in at.caption)
    labels = [b.label for b in at.get("download_button")]
    assert any(label.startswith("Restored image (PNG, 8-bit)") for label in labels)


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


def test_strength_slider_changes_the_result(app):
    at = app().run()
    at.radio(key="w.method").set_value("graft").run()
    before = restored_src(at)
    at.slider(key="w.graft.strength").set_value(180.0).run()
    assert not at.exception
    assert restored_src(at) != before


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
    assert "notes.png" in at.error[0].value and "not an image" in at.error[0].value


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
    assert at.error and "80x64" in at.error[0].value and "Align" in at.error[0].value


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
    assert "graft.strength" in at.error[0].value and "200" in at.error[0].value
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

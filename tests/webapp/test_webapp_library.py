"""The non-UI helpers the web app uses: mask strokes, previews, the demo pair."""

import numpy as np
import pytest

from processing import mask_edit, preview
from processing.settings import GraftSettings, SyntheticSettings


def path_obj(points, color, width):
    path = [["M", *points[0]]] + [["Q", *points[i], *points[i]] for i in range(1, len(points) - 1)] \
        + [["L", *points[-1]]]
    return {"type": "path", "stroke": color, "strokeWidth": width, "path": path}


def test_parse_and_classify_colors():
    assert mask_edit.parse_color("#ff0000") == (255, 0, 0)
    assert mask_edit.parse_color("#0f0") == (0, 255, 0)
    assert mask_edit.parse_color("rgba(1, 2, 3, 0.5)") == (1, 2, 3)
    assert mask_edit.parse_color("blue") is None
    assert mask_edit.stroke_mode(mask_edit.ADD_COLOR) == "add"
    assert mask_edit.stroke_mode(mask_edit.ERASE_COLOR) == "erase"
    assert mask_edit.stroke_mode("#00ff00") == "add"


def test_strokes_map_canvas_to_full_resolution_in_order():
    auto = np.zeros((400, 800), np.float32)
    objs = [path_obj([(10, 50), (90, 50)], mask_edit.ADD_COLOR, 20),     # canvas 100 x 50
            path_obj([(50, 40), (50, 60)], mask_edit.ERASE_COLOR, 10),
            {"type": "rect", "stroke": mask_edit.ADD_COLOR}]               # ignored
    strokes = mask_edit.strokes_from_fabric({"objects": objs})
    assert [s.mode for s in strokes] == ["add", "erase"]
    out = mask_edit.apply_strokes(auto, strokes, (100, 50))
    assert out.shape == auto.shape and auto.max() == 0  # input untouched
    # Canvas (10..90, 50) at 8x: full-res x 80..720, y 400 -> bottom edge; width 20 -> 160 px
    assert out[390, 200] == 1.0 and out[390, 600] == 1.0
    assert out[390, 400] == 0.0  # the erase stroke at canvas x=50 -> 400 cut through it
    assert out[100, 400] == 0.0
    # Order matters: erase then add keeps the add.
    out2 = mask_edit.apply_strokes(auto, strokes[::-1], (100, 50))
    assert out2[390, 400] == 1.0


def test_undo_and_reset_are_exact():
    rng = np.random.default_rng(0)
    auto = rng.random((120, 160)).astype(np.float32)
    assert np.array_equal(mask_edit.apply_strokes(auto, [], (64, 48)), auto)
    one = mask_edit.strokes_from_fabric([path_obj([(5, 5), (30, 30)], mask_edit.ERASE_COLOR, 6)])
    assert not np.array_equal(mask_edit.apply_strokes(auto, one, (64, 48)), auto)


def test_single_point_stroke_and_moved_object():
    auto = np.zeros((100, 100), np.float32)
    dot = [{"type": "path", "stroke": mask_edit.ADD_COLOR, "strokeWidth": 10, "path": [["M", 50, 50]]}]
    out = mask_edit.apply_strokes(auto, mask_edit.strokes_from_fabric(dot), (100, 100))
    assert out[50, 50] == 1.0 and out[50, 58] == 0.0
    # A path moved in edit mode: points unchanged, left/top moved by +20 px.
    obj = path_obj([(10, 10), (30, 10)], mask_edit.ADD_COLOR, 4)
    obj.update({"left": 28, "top": 28, "width": 24, "height": 4, "pathOffset": {"x": 20, "y": 10},
                "originX": "left", "originY": "top"})
    (s,) = mask_edit.strokes_from_fabric([obj])
    assert np.allclose(s.points[:, 1], 30) and np.isclose(s.points[:, 0].min(), 30)


def test_edited_mask_multiplies_coverage_and_overlay():
    auto = np.ones((20, 30), np.float32)
    cov = np.zeros((20, 30), np.float32)
    cov[:, :15] = 1
    m = mask_edit.edited_mask(auto, [], (30, 20), cov)
    assert m[:, :15].min() == 1 and m[:, 15:].max() == 0
    assert mask_edit.coverage(m) == pytest.approx(50.0)
    img = np.full((20, 30, 3), 100, np.uint8)
    ov = mask_edit.overlay(img, m)
    assert ov.dtype == np.uint8 and (ov[:, :15] != 100).any() and (ov[:, 15:] == 100).all()
    assert mask_edit.mask_to_png_pixels(m).max() == 255


def test_downscale_keeps_dtype_and_fits():
    img = np.zeros((3000, 4000, 3), np.uint16)
    small, scale = preview.downscale(img, 1000)
    assert small.shape == (750, 1000, 3) and small.dtype == np.uint16 and scale == 0.25
    same, s1 = preview.downscale(img[:100, :100], 1000)
    assert s1 == 1.0 and same.shape == (100, 100, 3)
    assert preview.to_display(small).dtype == np.uint8


def test_loupe_window_and_window_mask():
    w = preview.loupe_window((1000, 2000, 3), (0.99, 0.01), 256)
    assert w == (2000 - 256, 0, 2000, 256)
    assert preview.loupe_window((100, 120), (0.5, 0.5), 256) == (0, 0, 120, 100)
    mask = np.ones((50, 60), np.float32)
    wm = preview.window_mask(mask, (10, 5, 20, 15))
    assert wm.sum() == 100 and wm[5:15, 10:20].min() == 1


def test_loupe_restore_equals_full_restore_inside_window():
    from processing.restore import restore

    rng = np.random.default_rng(1)
    o = rng.integers(0, 255, (200, 240, 3), dtype=np.uint8)
    a = (o // 2 + 60).astype(np.uint8)
    mask = np.ones((200, 240), np.float32)
    for settings in (GraftSettings(), SyntheticSettings(seed=3)):
        full = restore(o, a, mask, settings)
        win = preview.loupe_window(o.shape, (0.4, 0.6), 64)
        part = restore(o, a, preview.window_mask(mask, win), settings)
        assert np.array_equal(preview.crop(part, win), preview.crop(full, win))


def test_scaled_settings_scale_pixels_and_stay_in_range():
    s = preview.scaled_settings(GraftSettings(radius=4.0, strength=150.0), 0.25)
    assert s.radius == 1.0 and s.strength == 150.0
    s = preview.scaled_settings(GraftSettings(radius=1.0), 0.1)
    assert s.radius == 0.5  # range minimum
    assert preview.scaled_settings(SyntheticSettings(), 1.0) == SyntheticSettings()


def test_compositions_and_png():
    a = np.zeros((10, 20, 3), np.uint8)
    b = np.full((10, 20, 3), 200, np.uint8)
    c = preview.split_compare(a, b, 0.5)
    assert (c[:, :9] == 0).all() and (c[:, 11:] == 200).all()
    sbs = preview.side_by_side([a, b[:8]], gap=4)
    assert sbs.shape == (10, 44, 3)
    assert preview.enlarge(a, 3).shape == (30, 60, 3)
    png = preview.encode_png(b)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert preview.png_data_url(png).startswith("data:image/png;base64,")
    framed = preview.frame_box(b, (2, 2, 8, 8), 1.0)
    assert (framed != b).any()
    assert preview.mask_center(np.zeros((10, 10))) == (0.5, 0.5)
    m = np.zeros((100, 100), np.float32)
    m[10:20, 70:80] = 1
    cx, cy = preview.mask_center(m)
    assert 0.7 < cx < 0.8 and 0.1 < cy < 0.2


def test_demo_pair_is_deterministic_and_smoothed():
    from processing.demo import demo_files, demo_pair
    from processing.image_io import read_image
    from processing.metrics import band_energies

    o, a = demo_pair()
    assert o.shape == a.shape == (1024, 1024, 3) and o.dtype == np.uint8
    assert not o.flags.writeable
    diff = np.abs(o.astype(int) - a.astype(int)).max(axis=2)
    assert (diff == 0).mean() > 0.8  # background untouched
    from processing.skin_mask import propose_skin_mask

    face = propose_skin_mask(a, forehead=0.0).mask
    assert face.max() > 0.99
    e_o, e_a = band_energies(o, face), band_energies(a, face)
    assert e_a["fine"] < 0.3 * e_o["fine"]
    o_bytes, a_bytes = demo_files()
    assert np.array_equal(read_image(o_bytes).pixels, o)


def test_loupe_starts_on_a_cheek():
    from types import SimpleNamespace

    mask = np.zeros((100, 200), np.float32)
    face = SimpleNamespace(regions={"left_cheek": np.array([[20, 40], [40, 40], [40, 60], [20, 60]], np.float32)})
    assert preview.loupe_start([face], mask) == pytest.approx((0.15, 0.5))
    mask[10:30, 150:190] = 1
    cx, cy = preview.loupe_start([], mask)
    assert 0.75 < cx < 0.95 and 0.1 < cy < 0.3


def _blemished_pair():
    """A textured pair whose 'AI' copy is smoothed and lost three dark spots."""
    import cv2

    rng = np.random.default_rng(4)
    base = np.full((160, 200, 3), 150, np.float32) + rng.normal(0, 12, (160, 200, 1)).astype(np.float32)
    o = base.copy()
    for cx, cy in ((50, 50), (120, 90), (160, 40)):
        cv2.circle(o, (cx, cy), 4, (90, 90, 90), -1)
    a = cv2.GaussianBlur(base, (0, 0), 2.0)
    return np.clip(o, 0, 255).astype(np.uint8), np.clip(a, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("settings", [
    "match", "match-8", "graft-blemish", "freqsep-blemish", "graft", "synthetic"])
def test_planned_restore_is_the_restore_and_the_loupe_window_matches(settings):
    from processing.restore import restore
    from processing.settings import FreqSepSettings, MatchSettings

    settings = {"match": MatchSettings(), "match-8": MatchSettings(cutoff=8.0, strength=140.0),
                "graft-blemish": GraftSettings(blemish=60.0), "graft": GraftSettings(),
                "freqsep-blemish": FreqSepSettings(blemish=70.0, mode="replace"),
                "synthetic": SyntheticSettings(seed=5)}[settings]
    o, a = _blemished_pair()
    mask = np.zeros(a.shape[:2], np.float32)
    mask[10:150, 15:190] = 1.0
    plan = preview.restore_plan(o, a, mask, settings)
    full = restore(o, a, mask, settings)
    assert np.array_equal(preview.restore_planned(o, a, settings, plan), full)
    # The loupe: a window restored with the whole image's plan gives the full-size pixels.
    win = preview.loupe_window(a.shape, (0.3, 0.35), 48)
    part = preview.restore_planned(o, a, settings, plan, window=win)
    assert np.array_equal(preview.crop(part, win), preview.crop(full, win))
    # A plan stays valid when only the amount changes.
    if hasattr(settings, "strength"):
        stronger = settings.replace(strength=180.0)
        assert preview.plan_settings(stronger) == preview.plan_settings(settings)
        assert np.array_equal(preview.restore_planned(o, a, stronger, plan), restore(o, a, mask, stronger))
    if getattr(settings, "blemish", 0) > 0 and getattr(settings, "cutoff", 1) > 0:
        assert plan.protection is not None and plan.protection.shape == a.shape[:2]
        assert preview.blemish_spots(plan.protection) >= 3
        for x, y in ((50, 50), (120, 90), (160, 40)):  # the removed spots are kept clean
            assert plan.protection[y, x] < 0.5
        assert plan.protection[145, 60] == pytest.approx(1.0)
    elif getattr(settings, "blemish", 0) > 0:
        assert plan.protection is None or plan.protection.shape == a.shape[:2]
    else:
        assert plan.protection is None and preview.blemish_spots(plan.protection) == 0


def test_blemish_overlay_tints_only_the_kept_clean_places():
    img = np.full((60, 80, 3), 120, np.uint8)
    prot = np.ones((30, 40), np.float32)  # half size: resized to the image
    prot[10:14, 10:14] = 0.0
    out = preview.blemish_overlay(img, prot)
    assert out.shape == img.shape and out.dtype == np.uint8
    spot = out[22:26, 22:26].astype(int)
    assert (spot[..., 1] < 120).all() and (spot[..., 0] > 120).all()  # magenta
    assert (out[45:, 60:] == 120).all() and (out[:5] == 120).all()
    assert np.array_equal(preview.blemish_overlay(img, None), img)
    assert np.array_equal(preview.blemish_overlay(img, np.ones((60, 80), np.float32)), img)
    assert preview.blemish_spots(prot) == 1


def test_spectrum_rows_labels_and_cutoff_position():
    report = {"scales_px": [0.5, 1.0, 2.0, 4.0, 8.0, 16.0], "ai": [0.2, 0.4, 0.7, 0.9, 1.0, float("nan")],
              "result": [1.0, 1.0, 0.95, 0.97, 1.0, 1.0]}
    rows = preview.spectrum_rows(report)
    assert [r["Band"] for r in rows] == ["0.5-1 px", "1-2 px", "2-4 px", "4-8 px", "8-16 px", "16-32 px"]
    assert rows[0]["AI-retouched"] == 0.2 and rows[5]["AI-retouched"] is None and rows[5]["Restored"] == 1.0
    # On a quarter-size preview the bands are labelled in full-size pixels.
    assert preview.spectrum_rows(report, 0.25)[0]["Band"] == "2-4 px"
    assert preview.band_label(16.0, 0.3) == "53-107 px"
    assert preview.ladder_position(0.5) == 0.0 and preview.ladder_position(2.0) == 2.0
    assert 2.0 < preview.ladder_position(2.8) < 3.0

"""What the page shows: display copies, comparisons, tints, the loupe's place, the spectrum chart."""

import numpy as np
import pytest

from webapp import display


def test_downscale_keeps_dtype_and_fits():
    img = np.zeros((3000, 4000, 3), np.uint16)
    small, scale = display.downscale(img, 1000)
    assert small.shape == (750, 1000, 3) and small.dtype == np.uint16 and scale == 0.25
    same, s1 = display.downscale(img[:100, :100], 1000)
    assert s1 == 1.0 and same.shape == (100, 100, 3)
    assert display.to_display(small).dtype == np.uint8


def test_compositions_and_png():
    a = np.zeros((10, 20, 3), np.uint8)
    b = np.full((10, 20, 3), 200, np.uint8)
    c = display.split_compare(a, b, 0.5)
    assert (c[:, :9] == 0).all() and (c[:, 11:] == 200).all()
    sbs = display.side_by_side([a, b[:8]], gap=4)
    assert sbs.shape == (10, 44, 3)
    png = display.encode_png(b)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert display.png_data_url(png).startswith("data:image/png;base64,")
    framed = display.frame_box(b, (2, 2, 8, 8), 1.0)
    assert (framed != b).any()
    assert display.mask_center(np.zeros((10, 10))) == (0.5, 0.5)
    m = np.zeros((100, 100), np.float32)
    m[10:20, 70:80] = 1
    cx, cy = display.mask_center(m)
    assert 0.7 < cx < 0.8 and 0.1 < cy < 0.2


def test_loupe_starts_on_a_cheek():
    from types import SimpleNamespace

    mask = np.zeros((100, 200), np.float32)
    face = SimpleNamespace(regions={"left_cheek": np.array([[20, 40], [40, 40], [40, 60], [20, 60]], np.float32)})
    assert display.loupe_start([face], mask) == pytest.approx((0.15, 0.5))
    mask[10:30, 150:190] = 1
    cx, cy = display.loupe_start([], mask)
    assert 0.75 < cx < 0.95 and 0.1 < cy < 0.3


def test_blemish_overlay_tints_only_the_kept_clean_places():
    img = np.full((60, 80, 3), 120, np.uint8)
    prot = np.ones((30, 40), np.float32)  # half size: resized to the image
    prot[10:14, 10:14] = 0.0
    out = display.blemish_overlay(img, prot)
    assert out.shape == img.shape and out.dtype == np.uint8
    spot = out[22:26, 22:26].astype(int)
    assert (spot[..., 1] < 120).all() and (spot[..., 0] > 120).all()  # magenta
    assert (out[45:, 60:] == 120).all() and (out[:5] == 120).all()
    assert np.array_equal(display.blemish_overlay(img, None), img)
    assert np.array_equal(display.blemish_overlay(img, np.ones((60, 80), np.float32)), img)


def test_spectrum_rows_labels_and_cutoff_position():
    report = {"scales_px": [0.5, 1.0, 2.0, 4.0, 8.0, 16.0], "ai": [0.2, 0.4, 0.7, 0.9, 1.0, float("nan")],
              "result": [1.0, 1.0, 0.95, 0.97, 1.0, 1.0]}
    rows = display.spectrum_rows(report)
    assert [r["Band"] for r in rows] == ["0.5-1 px", "1-2 px", "2-4 px", "4-8 px", "8-16 px", "16-32 px"]
    assert rows[0]["AI-retouched"] == 0.2 and rows[5]["AI-retouched"] is None and rows[5]["Restored"] == 1.0
    # On a quarter-size preview the bands are labelled in full-size pixels.
    assert display.spectrum_rows(report, 0.25)[0]["Band"] == "2-4 px"
    assert display.band_label(16.0, 0.3) == "53-107 px"
    assert display.ladder_position(0.5) == 0.0 and display.ladder_position(2.0) == 2.0
    assert 2.0 < display.ladder_position(2.8) < 3.0


def test_mask_tint_and_percent():
    m = np.zeros((20, 30), np.float32)
    m[:, :15] = 1
    assert display.mask_percent(m) == pytest.approx(50.0)
    img = np.full((20, 30, 3), 100, np.uint8)
    ov = display.tint_mask(img, m)
    assert ov.dtype == np.uint8 and (ov[:, :15, 1] > 100).all() and (ov[:, 15:] == 100).all()


def test_loupe_window_stays_inside_the_image():
    from processing.comparison import spot_window  # the loupe's window and the comparison's crop

    assert spot_window((1000, 2000, 3), (1980, 10), 256) == (2000 - 256, 0, 2000, 256)
    assert spot_window((100, 120), (60, 50), 256) == (0, 0, 120, 100)


def test_views_place_each_version_where_their_panels_say():
    from webapp.display import SIDE_GAP, compose_view, mark_spot

    rng = np.random.default_rng(1)
    o, a, r = (rng.integers(0, 255, (40, 60, 3), dtype=np.uint8) for _ in range(3))
    side, panels = compose_view("side", o, a, r)
    assert panels == ((0, 60), (60 + SIDE_GAP, 120 + SIDE_GAP))
    assert np.array_equal(side[:, 0:60], a) and np.array_equal(side[:, 60 + SIDE_GAP:], r)
    split, panels = compose_view("split", o, a, r, 0.25)
    assert panels == ((0, 60),)
    assert np.array_equal(split[:, :14], a[:, :14]) and np.array_equal(split[:, 16:], r[:, 16:])
    for view, want in (("original", o), ("ai", a), ("restored", r)):
        assert np.array_equal(compose_view(view, o, a, r)[0], want)
    # The spot (photo px 40-80 of a 120 px wide photo shown at 0.5) is outlined in both panels.
    marked = mark_spot(side, ((0, 60), (60 + SIDE_GAP, 120 + SIDE_GAP)), (40, 20, 80, 60), 0.5)
    changed = np.any(marked != side, axis=2)
    cols = np.where(changed.any(axis=0))[0]
    assert cols.min() >= 20 - 1 and cols.max() <= 60 + SIDE_GAP + 40 + 1
    assert changed[:, 20:40].any() and changed[:, 60 + SIDE_GAP + 20:60 + SIDE_GAP + 40].any()
    assert not changed[:, 41:60 + SIDE_GAP + 19].any()


@pytest.mark.parametrize("shape, dtype", [((37, 53, 3), np.uint8), ((40, 31), np.uint8), ((29, 44, 3), np.uint16)])
def test_png_holds_the_display_pixels_exactly(shape, dtype):
    """The fast PNG settings (run-length zlib, and the "up" filter where OpenCV
    has it) lose nothing: the file decodes (by Pillow) to the 8-bit display pixels."""
    import io

    from PIL import Image

    from processing.dtypes import to_uint8

    rng = np.random.default_rng(len(shape))
    img = rng.integers(0, np.iinfo(dtype).max, shape, dtype=dtype, endpoint=True)
    img[: shape[0] // 2] //= 7  # runs and noise both
    with Image.open(io.BytesIO(display.encode_png(img))) as im:
        assert np.array_equal(np.asarray(im), to_uint8(img))

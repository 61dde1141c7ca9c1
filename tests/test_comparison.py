"""The client comparison sheet: both versions at one scale, 1:1 crops of the same spot."""

import cv2
import numpy as np
import pytest

from processing.comparison import comparison_sheet, spot_window


def _photos(h=900, w=1300, dtype=np.uint8):
    rng = np.random.default_rng(3)
    top = 255 if dtype == np.uint8 else 65535
    ai = cv2.GaussianBlur(rng.uniform(0, top, (h, w, 3)).astype(np.float32), (0, 0), 3).astype(dtype)
    restored = rng.uniform(0, top, (h, w, 3)).astype(dtype)
    return ai, restored


def _outline_free(layout, shape):
    """Overview pixels away from the drawn outline of the spot (a few px either side of its lines)."""
    keep = np.ones(shape, bool)
    x0, y0, x1, y1 = (int(round(v * layout.scale)) for v in layout.window)
    reach = 6
    for xs in (x0, x1 - 1):
        keep[max(0, y0 - reach):y1 + reach, max(0, xs - reach):xs + reach] = False
    for ys in (y0, y1 - 1):
        keep[max(0, ys - reach):ys + reach, max(0, x0 - reach):x1 + reach] = False
    return keep


def test_both_overviews_are_the_photos_at_one_scale_and_the_crops_are_1_to_1():
    ai, restored = _photos()
    sheet, layout = comparison_sheet(ai, restored, center=(400, 300), overview_side=650, crop_side=200)
    assert sheet.dtype == np.uint8 and sheet.ndim == 3
    a0, r0 = layout.overviews  # AI-retouched first, then restored
    assert (a0[2] - a0[0], a0[3] - a0[1]) == (r0[2] - r0[0], r0[3] - r0[1]) == (650, 450)
    assert layout.scale == pytest.approx(0.5)
    assert layout.window == (300, 200, 500, 400)
    for box, image in zip(layout.overviews, (ai, restored)):
        x0, y0, x1, y1 = box
        expected = cv2.resize(image, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
        panel = sheet[y0:y1, x0:x1]
        keep = _outline_free(layout, panel.shape[:2])
        assert np.array_equal(panel[keep], expected[keep])
        assert not np.array_equal(panel, expected)  # the spot is outlined
    for box, image in zip(layout.crops, (ai, restored)):
        x0, y0, x1, y1 = box
        assert np.array_equal(sheet[y0:y1, x0:x1], image[200:400, 300:500])
    # The two versions sit side by side, on the same rows.
    assert a0[1] == r0[1] and a0[2] <= r0[0]


def test_sixteen_bit_photos_are_shown_in_8_bit_and_the_spot_stays_inside():
    from processing.dtypes import to_rgb_uint8

    ai, restored = _photos(300, 400, np.uint16)
    sheet, layout = comparison_sheet(ai, restored, center=(395, 5), crop_side=128)
    assert layout.window == (272, 0, 400, 128)  # moved inside the photo
    assert layout.scale == 1.0  # never enlarged
    x0, y0, x1, y1 = layout.crops[1]
    assert np.array_equal(sheet[y0:y1, x0:x1], to_rgb_uint8(restored[0:128, 272:400]))


def test_spot_window_and_size_mismatch():
    assert spot_window((100, 50), (25, 50), 512) == (0, 0, 50, 100)
    with pytest.raises(ValueError, match="differ in size"):
        comparison_sheet(np.zeros((10, 10, 3), np.uint8), np.zeros((10, 11, 3), np.uint8))

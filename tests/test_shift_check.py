"""align.shift_check.direct_shift: a global shift read directly off two images."""

import cv2
import numpy as np
import pytest
from skimage import data

from processing.align.shift_check import direct_shift


@pytest.fixture(scope="module")
def luminance():
    gray = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY).astype(np.float32) / 255
    return cv2.resize(gray, (384, 384), interpolation=cv2.INTER_AREA)


def moved(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """``image`` with its content moved by (dx, dy) px (bicubic)."""
    h, w = image.shape
    return cv2.warpAffine(image, np.float32([[1, 0, dx], [0, 1, dy]]), (w, h), flags=cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_REFLECT)


@pytest.mark.parametrize("dx, dy", [(0.3, -0.2), (0.6, 0.0), (-1.2, 0.7)])
def test_a_known_shift_is_read_through_smoothing_and_tone(luminance, dx, dy):
    # The AI side: moved, smoothed, darker and lower in contrast.
    ai = 0.8 * cv2.GaussianBlur(moved(luminance, dx, dy), (0, 0), 1.5) + 0.05
    t = direct_shift(ai, luminance)
    # ai(p) ~ original(p + t): content moved by d is found at t = -d.
    assert t == pytest.approx((-dx, -dy), abs=0.06)


@pytest.mark.parametrize("sigma", [1.0, 3.0, 6.0])
def test_smoothing_alone_reads_as_no_shift(luminance, sigma):
    # A symmetric blur moves nothing; what is read is the photo's own asymmetry near the edges.
    assert np.hypot(*direct_shift(cv2.GaussianBlur(luminance, (0, 0), sigma), luminance)) < 0.04


def test_nothing_to_match_reads_as_no_shift():
    flat = np.full((64, 64), 0.5, np.float32)
    assert np.array_equal(direct_shift(flat, flat), np.zeros(2))

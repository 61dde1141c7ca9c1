"""Texture metrics against an independent difference-of-Gaussians computation."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from processing.metrics import BANDS, band_energies, texture_report, tone_difference


def luma(x):
    return x[..., 0] * 0.2126 + x[..., 1] * 0.7152 + x[..., 2] * 0.0722


def test_band_energy_matches_reference(textured_face):
    x = textured_face / 255.0
    y = luma(x)
    mask = np.zeros(y.shape, np.float32)
    mask[150:350, 180:330] = 1.0
    got = band_energies(textured_face, mask)
    for name, (s1, s2) in BANDS.items():
        dog = gaussian_filter(y, s1, truncate=4, mode="mirror") - gaussian_filter(y, s2, truncate=4, mode="mirror")
        assert got[name] == pytest.approx(np.mean(dog[mask > 0] ** 2), rel=1e-3)


def test_texture_ratio_is_one_for_the_original_and_low_for_plastic_skin(textured_face):
    smooth = gaussian_filter(textured_face.astype(np.float64), (2, 2, 0)).round().astype(np.uint8)
    rep = texture_report(textured_face, smooth, textured_face, None)
    for band in BANDS:
        assert rep["bands"][band]["restored_ratio"] == pytest.approx(1.0)
    assert rep["bands"]["fine"]["ai_ratio"] < 0.2
    assert rep["bands"]["pores"]["ai_ratio"] < 0.5


def test_tone_difference_in_levels():
    a = np.full((64, 64, 3), 100, np.uint8)
    b = np.full((64, 64, 3), 103, np.uint8)
    t = tone_difference(b, a)
    assert t["mean_lsb"] == pytest.approx(3.0, abs=1e-3) and t["mean_abs_lsb"] == pytest.approx(3.0, abs=1e-3)

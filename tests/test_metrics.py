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


def test_spectrum_ratios_against_reference(textured_face):
    from processing.spectrum import LADDER, spectrum_report

    smooth = gaussian_filter(textured_face.astype(np.float64), (1.5, 1.5, 0)).round().astype(np.uint8)
    mask = np.zeros(textured_face.shape[:2], np.float32)
    mask[120:380, 150:380] = 1.0
    rep = spectrum_report(textured_face, smooth, textured_face, mask)
    assert rep["scales_px"] == list(LADDER)
    assert np.allclose(rep["result"], 1.0)
    yo, ya = luma(textured_face / 255.0), luma(smooth / 255.0)
    inside = mask > 0
    for s, got in zip(LADDER[:3], rep["ai"][:3]):  # reduced copies must not bias the ratios
        dog = lambda y: gaussian_filter(y, s, truncate=4, mode="mirror") - gaussian_filter(y, 2 * s, truncate=4, mode="mirror")
        ref = np.mean(dog(ya)[inside] ** 2) / np.mean(dog(yo)[inside] ** 2)
        assert got == pytest.approx(ref, rel=0.02)
    assert rep["ai"][0] < rep["ai"][2] < rep["ai"][4]  # smoothing hits fine bands hardest

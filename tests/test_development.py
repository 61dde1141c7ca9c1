"""The fixed development of a Bayer RAW (processing/image_io/development.py).

Checked against what pins it: the published demosaicing kernels (computed here
with scipy over the whole frame), exactness where the method is exact (flat
colours, linear ramps), the IEC sRGB curve, and LibRaw's own development of the
same files (rawpy's ``postprocess``), which this one replaces for Bayer sensors.
"""

from __future__ import annotations

from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from scipy.ndimage import convolve, gaussian_filter

from processing.image_io import development as dev
from processing.image_io.development import (bayer_pattern, chroma_smoothed, demosaic, develop_bayer,
                                             smooth_colour_noise, srgb_from_camera_xyz, tone_curve)
from raw_files import XYZ_TO_SRGB, mosaic, write_dng

rawpy = pytest.importorskip("rawpy")

PATTERNS = ["RGGB", "BGGR", "GRBG", "GBRG"]
#: A camera whose primaries and white are not sRGB's (rows: its R, G, B response to linear sRGB).
CAMERA = np.array([[0.55, 0.30, 0.05], [0.10, 0.80, 0.10], [0.02, 0.18, 0.50]])


def portrait(width=512, height=384, pores=4.0, seed=0):
    """The astronaut with pore-scale noise on it: texture down to the pixel."""
    from skimage import data

    picture = cv2.resize(data.astronaut(), (width, height), interpolation=cv2.INTER_AREA).astype(np.float64)
    noise = np.random.default_rng(seed).normal(0.0, pores, (height, width))
    return np.clip(picture + noise[..., None], 0, 255).astype(np.uint8)


def libraw_development(path):
    """LibRaw's development with the same settings, colour noise smoothed the same way."""
    from processing.image_io.raw import development

    with rawpy.imread(str(path)) as raw:
        return smooth_colour_noise(raw.postprocess(**development(rawpy)))


def ours(path):
    with rawpy.imread(str(path)) as raw:
        return develop_bayer(raw)


def fine_band(rgb, fine=0.5, coarse=1.0):
    """Luma detail between Gaussians of ``fine`` and ``coarse`` px: the finest pores."""
    luma = cv2.cvtColor(rgb.astype(np.float32) / (257.0 if rgb.dtype == np.uint16 else 1.0), cv2.COLOR_RGB2GRAY)
    return cv2.GaussianBlur(luma, (0, 0), fine) - cv2.GaussianBlur(luma, (0, 0), coarse)


# --- Demosaicing ---------------------------------------------------------------------------

def malvar_reference(m: np.ndarray, pattern: str) -> np.ndarray:
    """Malvar, He and Cutler (2004), figure 2, over the whole frame with scipy, site by site."""
    g_at_rb = np.array([[0, 0, -1, 0, 0], [0, 0, 2, 0, 0], [-1, 2, 4, 2, -1], [0, 0, 2, 0, 0], [0, 0, -1, 0, 0]]) / 8
    # R at a green site in a red row (B at a green site in a blue row), and its transpose.
    rb_at_g_row = np.array([[0, 0, .5, 0, 0], [0, -1, 0, -1, 0], [-1, 4, 5, 4, -1],
                            [0, -1, 0, -1, 0], [0, 0, .5, 0, 0]]) / 8
    rb_at_g_col = rb_at_g_row.T
    rb_at_br = np.array([[0, 0, -1.5, 0, 0], [0, 2, 0, 2, 0], [-1.5, 0, 6, 0, -1.5],
                         [0, 2, 0, 2, 0], [0, 0, -1.5, 0, 0]]) / 8
    m = m.astype(np.float64)
    f = {name: convolve(m, k, mode="mirror") for name, k in
         (("g", g_at_rb), ("row", rb_at_g_row), ("col", rb_at_g_col), ("diag", rb_at_br))}
    out = np.zeros(m.shape + (3,))
    colour = np.empty(m.shape, "<U1")
    for k, c in enumerate(pattern):
        colour[k // 2::2, k % 2::2] = c
    red_row = np.array([("R" in pattern[:2]) == (y % 2 == 0) for y in range(m.shape[0])])[:, None]
    at = {c: colour == c for c in "RGB"}
    out[..., 0] = np.where(at["R"], m, np.where(at["B"], f["diag"], np.where(red_row, f["row"], f["col"])))
    out[..., 1] = np.where(at["G"], m, f["g"])
    out[..., 2] = np.where(at["B"], m, np.where(at["R"], f["diag"], np.where(red_row, f["col"], f["row"])))
    return out


@pytest.mark.parametrize("pattern", PATTERNS)
def test_demosaicing_is_the_published_method(pattern):
    m = np.random.default_rng(1).uniform(0, 60000, (40, 54)).astype(np.float32)
    np.testing.assert_allclose(demosaic(m, pattern), malvar_reference(m, pattern), rtol=0, atol=0.05)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_a_flat_colour_comes_back_exactly(pattern):
    """The kernels sum to one and the mirrored edges keep each site's colour: exact to the border."""
    colour = np.array([30000.0, 12000.0, 45000.0], np.float32)
    m = mosaic(np.broadcast_to(colour, (30, 40, 3)).astype(np.float32), pattern)
    np.testing.assert_allclose(demosaic(m, pattern), np.broadcast_to(colour, (30, 40, 3)), atol=0.02)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_linear_ramps_come_back_exactly(pattern):
    """Bilinear interpolation is exact on a linear ramp and the gradient correction is zero there."""
    y, x = np.mgrid[0:40, 0:50].astype(np.float32)
    picture = np.stack([1000 + 300 * x + 50 * y, 20000 - 100 * x + 200 * y, 5000 + 80 * x + 120 * y], axis=-1)
    got = demosaic(mosaic(picture, pattern), pattern)
    np.testing.assert_allclose(got[2:-2, 2:-2], picture[2:-2, 2:-2], rtol=0, atol=0.05)


# --- White balance, colour, tone ----------------------------------------------------------

def test_the_tone_curve_is_srgb():
    """LibRaw's gamma=(2.4, 12.92) solved as it solves it: the IEC 61966-2-1 curve within 2 of 65535."""
    curve = tone_curve().astype(np.float64)
    x = np.arange(65536) / 65536
    srgb = np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055) * 65535
    assert np.abs(curve - srgb).max() <= 2.0
    assert curve[0] == 0 and curve[-1] == 65535 and (np.diff(curve) >= 0).all()


def test_an_srgb_camera_needs_no_colour_change():
    np.testing.assert_allclose(srgb_from_camera_xyz(XYZ_TO_SRGB), np.eye(3), atol=2e-4)


def test_the_camera_matrix_undoes_the_cameras_colours():
    """With the rows of camera-from-sRGB summing to one (white balanced), the result is its inverse."""
    camera = CAMERA / CAMERA.sum(axis=1, keepdims=True)
    camera_xyz = camera @ XYZ_TO_SRGB  # XYZ -> linear sRGB -> camera
    np.testing.assert_allclose(srgb_from_camera_xyz(camera_xyz) @ camera, np.eye(3), atol=2e-3)


@pytest.mark.parametrize("level", [20, 60, 128, 200, 250])
@pytest.mark.parametrize("camera, within", [(None, 1), (CAMERA, 32)], ids=["srgb-camera", "other-camera"])
def test_a_grey_develops_to_the_level_libraw_gives(tmp_path, level, camera, within):
    """Black, white, white balance and tone curve: LibRaw's numbers within one 16-bit level,
    and within an eighth of an 8-bit level through a colour matrix (LibRaw's is rounded)."""
    dng = write_dng(tmp_path / "grey.dng", np.full((32, 48, 3), level, np.uint8), camera_from_srgb=camera)
    ref = libraw_development(dng).astype(np.int64)
    got, camera_wb = ours(dng)
    assert camera_wb
    assert np.abs(got.astype(np.int64) - ref).max() <= within
    assert abs(got.mean() / 257 - level) < 0.6


# --- The whole development, against LibRaw's ---------------------------------------------

@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("camera", [None, CAMERA], ids=["srgb-camera", "other-camera"])
def test_the_development_is_libraws_picture(tmp_path, pattern, camera):
    picture = portrait()
    dng = write_dng(tmp_path / "p.dng", picture, orientation=6, pattern=pattern, camera_from_srgb=camera)
    ref = libraw_development(dng).astype(np.float64) / 257
    got, camera_wb = ours(dng)
    got = got.astype(np.float64) / 257
    assert got.shape == ref.shape == picture.shape
    # Colour: each channel's mean within half a level of LibRaw's and of the picture's.
    assert np.abs((got - ref).mean(axis=(0, 1))).max() < 0.5
    assert np.abs((got - picture).mean(axis=(0, 1))).max() < 0.5
    # Beyond the finest detail (where the demosaicing differs, most at the sharpest
    # edges), about as close to the picture as LibRaw's, and close to LibRaw's.
    ours_blurred, ref_blurred, truth = (cv2.GaussianBlur(x.astype(np.float64), (0, 0), 1.5)
                                        for x in (got, ref, picture))
    assert np.abs(ours_blurred - truth).mean() < np.abs(ref_blurred - truth).mean() + 0.3
    assert np.abs(ours_blurred - ref_blurred).mean() < 1.5


@pytest.mark.parametrize("pores", [4.0, 8.0])
def test_the_finest_pores_are_kept_as_libraws_ppg_keeps_them(tmp_path, pores):
    """The pore band of 0.5-1 px follows the picture's as closely as LibRaw's PPG does, at full strength."""
    picture = portrait(pores=pores)
    dng = write_dng(tmp_path / "p.dng", picture, camera_from_srgb=CAMERA)
    truth = fine_band(picture)
    corr = {}
    for name, developed in (("ours", ours(dng)[0]), ("libraw", libraw_development(dng))):
        band = fine_band(developed)
        corr[name] = np.corrcoef(band.ravel(), truth.ravel())[0, 1]
        assert 0.9 <= band.std() / truth.std() <= 1.15, name
    assert corr["ours"] >= corr["libraw"] - 0.02


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_bands_are_a_memory_saving_only(tmp_path, monkeypatch, orientation):
    """Developed 8 rows at a time or all at once: the same pixels, edges and colour noise included."""
    dng = write_dng(tmp_path / "p.dng", portrait(200, 150), orientation=orientation, noise=40,
                    camera_from_srgb=CAMERA)
    whole = ours(dng)[0]
    monkeypatch.setattr(dev, "BAND_ROWS", 8)
    np.testing.assert_array_equal(ours(dng)[0], whole)


def test_colour_noise_is_smoothed_as_after_the_development(tmp_path, monkeypatch):
    """Smoothing on the way gives the pixels that smoothing the developed picture would."""
    dng = write_dng(tmp_path / "p.dng", portrait(200, 150), noise=60)
    smoothed = ours(dng)[0]
    monkeypatch.setattr(dev, "chroma_smoothed", lambda rgb, sigma=1.0: rgb)
    unsmoothed = ours(dng)[0]
    monkeypatch.undo()
    assert not np.array_equal(unsmoothed, smoothed)
    np.testing.assert_array_equal(smooth_colour_noise(unsmoothed), smoothed)


# --- Colour noise ------------------------------------------------------------------------------

def test_chroma_is_blurred_by_the_gaussian_and_luma_kept():
    """Against scipy's Gaussian (mirrored edges, truncated at 4 sigma) on OpenCV's YCrCb."""
    rgb = (np.random.default_rng(3).random((60, 80, 3)) * 65535).astype(np.uint16)
    ycc = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb).astype(np.float64)
    for c in (1, 2):
        ycc[..., c] = gaussian_filter(ycc[..., c], 1.0, mode="mirror", truncate=4.0)
    expected = cv2.cvtColor(np.clip(np.round(ycc), 0, 65535).astype(np.uint16), cv2.COLOR_YCrCb2RGB)
    got = chroma_smoothed(rgb)
    assert np.abs(got.astype(np.int64) - expected).max() <= 3  # rounding, 16-bit levels


# --- Which sensors --------------------------------------------------------------------------

def fake_raw(pattern=((0, 1), (3, 2)), colours=3, kind="Flat", aspect=1.0, top=0, left=0, desc=b"RGBG"):
    return SimpleNamespace(raw_type=SimpleNamespace(name=kind), num_colors=colours, raw_pattern=np.array(pattern),
                           sizes=SimpleNamespace(pixel_aspect=aspect, top_margin=top, left_margin=left),
                           color_desc=desc)


def test_the_pattern_is_read_at_the_visible_areas_corner():
    assert bayer_pattern(fake_raw()) == "RGGB"
    assert bayer_pattern(fake_raw(top=1)) == "GBRG"
    assert bayer_pattern(fake_raw(left=1)) == "GRBG"
    assert bayer_pattern(fake_raw(top=3, left=5)) == "BGGR"


@pytest.mark.parametrize("raw", [
    fake_raw(pattern=np.arange(36).reshape(6, 6) % 3),  # X-Trans
    fake_raw(colours=4, desc=b"CMYG"),
    fake_raw(kind="Stack"),  # a linear DNG: already three colours per pixel
    fake_raw(aspect=2.0),
], ids=["x-trans", "cmyg", "linear", "non-square"])
def test_other_sensors_are_left_to_libraw(raw):
    assert bayer_pattern(raw) is None

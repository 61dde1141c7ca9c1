"""The three methods against the properties METHODS.md pins and an independent
float64 reference (scipy's Gaussian, not the library's)."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

import texture_pairs as tp
from processing.frequency_separation import frequency_separation
from processing.graft import high_pass_graft
from processing.settings import FreqSepSettings, GraftSettings, SyntheticSettings
from processing.synthetic import synthetic_texture

DEPTHS = {np.uint8: 255, np.uint16: 65535}


def blur64(x, sigma):
    """Reference Gaussian: per channel, reflect-101 border, truncated at 4 sigma."""
    x = np.asarray(x, np.float64)
    sig = (sigma, sigma, 0) if x.ndim == 3 else sigma
    return gaussian_filter(x, sig, truncate=4.0, mode="mirror")


def quantize(x, dtype):
    full = DEPTHS[dtype]
    return np.clip(np.rint(x * full), 0, full).astype(dtype)


def as_depth(img8, dtype):
    return img8 if dtype == np.uint8 else img8.astype(np.uint16) * 257


def max_lsb(a, b):
    return np.abs(a.astype(np.int64) - b.astype(np.int64)).max()


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("blur", [5.0, 6.0, 8.0])
def test_freqsep_add_on_low_pass_returns_original(textured_face, dtype, blur):
    o = as_depth(textured_face, dtype)
    ai = quantize(blur64(o / DEPTHS[dtype], blur), dtype)
    r = tp.restored(o, ai, None, FreqSepSettings(blur=blur, mode="add"))
    assert r.dtype == dtype
    assert max_lsb(r, o) <= 1


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_freqsep_replace_on_original_returns_original(textured_face, dtype):
    o = as_depth(textured_face, dtype)
    r = frequency_separation(o, o.copy(), None, blur=6.0, strength=1.0, replace=True)
    assert max_lsb(r, o) <= 1


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("radius", [1.5, 2.0, 3.0])
def test_graft_at_100_on_low_pass_returns_original(textured_face, dtype, radius):
    o = as_depth(textured_face, dtype)
    ai = quantize(blur64(o / DEPTHS[dtype], radius), dtype)
    r = tp.restored(o, ai, None, GraftSettings(radius=radius, strength=100))
    assert max_lsb(r, o) <= 1


def test_graft_at_200_adds_twice_the_amplitude_four_times_the_energy():
    rng = np.random.default_rng(0)
    # Mid-tone image with moderate texture: nothing clips, so the ratio is exact.
    o = 0.5 + 0.1 * blur64(rng.standard_normal((120, 130, 3)), 1.0)
    o = o.astype(np.float32)
    ai = blur64(o, 2.0).astype(np.float32)
    added = {s: tp.restored(o, ai, None, GraftSettings(strength=s)).astype(np.float64) - ai
             for s in (100, 200)}
    ratio = np.mean(added[200] ** 2) / np.mean(added[100] ** 2)
    assert ratio == pytest.approx(4.0, rel=1e-3)
    np.testing.assert_allclose(added[100], o - blur64(o, 2.0), atol=2e-6)


@pytest.mark.parametrize("method", ["graft", "freqsep-add", "freqsep-replace"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_matches_float64_reference_with_soft_mask(textured_face, method, dtype):
    o8 = textured_face
    full = DEPTHS.get(dtype, 1.0)
    o = as_depth(o8, dtype) if dtype != np.float32 else (o8 / 255).astype(np.float32)
    ai_f = blur64(o / full, 1.5) * 0.9 + 0.05
    ai = quantize(ai_f, dtype) if dtype != np.float32 else ai_f.astype(np.float32)
    yy, xx = np.mgrid[:o.shape[0], :o.shape[1]]
    mask = np.clip(1.2 - np.hypot(yy - 250, xx - 240) / 150, 0, 1).astype(np.float32)
    strength, sigma = 1.4, 2.5
    if method == "graft":
        r = tp.restored(o, ai, mask, GraftSettings(radius=sigma, strength=140))
    else:
        mode = method.split("-")[1]
        r = tp.restored(o, ai, mask, FreqSepSettings(blur=sigma, strength=140, mode=mode))
    of, af = o / full, np.asarray(ai, np.float64) / full
    d = of - blur64(of, sigma)
    if method == "freqsep-replace":
        d = d - (af - blur64(af, sigma))
    ref = af + mask[..., None] * (np.clip(af + strength * d, 0, 1) - af)
    err = np.abs(np.asarray(r, np.float64) / full - ref).max() * 255
    # 8-bit runs OpenCV's fixed-point path: the blur and the Linear Light result are
    # rounded to 8 bit before the final rounding, so at most 0.5 s + 0.5 + 0.5 levels.
    assert err <= (0.5 * strength + 1.0 + 1e-6 if dtype == np.uint8 else 0.02)  # in 8-bit levels


@pytest.mark.parametrize("run", [
    lambda o, a, m: tp.restored(o, a, m, GraftSettings()),
    lambda o, a, m: tp.restored(o, a, m, FreqSepSettings()),
    lambda o, a, m: tp.restored(o, a, m, FreqSepSettings(mode="replace")),
    lambda o, a, m: tp.restored(None, a, m, SyntheticSettings(amount=5)),
], ids=["graft", "add", "replace", "synthetic"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_mask_zero_and_half(textured_face, run, dtype):
    full = DEPTHS.get(dtype, 1.0)
    o = as_depth(textured_face, dtype) if dtype != np.float32 else (textured_face / 255).astype(np.float32)
    a = quantize(blur64(o / full, 2.0), dtype) if dtype != np.float32 else blur64(o, 2.0).astype(np.float32)
    zero = np.zeros(o.shape[:2], np.float32)
    assert np.array_equal(run(o, a, zero), a)
    mask = np.zeros(o.shape[:2], np.float32)
    mask[100:300, 120:400] = 1.0
    mask[150:250, 300:350] = 0.5
    full_r = run(o, a, np.ones_like(zero))
    r = run(o, a, mask)
    assert r.dtype == a.dtype
    assert np.array_equal(r[mask == 0], a[mask == 0])  # bit for bit
    half = mask == 0.5
    expected = (a[half].astype(np.float64) + full_r[half].astype(np.float64)) / 2
    tol = 1.0 if dtype != np.float32 else 1e-6
    assert np.abs(r[half].astype(np.float64) - expected).max() <= tol
    assert np.abs(r[half].astype(np.float64) - a[half]).max() > 0  # something did change


@pytest.mark.parametrize("settings", [GraftSettings(strength=0), FreqSepSettings(strength=0),
                                      FreqSepSettings(strength=0, mode="replace"),
                                      SyntheticSettings(amount=0), SyntheticSettings(opacity=0)])
def test_zero_strength_returns_ai_bit_for_bit(textured_face, settings):
    a = blur64(textured_face, 2.0).astype(np.uint8)
    if isinstance(settings, SyntheticSettings):
        r = tp.restored(None, a, None, settings)
    elif isinstance(settings, GraftSettings):
        r = tp.restored(textured_face, a, None, settings)
    else:
        r = tp.restored(textured_face, a, None, settings)
    assert np.array_equal(r, a)


def test_gray_images_stay_gray(textured_face):
    o = textured_face[..., 1]
    a = blur64(o, 2.0).astype(np.uint8)
    for r in (tp.restored(o, a, None, GraftSettings()), tp.restored(None, a, None, SyntheticSettings())):
        assert r.shape == o.shape and r.dtype == np.uint8


def test_synthetic_reproducible_with_seed_and_differs_with_another():
    a = np.full((200, 300, 3), 128, np.uint8)
    r1 = tp.restored(None, a, None, SyntheticSettings(seed=11))
    r2 = tp.restored(None, a, None, SyntheticSettings(seed=11))
    r3 = tp.restored(None, a, None, SyntheticSettings(seed=12))
    assert np.array_equal(r1, r2)
    assert not np.array_equal(r1, r3)


def test_synthetic_grain_does_not_depend_on_mask_or_band_layout():
    a = np.full((700, 600), 0.5, np.float32)  # several bands and noise blocks each way
    mask = np.zeros(a.shape, np.float32)
    mask[300:650, 100:550] = 1
    whole = tp.restored(None, a, None, SyntheticSettings(seed=3, grain_size=1.0))
    part = tp.restored(None, a, mask, SyntheticSettings(seed=3, grain_size=1.0))
    np.testing.assert_array_equal(part[mask == 1], whole[mask == 1])


@pytest.mark.parametrize("grain", [0.5, 1.5])
def test_synthetic_grain_amplitude_follows_amount(grain):
    # On mid-gray, Overlay(0.5, 0.5 + n) = 0.5 + n: the grain itself.
    a = np.full((400, 400), 0.5, np.float32)
    stds = {}
    for amount in (2.0, 4.0, 8.0):
        r = tp.restored(None, a, None, SyntheticSettings(amount=amount, grain_size=grain))
        stds[amount] = float(np.std(r - a))
        # Uniform noise of +-amount has std amount / sqrt(3), kept after the blur.
        assert stds[amount] == pytest.approx(amount / 100 / np.sqrt(3), rel=0.1)
    assert stds[4.0] / stds[2.0] == pytest.approx(2.0, rel=0.02)
    assert stds[8.0] / stds[4.0] == pytest.approx(2.0, rel=0.02)


def test_synthetic_is_overlay_of_grain_layer():
    from processing.blend import overlay
    from processing.synthetic import grain_gain, noise_region
    from processing.filters import gaussian_blur

    rng = np.random.default_rng(5)
    a = rng.random((80, 70, 3)).astype(np.float32)
    s = SyntheticSettings(amount=4, grain_size=0.8, seed=9)
    n = noise_region(9, 0, 80, 0, 70, 1)[..., 0]
    n = gaussian_blur(n, 0.8) * (0.04 * grain_gain(0.8))
    ref = overlay(a, 0.5 + n[..., None])
    np.testing.assert_allclose(tp.restored(None, a, None, s), ref, atol=1e-5)


def test_synthetic_overlay_spares_black_and_white():
    a = np.zeros((64, 64, 3), np.uint8)
    a[:, 32:] = 255
    assert np.array_equal(tp.restored(None, a, None, SyntheticSettings(amount=10)), a)


@pytest.mark.parametrize("settings", [GraftSettings(shadows=30, highlights=70),
                                      SyntheticSettings(amount=5, shadows=30, highlights=70)])
def test_luminosity_protection_spares_shadows_and_highlights(settings):
    rng = np.random.default_rng(1)
    tones = np.array([0.04, 0.5, 0.97], np.float32)
    a = np.repeat(tones, 100)[None, :].repeat(60, axis=0)
    o = np.clip(a + 0.03 * rng.standard_normal(a.shape).astype(np.float32), 0, 1)
    a3, o3 = np.dstack([a] * 3), np.dstack([o] * 3)
    if isinstance(settings, GraftSettings):
        on = tp.restored(o3, a3, None, settings)
        off = tp.restored(o3, a3, None, GraftSettings())
    else:
        on = tp.restored(None, a3, None, settings)
        off = tp.restored(None, a3, None, SyntheticSettings(amount=5))
    change = lambda r, i: float(np.abs(r - a3)[:, 100 * i + 10:100 * i + 90].mean())
    assert change(on, 0) < 0.25 * change(off, 0)   # deep shadows protected
    assert change(on, 2) < 0.25 * change(off, 2)   # highlights protected
    assert change(on, 1) == pytest.approx(change(off, 1), rel=1e-6)  # midtones untouched


@pytest.mark.parametrize("settings, direct", [
    (GraftSettings(radius=2.5, strength=60, shadows=10, highlights=90),
     lambda o, a: high_pass_graft(o, a, None, radius=2.5, strength=0.6, shadows=0.1, highlights=0.9)),
    (FreqSepSettings(blur=5, strength=150, mode="replace"),
     lambda o, a: frequency_separation(o, a, None, blur=5.0, strength=1.5, replace=True)),
    (SyntheticSettings(amount=4, grain_size=1.0, seed=2, opacity=50, monochrome=False),
     lambda o, a: synthetic_texture(a, None, amount=0.04, grain_size=1.0, monochrome=False, seed=2,
                                    opacity=0.5)),
], ids=["graft", "freqsep", "synthetic"])
def test_pipeline_turns_percent_into_the_methods_fractions(textured_face, settings, direct):
    """Settings are in % and px; the methods take fractions: the pipeline converts once."""
    a = blur64(textured_face, 2.0).astype(np.uint8)
    via_pipeline = tp.restored(textured_face, a, None, settings)
    assert np.array_equal(via_pipeline, direct(textured_face, a))
    assert not np.array_equal(via_pipeline, a)


# --- Band by band equals whole frame (issue 14: a 144 MP restore never holds a full-frame float copy) ---

def _whole_frame_detail_uint8(original, ai, mask, sigma, strength, replace, exact):
    """The 8-bit detail transfer computed on the whole mask box at once, as before
    banding: one blur (or reduced-copy low-pass) of the haloed box, then the blend."""
    import cv2

    from processing.boxes import grow_box, mask_bbox
    from processing.detail_transfer import halo_for
    from processing.dtypes import mask_to_float
    from processing.filters import low_pass

    out = ai.copy()
    y0, y1, x0, x1 = box = mask_bbox(mask, ai.shape)
    hy0, hy1, hx0, hx1 = grow_box(box, halo_for(sigma), ai.shape)
    if (replace or not exact) and sigma >= 6:  # the reduced grid pinned to the image's
        f = max(1, int(sigma // 3))
        hy0, hx0 = hy0 // f * f, hx0 // f * f
    win = (slice(y0 - hy0, y1 - hy0), slice(x0 - hx0, x1 - hx0))
    k = 2 * int(np.ceil(4.0 * sigma)) + 1
    x = original[hy0:hy1, hx0:hx1]
    if replace:
        x = cv2.subtract(x, ai[hy0:hy1, hx0:hx1], dtype=cv2.CV_16S)
    if (replace or not exact) and sigma >= 6:
        d = cv2.subtract(x[win], low_pass(x, sigma)[win], dtype=cv2.CV_32F)
    else:
        d = cv2.subtract(x[win], cv2.GaussianBlur(x, (k, k), sigma, borderType=cv2.BORDER_REFLECT_101)[win],
                         dtype=cv2.CV_16S)
    a = ai[y0:y1, x0:x1]
    blended = cv2.addWeighted(a, 1.0, d, strength, 0.0, dtype=cv2.CV_8U)
    m = np.ones(a.shape[:2], np.float32) if mask is None else mask_to_float(mask[y0:y1, x0:x1])
    out[y0:y1, x0:x1] = cv2.blendLinear(a, blended, 1.0 - m, m)
    return out


@pytest.fixture(scope="module")
def wide_pair(textured_face):
    """A 512x400 crop pair, smoothed, with a feathered off-centre mask and its 8-bit version."""
    import cv2

    o = np.ascontiguousarray(textured_face[40:440])
    a = cv2.GaussianBlur(o, (0, 0), 2.5)
    mask = np.zeros(o.shape[:2], np.float32)
    cv2.ellipse(mask, (300, 190), (150, 120), 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), 12)
    return o, a, mask


# sigma 2 and 5: exact blur; 6 (f = 2), 9 (f = 3) and 15 (f = 5): the reduced low-pass.
@pytest.mark.parametrize("sigma", [2.0, 5.0, 6.0, 9.0, 15.0])
@pytest.mark.parametrize("replace, exact", [(False, True), (False, False), (True, True)])
@pytest.mark.parametrize("mask_kind", ["float", "uint8", "none"])
def test_detail_in_small_bands_equals_the_whole_frame(wide_pair, monkeypatch, sigma, replace, exact, mask_kind):
    import processing.filters as filters
    from processing.detail_transfer import add_detail

    o, a, mask = wide_pair
    mask = {"float": mask, "uint8": (mask * 255 + 0.5).astype(np.uint8), "none": None}[mask_kind]
    whole = _whole_frame_detail_uint8(o, a, mask, sigma, 1.3, replace, exact)
    # Bands of 7 rows and enlargement pieces of 3 reduced rows: every band and
    # piece boundary falls inside the image, many times.
    monkeypatch.setattr(filters, "ENLARGE_PIECE", 3)
    banded = add_detail(o, a, mask, sigma, 1.3, replace, exact=exact, band_rows=7)
    assert banded.dtype == np.uint8 and not np.array_equal(banded, a)
    f = max(1, int(sigma // 3))
    if not ((replace or not exact) and sigma >= 6) or f & (f - 1) == 0:
        assert np.array_equal(banded, whole)  # exact blur, or a power-of-two reduction: bit for bit
    else:
        assert max_lsb(banded, whole) <= 1 and np.mean(banded != whole) < 1e-3


def test_low_pass_rows_equal_the_whole_low_pass(monkeypatch):
    import processing.filters as filters

    rng = np.random.default_rng(7)
    x = blur64(rng.random((203, 157, 3)), 3.0).astype(np.float32)
    monkeypatch.setattr(filters, "ENLARGE_PIECE", 4)
    for sigma in (4.0, 6.0, 12.0, 13.0, 24.0):
        whole = filters.low_pass(x, sigma)
        rows = filters.LowPassRows(lambda i0, i1: x[i0:i1], x.shape, sigma)
        for step in (1, 5, 64):
            banded = np.concatenate([rows.rows(r, min(203, r + step)) for r in range(0, 203, step)])
            f = max(1, int(sigma // 3))
            if sigma < 6 or f & (f - 1) == 0:
                assert np.array_equal(banded, whole), (sigma, step)
            else:  # OpenCV counts float32 sample positions from the top of what it resizes
                np.testing.assert_allclose(banded, whole, atol=1e-5)


def test_uint16_detail_in_bands_does_not_depend_on_the_band_height(wide_pair):
    from processing.detail_transfer import add_detail

    o, a, mask = wide_pair
    o16, a16 = o.astype(np.uint16) * 257, a.astype(np.uint16) * 257
    one_band = add_detail(o16, a16, mask, 3.0, 1.0, True, band_rows=10_000)
    assert np.array_equal(add_detail(o16, a16, mask, 3.0, 1.0, True, band_rows=8), one_band)
    out = a16.copy()
    assert add_detail(o16, a16, mask, 3.0, 1.0, True, out=out) is out and np.array_equal(out, one_band)

"""Alignment on AI edits made in code (tests/retouch_edits.py).

Same-grid retouching (smoothing of many kinds, tone and colour, inpainted
blemishes) must be found to be the identity, with a restore equal to the
``--no-align`` one bit for bit; a liquify must be undone locally, leaving the
pixels away from it as they are.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import retouch_edits as edits
from processing.landmarks import detect_faces
from processing.pipeline import restore_pair
from processing.settings import FreqSepSettings, Preset

# (family, where, tone and colour, inpainted blemishes): every smoother family,
# on the skin or the whole frame, some with the other edits AI tools make.
EDITS = [
    ("tv_chambolle", "skin", False, True),
    ("nl_means", "skin", True, False),
    ("wavelet", "frame", False, False),
    ("bilateral_skimage", "skin", True, True),
    ("edge_preserving", "frame", True, False),
    ("bilateral_cv2", "frame", False, True),
    ("gaussian_6px", "frame", False, False),
    ("gaussian_6px", "skin", True, True),
]
# 24 MP (5-10 s each): the whole-frame 6 px Gaussian, OpenCV's edge-preserving
# filter at full resolution, skimage denoisers through the reduced copy
# (see retouch_edits.smooth).
EDITS_24MP = [
    ("gaussian_6px", "frame", False, False),
    ("edge_preserving", "skin", True, True),
    ("tv_chambolle", "skin", False, True),
    ("nl_means", "skin", True, False),
    # Whole frames smoothed hard on the 1500 px copy: the flow reads 0.4-0.8 px
    # of global motion on them, the direct check (align.shift_check) none.
    ("wavelet", "frame", False, False),
    ("tv_chambolle", "frame", True, False),
    ("edge_preserving", "frame", True, False),
]
# Issue 11 is open on these: the global fit moves the grid. Strict: a case
# that starts to pass fails here, so the mark is taken off.
IDENTITY_OPEN = {
    # skimage's denoise_bilateral itself moves the picture: least squares on the
    # whole frame puts the smoothed copy (0.7, -0.8) px off at 600 px and (1.0,
    # -1.2) px off at 1.5 MP (sigma_spatial 2). Following that is arguable;
    # what the fit makes of it is not (twice the offset, a field over the face).
    ("600px", "bilateral_skimage", "frame", False, False):
        "skimage's bilateral moves the frame 0.7-0.8 px; aligned: shift (1.5, -1.6) px and a local warp",
    ("1.5MP", "bilateral_skimage", "frame", False, False):
        "skimage's bilateral moves the frame 1.0-1.2 px; aligned: shift (2.7, -2.1) px and a local warp",
    # skimage's NL-means in fast mode moves the picture too: (0.12, 0.10) px on
    # the 512 px astronaut, (0.78, 0.65) px at 24 MP through the 1500 px copy;
    # with the tone change the flow's fit then moves the grid (without it, not).
    ("24MP", "nl_means", "frame", True, False): "fast NL-means moves the frame 1 px; aligned: shift (-0.2, -0.2) px",
    ("24MP", "bilateral_skimage", "frame", False, False):
        "skimage's bilateral moves the frame 6 px (it ran on a 1500 px copy); aligned: shift (9.4, -7.8) px "
        "and a 13 px local warp",
}
# Ordered by size: the portrait cache keeps the last two frames.
IDENTITY_CASES = [(size, *e) for size in ("600px", "1.5MP")
                  for e in EDITS + [c[1:] for c in IDENTITY_OPEN if c[0] == size]] + \
                 [("24MP", *e) for e in EDITS_24MP + [c[1:] for c in IDENTITY_OPEN if c[0] == "24MP"]]


def case_id(case) -> str:
    size, family, where, tone, inpaint = case
    return f"{size}-{family}-{where}" + ("+tone" if tone else "") + ("+inpaint" if inpaint else "")


def unequal_fraction(a: np.ndarray, b: np.ndarray) -> float:
    """Fraction of pixels where any channel differs."""
    return 0.0 if np.array_equal(a, b) else float(np.any(a != b, axis=-1).mean())


@pytest.mark.parametrize("case", [
    pytest.param(c, marks=pytest.mark.xfail(strict=True, reason="issue 11: " + IDENTITY_OPEN[c]))
    if c in IDENTITY_OPEN else c for c in IDENTITY_CASES], ids=[case_id(c) for c in IDENTITY_CASES])
def test_same_grid_retouch_is_identity(case):
    size, family, where, tone, inpaint = case
    original = edits.portrait(size)
    ai = edits.retouch(original, family, where, tone=tone, inpaint=inpaint)
    mask = edits.skin_region(edits.SIZES[size], grow=1.1)
    aligned, plan = restore_pair(original, ai, mask, Preset(align=True))
    # The plan's pair is prepare_pair's, with this preset: its alignment is the one under test.
    alignment = plan.pair.alignment
    plain, _ = restore_pair(original, ai, mask, Preset(align=False))
    unequal = unequal_fraction(aligned, plain)
    # Both reported at once: whether it was called identity, and what that cost.
    assert alignment.identity and unequal == 0, (
        f"identity={alignment.identity} ({alignment.summary()}); "
        f"{unequal:.2%} of pixels differ from --no-align")


# The liquify cases (retouch_edits.LIQUIFY_CASES): the liquified portrait, then
# smoothed, sometimes toned, with a mask array or the automatic one.
LIQUIFY_CASES = edits.LIQUIFY_CASES
# Issue 11 is open on these: what these smoothers leave of a face does not fix
# the field to the 0.3 px a 0.95 correlation needs. Measured (correlation, far
# pixels differing). Strict: a case that starts to pass fails here, so the
# mark is taken off.
LIQUIFY_OPEN = {
    ("600px", "nl_means", "skin"): "a 160 px face, NL-means under a tone change: correlation 0.945",
    ("600px", "gaussian_6px", "frame"): "not detected under a 6 px Gaussian over a 160 px face: "
                                        "correlation 0.36",
    ("1.5MP", "edge_preserving", "skin"): "flat cheeks after OpenCV's edge-preserving filter: "
                                          "correlation 0.88",
    ("1.5MP", "gaussian_6px", "skin"): "only the jaw is found under a 6 px Gaussian (the eyes move "
                                       "less than the blur): correlation 0.41",
    ("24MP", "tv_chambolle", "skin"): "a 10 px reshape of a 1625 px face: only the jaw is found on "
                                      "the 1024 px frame window: correlation 0.47",
}
#: Frequency separation, add, a fixed 3 px cut-off at full strength: every
#: decision is local (match mode's automatic cut-off is read off the whole
#: pair, so a warp anywhere could move every pixel).
FIXED_CUTOFF = FreqSepSettings(blur=3.0, mode="add", strength=100.0)


def added_texture(result: np.ndarray, ai: np.ndarray) -> np.ndarray:
    return result.astype(np.float32) - ai.astype(np.float32)


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def texture_correlation(result, truth, ai, region) -> float:
    """Correlation, over ``region``, of the texture two restores added to ``ai``."""
    return correlation(added_texture(result, ai)[region], added_texture(truth, ai)[region])


@pytest.fixture(scope="module")
def liquified():
    """size -> (original, its landmarks, reshaped original, |displacement|), made once per size."""
    made = {}

    def make(size):
        if size not in made:
            original = edits.portrait(size)
            faces = detect_faces(original)
            assert len(faces) == 1, f"{len(faces)} faces found on the {size} portrait"
            reshaped, moved = edits.reshape_face(original, faces[0])
            made[size] = original, faces[0].points, reshaped, moved
        return made[size]

    return make


@pytest.mark.parametrize("size, family, where, tone, mask_kind", [
    pytest.param(*case, marks=pytest.mark.xfail(strict=True, reason="issue 11: " + LIQUIFY_OPEN[case[:3]]))
    if case[:3] in LIQUIFY_OPEN else case for case in LIQUIFY_CASES],
    ids=[f"{s}-{f}-{w}" + ("+tone" if t else "") + f"-{m}-mask" for s, f, w, t, m in LIQUIFY_CASES])
def test_liquify_is_warped_locally(liquified, size, family, where, tone, mask_kind):
    original, _, reshaped, moved = liquified(size)
    ai, mask = edits.liquified_retouch(reshaped, family, where, tone, mask_kind)
    on, off = (Preset(align=a).with_settings(FIXED_CUTOFF) for a in (True, False))
    aligned, plan = restore_pair(original, ai, mask, on)
    truth, truth_plan = restore_pair(reshaped, ai, mask, off)  # from the truly reshaped original
    plain, _ = restore_pair(original, ai, mask, off)
    alignment = plan.pair.alignment
    # The automatic mask is drawn from the AI image's faces: the same in all three restores.
    skin = truth_plan.pair.skin_mask

    # Where the texture goes back at half strength or more and the field moves half a pixel.
    region = (moved > 0.5) & (skin > 0.5)
    corr = texture_correlation(aligned, truth, ai, region)
    corr_unaligned = texture_correlation(plain, truth, ai, region)
    far = edits.beyond_reshape(moved)
    unequal_far = unequal_fraction(aligned[far], plain[far])
    report = (f"{alignment.summary()} texture correlation {corr:.3f} (unaligned {corr_unaligned:.3f}); "
              f"{unequal_far:.2%} of far pixels differ from --no-align")
    # The reshape must matter, or the correlation below proves nothing.
    assert corr_unaligned < 0.9, report
    assert not alignment.identity and "local warp" in alignment.summary(), report
    assert corr >= 0.95, report
    assert unequal_far == 0, report


def test_liquify_check_tells_good_warps_from_bad(liquified):
    """A test of the test tool: an original put back through the true field, known
    only on a 4x coarser grid as an estimator would know it, meets the liquify
    test's bounds; the same field 1 px off does not."""
    size = "600px"
    original, points, reshaped, moved = liquified(size)
    field = edits.reshape_field(original.shape, points, edits.default_amounts(points))
    ai = edits.smooth(reshaped, "tv_chambolle", "skin")
    mask = edits.skin_region(edits.SIZES[size], grow=1.25)
    off = Preset(align=False).with_settings(FIXED_CUTOFF)
    truth, _ = restore_pair(reshaped, ai, mask, off)
    plain, _ = restore_pair(original, ai, mask, off)
    region, far = (moved > 0.5) & (mask > 0.5), edits.beyond_reshape(moved)

    def scores(aligned_original):
        result, _ = restore_pair(aligned_original, ai, mask, off)
        return texture_correlation(result, truth, ai, region), unequal_fraction(result[far], plain[far])

    h, w = moved.shape
    coarse = cv2.resize(cv2.resize(field, (w // 4, h // 4), interpolation=cv2.INTER_AREA), (w, h),
                        interpolation=cv2.INTER_LINEAR)
    corr, unequal = scores(edits.warp_by(original, coarse))
    assert corr >= 0.99 and unequal == 0, (corr, unequal)
    off_by_one = field + np.float32(1.0) * (moved > 0)[..., None]
    corr, unequal = scores(edits.warp_by(original, off_by_one))
    assert corr < 0.9 and unequal == 0, (corr, unequal)


@pytest.mark.parametrize("size", ["600px", "1.5MP"])
def test_reshape_generator_does_what_it_says(liquified, size):
    """A test of the test tool: the liquify moves what it names, by 2-10 px, and nothing else."""
    original, points, reshaped, moved = liquified(size)
    amounts = edits.default_amounts(points)
    assert all(2.0 <= a <= 10.0 for a in amounts.values()), amounts
    for tool, amount in amounts.items():
        alone = np.linalg.norm(edits.reshape_field(original.shape, points, {tool: amount}), axis=2)
        assert alone.max() == pytest.approx(amount, rel=1e-4), tool
    assert 2.0 <= moved.max() <= 10.5  # the tools' fields add where their brushes overlap
    # Untouched where the field is 0, changed where it moves by half a pixel.
    still = moved == 0
    assert np.array_equal(reshaped[still], original[still])
    assert np.abs(reshaped.astype(int) - original)[moved > 0.5].max() > 20
    # A liquify, not a fold: q -> q + d(q) keeps its orientation everywhere.
    field = edits.reshape_field(original.shape, points, amounts)
    (dxy, dxx), (dyy, dyx) = np.gradient(field[..., 0]), np.gradient(field[..., 1])
    assert ((1 + dxx) * (1 + dyy) - dxy * dyx).min() > 0.3
    # The face found on the reshaped image has bigger eyes, a slimmer jaw, a narrower nose.
    after = detect_faces(reshaped)[0].points

    def gap(p, a, b):
        return float(np.linalg.norm(p[a] - p[b]))

    for top, bottom in ((159, 145), (386, 374)):  # eyelids
        assert gap(after, top, bottom) - gap(points, top, bottom) > 0.3 * amounts["eyes"]
    for a, b in ((172, 397), (136, 365)):  # jaw line, across
        assert gap(points, a, b) - gap(after, a, b) > 0.6 * amounts["jaw"]
    for a, b in ((129, 358), (64, 294)):  # nostril wings, across
        assert gap(points, a, b) - gap(after, a, b) > 0.25 * amounts["nose"]


@pytest.mark.parametrize("family", list(edits.SMOOTHERS))
def test_smoothers_remove_pores_where_asked(family):
    """A test of the test tool: each smoother takes much of the pore texture off the
    face; the skin version leaves everything outside the region as it was, the
    frame version smooths the rest too."""
    size = "600px"
    original = edits.portrait(size)
    region = edits.skin_region(edits.SIZES[size])
    face = region > 0.97
    pores = edits.pores(original.shape)

    def high_pass(z):
        return z - cv2.GaussianBlur(z, (0, 0), 2.0)

    def pore_correlation(img):
        """How much of the painted pore texture is still in the face."""
        return correlation(high_pass(img.astype(np.float32).mean(axis=2))[face], high_pass(pores)[face])

    on_skin = edits.smooth(original, family, "skin", region)
    assert pore_correlation(on_skin) < 0.7 * pore_correlation(original)
    assert np.array_equal(on_skin[region == 0], original[region == 0])
    whole = edits.smooth(original, family, "frame")
    assert pore_correlation(whole) < 0.7 * pore_correlation(original)
    assert unequal_fraction(whole[region == 0], original[region == 0]) > 0.5


def test_skimage_bilateral_moves_fine_texture():
    """Why the liquify cases leave skimage's denoise_bilateral out: in the
    installed scikit-image its response to a point is centred 2-5 px away
    (OpenCV's bilateral filter keeps it in place), so fine texture moves
    with no reshape at all. Should a release centre it, this fails and the
    smoother can join the liquify cases."""
    from skimage.restoration import denoise_bilateral

    point = np.full((64, 64), 0.5, np.float32)
    point[32, 32] = 1.0
    wide = denoise_bilateral(point, sigma_color=10.0, sigma_spatial=2.0)  # range weight ~1: a Gaussian
    peak = np.unravel_index(np.argmax(wide), wide.shape)
    assert np.hypot(peak[0] - 32, peak[1] - 32) >= 2
    opencv = cv2.bilateralFilter(point, 0, 10.0, 2.0)
    assert np.unravel_index(np.argmax(opencv), opencv.shape) == (32, 32)


def test_tone_and_inpaint_change_only_their_pixels():
    size = "600px"
    original = edits.portrait(size)
    region = edits.skin_region(edits.SIZES[size])
    toned = edits.tone_and_colour(original, region)
    assert np.array_equal(toned[region == 0], original[region == 0])
    inside = region > 0.97
    gain = toned[inside].astype(float).mean(axis=0) / original[inside].astype(float).mean(axis=0)
    assert gain[0] > gain[1] > gain[2] > 1.0  # brighter, warmer (more red, less blue)
    healed = edits.inpaint_blemishes(original)
    changed = np.any(healed != original, axis=-1)
    spots = np.zeros(changed.shape, np.uint8)
    for x, y, r in edits.blemish_spots(edits.SIZES[size]):
        cv2.circle(spots, (int(round(x)), int(round(y))), int(np.ceil(r + 3)), 1, -1)
    assert changed.any() and not (changed & (spots == 0)).any()
    # Healed spots are no darker than their surroundings any more.
    for x, y, r in edits.blemish_spots(edits.SIZES[size]):
        core = (slice(int(y - r / 2), int(y + r / 2) + 1), slice(int(x - r / 2), int(x + r / 2) + 1))
        ring = (slice(int(y - 3 * r), int(y + 3 * r)), slice(int(x - 3 * r), int(x + 3 * r)))
        assert healed[core].mean() > original[core].mean()
        assert abs(healed[core].mean() - healed[ring].mean()) < 15

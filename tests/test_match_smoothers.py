"""Match mode on retouches made with other people's smoothers (issue 12).

Thirteen smoother families (scikit-image's denoisers, OpenCV's edge-preserving
and bilateral filters, a guided filter, Gaussians of 1-6 px) applied inside a
feathered skin region of the portrait at 600 px (blemishes 5-8 px across) and
1.5 MP (14-20 px), after its blemishes were inpainted (OpenCV's Telea) and
before the skin was brightened and warmed, as AI tools do. Every figure is
measured against the original and the AI image in the test.
"""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

import retouch_edits as edits
from processing.match import DEFAULT_CUTOFF, MAX_CUTOFF, MIN_CUTOFF, plan_match, texture_match

FAMILIES = list(edits.SMOOTHERS) + list(edits.MORE_SMOOTHERS)
SIZES = ["600px", "1.5MP"]
CASES = [(size, family) for size in SIZES for family in FAMILIES]
luma, band = edits.luma, edits.octave_band


@pytest.fixture(scope="module")
def restored():
    """(size, family, inpaint) -> (original, AI image, plan, result): blemishes
    inpainted (when ``inpaint``), skin smoothed, toned; kept for the module."""
    cache = {}

    def get(size, family, inpaint=True):
        if (size, family, inpaint) not in cache:
            original = edits.portrait(size)
            ai = edits.retouch(original, family, "skin", tone=True, inpaint=inpaint)
            plan = plan_match(original, ai, edits.skin_region(edits.SIZES[size]))
            cache[size, family, inpaint] = original, ai, plan, texture_match(original, ai, plan)
        return cache[size, family, inpaint]

    return get


@pytest.mark.parametrize("size, family", CASES)
def test_tone_stays_the_ais_and_the_cutoff_in_the_texture_range(restored, size, family):
    original, ai, plan, result = restored(size, family)
    assert MIN_CUTOFF <= plan.cutoff <= MAX_CUTOFF, plan.reason
    clean = edits.clean_skin(size, margin=4)
    moved = gaussian_filter(luma(result), 8, truncate=4) - gaussian_filter(luma(ai), 8, truncate=4)
    assert np.abs(moved[clean]).mean() <= 1.0, f"{family}: cut-off {plan.cutoff:.1f} px ({plan.reason})"


@pytest.mark.parametrize("size, family", CASES)
def test_every_band_between_the_ais_and_the_originals(restored, size, family):
    """Per octave band on clean skin: never below the lower of the AI's and the
    original's energy, never above the higher (10 % for noise; the brightening
    lifts the AI's bands the smoother left alone above the original's)."""
    original, ai, plan, result = restored(size, family)
    clean = edits.clean_skin(size, margin=4)
    yo, ya, yr = luma(original), luma(ai), luma(result)
    for s in (0.5, 1, 2, 4, 8):
        eo, ea, er = (np.mean(band(y, s)[clean] ** 2) for y in (yo, ya, yr))
        assert 0.9 * min(ea, eo) <= er <= 1.1 * max(ea, eo), \
            f"{family}: band {s}-{2 * s} px at {er / eo:.2f} of the original (AI {ea / eo:.2f})"


@pytest.mark.parametrize("size, family", CASES)
def test_pore_band_comes_back(restored, size, family):
    """DoG 0.5-2 px on clean skin 0.9-1.1 of the original's, though the warm
    brightening clips the red channel of the astronaut's bright forehead."""
    original, ai, plan, result = restored(size, family)
    clean = edits.clean_skin(size, margin=4)

    def pores(y):
        return np.mean((gaussian_filter(y, 0.5, truncate=4) - gaussian_filter(y, 2, truncate=4))[clean] ** 2)

    ratio = pores(luma(result)) / pores(luma(original))
    assert 0.9 <= ratio <= 1.1, f"{family}: pore band at {ratio:.2f} (AI {pores(luma(ai)) / pores(luma(original)):.2f})"


def _kept_clean(plan, shape):
    return plan.full(plan.blemish, shape) < 0.5 if plan.spots is not None else np.zeros(shape[:2], bool)


def _found(size, plan, shape):
    kept = _kept_clean(plan, shape)
    return [bool(kept[int(round(y)), int(round(x))]) for x, y, r in edits.blemish_spots(edits.SIZES[size])]


@pytest.mark.parametrize("size, family", CASES)
def test_blemish_protection_marks_no_clean_skin(restored, size, family):
    """A retouch that removed no blemish: at most 2 % of clean skin is kept clean."""
    original, ai, plan, result = restored(size, family, inpaint=False)
    marked = _kept_clean(plan, original.shape)[edits.clean_skin(size, margin=4)].mean()
    assert marked <= 0.02, f"{family}: {marked:.1%} of clean skin kept clean"


@pytest.mark.parametrize("size", SIZES)
def test_blemish_protection_finds_the_removed_spots(restored, size):
    """At least 90 % of the removed spots on each smoother's retouch (with five
    spots, every one), including spots beside an edge the smoother smeared."""
    found = {family: _found(size, restored(size, family)[2], restored(size, family)[0].shape) for family in FAMILIES}
    assert all(np.mean(f) >= 0.9 for f in found.values()), found


@pytest.mark.parametrize("size, family", CASES)
def test_removed_blemishes_stay_removed_and_get_texture(restored, size, family):
    """Spots found: as removed as the AI left them (the result's contrast
    against the skin around, in the blemish's own, at most the AI image's plus
    15 % on each spot and 10 % on average: its inpainting left up to 30 % by
    itself), and with the skin's texture (DoG 0.5-2 px inside them at least
    0.8 of the clean skin's around them, over the spots)."""
    original, ai, plan, result = restored(size, family)
    found = _found(size, plan, original.shape)
    h, w = original.shape[:2]
    yy, xx = np.mgrid[:h, :w]
    yo, ya, yr = luma(original), luma(ai), luma(result)
    pores = (gaussian_filter(yr, 0.5, truncate=4) - gaussian_filter(yr, 2, truncate=4)) ** 2
    back, inside, around = [], [], []
    for (x, y, r), hit in zip(edits.blemish_spots(edits.SIZES[size]), found):
        if not hit:
            continue
        d = np.hypot(xx - x, yy - y)
        disk, ring = d <= r, (d > r + 3) & (d <= r + 8)

        def contrast(lum):
            return lum[disk].mean() - lum[ring].mean()

        c_o = contrast(yo)
        assert abs(contrast(yr)) <= abs(contrast(ya)) + 0.15 * abs(c_o), \
            f"{family}: spot at ({x:.0f}, {y:.0f}) back at {contrast(yr) / c_o:.0%} (AI {contrast(ya) / c_o:.0%})"
        back.append((abs(contrast(yr)) - abs(contrast(ya))) / abs(c_o))
        reach = 2 * max(4.0, plan.cutoff)
        inside.append(pores[d <= max(r - 0.5, 1.5)].mean())
        around.append(pores[(d > r + reach) & (d <= r + reach + 3 * r)].mean())
    assert back, f"{family}: no removed spot found"
    assert np.mean(back) <= 0.1, f"{family}: removed spots {np.mean(back):.0%} further back than the AI left them"
    texture = np.sqrt(np.sum(inside) / np.sum(around))
    assert texture >= 0.8, f"{family}: texture inside the removed spots at {texture:.2f} of the skin around them"


@pytest.fixture(scope="module")
def original():
    return edits.portrait("600px")


def test_ambiguous_spectrum_falls_back_to_the_default(original):
    """The AI image is the original (nothing smoothed): the default cut-off, said so."""
    plan = plan_match(original, original.copy(), edits.skin_region(edits.SIZES["600px"]))
    assert plan.cutoff == DEFAULT_CUTOFF and "no clear smoothing" in plan.reason


def test_tone_shift_is_the_linear_swaps(original):
    """tone_shift's closed form against the swap made in the test and blurred."""
    from processing.match import TONE_SIGMA, tone_shift

    ai = edits.retouch(original, "gaussian_4px", "skin", tone=True)
    o, a = luma(original) / 255, luma(ai) / 255
    r = 2 * 6.0  # the swap at the texture range's top
    swap = gaussian_filter(a, r, truncate=4) + o - gaussian_filter(o, r, truncate=4)
    moved = gaussian_filter(swap - a, TONE_SIGMA, truncate=4)
    weight = edits.skin_region(edits.SIZES["600px"])
    expected = float((np.abs(moved) * weight).sum() / weight.sum())
    assert tone_shift(original, ai, weight, r) == pytest.approx(expected, rel=0.05)
    assert expected > 0.5 / 255  # a swap this wide does move the tone: the guard has work to do

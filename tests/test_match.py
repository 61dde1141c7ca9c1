"""Match mode on code-made pairs: every smoothed band back to the original's energy,
tone kept from the AI image, removed blemishes kept removed, cut-off found."""

import cv2
import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

import retouch_edits as edits
import texture_pairs as tp
from processing.match import plan_match, texture_match
from processing.settings import FreqSepSettings, MatchSettings


luma, band = edits.luma, edits.octave_band


@pytest.fixture(scope="module")
def face():
    original, _ = tp.textured_face()
    mask = tp.skin_mask(original.shape)
    return original, mask


@pytest.fixture(scope="module")
def results(face):
    original, mask = face
    out = {}
    for name in tp.smoothers():
        ai = tp.ai_version(original, name)
        plan = plan_match(original, ai, mask)
        out[name] = (ai, plan, texture_match(original, ai, plan))
    return out


def clean_skin(shape, mask, margin):
    """Inside the mask by a margin, away from every blemish."""
    from scipy.ndimage import binary_erosion

    clean = binary_erosion(mask > 0.5, iterations=int(margin))
    for disk in tp.blemish_disks(shape, grow=3 * margin):
        clean &= ~disk
    return clean


@pytest.mark.parametrize("name", list(tp.smoothers()))
def test_every_band_below_the_cutoff_ends_at_the_originals_energy(face, results, name):
    original, mask = face
    ai, plan, result = results[name]
    clean = clean_skin(original.shape, mask, margin=max(4, plan.cutoff))
    yo, yr = luma(original), luma(result)
    scales = [s for s in (0.5, 1, 2, 4, 8) if 2 * s <= plan.cutoff + 1e-9] or [0.5]
    for s in scales:
        ratio = np.mean(band(yr, s)[clean] ** 2) / np.mean(band(yo, s)[clean] ** 2)
        assert 0.9 <= ratio <= 1.1, f"{name}: band {s}-{2 * s} px at {ratio:.2f} (cut-off {plan.cutoff:.1f} px)"


@pytest.mark.parametrize("name", list(tp.smoothers()))
def test_tone_is_kept_from_the_ai_image(face, results, name):
    original, mask = face
    ai, plan, result = results[name]
    clean = clean_skin(original.shape, mask, margin=4)
    d = gaussian_filter(luma(result), 8, truncate=4) - gaussian_filter(luma(ai), 8, truncate=4)
    assert np.abs(d[clean]).mean() <= 1.0


def contrast(img, disk, ring):
    y = luma(img)
    return y[disk].mean() - y[ring].mean()


@pytest.mark.parametrize("name", list(tp.smoothers()))
def test_removed_blemishes_stay_removed(face, results, name):
    original, mask = face
    ai, plan, result = results[name]
    seed = tp.restored(original, ai, mask, FreqSepSettings(blur=6.0))
    for (xy, d), disk, outer in zip(tp.BLEMISHES, tp.blemish_disks(original.shape),
                                     tp.blemish_disks(original.shape, grow=6)):
        ring = outer & ~tp.blemish_disks(original.shape, grow=3)[tp.BLEMISHES.index((xy, d))]
        c_o = contrast(original, disk, ring)
        c_r = contrast(result, disk, ring)
        assert abs(c_r) <= 0.2 * abs(c_o), f"{name}: blemish at {xy} back at {c_r / c_o:.0%}"
        if name.startswith("gauss"):
            # The seed's frequency separation brings it back as a ghost: the case for protection.
            assert abs(contrast(seed, disk, ring)) > abs(c_r)


@pytest.mark.parametrize("name", [n for n, (_, s) in tp.smoothers().items() if s is not None])
def test_automatic_cutoff_within_one_octave_of_the_smoothers_scale(results, name):
    _, plan, _ = results[name]
    actual = tp.smoothers()[name][1]
    assert actual / 2 <= plan.cutoff <= actual * 2, f"{name}: cut-off {plan.cutoff:.2f} px for a {actual} px smoother"


def test_manual_cutoff_overrides(face):
    original, mask = face
    ai = tp.ai_version(original, "gauss2")
    plan = plan_match(original, ai, mask, cutoff=1.5)
    assert plan.cutoff == 1.5 and plan.auto_cutoff != 1.5


def test_zero_mask_and_zero_strength_leave_the_ai_image(face):
    original, mask = face
    ai = tp.ai_version(original, "gauss2")
    assert np.array_equal(tp.restored(original, ai, np.zeros_like(mask), MatchSettings()), ai)
    assert np.array_equal(tp.restored(original, ai, mask, MatchSettings(strength=0)), ai)


def test_blemish_protection_off_brings_blemishes_back(face):
    original, mask = face
    ai = tp.ai_version(original, "gauss3")
    off = tp.restored(original, ai, mask, MatchSettings(blemish=0))
    disk = tp.blemish_disks(original.shape)[1]
    ring = tp.blemish_disks(original.shape, grow=6)[1] & ~tp.blemish_disks(original.shape, grow=3)[1]
    assert abs(contrast(off, disk, ring)) > 0.3 * abs(contrast(original, disk, ring))


# --- The weight kept as factors and made band by band (issue 14: 144 MP without full-frame floats) ---

def _fake_faces(shape):
    """Two overlapping faces with cheek and forehead polygons, for regional strength."""
    from types import SimpleNamespace

    h, w = shape[:2]
    faces = []
    for cx in (w // 3, w // 2):
        cy = h // 2
        box = (cx - 60, cy - 80, cx + 60, cy + 80)
        regions = {"forehead": np.array([[cx - 40, cy - 70], [cx + 40, cy - 70], [cx + 40, cy - 30],
                                         [cx - 40, cy - 30]], np.float32),
                   "left_cheek": np.array([[cx + 10, cy], [cx + 50, cy], [cx + 50, cy + 40], [cx + 10, cy + 40]],
                                          np.float32)}
        faces.append(SimpleNamespace(bbox=box, regions=regions))
    return faces


def test_regional_tiles_give_the_rows_of_the_whole_weight(face):
    from processing.match import regional_tiles, regional_weight

    original, _ = face
    faces = _fake_faces(original.shape)
    strengths = {"forehead": 0.5, "cheeks": 1.6}
    whole = regional_weight(faces, original.shape, strengths)
    tiles = regional_tiles(faces, original.shape, strengths)
    assert whole.min() < 0.6 and whole.max() > 1.5 and (whole == 1).mean() > 0.5
    rng = np.random.default_rng(2)
    for _ in range(20):
        r0, c0 = rng.integers(0, original.shape[0] - 1), rng.integers(0, original.shape[1] - 1)
        r1, c1 = rng.integers(r0 + 1, original.shape[0] + 1), rng.integers(c0 + 1, original.shape[1] + 1)
        assert np.array_equal(tiles.rows(r0, r1, c0, c1), whole[r0:r1, c0:c1])
    assert regional_tiles(faces, original.shape, {"forehead": 1.0}) is None


@pytest.mark.parametrize("detect_side, regions", [(1000, None), (160, None), (100, {"cheeks": 1.6, "forehead": 0.4})],
                         ids=["f1", "f3", "f5-regional"])
def test_match_in_small_bands_equals_the_whole_frame_weight(face, monkeypatch, detect_side, regions):
    """The protection found on a reduced copy (f x f), enlarged piece by piece, times the
    mask and the regional strength, band by band: the same result as one whole-frame weight."""
    import cv2

    import processing.blemish as blemish
    import processing.filters as filters
    import processing.row_bands as row_bands
    from processing.detail_transfer import add_detail

    original, mask = face
    ai = tp.ai_version(original, "gauss3")
    monkeypatch.setattr(blemish, "DETECT_MAX_SIDE", detect_side)
    faces = _fake_faces(original.shape) if regions else ()
    plan = plan_match(original, ai, mask, cutoff=4.5, blemish=0.5, regions=regions, faces=faces)
    spots = plan.spots
    assert spots is not None
    f = spots.f
    # The whole-frame weight as one array: protection enlarged in one resize.
    y0, y1, x0, x1 = plan.box
    sh, sw = spots.soft.shape
    protection = np.ones((y1 - y0, x1 - x0), np.float32)
    soft = spots.soft if f == 1 else cv2.resize(spots.soft, (sw * f, sh * f), interpolation=cv2.INTER_LINEAR)
    oy, ox = spots.origin
    protection[oy:oy + sh * f, ox:ox + sw * f] = 1.0 - np.clip(soft, 0.0, 1.0)
    weight = mask[y0:y1, x0:x1] * protection
    from processing.match import regional_weight

    if regions:
        weight = weight * regional_weight(faces, (y1 - y0, x1 - x0), regions, origin=(x0, y0))
    strength = 1.0
    if weight.max() > 1:
        strength, weight = weight.max(), weight / weight.max()
    expected = ai.copy()
    # The swap reads the original with its removed blemishes healed, and the
    # spots get their borrowed texture afterwards (processing.healing).
    from processing.healing import add_texture, healed

    assert plan.patches
    source = healed(original[y0:y1, x0:x1], plan.patches)
    expected[y0:y1, x0:x1] = add_detail(source, ai[y0:y1, x0:x1], weight, plan.swap_radius,
                                        strength, True, exact=False)
    skin = mask[y0:y1, x0:x1] * (1 if not regions else
                                 regional_weight(faces, (y1 - y0, x1 - x0), regions, origin=(x0, y0)))
    add_texture(expected[y0:y1, x0:x1], plan.patches, lambda a, b, c, d: skin[a:b, c:d].astype(np.float32))
    # Bands of a few rows, pieces of 2 reduced rows.
    monkeypatch.setattr(row_bands, "BAND_PIXELS", 5 * original.shape[1])
    monkeypatch.setattr(filters, "ENLARGE_PIECE", 2)
    banded = texture_match(original, ai, plan)
    assert not np.array_equal(banded, ai)
    if f & (f - 1) == 0:
        assert np.array_equal(banded, expected)
    else:  # float32 sample positions of the enlargement differ in the last bits
        assert np.abs(banded.astype(int) - expected).max() <= 1 and np.mean(banded != expected) < 1e-3
    np.testing.assert_allclose(plan.blemish, protection, atol=1e-5)
    assert plan.band_weight.box() == tuple(int(v) for v in _box(plan.weight))


def _box(w):
    ys, xs = np.nonzero(w > 0)
    return ys.min(), ys.max() + 1, xs.min(), xs.max() + 1


def test_match_plan_keeps_no_full_frame_weight(face):
    """The plan holds the mask by reference and the protection at its reduced size."""
    original, mask = face
    ai = tp.ai_version(original, "gauss3")
    plan = plan_match(original, ai, None, blemish=0.5)
    arrays = [v for v in vars(plan.band_weight).values() if isinstance(v, np.ndarray)]
    assert plan.band_weight.mask is None and not arrays
    assert plan.spots is not None and plan.spots.soft.size <= original.shape[0] * original.shape[1]
    assert plan.weight.shape == original.shape[:2] and plan.weight.min() == 0.0


def test_the_cut_off_from_spectra_read_beforehand_is_the_same(face):
    """Spectra read before the removed blemishes are known (beside their
    search), then weighed without them, give the plain reading's cut-off and
    ratios, also when a spot at the skin's edge shrinks its box."""
    from processing.blemish import BlemishSpots
    from processing.match import SPECTRUM_SIDE, auto_cutoff, read_spectra, spectrum_window
    from processing.spectrum import texture_spectrum

    original, mask = face
    ai = tp.ai_version(original, "gauss2")
    h, w = mask.shape
    ys, xs = np.nonzero(mask > 0)
    soft = np.zeros((h, w), np.float32)
    cy, cx = (ys.min() + ys.max()) // 2, (xs.min() + xs.max()) // 2
    soft[cy - 6:cy + 6, cx - 6:cx + 6] = 1.0  # a spot on the cheek
    edge = soft.copy()
    edge[: ys.min() + 4] = 1.0  # and the top rows of the skin kept out
    for kept_out in (soft, edge):
        spots = BlemishSpots(kept_out, 1, (0, 0), (h, w))
        plain = auto_cutoff(original, ai, mask, spots)
        beforehand = auto_cutoff(original, ai, mask, spots, read_spectra(original, ai, mask))
        assert plain == beforehand
        # and the plain reading is the spectrum of the mask without the spots
        # (on the skin's box, as the cut-off measures it)
        win = spectrum_window(mask, mask.shape, SPECTRUM_SIDE)
        weight = (mask * (1 - kept_out))[win]
        ratio = texture_spectrum(ai[win], weight).ratio_to(texture_spectrum(original[win], weight))
        np.testing.assert_allclose(plain[1], ratio, rtol=1e-6)


def _group_of_two(frame, gap: int, fill=128):
    """``frame`` twice side by side with ``gap`` px of ``fill`` (flat grey; 0 for a mask) between."""
    between = np.full((frame.shape[0], gap) + frame.shape[2:], fill, frame.dtype)
    return np.concatenate([frame, between, frame], axis=1)


def test_spectrum_window_on_a_group_photo_holds_a_face():
    """Two masks far apart: the window around their common centre would hold no
    skin, so the window is the skin-richest one; a single face keeps the central
    window."""
    from processing.match import _central_window, spectrum_window
    from processing.row_bands import BandWeight

    blob = np.zeros((200, 200), np.float32)
    cv2.circle(blob, (100, 100), 80, 1.0, -1)
    group = _group_of_two(blob, 1000, fill=0)
    side = 256
    centre = _central_window(group, group.shape, side)
    assert group[centre].sum() == 0  # the trap: the centre falls between the faces
    win = spectrum_window(group, group.shape, side)
    assert win[0].stop - win[0].start == centre[0].stop - centre[0].start
    assert win[1].stop - win[1].start == centre[1].stop - centre[1].start
    # As much skin as any window of that size holds (a face is smaller than the window).
    assert (group[win] > 0.5).sum() == (blob > 0.5).sum()
    # A weight kept as factors is sampled row by row: the same window.
    assert spectrum_window(BandWeight(group.shape, group), group.shape, side) == win
    # A strip of skin thinner than a cell: the central window.
    strip = np.zeros((400, 3000), np.float32)
    strip[200:220, 100:2900] = 1.0
    assert spectrum_window(strip, strip.shape, side) == _central_window(strip, strip.shape, side)
    # One face, wider than the window: the central window as before.
    wide = cv2.resize(blob, (1200, 1200), interpolation=cv2.INTER_NEAREST)
    assert spectrum_window(wide, wide.shape, side) == _central_window(wide, wide.shape, side)


def test_the_cut_off_of_a_group_photo_is_read_on_a_face(face):
    """Two faces 1500 px apart (the spectrum's window around the mask's centre
    would hold none of them): the automatic cut-off is the one face's own, not
    the default for too little skin."""
    from processing.match import auto_cutoff

    original, mask = face
    ai = tp.ai_version(original, "gauss2")
    one = auto_cutoff(original, ai, mask)
    assert "the spectrum suggests" in one[2]
    group = auto_cutoff(_group_of_two(original, 1500), _group_of_two(ai, 1500),
                        _group_of_two(mask, 1500, fill=0))
    assert "too little skin" not in group[2]
    assert group[0] == pytest.approx(one[0], rel=0.05)


@pytest.mark.parametrize("cutoff", [4.0, 4.5])
def test_a_group_photo_is_matched_face_by_face_as_in_one_box(face, monkeypatch, cutoff):
    """Two faces 700 px apart are matched in a box each, not in the box around
    both: the same pixels as the one box (bit for bit when the wide blur's
    cells are a power of two, within a level otherwise), and the gap between
    them left as the AI image."""
    import processing.match as match
    from processing.row_bands import skin_regions

    original, mask = face
    ai = tp.ai_version(original, "gauss2")
    o, a, m = _group_of_two(original, 700), _group_of_two(ai, 700), _group_of_two(mask, 700, fill=0)
    plan = plan_match(o, a, m, cutoff=cutoff)
    y0, y1, x0, x1 = plan.box
    parts = []

    def regions(*args, **kwargs):
        found = skin_regions(*args, **kwargs)
        parts.append(len(found))
        return found

    monkeypatch.setattr(match, "skin_regions", regions)
    by_face = texture_match(o, a, plan)
    assert parts == [2]
    monkeypatch.setattr(match, "skin_regions", lambda weight, shape, margin, align=1: skin_regions(
        weight, shape, margin, align=align, most=float("inf")))
    one_box = texture_match(o, a, plan)
    if int(2 * cutoff // 3) & (int(2 * cutoff // 3) - 1) == 0:
        assert np.array_equal(by_face, one_box)
    else:
        assert np.abs(by_face.astype(int) - one_box).max() <= 1 and np.mean(by_face != one_box) < 1e-3
    assert not np.array_equal(by_face, a)
    gap = slice(original.shape[1] + 100, original.shape[1] + 600)
    assert np.array_equal(by_face[:, gap], a[:, gap])

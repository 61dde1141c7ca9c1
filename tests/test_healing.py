"""Removed blemishes healed: kept removed, given the skin's texture, nothing else touched.

A flat skin-toned field with pore-like texture and three dark, reddish spots;
the "AI" image has them inpainted by OpenCV (Telea) and is smoothed by
OpenCV's Gaussian, so nothing here is made with the project's own filters.
"""

import dataclasses

import cv2
import numpy as np
import pytest

from processing.healing import healed
from processing.match import plan_match, texture_match

SPOTS = [(120, 100, 3.0), (260, 180, 4.0), (200, 60, 2.5)]


def luma(x):
    return np.asarray(x, np.float64) @ [0.2126, 0.7152, 0.0722]


def dog(y):
    return cv2.GaussianBlur(y, (0, 0), 0.5) - cv2.GaussianBlur(y, (0, 0), 2.0)


@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(3)
    h, w = 300, 400
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    base = 150 + 20 * np.sin(xx / 80) + 10 * np.cos(yy / 60)
    # White noise blurred by 1 px, 6 levels std (blurring divides it by 2 sqrt(pi)).
    pores = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), 1.0) * 6 * 2 * np.sqrt(np.pi)
    o = np.dstack([base * 1.1, base * 0.9, base * 0.8]) + pores[..., None]
    hole = np.zeros((h, w), np.uint8)
    for x, y, r in SPOTS:
        o -= np.clip(r + 0.5 - np.hypot(xx - x, yy - y), 0, 1)[..., None] * np.float32([22, 40, 36])
        cv2.circle(hole, (x, y), int(r + 2), 255, -1)
    o = np.clip(o + 0.5, 0, 255).astype(np.uint8)
    ai = cv2.GaussianBlur(cv2.inpaint(o, hole, 3, cv2.INPAINT_TELEA), (0, 0), 2.0)
    plan = plan_match(o, ai, None)
    return o, ai, plan


def _spot_figures(o, ai, result):
    yy, xx = np.mgrid[:o.shape[0], :o.shape[1]]
    yo, ya, yr = luma(o), luma(ai), luma(result)
    texture = dog(yr)
    out = []
    for x, y, r in SPOTS:
        d = np.hypot(xx - x, yy - y)
        disk, ring = d <= r, (d > r + 3) & (d <= r + 8)
        c_o, c_r = (lum[disk].mean() - lum[ring].mean() for lum in (yo, yr))
        inside = np.sqrt(np.mean(texture[d <= r - 0.5] ** 2) / np.mean(texture[(d > r + 12) & (d <= r + 30)] ** 2))
        out.append((c_r / c_o, inside))
    return out


def test_spots_are_found_healed_and_textured(pair):
    """Each spot at most 20 % back; texture inside at least 0.8 of the skin's around
    over the three (0.6 on each: a 5 px disc holds few pores, so one varies by chance)."""
    o, ai, plan = pair
    assert plan.spots is not None and len(plan.patches) >= len(SPOTS)
    figures = _spot_figures(o, ai, texture_match(o, ai, plan))
    for (x, y, r), (back, texture) in zip(SPOTS, figures):
        assert abs(back) <= 0.2, f"spot at ({x}, {y}) back at {back:.0%}"
        assert texture >= 0.6, f"spot at ({x}, {y}): texture {texture:.2f} of the skin around it"
    assert np.mean([t for _, t in figures]) >= 0.8, figures


def test_without_the_borrowed_texture_the_spots_stay_smooth(pair):
    """The same plan without its patches: the spots are kept as the AI made them, smooth."""
    o, ai, plan = pair
    bare = texture_match(o, ai, dataclasses.replace(plan, patches=[]))
    for (x, y, r), (back, texture) in zip(SPOTS, _spot_figures(o, ai, bare)):
        assert abs(back) <= 0.2 and texture < 0.4


def test_healing_touches_only_the_spots(pair):
    """Beyond each patch and the swap's reach, the result is the plain swap's, bit for bit;
    the healed original is the original outside the patches' reach."""
    from processing.detail_transfer import halo_for

    o, ai, plan = pair
    with_patches = texture_match(o, ai, plan)
    bare = texture_match(o, ai, dataclasses.replace(plan, patches=[]))
    near = np.zeros(o.shape[:2], bool)
    for patch in plan.patches:
        y0, y1, x0, x1 = patch.box
        near[y0:y1, x0:x1] |= patch.where
    reach = 2 * halo_for(plan.swap_radius) + 1
    near = cv2.dilate(near.astype(np.uint8), np.ones((2 * reach + 1,) * 2, np.uint8)) > 0
    assert not np.array_equal(with_patches, bare)
    assert np.array_equal(with_patches[~near], bare[~near])
    y0, y1, x0, x1 = plan.box
    assert y0 == 0 and x0 == 0  # the whole frame is the work box here
    source = healed(o, plan.patches)
    where = np.zeros(o.shape[:2], bool)
    for patch in plan.patches:
        b = patch.box
        where[b[0]:b[1], b[2]:b[3]] |= patch.where
    assert np.array_equal(source[~where], o[~where]) and not np.array_equal(source[where], o[where])


@pytest.mark.parametrize("f", [2, 3, 4])
def test_a_spots_protection_is_the_whole_grids_enlargement_there(f):
    """The protection over one spot's box, enlarged from the cells around it
    only, equals the rows of the whole grid's enlargement there."""
    from processing.blemish import BlemishSpots
    from processing.healing import _protection

    rng = np.random.default_rng(f)
    soft = cv2.GaussianBlur(rng.random((40, 50)).astype(np.float32), (0, 0), 2) * 3 - 1
    spots = BlemishSpots(soft, f, (5, 7), (5 + 40 * f + 3, 7 + 50 * f + 2))
    for _ in range(20):
        y0, x0 = int(rng.integers(0, 40 * f)), int(rng.integers(0, 50 * f))
        box = (y0, min(spots.shape[0], y0 + int(rng.integers(1, 30))), x0, min(spots.shape[1], x0 + int(rng.integers(1, 30))))
        np.testing.assert_allclose(_protection(spots, box), 1.0 - spots.rows(*box), atol=1e-4)


def test_the_source_search_sums_only_the_measured_cells_and_counts_the_rest_off_skin():
    """A patch's means from the integrals over the measured cells' box equal the
    plain means over the whole grid, with cells never measured off the skin."""
    from processing.blemish import BlemishSpots
    from processing.healing import _SkinAround

    rng = np.random.default_rng(5)
    f, image = 2, (rng.random((240, 300, 3)) * 255).astype(np.uint8)
    soft = np.zeros((120, 150), np.float32)
    soft[50:54, 70:74] = 1.0
    spots = BlemishSpots(soft, f, (0, 0), image.shape[:2])
    scene = _SkinAround(image, spots, lambda y0, y1, x0, x1: np.ones((y1 - y0, x1 - x0), np.float32), 3.0, 1.5)
    scene.measure([(100, 108, 140, 148)], [20])
    assert 0 < scene.measured.mean() < 0.5  # only around the spot
    off_skin = ((scene.mask < 0.5 * scene.mask.max()) | ~scene.measured).astype(np.float64)
    plain = {"energy": scene.energy, "taken": scene.taken.astype(np.float64), "off_skin": off_skin,
             "colour": scene.colour}
    for _ in range(200):
        r0, c0 = int(rng.integers(0, 115)), int(rng.integers(0, 145))
        r1, c1 = r0 + int(rng.integers(0, 6)), c0 + int(rng.integers(0, 6))
        for name, values in plain.items():
            expected = values[r0:r1, c0:c1].astype(np.float64).sum(axis=(0, 1)) / max(1, (r1 - r0) * (c1 - c0))
            np.testing.assert_allclose(scene.means(name, np.array(r0), np.array(r1), np.array(c0), np.array(c1)),
                                       expected, rtol=1e-9, atol=1e-12)


def test_the_skin_around_is_measured_at_the_exact_bands_energy():
    """The scene's texture energy (the band finer than the swap, its mean over
    the spot's zero-mean scale taken on a reduced copy) is the exactly blurred
    band's within a few per cent, cell by cell, on pore-like texture."""
    from processing.blemish import BlemishSpots
    from processing.filters import gaussian_blur, luminance_of
    from processing.healing import _SkinAround

    rng = np.random.default_rng(11)
    h, w, f = 360, 420, 3
    pores = cv2.GaussianBlur(rng.normal(0, 8, (h, w)).astype(np.float32), (0, 0), 1.2)
    tone = cv2.resize(rng.normal(0, 10, (4, 5)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    image = np.clip(np.float32([190, 140, 120]) + (pores + tone)[..., None] + 0.5, 0, 255).astype(np.uint8)
    soft = np.zeros((h // f, w // f), np.float32)
    soft[58:62, 68:72] = 1.0
    spots = BlemishSpots(soft, f, (0, 0), (h, w))
    swap, mean_sigma = 8.8, 4.5
    scene = _SkinAround(image, spots, lambda y0, y1, x0, x1: np.ones((y1 - y0, x1 - x0), np.float32), swap, mean_sigma)
    scene.measure([(174, 186, 204, 216)], [90])
    lum = luminance_of(image)
    band = lum - gaussian_blur(lum, swap)
    band = band - gaussian_blur(band, mean_sigma)
    exact = cv2.resize(band * band, (w // f, h // f), interpolation=cv2.INTER_AREA)
    # Cells away from the image's edges (the blurs reflect there).
    inner = scene.measured.copy()
    inner[:15], inner[-15:], inner[:, :15], inner[:, -15:] = False, False, False, False
    assert inner.sum() > 1000
    ratio = scene.energy[inner] / exact[inner]
    assert abs(float(scene.energy[inner].mean() / exact[inner].mean()) - 1.0) < 0.02
    assert float(np.quantile(np.abs(ratio - 1.0), 0.95)) < 0.05


def test_every_spots_source_is_picked_as_if_it_were_searched_alone():
    """The sources of several spots looked up at once are each spot's own pick,
    and the picked patch is free clean skin (no spot in it, on the mask,
    computed here from the scene's cell arrays)."""
    from processing.blemish import BlemishSpots
    from processing.healing import _NEAR, _DISTANCES, _SkinAround, _pick_sources

    rng = np.random.default_rng(8)
    f = 2
    image = np.clip(150 + cv2.GaussianBlur(rng.standard_normal((320, 400, 3)).astype(np.float32), (0, 0), 1.0)
                    * 30, 0, 255).astype(np.uint8)
    soft = np.zeros((160, 200), np.float32)
    boxes = [(60, 72, 80, 92), (150, 160, 250, 262), (240, 250, 40, 50), (20, 30, 360, 372)]
    for y0, y1, x0, x1 in boxes:
        soft[y0 // f:y1 // f, x0 // f:x1 // f] = 1.0
    # The skin: all but a band on the right (some candidates fall off it).
    def skin(y0, y1, x0, x1):
        w = np.ones((y1 - y0, x1 - x0), np.float32)
        w[:, max(0, 330 - x0):] = 0.0
        return w

    spots = BlemishSpots(soft, f, (0, 0), image.shape[:2])
    scene = _SkinAround(image, spots, skin, 3.0, 1.5)
    scene.measure(boxes, [int(np.ceil((_DISTANCES[-1] + 1) * 12))] * len(boxes))
    around = [1.3 * float(np.median(scene.energy[scene.measured])), 0.0,
              float(np.median(scene.energy[scene.measured])), 0.8 * float(np.median(scene.energy[scene.measured]))]
    colours = [np.float32(c) for c in ([0.58, 0.59, 0.6], [0.5, 0.6, 0.7], [0.62, 0.58, 0.55], [0.52, 0.6, 0.56])]
    for distances in ([d for d in _DISTANCES if d <= _NEAR], _DISTANCES):
        together = _pick_sources(boxes, around, colours, scene, distances)
        alone = [_pick_sources([b], [e], [c], scene, distances)[0] for b, e, c in zip(boxes, around, colours)]
        assert together == alone
        assert together[1] == (None, False)  # no skin energy around it: nothing to match
        for (y0, y1, x0, x1), (offset, _) in zip(boxes, together):
            if offset is None:
                continue
            dy, dx = offset
            cells = (slice((y0 + dy) // f, -(-(y1 + dy) // f)), slice((x0 + dx) // f, -(-(x1 + dx) // f)))
            assert not scene.taken[cells].any() and (scene.mask[cells] >= 0.5).all()
    # Some spots found a source, so the assertions above looked at patches.
    assert sum(offset is not None for offset, _ in together) >= 2

"""Skin likeness: the grids line up, the statistics resist outliers, the distance
is one-sided where it should be, and strands are told from skin on a patch."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from processing import skin_likeness as sl
from processing.skin_likeness import (LikenessRegions, SkinStats, likeness_on_grid, rasterize, reduce_box,
                                      skin_distance, skin_likeness, skin_statistics)

SKIN_RGB = (225, 190, 165)


def test_reduce_box_is_a_block_average_at_any_depth():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (60, 80, 3)).astype(np.uint8)
    box = (5, 7, 65, 52)
    got = reduce_box(image, box, 3)
    crop = image[7:52, 5:65].astype(np.float64)
    want = crop[:45, :60].reshape(15, 3, 20, 3, 3).mean(axis=(1, 3))
    assert got.dtype == np.uint8 and got.shape == (15, 20, 3)
    assert np.abs(got.astype(np.float64) - want).max() <= 1.0
    same = {"uint16": image.astype(np.uint16) * 257, "float32": image.astype(np.float32) / 255,
            "float64": image / 255.0, "rgba": np.dstack([image, np.zeros(image.shape[:2], np.uint8)])}
    for name, other in same.items():
        assert np.abs(reduce_box(other, box, 3).astype(int) - got).max() <= 1, name
    gray = reduce_box(image[..., 1], box, 3)
    assert gray.shape == got.shape and np.array_equal(gray[..., 0], gray[..., 2])


def test_rasterize_and_reduce_box_share_one_grid():
    # Pixels 10..29 of a full-res picture, in polygon coordinates (pixel i spans [i, i + 1));
    # inset a little, as cv2.fillPoly also fills pixels whose centre is on the edge.
    square = np.array([(10.2, 10.2), (29.8, 10.2), (29.8, 29.8), (10.2, 29.8)], np.float32)
    image = np.zeros((40, 40), np.uint8)
    image[10:30, 10:30] = 255
    for factor in (1, 2, 5):
        filled = rasterize([square], (40 // factor, 40 // factor), (0, 0), factor)
        reduced = reduce_box(image, (0, 0, 40, 40), factor)[..., 0]
        assert np.array_equal(filled > 0, reduced == 255), factor
    shifted = rasterize([square], (20, 20), (4, 6), 2)  # the same square seen from a box at (4, 6)
    assert np.array_equal(np.argwhere(shifted)[[0, -1]], [[2, 3], [11, 12]])


@pytest.mark.parametrize("scale", [1.0, 0.5, 0.37])
def test_likeness_on_grid_puts_the_reduced_pixels_where_they_were(scale):
    # A step between reduced columns 9 and 10 (factor 4) is at full-res x = 40.
    step = np.zeros((12, 20), np.float32)
    step[:, 10:] = 1.0
    width = int(80 * scale)
    out = likeness_on_grid(step, 4, (width, 6), (scale, scale))
    assert out.shape == (6, width)
    centres = (np.arange(width) + 0.5) / scale  # full-res x of each target pixel's centre
    # OpenCV 4's warpAffine interpolates at 1/32 px steps (its INTER_TAB_SIZE); 5's does not.
    np.testing.assert_allclose(out[0], np.clip((centres - 40) / 4 + 0.5, 0, 1), atol=1 / 32)


def _features(values):
    """(4, n) values -> (4, 1, n) features and an all-True sample."""
    v = np.asarray(values, np.float32)
    return v[:, None, :], np.ones((1, v.shape[1]), bool)


def test_statistics_resist_outliers_and_need_enough_samples():
    rng = np.random.default_rng(1)
    skin = np.stack([rng.normal(8, 2, 700), rng.normal(18, 3, 700), rng.normal(75, 6, 700),
                     rng.normal(-8, 1, 700)])
    hair = np.stack([rng.normal(3, 2, 300), rng.normal(28, 3, 300), rng.normal(40, 8, 300),
                     rng.normal(-5, 1, 300)])
    stats = skin_statistics(*_features(np.hstack([skin, hair])))
    assert isinstance(stats, SkinStats)
    hue = np.array([8, 18]) / np.hypot(8, 18)
    assert np.degrees(np.arccos(np.clip(np.dot(stats.hue, hue), -1, 1))) < 5
    assert abs(stats.center[2] - 75) < 4 and abs(stats.center[3] + 8) < 0.4
    assert (stats.spread >= sl.SPREAD_FLOOR).all()
    assert skin_statistics(*_features(skin[:, :sl.MIN_SAMPLES - 1])) is None
    flat = skin_statistics(*_features(np.tile([[8.0], [18.0], [75.0], [-8.0]], 100)))
    np.testing.assert_array_equal(flat.spread, sl.SPREAD_FLOOR)  # a flat sample: the floors


def test_distance_counts_hue_both_ways_and_the_rest_one_way():
    hue = np.array([0.6, 0.8], np.float32)  # chroma 20 along (12, 16)
    stats = SkinStats(center=np.array([0, 20, 70, -8], np.float32), spread=np.array([2, 2, 10, 1], np.float32),
                      hue=hue, count=1000)
    ortho = np.array([-0.8, 0.6]) * 6  # 3 spreads of hue
    pixels = {  # a*, b*, L*, ln(energy) -> expected distance
        "skin": ([12, 16, 70, -8], 0.0), "brighter": ([12, 16, 95, -8], 0.0),
        "smoother": ([12, 16, 70, -11], 0.0), "more chroma": ([18, 24, 70, -8], 0.0),
        "darker": ([12, 16, 40, -8], 3.0), "textured": ([12, 16, 70, -5], 3.0),
        "less chroma": ([6, 8, 70, -8], 5.0), "hue +": ([12 + ortho[0], 16 + ortho[1], 70, -8], 3.0),
        "hue -": ([12 - ortho[0], 16 - ortho[1], 70, -8], 3.0), "dark and textured": ([12, 16, 40, -4], 5.0),
    }
    features = np.array([v for v, _ in pixels.values()], np.float32).T[:, None, :]
    got = skin_distance(features, stats)[0]
    np.testing.assert_allclose(got, [d for _, d in pixels.values()], atol=1e-4)


def _patch(tone=(1.0, 1.0, 1.0), gray=False):
    """A 200 px skin patch, face height 150 px, with dark strands over its top third."""
    rng = np.random.default_rng(3)
    patch = np.empty((200, 200, 3), np.float32)
    patch[:] = SKIN_RGB
    patch += cv2.GaussianBlur(rng.normal(0, 3, (200, 200)).astype(np.float32), (0, 0), 0.8)[..., None]
    patch *= np.linspace(1.05, 0.9, 200, dtype=np.float32)[:, None, None]  # light from above
    for x in range(5, 200, 8):
        cv2.polylines(patch, [np.array([(x, 0), (x + 6, 30), (x + 2, 62)], np.int32)], False, (70, 45, 28), 3)
    patch = np.clip(patch * np.array(tone, np.float32), 0, 255).astype(np.uint8)
    return cv2.cvtColor(patch, cv2.COLOR_RGB2GRAY) if gray else patch


@pytest.mark.parametrize("look", ["plain", "warm and bright", "gray"])
def test_strands_are_cut_and_skin_kept_on_a_patch(look):
    image = _patch(tone=(1.1, 1.0, 0.85) if look == "warm and bright" else (1.0, 1.0, 1.0), gray=look == "gray")
    regions = LikenessRegions(samples=[np.array([(20, 110), (180, 110), (180, 190), (20, 190)], np.float32)])
    likeness, factor = skin_likeness(image, (0, 0, 200, 200), 150.0, regions)
    assert factor == 1 and likeness.shape == (200, 200) and likeness.dtype == np.float32
    assert likeness[5:55].mean() <= 0.2, likeness[5:55].mean()
    assert likeness[85:].min() >= 0.95, likeness[85:].min()


def test_too_little_to_measure_leaves_the_face_uncut():
    image = _patch()
    nothing = LikenessRegions(samples=[np.array([(100, 150), (103, 150), (103, 153)], np.float32)])
    likeness, _ = skin_likeness(image, (0, 0, 200, 200), 150.0, nothing)
    assert (likeness == 1).all()
    sliver, factor = skin_likeness(image, (0, 0, 200, 12), 1500.0, nothing)  # a box 1 px high once reduced
    assert factor == 11 and (sliver == 1).all()

"""Removed-blemish search on large frames: spots, not chance peaks of smoothed texture."""

import cv2
import numpy as np
import pytest

import processing.blemish as blemish


def _smoothed_skin(size=(4000, 3000), seed=2):
    """A large frame of skin-like texture (a smooth tone field plus 1 px pores of
    6 levels) and its copy smoothed by OpenCV's Gaussian (3 px): nothing removed
    but texture. Returns original, AI, face-sized feathered mask."""
    w, h = size
    rng = np.random.default_rng(seed)
    tone = cv2.resize(rng.normal(0, 1, (6, 8, 3)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    base = np.float32([200, 150, 130]) + 6 * tone
    pores = cv2.GaussianBlur(rng.normal(0, 6, (h, w)).astype(np.float32), (0, 0), 1.2)
    original = np.clip(base + pores[..., None] + 0.5, 0, 255).astype(np.uint8)
    ai = cv2.GaussianBlur(original, (0, 0), 3.0)
    mask = np.zeros((h, w), np.float32)
    cv2.ellipse(mask, (w // 2, h // 2), (int(w * 0.3), int(h * 0.42)), 0, 0, 360, 1.0, -1)
    return original, ai, cv2.GaussianBlur(mask, (0, 0), 20)


@pytest.fixture(scope="module")
def smoothed_skin():
    return _smoothed_skin()


def _spots(search):
    return 0 if search is None else cv2.connectedComponents(search.spots.astype(np.uint8))[0] - 1


def test_smoothed_texture_alone_is_no_blemish_on_a_large_frame(smoothed_skin):
    original, ai, mask = smoothed_skin
    assert _spots(blemish.search_blemishes(original, ai, mask, 0.5)) == 0


def test_without_the_visible_floor_chance_peaks_would_count(smoothed_skin, monkeypatch):
    """What the floor is for: measured against the texture's own spread alone, a
    search over millions of positions finds chance peaks."""
    monkeypatch.setattr(blemish, "VISIBLE_SPREAD", 1e-4)
    original, ai, mask = smoothed_skin
    assert _spots(blemish.search_blemishes(original, ai, mask, 0.5)) >= 5


def test_a_faint_but_visible_removed_spot_is_still_found(smoothed_skin):
    """A 24 px spot 6 levels darker (under 3 % of the skin) that the AI healed is found."""
    original, ai, mask = smoothed_skin
    h, w = mask.shape
    spotted = original.astype(np.int16)
    disc = np.zeros((h, w), np.uint8)
    cv2.circle(disc, (w // 2 + 200, h // 2 - 100), 12, 1, -1)
    spotted = np.clip(spotted - 6 * disc[..., None] * np.int16([1, 1, 1]) - 3 * disc[..., None] * np.int16([0, 1, 1]),
                      0, 255).astype(np.uint8)
    search = blemish.search_blemishes(spotted, ai, mask, 0.5)
    assert _spots(search) == 1
    y0, x0 = search.origin
    ys, xs = np.nonzero(search.spots)
    cy, cx = y0 + (ys.mean() + 0.5) * search.f, x0 + (xs.mean() + 0.5) * search.f
    assert abs(cy - (h // 2 - 100)) < 12 and abs(cx - (w // 2 + 200)) < 12


def test_components_looked_up_at_the_labelled_cells_are_the_whole_grids_lookup():
    """The search keeps or drops whole components; looking them up only where
    cells are set gives ``table[labels]`` of the whole grid."""
    rng = np.random.default_rng(4)
    for density in (0.0, 0.01, 0.3):
        where = (rng.random((300, 400)) < density).astype(np.uint8)
        n, labels, _, _ = cv2.connectedComponentsWithStats(where)
        table = rng.random(n) < 0.5
        table[0] = False
        assert np.array_equal(blemish._labelled(table, labels, where), table[labels])

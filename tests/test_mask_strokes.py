"""paint_strokes: the brush strokes painted only where they and the mask are."""

import numpy as np
import pytest

from processing.mask_strokes import Stroke, apply_strokes, paint_strokes


def _strokes(rng, n, canvas):
    cw, ch = canvas
    out = []
    for _ in range(n):
        k = int(rng.integers(1, 6))
        pts = np.column_stack([rng.uniform(-10, cw + 10, k), rng.uniform(-10, ch + 10, k)]).astype(np.float32)
        out.append(Stroke(mode=str(rng.choice(["add", "erase"])), width=float(rng.uniform(2, 40)), points=pts))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_paint_strokes_is_apply_strokes_pixel_for_pixel(seed):
    rng = np.random.default_rng(seed)
    h, w = int(rng.integers(300, 900)), int(rng.integers(300, 900))
    mask = np.zeros((h, w), np.float32)
    y0, x0 = int(rng.integers(0, h // 2)), int(rng.integers(0, w // 2))
    mask[y0:y0 + h // 3, x0:x0 + w // 3] = rng.uniform(0, 1, (h // 3, w // 3)).astype(np.float32)
    canvas = (int(rng.integers(200, 640)), int(rng.integers(200, 640)))
    strokes = _strokes(rng, 5, canvas)
    before = mask.copy()
    got = paint_strokes(mask, strokes, canvas)
    assert np.array_equal(got, apply_strokes(mask, strokes, canvas))
    assert np.array_equal(mask, before)  # the automatic mask is left as it was
    assert paint_strokes(mask, [], canvas) is mask

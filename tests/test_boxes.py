"""Boxes and components: the labelling the blemish search and healing share."""

import cv2
import numpy as np
import pytest

from processing.boxes import components


@pytest.mark.parametrize("as_bool", [False, True])
def test_components_counted_at_their_cells_are_opencvs(as_bool):
    """Stats counted at the set cells give OpenCV's labels and every component's
    box and area, on empty, sparse and dense grids, and on a bool grid seen as
    bytes (as healing passes its covered cells)."""
    rng = np.random.default_rng(9)
    for density in (0.0, 0.002, 0.003, 0.05, 0.4):
        where = cv2.dilate((rng.random((310, 270)) < density).astype(np.uint8), np.ones((2, 2), np.uint8))
        given = (where > 0).view(np.uint8) if as_bool else where
        n, labels, stats = components(given)
        m, expected_labels, expected, _ = cv2.connectedComponentsWithStats(where)
        assert n == m
        assert np.array_equal(labels, expected_labels)
        np.testing.assert_array_equal(stats[1:], expected[1:])
        assert stats[0, cv2.CC_STAT_AREA] == expected[0, cv2.CC_STAT_AREA]

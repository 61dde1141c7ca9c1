"""Bounding boxes of masks: where the work is, with the context a filter needs.

Every method, the blemish search, the metrics and the skin mask work only on
the mask's bounding box grown by a halo (the reach of their widest blur): a
face is a small part of a 24 MP frame. Boxes are (y0, y1, x0, x1), half-open.
"""

from __future__ import annotations

import cv2
import numpy as np


def mask_bbox(mask: np.ndarray | None, shape) -> tuple[int, int, int, int] | None:
    """(y0, y1, x0, x1) of the non-zero mask, the whole image for ``None``,
    or ``None`` when the mask is empty."""
    h, w = shape[:2]
    if mask is None:
        return 0, h, 0, w
    nz = mask if mask.dtype == np.uint8 else (mask > 0).view(np.uint8)
    x, y, bw, bh = cv2.boundingRect(np.ascontiguousarray(nz))
    if bw == 0 or bh == 0:
        return None
    return y, y + bh, x, x + bw


def grow_box(box: tuple[int, int, int, int], halo: int, shape) -> tuple[int, int, int, int]:
    """``box`` (y0, y1, x0, x1) grown by ``halo`` px on every side, clipped to ``shape``."""
    h, w = shape[:2]
    y0, y1, x0, x1 = box
    return max(0, y0 - halo), min(h, y1 + halo), max(0, x0 - halo), min(w, x1 + halo)


def mask_work_box(mask: np.ndarray | None, shape, halo: int) -> tuple[int, int, int, int] | None:
    """The mask's bounding box grown by ``halo`` and clipped, or None for an empty mask."""
    box = mask_bbox(mask, shape)
    return None if box is None else grow_box(box, halo, shape)


def components(where: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """``cv2.connectedComponentsWithStats(where)`` (uint8, 8-connected) without
    its centroids: the count, the labels and each component's box and area, the
    background's (label 0) as the whole grid. The stats are counted at the set
    cells only: OpenCV's visit every cell, four times the labelling's cost on
    the sparse grids of spots."""
    n, labels = cv2.connectedComponents(where)
    stats = np.zeros((n, 5), np.int32)
    h, w = where.shape
    stats[0] = (0, 0, w, h, 0)
    points = cv2.findNonZero(where)
    if points is None:
        stats[0, cv2.CC_STAT_AREA] = h * w
        return n, labels, stats
    xs, ys = points.reshape(-1, 2).T
    label = labels[ys, xs]
    area = np.bincount(label, minlength=n)
    stats[0, cv2.CC_STAT_AREA] = h * w - len(label)
    stats[1:, cv2.CC_STAT_AREA] = area[1:]
    left, top = np.full(n, w, np.int32), np.full(n, h, np.int32)
    right, bottom = np.zeros(n, np.int32), np.zeros(n, np.int32)
    np.minimum.at(left, label, xs)
    np.maximum.at(right, label, xs)
    np.minimum.at(top, label, ys)
    np.maximum.at(bottom, label, ys)
    stats[1:, cv2.CC_STAT_LEFT], stats[1:, cv2.CC_STAT_TOP] = left[1:], top[1:]
    stats[1:, cv2.CC_STAT_WIDTH] = right[1:] - left[1:] + 1
    stats[1:, cv2.CC_STAT_HEIGHT] = bottom[1:] - top[1:] + 1
    return n, labels, stats

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

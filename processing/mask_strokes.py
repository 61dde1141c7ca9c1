"""Hand edits of the skin mask: brush strokes replayed onto the full-resolution mask.

The mask editor shows the photo on a canvas of a few hundred pixels while the
mask lives at the photo's full resolution. Each stroke is mapped onto the
full-resolution grid and painted in order: an "add" stroke sets the mask to 1
under the brush, an "erase" stroke sets it to 0. The automatic mask itself is
never changed, so undo (drop the last stroke) and reset (drop all) are exact.
Reading the strokes out of the web canvas is the web app's business
(:mod:`webapp.canvas`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Stroke:
    """One brush stroke in canvas pixels.

    Attributes
    ----------
    mode : {'add', 'erase'}
        What the stroke does to the mask.
    width : float
        Brush diameter in canvas pixels.
    points : ndarray, float32, shape (N, 2)
        The stroke's centre line, (x, y) in canvas pixels, N >= 1.
    """

    mode: str
    width: float
    points: np.ndarray


def apply_strokes(mask: np.ndarray, strokes, canvas_size: tuple[int, int]) -> np.ndarray:
    """Paint canvas strokes onto a full-resolution mask, in order.

    Parameters
    ----------
    mask : ndarray, float32, shape (H, W)
        The mask to start from (the automatic proposal), values in [0, 1].
        It is not modified.
    strokes : iterable of Stroke
        In canvas pixels: 'add' sets the mask to 1 under the brush, 'erase' to 0.
    canvas_size : (width, height)
        Size of the canvas the strokes were drawn on; it covers the whole image,
        so canvas (x, y) maps to (x * W / width, y * H / height).

    Returns
    -------
    ndarray, float32, shape (H, W)
        A new mask; a copy of ``mask`` when there are no strokes.
    """
    out = np.array(mask, dtype=np.float32, copy=True)
    h, w = out.shape[:2]
    cw, ch = canvas_size
    if cw <= 0 or ch <= 0:
        raise ValueError(f"canvas size must be positive, got {canvas_size}")
    sx, sy = w / float(cw), h / float(ch)
    shift = 4  # sub-pixel precision bits for cv2 drawing
    for stroke in strokes:
        pts = np.asarray(stroke.points, np.float64).reshape(-1, 2) * (sx, sy)
        # Canvas pixel centres sit at +0.5: map edges onto edges.
        thickness = max(1, int(round(stroke.width * (sx + sy) / 2)))
        radius = thickness / 2.0
        x0 = int(max(0, np.floor(pts[:, 0].min() - radius - 2)))
        y0 = int(max(0, np.floor(pts[:, 1].min() - radius - 2)))
        x1 = int(min(w, np.ceil(pts[:, 0].max() + radius + 2)))
        y1 = int(min(h, np.ceil(pts[:, 1].max() + radius + 2)))
        if x1 <= x0 or y1 <= y0:
            continue
        layer = np.zeros((y1 - y0, x1 - x0), np.uint8)
        local = np.round((pts - (x0, y0) - 0.5) * (1 << shift)).astype(np.int32)
        if len(local) == 1:
            cv2.circle(layer, tuple(int(v) for v in local[0]), int(round(radius * (1 << shift))),
                       255, -1, cv2.LINE_8, shift)
        else:
            cv2.polylines(layer, [local.reshape(-1, 1, 2)], False, 255, thickness, cv2.LINE_8, shift)
            # Round caps at both ends, like the brush.
            for end in (local[0], local[-1]):
                cv2.circle(layer, tuple(int(v) for v in end), int(round(radius * (1 << shift))),
                           255, -1, cv2.LINE_8, shift)
        view = out[y0:y1, x0:x1]
        view[layer > 0] = 1.0 if stroke.mode == "add" else 0.0
    return out

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

from processing.boxes import mask_bbox


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


def paint_strokes(mask: np.ndarray, strokes, canvas_size: tuple[int, int]) -> np.ndarray:
    """:func:`apply_strokes`, pixel for pixel, without
    touching the frame outside the mask and the strokes.

    The result is a fresh zero frame (its untouched pages cost no memory) with
    the mask's box copied in and the strokes painted in their own box: a
    144 MP mask with a face and a few strokes holds only those boxes.

    Returns
    -------
    ndarray float32 (H, W): ``mask`` itself when there are no strokes.
    """
    strokes = list(strokes)
    if not strokes:
        return mask
    h, w = mask.shape[:2]
    cw, ch = canvas_size
    if cw <= 0 or ch <= 0:
        raise ValueError(f"canvas size must be positive, got {canvas_size}")
    sx, sy = w / float(cw), h / float(ch)
    # The strokes in full-size pixels, computed as apply_strokes does, and their box.
    full = []
    y0, y1, x0, x1 = h, 0, w, 0
    for s in strokes:
        pts = np.asarray(s.points, np.float64).reshape(-1, 2) * (sx, sy)
        width = s.width * (sx + sy) / 2
        radius = max(1, int(round(width))) / 2.0
        full.append((s.mode, width, pts))
        x0 = min(x0, int(max(0, np.floor(pts[:, 0].min() - radius - 2))))
        y0 = min(y0, int(max(0, np.floor(pts[:, 1].min() - radius - 2))))
        x1 = max(x1, int(min(w, np.ceil(pts[:, 0].max() + radius + 2))))
        y1 = max(y1, int(min(h, np.ceil(pts[:, 1].max() + radius + 2))))
    out = np.zeros((h, w), np.float32)
    box = mask_bbox(mask, mask.shape)
    if box is not None:
        my0, my1, mx0, mx1 = box
        out[my0:my1, mx0:mx1] = mask[my0:my1, mx0:mx1]
    if x1 > x0 and y1 > y0:
        # On the strokes' box with a canvas of its size in pixels, apply_strokes
        # scales by exactly 1: the same arithmetic as on the whole frame.
        local = [Stroke(mode, width, pts - (x0, y0)) for mode, width, pts in full]
        out[y0:y1, x0:x1] = apply_strokes(out[y0:y1, x0:x1], local, (x1 - x0, y1 - y0))
    return out

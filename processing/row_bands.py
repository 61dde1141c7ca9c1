"""Run a per-pixel restoration kernel over an image in bands of rows.

Why bands: a 24 MP RGB image is 290 MB as float32. Converting, blurring and
blending it whole is memory-bound and slow; doing the same work on bands of a
few hundred rows keeps every temporary in cache, lets two cores share the work
(OpenCV and numpy release the GIL), and skips everything outside the mask's
bounding box. A band is read with a halo as wide as the widest blur kernel, so
the result equals a whole-image computation exactly.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence

import numpy as np

from processing.boxes import mask_bbox
from processing.dtypes import from_float, mask_to_float, to_float
from processing.filters import luminance
from processing.luminosity import luminosity_weight

Kernel = Callable[[np.ndarray, np.ndarray, Sequence[np.ndarray], tuple[int, int, int, int], tuple[int, int]],
                  np.ndarray]

_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1)),
                                   thread_name_prefix="retexture-band")
    return _POOL


def run_kernel(ai: np.ndarray, mask: np.ndarray | None, sources: Sequence[np.ndarray],
               kernel: Kernel, halo: int, shadows: float = 0.0, highlights: float = 1.0,
               band_rows: int = 256) -> np.ndarray:
    """Apply ``kernel`` band by band inside the mask's bounding box.

    Parameters
    ----------
    ai : ndarray
        The base image (H, W) or (H, W, C), uint8, uint16 or float32 in [0, 1].
    mask : ndarray (H, W) or None
        Skin mask, float in [0, 1] or uint8/uint16 scaled to full range; None = everywhere.
    sources : sequence of ndarray
        Other images the kernel reads (the original), same shape as ``ai``.
    kernel : callable
        ``kernel(a, m, srcs, window, origin) -> R`` on float32 bands, where ``a`` and
        each of ``srcs`` carry ``halo`` extra pixels on every side (fewer at the
        image border), ``m`` is the effective mask of the inner window only, and
        ``window`` = (top, bottom, left, right) offsets of the inner window inside
        the haloed band. ``R`` is the result for the inner window.
    halo : int
        Pixels of context the kernel needs (4 sigma of its widest blur).
    shadows, highlights : float in [0, 1]
        Luminosity protection thresholds (0 and 1 = off), on the AI image.

    Returns
    -------
    ndarray, same shape and dtype as ``ai``. Where the mask is 0 it equals
    ``ai`` bit for bit.
    """
    for s in sources:
        if s.shape != ai.shape:
            raise ValueError(f"image sizes differ: {s.shape[1]}x{s.shape[0]} and {ai.shape[1]}x{ai.shape[0]}")
    if mask is not None and mask.shape != ai.shape[:2]:
        raise ValueError(f"the mask is {mask.shape[1]}x{mask.shape[0]} but the image is {ai.shape[1]}x{ai.shape[0]}")
    out = ai.copy()
    box = mask_bbox(mask, ai.shape)
    if box is None:
        return out
    y0, y1, x0, x1 = box
    h, w = ai.shape[:2]
    band_rows = max(band_rows, 8 * halo)
    hx0, hx1 = max(0, x0 - halo), min(w, x1 + halo)

    def one_band(by0: int) -> None:
        by1 = min(y1, by0 + band_rows)
        hy0, hy1 = max(0, by0 - halo), min(h, by1 + halo)
        window = (by0 - hy0, by1 - hy0, x0 - hx0, x1 - hx0)
        a = to_float(ai[hy0:hy1, hx0:hx1])
        srcs = [to_float(s[hy0:hy1, hx0:hx1]) for s in sources]
        m = np.ones((by1 - by0, x1 - x0), np.float32) if mask is None else mask_to_float(mask[by0:by1, x0:x1])
        a_in = a[window[0]:window[1], window[2]:window[3]]
        if shadows > 0 or highlights < 1:
            m = m * luminosity_weight(luminance(a_in), shadows, highlights)
        r = kernel(a, m, srcs, window, (hy0, hx0))
        out[by0:by1, x0:x1] = from_float(r, ai.dtype)

    list(_pool().map(one_band, range(y0, y1, band_rows)))
    return out


def inner(x: np.ndarray, window: tuple[int, int, int, int]) -> np.ndarray:
    """The inner window of a haloed band."""
    return x[window[0]:window[1], window[2]:window[3]]

"""Detail transfer: the core that graft, frequency separation and match share.

``R = A + m (LinearLight(A, 0.5 + s D / 2) - A)`` with the original's detail
``D = O - G_sigma(O)`` (minus the AI image's own ``A - G_sigma(A)`` when the
bands are swapped rather than stacked). Linear Light adds twice the layer's
distance from mid-gray, so the detail is stored at half amplitude: strength
1.0 puts back exactly the original's amount, as Photoshop's Apply Image with
Scale 2 does. See docs/METHODS.md.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from processing.blend import apply_masked, linear_light
from processing.boxes import grow_box, mask_bbox
from processing.dtypes import mask_to_float, to_float
from processing.filters import gaussian_blur, low_pass, luminance
from processing.luminosity import luminosity_weight
from processing.row_bands import inner, run_kernel


def halo_for(sigma: float) -> int:
    """Context in pixels a Gaussian of ``sigma`` px needs (its 4-sigma truncation)."""
    return int(math.ceil(4.0 * sigma)) + 1


def detail_layer(detail: np.ndarray, strength: float) -> np.ndarray:
    """A Linear Light layer that adds ``strength * detail`` (detail at half amplitude)."""
    return np.float32(0.5) + np.float32(strength / 2.0) * detail


def add_detail(original: np.ndarray, ai: np.ndarray, mask: np.ndarray | None, sigma: float,
               strength: float, replace: bool = False, shadows: float = 0.0,
               highlights: float = 1.0, exact: bool = True) -> np.ndarray:
    """Put the original's detail finer than ``sigma`` onto the AI image.

    Parameters
    ----------
    original, ai : ndarray, same shape
        (H, W) or (H, W, C); uint8, uint16 or float32 in [0, 1].
    mask : ndarray (H, W) or None
        Where, in [0, 1] (or uint8/uint16 at full range); None = everywhere.
    sigma : float
        Split between tone and detail, px.
    strength : float
        Fraction of the original's detail (1.0 = as in the original).
    replace : bool
        Swap the AI image's own detail for the original's instead of adding on top.
    shadows, highlights : float
        Luminosity protection thresholds as fractions of white (0 and 1 = off).
    exact : bool
        False lets a wide blur (sigma >= 6 px) run on a reduced copy
        (:func:`processing.filters.low_pass`): match mode's wide swap, where the
        low band is smooth and speed on 24 MP files matters more than the last level.

    Returns
    -------
    ndarray like ``ai``; equal to ``ai`` bit for bit where the mask is 0.
    """
    if ai.dtype == np.uint8 and original.dtype == np.uint8:
        return _add_detail_uint8(original, ai, mask, sigma, strength, replace, shadows, highlights, exact)
    return run_kernel(ai, mask, [original], detail_kernel(sigma, strength, replace),
                      halo_for(sigma), shadows, highlights)


def _add_detail_uint8(original, ai, mask, sigma, strength, replace, shadows, highlights, exact=True):
    """8-bit fast path: OpenCV's fixed-point blur and saturating integer
    arithmetic, within 1 LSB of the float path at a fraction of its cost."""
    out = ai.copy()
    box = mask_bbox(mask, ai.shape)
    if box is None:
        return out
    y0, y1, x0, x1 = box
    hy0, hy1, hx0, hx1 = grow_box(box, halo_for(sigma), ai.shape)
    win = (slice(y0 - hy0, y1 - hy0), slice(x0 - hx0, x1 - hx0))
    ksize = 2 * int(np.ceil(4.0 * sigma)) + 1

    def detail(x, approximate: bool):
        if approximate and sigma >= 6:
            return cv2.subtract(x[win], low_pass(x, sigma)[win], dtype=cv2.CV_32F)
        blurred = cv2.GaussianBlur(x, (ksize, ksize), sigma, borderType=cv2.BORDER_REFLECT_101)
        return cv2.subtract(x[win], blurred[win], dtype=cv2.CV_16S)

    a = ai[y0:y1, x0:x1]
    if replace:
        # (O - G(O)) - (A - G(A)) = (O - A) - G(O - A): one blur instead of two.
        # The difference is small and smooth at that scale, so a wide blur of it
        # on a reduced copy is within a fraction of a level (and int16 has no
        # fixed-point fast path).
        d = detail(cv2.subtract(original[hy0:hy1, hx0:hx1], ai[hy0:hy1, hx0:hx1], dtype=cv2.CV_16S), True)
    else:
        d = detail(original[hy0:hy1, hx0:hx1], not exact)
    # clip(A + s D) is Linear Light of the half-amplitude detail layer.
    blended = cv2.addWeighted(a, 1.0, d, strength, 0.0, dtype=cv2.CV_8U)
    m = np.ones(a.shape[:2], np.float32) if mask is None else mask_to_float(mask[y0:y1, x0:x1])
    if shadows > 0 or highlights < 1:
        m = m * luminosity_weight(luminance(to_float(a)), shadows, highlights)
    # blendLinear computes (A (1 - m) + T m) / 1, rounded: exactly A where m == 0.
    out[y0:y1, x0:x1] = cv2.blendLinear(a, blended, 1.0 - m, m)
    return out


def detail_kernel(sigma: float, strength: float, replace: bool = False):
    """Band kernel (:func:`processing.row_bands.run_kernel`) adding ``strength`` times
    the original's detail finer than ``sigma`` px; with ``replace`` the AI image's
    own detail is taken out first, so the two are swapped rather than stacked."""

    def kernel(a, m, srcs, window, origin):
        o = srcs[0]
        detail = inner(o - gaussian_blur(o, sigma), window)
        a_in = inner(a, window)
        if replace:
            detail = detail - (a_in - inner(gaussian_blur(a, sigma), window))
        return apply_masked(a_in, linear_light(a_in, detail_layer(detail, strength)), m)

    return kernel

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
from processing.boxes import grow_box
from processing.filters import (ENLARGE_PIECE, REC709, LowPassRows, gaussian_blur, largest_channel, luminance_of,
                               reduction_factor)
from processing.luminosity import luminosity_weight
from processing.row_bands import band_height, inner, map_items, run_kernel, weight_box, weight_rows


def halo_for(sigma: float) -> int:
    """Context in pixels a Gaussian of ``sigma`` px needs (its 4-sigma truncation)."""
    return int(math.ceil(4.0 * sigma)) + 1


def detail_layer(detail: np.ndarray, strength: float) -> np.ndarray:
    """A Linear Light layer that adds ``strength * detail`` (detail at half amplitude)."""
    return np.float32(0.5) + np.float32(strength / 2.0) * detail


def add_detail(original: np.ndarray, ai: np.ndarray, mask, sigma: float,
               strength: float, replace: bool = False, shadows: float = 0.0,
               highlights: float = 1.0, exact: bool = True, out: np.ndarray | None = None,
               band_rows: int | None = None, keep_luminance: bool = False) -> np.ndarray:
    """Put the original's detail finer than ``sigma`` onto the AI image.

    Works band by band inside the mask's box: nothing full-frame is made
    besides the result (a 144 MP RGB frame of float32 would be 1.7 GB).

    Parameters
    ----------
    original, ai : ndarray, same shape
        (H, W) or (H, W, C); uint8, uint16 or float32 in [0, 1].
    mask : ndarray (H, W), BandWeight or None
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
    out : ndarray, optional
        Where to write the result: another array (not ``ai``: bands read their
        neighbours' rows) holding ``ai``'s pixels already, since only the mask's
        box is written. Default: a copy of ``ai``.
    band_rows : int, optional
        Rows per band (default: a few MB of pixels); the result does not depend on it.
    keep_luminance : bool
        8-bit RGB: detail a channel cannot take above white goes to the other
        channels (match mode on brightened skin); False clips each channel,
        as Linear Light does.

    Returns
    -------
    ndarray like ``ai`` (``out`` when given); equal to ``ai`` bit for bit where the mask is 0.
    """
    if ai.dtype == np.uint8 and original.dtype == np.uint8:
        return _add_detail_uint8(original, ai, mask, sigma, strength, replace, shadows, highlights, exact,
                                 out, band_rows, keep_luminance)
    return run_kernel(ai, mask, [original], detail_kernel(sigma, strength, replace),
                      halo_for(sigma), shadows, highlights, out=out,
                      **({} if band_rows is None else {"band_rows": band_rows}))


def _add_detail_uint8(original, ai, mask, sigma, strength, replace, shadows, highlights, exact=True,
                      out=None, band_rows=None, keep_luminance=False):
    """8-bit fast path: OpenCV's fixed-point blur and saturating integer
    arithmetic, within 1 LSB of the float path at a fraction of its cost.

    Band by band: each band reads the rows its blur reaches (the haloed box's
    own edges are reflected as in a whole-box blur), so the result does not
    depend on the band height.
    """
    out = ai.copy() if out is None else out
    box = weight_box(mask, ai.shape)
    if box is None:
        return out
    y0, y1, x0, x1 = box
    hy0, hy1, hx0, hx1 = grow_box(box, halo_for(sigma), ai.shape)
    if (replace or not exact) and sigma >= 6:
        # The wide blur's reduced grid starts at the haloed box: pin it to the
        # image's grid, so a window (the loupe) gives the whole image's pixels.
        f = reduction_factor(sigma)
        hy0, hx0 = hy0 // f * f, hx0 // f * f
    cols = slice(x0 - hx0, x1 - hx0)
    ksize = 2 * int(np.ceil(4.0 * sigma)) + 1
    reach = ksize // 2  # rows the blur reads on each side

    def source(i0, i1):
        """Rows i0:i1 of what is blurred, counted from the haloed box's top."""
        o = original[hy0 + i0:hy0 + i1, hx0:hx1]
        if replace:
            # (O - G(O)) - (A - G(A)) = (O - A) - G(O - A): one blur instead of two.
            # The difference is small and smooth at that scale, so a wide blur of it
            # on a reduced copy is within a fraction of a level (and int16 has no
            # fixed-point fast path).
            return cv2.subtract(o, ai[hy0 + i0:hy0 + i1, hx0:hx1], dtype=cv2.CV_16S)
        return o

    approximate = replace or not exact
    wide = LowPassRows(source, (hy1 - hy0, hx1 - hx0), sigma) if approximate and sigma >= 6 else None
    if band_rows is None:
        band_rows = band_height(x1 - x0, at_least=2 * reach if wide is None else 16)
    starts = list(range(y0, y1, band_rows))
    if wide is not None and wide.f > 1:
        # Bands of whole pieces of the wide blur's enlargement (which enlarges a
        # piece whole, whichever rows a band wants of it): none is enlarged twice.
        unit = ENLARGE_PIECE * wide.f
        band_rows = max(1, round(band_rows / unit)) * unit
        starts = [y0] + list(range(hy0 + ((y0 - hy0) // unit + 1) * unit, y1, band_rows))
    bands = list(zip(starts, starts[1:] + [y1]))

    def detail(i0: int, i1: int) -> np.ndarray:
        """The detail layer ``X - G(X)`` of :func:`source` (X) on rows ``i0:i1``, over the box's columns."""
        if wide is not None:
            return cv2.subtract(source(i0, i1)[:, cols], wide.rows(i0, i1)[:, cols], dtype=cv2.CV_32F)
        j0, j1 = max(0, i0 - reach), min(hy1 - hy0, i1 + reach)
        x = source(j0, j1)
        blurred = cv2.GaussianBlur(x, (ksize, ksize), sigma, borderType=cv2.BORDER_REFLECT_101)
        return cv2.subtract(x[i0 - j0:i1 - j0, cols], blurred[i0 - j0:i1 - j0, cols], dtype=cv2.CV_16S)

    def one_band(rows: tuple[int, int]) -> None:
        by0, by1 = rows
        i0, i1 = by0 - hy0, by1 - hy0
        a = ai[by0:by1, x0:x1]
        colour = keep_luminance and a.ndim == 3 and a.shape[2] == 3
        depth = cv2.CV_16S if colour else cv2.CV_8U
        if wide is not None and replace and strength == 1.0:
            # A + (O - A) - G(O - A) = O - G(O - A): one pass, without reading
            # A or O - A here (within rounding of the sum).
            blended = cv2.subtract(original[by0:by1, x0:x1], wide.rows(i0, i1)[:, cols], dtype=depth)
        else:
            # clip(A + s D) is Linear Light of the half-amplitude detail layer.
            blended = cv2.addWeighted(a, 1.0, detail(i0, i1), strength, 0.0, dtype=depth)
        if colour:
            blended = _clip_keeping_luminance(blended)
        m = weight_rows(mask, by0, by1, x0, x1)
        if shadows > 0 or highlights < 1:
            m = m * luminosity_weight(luminance_of(a), shadows, highlights)
        # blendLinear computes (A (1 - m) + T m) / 1, rounded: exactly A where m == 0.
        out[by0:by1, x0:x1] = cv2.blendLinear(a, blended, 1.0 - m, m)

    map_items(one_band, bands)
    return out


def _clip_keeping_luminance(t: np.ndarray) -> np.ndarray:
    """RGB values (int16, 8-bit scale) clipped to 0-255, the luminance a channel
    loses above white handed to the channels that have room.

    A channel the AI's brightening pushed to white (the red of bright, warm
    skin) cannot carry texture; its share of the detail's luminance goes to
    the others, so the pores stay as visible as in the original. Only what
    goes over white by half a level of luminance or more is moved, and no
    channel moves by more than the largest overshoot (rounding is not texture).
    """
    clipped = cv2.addWeighted(t, 1.0, t, 0.0, 0.0, dtype=cv2.CV_8U)  # saturated to 0-255 in one pass
    h, w = t.shape[:2]
    flat = t.reshape(h * w, 3)
    # Only pixels with a channel over white change; usually a small part of a band.
    over_white = cv2.compare(t.reshape(h, w * 3), 255, cv2.CMP_GT).reshape(h, w, 3)
    # Any channel at 255 makes the (8-bit, fixed-point) gray of the 0/255 flags
    # non-zero: its smallest weight is 0.114 x 255.
    found = cv2.findNonZero(cv2.cvtColor(over_white, cv2.COLOR_RGB2GRAY))
    if found is None:
        return clipped
    found = found.reshape(-1, 2).astype(np.intp)  # (x, y), in raster order
    pixels = found[:, 1] * w + found[:, 0]
    x = flat[pixels].astype(np.float32)
    over = np.maximum(x - 255.0, 0.0)
    kept = np.clip(x, 0.0, 255.0)
    lost = over @ REC709[:, None]  # luminance lost above white
    room = (kept < 255).astype(np.float32)
    share = room @ REC709[:, None]
    move = np.minimum(lost / np.maximum(share, 1e-3), largest_channel(over)[:, None])
    moved = kept + room * np.where(lost >= 0.5, move, 0.0)
    clipped.reshape(h * w, 3)[pixels] = np.clip(moved + 0.5, 0, 255).astype(np.uint8)
    return clipped


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

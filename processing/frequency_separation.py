"""Method 3: hybrid frequency separation (tone from the AI image, texture from the original)."""

from __future__ import annotations

import numpy as np

from processing.detail_transfer import add_detail


def frequency_separation(original: np.ndarray, ai: np.ndarray, mask: np.ndarray | None,
                         blur: float = 6.0, strength: float = 1.0, replace: bool = False,
                         shadows: float = 0.0, highlights: float = 1.0) -> np.ndarray:
    """Rebuild skin from the AI image's low band and the original's high band.

    - add (the classic workflow): ``R = A + s (O - G_b(O))``. Where the AI
      kept some texture, both are stacked.
    - ``replace`` (a true swap): ``R = A + s ((O - G_b(O)) - (A - G_b(A)))``,
      which at strength 1 is ``G_b(A) + O - G_b(O)``.

    Both go through Linear Light with the detail stored at half amplitude, so
    nothing is lost to 8-bit rounding and strength 1 never doubles the detail;
    the result is masked as ``A + m (blend - A)``.

    Parameters
    ----------
    original, ai : ndarray
        Same shape; uint8, uint16 or float32 in [0, 1].
    mask : ndarray (H, W) or None
    blur : float
        Low-pass sigma, px.
    strength : float
        Fraction of the original's high band (1.0 = as in the original).
    replace : bool
        Swap the bands instead of adding.
    shadows, highlights : float
        Luminosity protection, fractions of white (0 and 1 = off).

    Returns
    -------
    ndarray like ``ai``; equal to ``ai`` bit for bit where ``mask == 0``.
    """
    return add_detail(original, ai, mask, blur, strength, replace, shadows, highlights)

"""Method 3: hybrid frequency separation (tone from the AI image, texture from the original)."""

from __future__ import annotations

import numpy as np

from processing.graft import add_detail, with_blemish_protection
from processing.settings import FreqSepSettings


def frequency_separation(original: np.ndarray, ai: np.ndarray, mask: np.ndarray | None,
                         settings: FreqSepSettings = FreqSepSettings()) -> np.ndarray:
    """Rebuild skin from the AI image's low band and the original's high band.

    - ``add`` (the classic workflow): ``R = A + s (O - G_b(O))``. Where the AI
      kept some texture, both are stacked.
    - ``replace`` (a true swap): ``R = A + s ((O - G_b(O)) - (A - G_b(A)))``,
      which at 100 % is ``G_b(A) + O - G_b(O)``.

    Both go through Linear Light with the detail stored at half amplitude, so
    nothing is lost to 8-bit rounding and 100 % never doubles the detail; the
    result is masked as ``A + m (blend - A)``.

    Parameters
    ----------
    original, ai : ndarray
        Same shape; uint8, uint16 or float32 in [0, 1].
    mask : ndarray (H, W) or None
    settings : FreqSepSettings
        ``blur`` (low-pass sigma, px), ``mode``, ``strength`` (%).

    Returns
    -------
    ndarray like ``ai``; equal to ``ai`` bit for bit where ``mask == 0``.
    """
    mask = with_blemish_protection(original, ai, mask, settings.blemish, settings.blur)
    return add_detail(original, ai, mask, settings.blur, settings.strength / 100.0,
                      settings.mode == "replace", settings.shadows / 100.0, settings.highlights / 100.0)

"""Method 2: graft the original's high-pass detail onto the AI image."""

from __future__ import annotations

import numpy as np

from processing.detail_transfer import add_detail


def high_pass_graft(original: np.ndarray, ai: np.ndarray, mask: np.ndarray | None,
                    radius: float = 2.0, strength: float = 1.0, shadows: float = 0.0,
                    highlights: float = 1.0) -> np.ndarray:
    """Put the original's fine detail (pores) back onto the AI-retouched image.

    ``R = A + m (LinearLight(A, 0.5 + s (O - G_r(O)) / 2) - A)``, which is
    ``A + m s (O - G_r(O))`` wherever nothing clips.

    Parameters
    ----------
    original, ai : ndarray
        Same shape, (H, W) or (H, W, C); uint8, uint16 or float32 in [0, 1].
    mask : ndarray (H, W) or None
        Skin mask in [0, 1] (or uint8 0-255); None applies everywhere.
    radius : float
        High Pass radius, px (1.5-3 px: pores).
    strength : float
        Fraction of the original's detail (1.0 = as in the original).
    shadows, highlights : float
        Luminosity protection, fractions of white (0 and 1 = off).

    Returns
    -------
    ndarray like ``ai``; equal to ``ai`` bit for bit where ``mask == 0``.
    """
    return add_detail(original, ai, mask, radius, strength, False, shadows, highlights)

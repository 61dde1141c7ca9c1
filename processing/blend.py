"""Photoshop blend modes on float images in [0, 1] (any bit depth once scaled).

``a`` is the lower layer (the base), ``b`` the upper layer, as in docs/METHODS.md.
"""

from __future__ import annotations

import numpy as np


def overlay(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Overlay: ``2ab`` where ``a < 0.5``, else ``1 - 2(1-a)(1-b)``.

    The condition is on the lower layer, so a grain layer is strongest in the
    midtones and vanishes at pure black and white.
    """
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    return np.where(a < 0.5, 2 * a * b, 1 - 2 * (1 - a) * (1 - b))


def linear_light(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Linear Light: ``a + 2b - 1`` clipped to [0, 1].

    A High Pass layer ``X - G + 0.5`` in Linear Light adds *twice* the detail
    ``X - G``: that is why strength 100 % in Retexture is Photoshop's 50 %.
    """
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    return np.clip(a + 2 * b - 1, 0.0, 1.0)


def apply_masked(base: np.ndarray, blended: np.ndarray, mask: np.ndarray | float,
                 opacity: float = 1.0) -> np.ndarray:
    """``R = A + m * opacity * (blend - A)``: where ``m == 0`` the result is ``A``.

    Parameters
    ----------
    base, blended : ndarray, float32, (H, W) or (H, W, C)
    mask : ndarray (H, W) in [0, 1], or a scalar
    opacity : float in [0, 1]
    """
    base = np.asarray(base, dtype=np.float32)
    w = np.asarray(mask, dtype=np.float32) * np.float32(opacity)
    if w.ndim == 2 and base.ndim == 3:
        w = w[..., None]
    return base + w * (np.asarray(blended, dtype=np.float32) - base)

"""Luminosity protection: keep added texture out of deep shadows and highlights."""

from __future__ import annotations

import numpy as np


def smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    """Hermite ramp from 0 at ``edge0`` to 1 at ``edge1`` (either order)."""
    x = np.asarray(x, dtype=np.float32)
    t = np.subtract(x, np.float32(edge0), out=np.empty_like(x))
    t /= np.float32(edge1 - edge0)
    np.clip(t, 0.0, 1.0, out=t)
    # t * t * (3 - 2 t), in two buffers (weights of a large frame's grid).
    ramp = np.multiply(t, np.float32(-2.0))
    ramp += np.float32(3.0)
    t *= t
    t *= ramp
    return t if t.ndim else t[()]


def luminosity_weight(y: np.ndarray, shadows: float = 0.0, highlights: float = 1.0) -> np.ndarray | None:
    """Weight in [0, 1] that fades texture out towards black and white.

    Parameters
    ----------
    y : ndarray, float32 (H, W)
        Luminance of the base image in [0, 1].
    shadows : float
        Texture ramps in smoothly from 0 at black to full at this luminance;
        0 switches shadow protection off.
    highlights : float
        Texture ramps out smoothly from full at this luminance to 0 at white;
        1 switches highlight protection off.

    Returns
    -------
    ndarray float32 (H, W), or None when both protections are off (weight 1).
    """
    w = None
    if shadows > 0:
        w = smoothstep(0.0, shadows, y)
    if highlights < 1:
        h = smoothstep(1.0, highlights, y)
        w = h if w is None else w * h
    return w

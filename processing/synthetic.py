"""Method 1: synthetic skin grain in Overlay (no original needed)."""

from __future__ import annotations

import cv2
import numpy as np

from processing.filters import gaussian_blur
from processing.detail_transfer import halo_for
from processing.row_bands import inner, run_kernel

# Noise is drawn in fixed blocks, each from its own stream keyed by (seed, block
# row, block column), so the grain at a pixel depends only on the seed: never on
# the mask, the band size or the thread that drew it. Only the blocks a band
# touches are drawn.
NOISE_BLOCK = (64, 256)


def noise_region(seed: int, y0: int, y1: int, x0: int, x1: int, channels: int) -> np.ndarray:
    """Uniform noise in [-1, 1) for image rows ``y0:y1`` and columns ``x0:x1``,
    float32 (rows, columns, channels)."""
    bh, bw = NOISE_BLOCK
    r0, r1 = y0 // bh, (y1 - 1) // bh + 1
    c0, c1 = x0 // bw, (x1 - 1) // bw + 1
    rows = [np.concatenate([np.random.Generator(np.random.PCG64([seed, r, c])).random(
        (bh, bw, channels), dtype=np.float32) for c in range(c0, c1)], axis=1) for r in range(r0, r1)]
    block = np.concatenate(rows, axis=0)
    out = block[y0 - r0 * bh:y1 - r0 * bh, x0 - c0 * bw:x1 - c0 * bw]
    return out * np.float32(2.0) - np.float32(1.0)


def grain_gain(grain_size: float) -> float:
    """Factor that brings blurred white noise back to its unblurred standard deviation.

    A 2-D Gaussian of sigma ``s`` divides the std of white noise by
    ``sqrt(sum k^2)`` of its (separable) kernel; undoing that keeps ``amount``
    meaning the same visible strength at every grain size.
    """
    if grain_size <= 0:
        return 1.0
    k = cv2.getGaussianKernel(2 * int(np.ceil(4.0 * grain_size)) + 1, grain_size).ravel()
    return float(1.0 / np.sum(k * k))


def synthetic_texture(ai: np.ndarray, mask: np.ndarray | None, amount: float = 0.03,
                      grain_size: float = 0.5, monochrome: bool = True, seed: int = 0,
                      opacity: float = 1.0, shadows: float = 0.0, highlights: float = 1.0) -> np.ndarray:
    """Add organic grain to the AI image where the mask is on.

    Layer ``0.5 + n``: uniform noise of ``amount`` of full scale (std
    ``amount / sqrt(3)``), blurred by ``grain_size`` px and rescaled to keep that
    std, one value for all channels when ``monochrome``; blended Overlay over the
    AI image (strongest in midtones, none at pure black or white) and mixed in
    at ``opacity`` through the mask.

    Parameters
    ----------
    ai : ndarray (H, W) or (H, W, C); uint8, uint16 or float32 in [0, 1]
    mask : ndarray (H, W) or None
    amount : float
        Grain strength, fraction of full scale (0.03 = 3 %).
    grain_size : float
        Blur of the grain, px.
    monochrome : bool
        One grain value for all channels.
    seed : int
        Same seed, same grain.
    opacity : float
        Fraction of the Overlay result mixed in.
    shadows, highlights : float
        Luminosity protection, fractions of white (0 and 1 = off).

    Returns
    -------
    ndarray like ``ai``; equal to ``ai`` bit for bit where ``mask == 0``.
    """
    channels = 1 if (monochrome or ai.ndim == 2) else ai.shape[2]
    amp = np.float32(amount * grain_gain(grain_size))
    halo = halo_for(grain_size)

    def kernel(a, m, srcs, window, origin):
        y_top, x_left = origin
        n = noise_region(seed, y_top, y_top + a.shape[0], x_left, x_left + a.shape[1], channels)
        n = inner(gaussian_blur(n, grain_size), window)
        a_in = inner(a, window)
        # Overlay(a, 0.5 + n) is exactly a + 2 n min(a, 1 - a): one pass instead
        # of both branches of the textbook formula (tests check it against overlay()).
        gain = (m * np.float32(2.0 * opacity) * amp)
        if a_in.ndim == 3:
            gain = gain[..., None]
            if n.ndim == 2:
                n = n[..., None]
        return a_in + gain * n * np.minimum(a_in, np.float32(1.0) - a_in)
    return run_kernel(ai, mask, [], kernel, halo, shadows, highlights)

"""A direct estimate of a global shift, to check a small move the flow proposes.

On a same-size pair whose AI side was smoothed hard at about the scale of the
reduced copies (a 24 MP frame smoothed on a 1500 px copy and enlarged back),
the similarity fitted to DIS flow reads 0.3-0.8 px of global motion where
there is none: the flow follows what the smoothing did to edges. A direct
least-squares fit of the two images does not, because a smoother that does
not move the picture is symmetric about every pixel: on those pairs it reads
0.07-0.17 px, and 0.33, 0.41 and 0.65 px for real shifts of 0.35, 0.4 and 0.6 px
(docs/METHODS.md section 12).

The fit is Lucas-Kanade's: ``ai(p) ~ c * original(p + t)`` on a band of both
copies (differences of Gaussians of 1 and 4 px, so a change of tone or of the
finest texture does not count), solved by Gauss-Newton from ``t = 0`` for the
shift ``t`` and the contrast ``c``.
"""

from __future__ import annotations

import cv2
import numpy as np

from processing.align.geometry import warp_linear
from processing.filters import gaussian_blur, gradient

__all__ = ["BAND_PX", "direct_shift"]

#: The band the shift is fitted on: Gaussians of these sigmas (px of the copies) subtracted.
BAND_PX = (1.0, 4.0)
#: Gauss-Newton steps: the shifts checked are below 2 px of the copies, and
#: each step from zero takes the estimate within a few hundredths of one.
STEPS = 3


def _band(image: np.ndarray) -> np.ndarray:
    fine, wide = BAND_PX
    return gaussian_blur(image, fine) - gaussian_blur(image, wide)


def direct_shift(ai: np.ndarray, original: np.ndarray) -> np.ndarray:
    """The shift ``t`` (px) with ``ai(p) ~ c * original(p + t)`` over the whole frame.

    The squares are weighted by a Hann window: the fit of a smoothed copy to
    its original is unbiased only where nothing crosses the edge of the region
    fitted (on a 384 px photo blurred by 6 px, 0.03 px with the window against
    0.05-0.08 px with a hard edge).

    Parameters
    ----------
    ai, original : ndarray, float32, shape (h, w)
        Luminance copies of the same size (the alignment's reduced copies).

    Returns
    -------
    ndarray, float64, shape (2,)
        ``(tx, ty)`` in px of the copies.
    """
    a, o = _band(ai), _band(original)
    h, w = a.shape
    weight = cv2.createHanningWindow((w, h), cv2.CV_32F).ravel().astype(np.float64)
    target = a.ravel().astype(np.float64)
    t = np.zeros(2)
    for _ in range(STEPS):
        moved = warp_linear(o, np.array([[1, 0, t[0]], [0, 1, t[1]], [0, 0, 1]]), (w, h), cv2.BORDER_REFLECT)
        gy, gx = gradient(moved)
        values = moved.ravel().astype(np.float64)
        energy = (weight * values) @ values
        if energy <= 0:
            break  # nothing to match: no shift can be read
        c = (weight * target) @ values / energy
        jacobian = c * np.stack([gx.ravel(), gy.ravel()], 1).astype(np.float64)
        weighted = jacobian * weight[:, None]
        normal = weighted.T @ jacobian
        if np.linalg.cond(normal) > 1e8:
            break  # stripes or a flat frame: the shift along them is not defined
        t += np.linalg.solve(normal, weighted.T @ (target - c * values))
    return t

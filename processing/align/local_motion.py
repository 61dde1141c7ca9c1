"""Local motion (liquify) between the AI image and the original, measured on one window.

Smoothing, not motion, is what usually separates an AI-retouched image from its
original, and a plain optical flow mistakes the one for the other: on skin the
smoothed side has nothing to match, and a blur moves what a flow sees. So
motion is measured only on what both images share and what smoothing cannot
move:

1. :func:`look_alike` blurs, locally, whichever image is sharper until both
   carry the same gradient energy (a 6 px Gaussian over the whole frame and an
   edge-aware filter that only flattened the skin both end up compared at
   their own level of detail). Energy is measured over a wide window, so a
   real displacement does not change the choice.
2. :func:`consistent_flow` measures DIS flow both ways and keeps the vectors
   whose forward and backward flows agree.
3. :func:`tensor_average` averages those vectors weighted by the image's
   structure tensor: an edge constrains only the motion across it, a corner
   both directions, flat skin nothing. A regularisation pulls the average to
   zero where there is no structure, so flat areas do not invent motion.
4. :func:`moved_seeds` decides whether anything moved, from the strongest
   structure of both images only (eyes, brows, lips, jaw, hair), and keeps
   motion that is larger than the noise floor and than the blur the two
   images needed to look alike, clearly lowers the local mismatch when
   applied, and sits where the images differ at all. Removed blemishes fail
   the mismatch test (moving pixels cannot make a spot disappear); smoothing
   that reshapes the faint shading of skin fails the first two.
5. :func:`motion_field` then measures the field where something moved, in
   three rounds (each from the state the previous one warped to), each fitted
   as one smooth field over the window
   (:func:`~processing.align.smooth_field.fit_smooth_field`), so the motion of
   flat skin between moved features is interpolated from them, not read off
   the flow's noise there.

All fields here are in px of the window they were measured on, with the
convention ``ai(p) ~ original(p + d(p))``.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from processing.align.features import standardize, standardized_to_uint8
from processing.align.geometry import vector_length
from processing.align.smooth_field import NODES_PER_SIDE, fit_smooth_field
from processing.filters import gaussian_blur, gradient
from processing.row_bands import on_own_thread

__all__ = ["BLUR_LEVELS", "FB_MAX_PX", "SEED_MIN_PX", "SEED_BLUR_SHARE", "SEED_MAX_GAIN",
           "SEED_MIN_CONTRAST", "STRONG_SHARE", "FULL_FLOW_SIDE", "pixel_grid", "sample_at", "look_alike", "consistent_flow", "tensor_average", "moved_seeds", "motion_field"]

#: Blurs (window px) tried when making the two images look alike.
BLUR_LEVELS = (0.0, 1.0, 2.0, 3.0, 4.5, 6.5, 9.0)
#: Forward and backward flows must agree to this (window px) for a vector to count.
FB_MAX_PX = 0.5
#: Motion is a candidate only above this (window px): the flow's own noise on
#: smoothed-vs-original pairs reaches 0.2-0.6 px on a few isolated features.
SEED_MIN_PX = 0.3
#: ... and larger than this share of the blur one side needed to look like the
#: other: blurs are matched only approximately, and a filter that reshapes
#: what it smooths (skimage's bilateral on the lips of a small face: 1.2-1.4
#: px after a 1.4 px match) moves a flow by about that much.
SEED_BLUR_SHARE = 1.0
#: ... and only where applying it cuts the local mismatch to this fraction
#: (removed blemishes: 0.7-0.9).
SEED_MAX_GAIN = 0.5
#: ... and where the mismatch without it is this many times the image's median.
SEED_MIN_CONTRAST = 4.0
#: Motion is judged on the strongest structure only: this share of each image's pixels.
STRONG_SHARE = 0.15
#: The field's last round measures flow at full resolution on windows up to
#: this long side (px) and at half resolution beyond (4x faster: 0.3 s less on
#: a 24 MP face, the liquify correlations within 0.01).
FULL_FLOW_SIDE = 640


def _dis(a: np.ndarray, b: np.ndarray, finest: int = 0) -> np.ndarray:
    """Dense flow ``f`` with ``a(p) ~ b(p + f(p))``, float32 (h, w, 2), px.

    ``finest`` 1 measures at half resolution, 2 at a quarter (4x and 16x
    faster): enough to decide whether something moved, averaged over tens
    of px anyway.
    """
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    dis.setFinestScale(finest)
    dis.setPatchSize(8)
    dis.setPatchStride(3)
    dis.setGradientDescentIterations(16)
    dis.setVariationalRefinementIterations(5)
    return dis.calc(standardized_to_uint8(a), standardized_to_uint8(b), None)


def pixel_grid(shape: tuple[int, int]) -> np.ndarray:
    """``(x, y)`` of every pixel, float32 (h, w, 2)."""
    h, w = shape
    xx, yy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return np.dstack([xx, yy])


def sample_at(image: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``image`` at positions ``xy`` (h, w, 2), px."""
    return cv2.remap(image, xy[..., 0], xy[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def _gradient_energy(image: np.ndarray, window: float) -> np.ndarray:
    gy, gx = gradient(image)
    return _wide_blur(gx * gx + gy * gy, window)


def _wide_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur; wide kernels on a reduced copy (only smooth maps are blurred that wide)."""
    if sigma <= 4.0:
        return gaussian_blur(image, sigma)
    h, w = image.shape[:2]
    k = int(sigma // 2)
    small = cv2.resize(image, (max(1, w // k), max(1, h // k)), interpolation=cv2.INTER_AREA)
    small = gaussian_blur(small, sigma / k)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _blur_to(stack: list[np.ndarray], level: np.ndarray) -> np.ndarray:
    """Per pixel, ``stack`` (the first BLUR_LEVELS, one image each) interpolated at blur ``level``.

    ``level`` must not exceed the last blur of ``stack``.
    """
    sig = BLUR_LEVELS
    out = np.array(stack[0], copy=True)
    for k in range(1, len(stack)):
        sel = level > sig[k - 1]
        if not sel.any():
            break  # levels only grow with k
        t = np.clip((level[sel] - sig[k - 1]) / (sig[k] - sig[k - 1]), 0.0, 1.0)
        out[sel] = (1 - t) * stack[k - 1][sel] + t * stack[k][sel]
    return out


class _BlurStack:
    """One image blurred by BLUR_LEVELS, and the gradient energy of each level,
    made only up to the level asked for (most pairs need one or two of the seven)."""

    def __init__(self, image: np.ndarray, window: float):
        h, w = image.shape
        # Energies are wide-window averages: measured on half-size copies (4x
        # cheaper). An odd last row or column is left out: a whole factor is
        # OpenCV's fast path.
        self._half = (max(1, w // 2), max(1, h // 2))
        self._even = ((slice(0, 2 * self._half[1]), slice(0, 2 * self._half[0])) if min(h, w) >= 2
                      else (slice(None), slice(None)))
        self._window = window
        self.images: list[np.ndarray] = []
        self.energies: list[np.ndarray] = []
        self._add(image)

    def _add(self, image: np.ndarray) -> None:
        half = cv2.resize(image[self._even], self._half, interpolation=cv2.INTER_AREA)
        self.images.append(image)
        self.energies.append(np.log(_gradient_energy(half, self._window / 2) + 1e-9))

    def energy(self, k: int) -> np.ndarray:
        """Log gradient energy (on the half-size grid) after the blur BLUR_LEVELS[k]."""
        while len(self.images) <= k:
            self._add(_wide_blur(self.images[0], BLUR_LEVELS[len(self.images)]))
        return self.energies[k]

    def level_to_reach(self, target: np.ndarray) -> np.ndarray:
        """Per pixel of the half-size grid, the blur (px) at which this image's
        energy first falls to ``target``; 0 where it is already no higher."""
        level = np.zeros(target.shape, np.float32)
        for k in range(1, len(BLUR_LEVELS)):
            hi = self.energy(k - 1)
            above = hi > target
            if not above.any():
                break
            lo = self.energy(k)
            t = np.clip((hi[above] - target[above]) / np.maximum(hi[above] - lo[above], 1e-6), 0.0, 1.0)
            level[above] = BLUR_LEVELS[k - 1] + t * (BLUR_LEVELS[k] - BLUR_LEVELS[k - 1])
        return level


def look_alike(a: np.ndarray, b: np.ndarray, window: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Blur the locally sharper of ``a`` and ``b`` until both carry the same gradient energy.

    Parameters
    ----------
    a, b : ndarray, float32, shape (h, w)
        Standardised luminance on one grid.
    window : float
        Scale (px) over which gradient energy is compared; wide, so that a
        displacement of a few px does not change it.

    Returns
    -------
    a, b : ndarray, float32
        Standardised again.
    blur : ndarray, float32, shape (h, w)
        The blur (px) given to the sharper image: how far apart the two
        images' detail levels were.
    """
    h, w = a.shape
    stacks = [_BlurStack(x, window) for x in (a, b)]
    levels = []
    for mine, other in ((0, 1), (1, 0)):
        level = stacks[mine].level_to_reach(stacks[other].energy(0))
        levels.append(cv2.resize(_wide_blur(level, window / 2), (w, h), interpolation=cv2.INTER_LINEAR))
    a, b = (standardize(_blur_to(st.images, lv)) for st, lv in zip(stacks, levels))
    return a, b, np.maximum(levels[0], levels[1])


def consistent_flow(a: np.ndarray, b: np.ndarray, finest: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """DIS flow a -> b and where it agrees with the flow b -> a.

    Returns
    -------
    flow : ndarray, float32, shape (h, w, 2)
        ``a(p) ~ b(p + flow(p))``, px.
    consistent : ndarray, float32, shape (h, w)
        1 where forward and backward flows agree within FB_MAX_PX, else 0.
    """
    # The two directions at once: DIS is only partly parallel inside.
    backward = on_own_thread(_dis, b, a, finest)
    fwd = _dis(a, b, finest)
    bwd = backward.result()
    back = sample_at(bwd, pixel_grid(a.shape) + fwd)
    return fwd, (vector_length(fwd + back) < FB_MAX_PX).astype(np.float32)


def tensor_average(flow: np.ndarray, image: np.ndarray, weight: np.ndarray, sigma: float,
                   regularization: float) -> np.ndarray:
    """Average of ``flow`` weighted by the structure tensor of ``image``.

    ``d = (G * (w J) + lambda I)^-1 G * (w J f)``: along an edge only the
    motion across it counts. ``lambda`` is ``regularization`` times the
    99th percentile of the averaged tensor's trace, so where the image has
    little structure the average goes to zero.

    Returns
    -------
    ndarray, float32, shape (h, w, 2), px
    """
    gy, gx = gradient(image)
    jxx, jxy, jyy = weight * gx * gx, weight * gx * gy, weight * gy * gy
    sxx, sxy, syy = (_wide_blur(j, sigma) for j in (jxx, jxy, jyy))
    fx, fy = flow[..., 0], flow[..., 1]
    bx = _wide_blur(jxx * fx + jxy * fy, sigma)
    by = _wide_blur(jxy * fx + jyy * fy, sigma)
    lam = regularization * float(np.percentile(sxx + syy, 99)) + 1e-12
    sxx += lam
    syy += lam
    det = sxx * syy - sxy * sxy
    return np.dstack([(syy * bx - sxy * by) / det, (sxx * by - sxy * bx) / det]).astype(np.float32, copy=False)


def _mismatch(a: np.ndarray, b: np.ndarray, sigma: float) -> np.ndarray:
    """Local mean squared difference (scale ``sigma`` px) of ``a`` and ``b`` blurred by 2 px.

    Blurred first: resampling at fractional positions is itself a low-pass
    filter, and on a textured original against a smooth AI image it lowers
    the mismatch whatever the motion - a test of the motion must not reward that.
    """
    return _wide_blur((gaussian_blur(a, 2.0) - gaussian_blur(b, 2.0)) ** 2, sigma)


def _strong_in_both(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """1 where both images have strong structure (edges of eyes, brows, lips, jaw,
    hair: the top STRONG_SHARE of each image's gradient energy), else 0.

    Smoothing reshapes the faint shading of skin - a bilateral filter moves its
    iso-lines by a pixel or two - but leaves strong edges where they were;
    a reshape moves those edges too.
    """
    strong = np.ones(a.shape, bool)
    for x in (a, b):
        gy, gx = gradient(x)
        energy = gaussian_blur(gx * gx + gy * gy, 1.5)
        strong &= energy >= np.percentile(energy[::2, ::2], 100 * (1 - STRONG_SHARE))
    return strong.astype(np.float32)


def moved_seeds(a: np.ndarray, b: np.ndarray, min_px: float, sigma: float,
                blur: np.ndarray | float = 0.0,
                measured: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Where the original really moved: a conservative motion estimate and its seeds.

    Parameters
    ----------
    a, b : ndarray, float32, shape (h, w)
        The AI image and the original on one window, after :func:`look_alike`.
    min_px : float
        Smallest motion worth following, window px (never below SEED_MIN_PX).
    sigma : float
        Averaging scale, px.
    blur : ndarray or float
        The blur :func:`look_alike` gave (px): motion must also exceed
        SEED_BLUR_SHARE of it.
    measured : (flow, consistent), optional
        ``consistent_flow(a, b, finest=1)`` (or coarser) when already measured.

    Returns
    -------
    motion : ndarray, float32, shape (h, w, 2)
        The conservative (strongly regularised) estimate, px.
    seeds : ndarray, bool, shape (h, w)
    """
    flow, consistent = measured if measured is not None else consistent_flow(a, b, finest=1)
    motion = tensor_average(flow, a, consistent * _strong_in_both(a, b), sigma, 0.02)
    size = vector_length(motion)
    candidate = size > np.maximum(max(min_px, SEED_MIN_PX), SEED_BLUR_SHARE * blur)
    if not candidate.any():
        return motion, candidate
    before = _mismatch(a, b, sigma)
    after = _mismatch(a, sample_at(b, pixel_grid(a.shape) + motion), sigma)
    floor = float(np.median(before)) + 1e-9
    seeds = candidate & (after < SEED_MAX_GAIN * before) & (before > SEED_MIN_CONTRAST * floor)
    return motion, seeds


def motion_field(a: np.ndarray, b: np.ndarray, rounds: int = 3,
                 measured: tuple[np.ndarray, np.ndarray] | None = None,
                 wanted: Callable[[], bool] | None = None, middle_finest: int = 1) -> np.ndarray | None:
    """The displacement field ``d`` with ``a(p) ~ b(p + d(p))`` where the window moved, px.

    Several rounds: DIS and the fit both underestimate large, steep warps;
    each round measures only what the previous ones left. ``measured`` is
    the first round's ``consistent_flow(a, b, finest=1)`` when already known
    (the refinement window's seeds are found on the same flow). ``wanted``,
    asked before each round after the first, stops the field early (None
    comes back) when it answers False: the field is measured beside the
    seeds that decide whether it is kept. ``middle_finest`` is DIS's finest
    level for the rounds between the first and the last, which only carry the
    field closer.
    """
    grid = pixel_grid(a.shape)
    d = np.zeros(a.shape + (2,), np.float32)
    for r in range(rounds):
        if r and wanted is not None and not wanted():
            return None
        moved = sample_at(b, grid + d) if r else b
        # The rounds before the last measure at half resolution and fit on half
        # as many nodes a side (4x faster each): only the last one needs the
        # detail, and on a window over FULL_FLOW_SIDE the half-resolution flow
        # already has more vectors than the fit has nodes.
        last = r == rounds - 1
        finest = (0 if max(a.shape) <= FULL_FLOW_SIDE else 1) if last else (middle_finest if r else 1)
        if r == 0 and measured is not None and finest == 1:
            flow, consistent = measured
        else:
            flow, consistent = consistent_flow(a, moved, finest=finest)
        step = None if last else 2 * max(4.0, max(a.shape) / NODES_PER_SIDE)
        d += fit_smooth_field(flow, a, consistent, step=step, zero_border=True)
    return d

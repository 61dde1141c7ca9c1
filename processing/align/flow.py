"""Dense optical flow between the AI image and the warped original: the global similarity.

A flow pass warps the original's reduced copy with the current estimate,
measures the DIS flow left between the two, and fits it with a robust
similarity (liquified areas are trimmed as outliers). Local warps are found
separately (:mod:`~processing.align.local_warp`). All fields are in px of the
reduced AI grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from processing.align.features import ReducedPair, standardize, standardized_to_uint8
from processing.align.geometry import (apply_affine, fit_similarity, linear_scale, resize_matrix, vector_length,
                                       warp_linear)
from processing.filters import gaussian_blur, gradient

__all__ = [
    "MIN_MOTION_PX", "MIN_STRUCTURE_NCC",
    "FlowFit", "flow_pass", "structure_match", "similarity_explains",
    "mean_residual",
]

# Global motion below this (AI px) is not worth a resampling of the original.
MIN_MOTION_PX = 0.3
# Same-photo check: band-pass correlation after alignment.
MIN_STRUCTURE_NCC = 0.5


@dataclass
class FlowFit:
    """One flow measurement on the reduced AI grid and its similarity fit."""

    ref: np.ndarray          # standardised blurred AI copy
    mov: np.ndarray          # same for the warped original
    flow: np.ndarray         # (h, w, 2) DIS flow ref -> mov, px
    inside: np.ndarray       # (h, w) bool: covered by the original
    core: np.ndarray         # (h, w) bool: well inside the covered area
    textured: np.ndarray     # (h, w) bool: core pixels with structure
    weight: np.ndarray       # (h, w) structure weight (0 outside core)
    fit: np.ndarray          # 3x3 similarity correction, reduced AI px
    inlier_fraction: float   # of the flow samples the similarity explains


# --------------------------------------------------------------------------
# Image operations of the flow passes.


def _dis_flow(ref: np.ndarray, moving: np.ndarray) -> np.ndarray:
    """Dense flow ``f`` with ``ref(p) ~ moving(p + f(p))``, float32 (H, W, 2), px.

    Inputs are standardised float images. The finest DIS level is skipped
    (flow at half resolution, upsampled): the inputs are blurred anyway, and
    on smoothed-vs-original pairs it measured faster and less noisy.
    """
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    dis.setFinestScale(1)
    dis.setPatchSize(8)
    dis.setPatchStride(4)
    dis.setGradientDescentIterations(12)
    dis.setVariationalRefinementIterations(5)
    return dis.calc(standardized_to_uint8(ref), standardized_to_uint8(moving), None)


def _warp_original_copy(pair: ReducedPair,
                        ai_to_orig: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Warp the original's reduced copy onto the AI's reduced grid.

    Returns the warped copy and its validity mask, float32 (h, w) each.
    """
    orig_lum = pair.orig
    # AI reduced -> original full -> original reduced.
    w2o = pair.orig_grid @ ai_to_orig @ np.linalg.inv(pair.ai_grid)
    # Area-downscale first when the warp shrinks: linear warping would alias.
    shrink = linear_scale(w2o)
    if shrink > 1.25:
        h, w = orig_lum.shape
        size = (max(1, round(w / shrink)), max(1, round(h / shrink)))
        extra = resize_matrix((w, h), size)
        orig_lum = cv2.resize(orig_lum, size, interpolation=cv2.INTER_AREA)
        w2o = extra @ w2o
    hw, ww = pair.ai.shape
    warped = warp_linear(orig_lum, w2o, (ww, hw))
    valid = warp_linear(np.ones(orig_lum.shape, np.float32), w2o, (ww, hw),
                        border=cv2.BORDER_CONSTANT)
    return warped, valid


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of standard deviation ``sigma`` px.

    Wide kernels run on a reduced copy: 4x+ cheaper, and only smooth fields
    and decision maps are blurred that wide.
    """
    if sigma <= 4.0:
        return gaussian_blur(image, sigma)
    h, w = image.shape[:2]
    k = int(sigma // 2)
    small = cv2.resize(image, (max(1, w // k), max(1, h // k)), interpolation=cv2.INTER_AREA)
    small = gaussian_blur(small, sigma / k)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _structure_band(image: np.ndarray) -> np.ndarray:
    """Difference of Gaussians 2 - 8 px: the structure both images keep."""
    return gaussian_blur(image, 2.0) - _blur(image, 8.0)


def _band_ncc(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """Normalised correlation of the structure band of a and b over ``mask``."""
    ba = _structure_band(a)
    bb = _structure_band(b)
    ba = ba[mask] - ba[mask].mean()
    bb = bb[mask] - bb[mask].mean()
    return float((ba @ bb) / (np.sqrt((ba @ ba) * (bb @ bb)) + 1e-12))


def _structure_weight(image: np.ndarray) -> np.ndarray:
    """Smaller structure-tensor eigenvalue.

    High where flow is well defined in both directions (corners, texture),
    zero on flat areas and along edges.
    """
    gy, gx = gradient(image)
    jxx = gaussian_blur(gx * gx, 3.0)
    jyy = gaussian_blur(gy * gy, 3.0)
    jxy = gaussian_blur(gx * gy, 3.0)
    return np.maximum(0.5 * (jxx + jyy - np.sqrt((jxx - jyy) ** 2 + 4 * jxy ** 2)), 0)


def _core(inside: np.ndarray) -> np.ndarray:
    """Covered pixels well inside the cover: flow at its border is pulled."""
    h, w = inside.shape
    border = max(4, min(h, w) // 50)
    kernel = np.ones((2 * border + 1, 2 * border + 1), np.uint8)
    return cv2.erode(inside.astype(np.uint8), kernel,
                     borderType=cv2.BORDER_CONSTANT, borderValue=0).astype(bool)


def _flow_samples(textured: np.ndarray, flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions ``p`` and their flow targets ``q``, (N, 2) float64 px each.

    Every 3rd pixel: flow vectors are correlated over the 8 px DIS patches.
    """
    ys, xs = np.nonzero(textured[::3, ::3])
    ys, xs = ys * 3, xs * 3
    p = np.stack([xs, ys], 1).astype(np.float64)
    return p, p + flow[ys, xs].astype(np.float64)


def _robust_similarity(p: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, float]:
    """Similarity ``q ~ fit(p)`` (3x3) with outliers trimmed, and its inlier fraction.

    Liquified areas are outliers of the global model: they are trimmed.
    """
    keep = np.ones(len(p), bool)
    for _ in range(4):
        fit = fit_similarity(p[keep], q[keep])
        err = vector_length(q - apply_affine(fit, p))
        keep = err < max(0.3, 3.0 * np.median(err[keep]))
    return fit_similarity(p[keep], q[keep]), float(keep.mean())


def flow_pass(pair: ReducedPair, ai_to_orig: np.ndarray) -> FlowFit:
    """Warp the original's copy with ``ai_to_orig``, measure the DIS flow
    left, and fit it with a similarity (robust to liquified areas).

    Parameters
    ----------
    pair : ReducedPair
        The reduced copies the pass runs on.
    ai_to_orig : ndarray, shape (3, 3)
        Current estimate, AI full-resolution px -> original px.

    Returns
    -------
    FlowFit
        Its ``fit`` corrects the estimate on the reduced AI grid.
    """
    warped, valid = _warp_original_copy(pair, ai_to_orig)
    inside = valid > 0.999
    # Uncovered parts take the AI's own values: zero flow there, no border pull.
    warped = np.where(inside, warped, pair.ai)
    # Blur both: the AI image lacks pores and fine detail, match structure only.
    ref = standardize(gaussian_blur(pair.ai, 2.0), inside)
    mov = standardize(gaussian_blur(warped, 2.0), inside)
    flow = _dis_flow(ref, mov)

    core = _core(inside)
    weight = _structure_weight(ref) * core
    if core.sum() < 100:
        return FlowFit(ref, mov, flow, inside, core, core, weight, np.eye(3), 0.0)
    textured = weight > np.percentile(weight[core][::7], 50)
    p, q = _flow_samples(textured, flow)
    if len(p) < 50:  # a flat image: nothing to measure
        return FlowFit(ref, mov, flow, inside, core, textured, weight, np.eye(3), 0.0)
    fit, inlier_fraction = _robust_similarity(p, q)
    return FlowFit(ref, mov, flow, inside, core, textured, weight, fit, inlier_fraction)


def structure_match(ff: FlowFit) -> float:
    """Structure correlation (-1 to 1) with the similarity applied.

    Not the flow: flow can bend a different photo into partial agreement.
    """
    if ff.core.sum() < 100:
        return 0.0
    h, w = ff.ref.shape
    return _band_ncc(ff.ref, warp_linear(ff.mov, ff.fit, (w, h)), ff.core)


def similarity_explains(ff: FlowFit) -> bool:
    """Whether the fitted similarity explains most of the flow and the
    structure then matches (the cheap test of a same-grid pair)."""
    return ff.inlier_fraction >= 0.5 and structure_match(ff) >= MIN_STRUCTURE_NCC


def mean_residual(fit: np.ndarray, flow: np.ndarray, textured: np.ndarray, px: float) -> float:
    """Mean length of the flow that the similarity ``fit`` leaves unexplained on
    textured pixels, in units of ``px`` (full-resolution px per reduced px).

    Measured at the textured pixels only (a full grid of the model costs 10 ms
    on a 1500 px copy), with the same arithmetic as on the full grid.
    """
    ys, xs = np.nonzero(textured)
    if len(xs) == 0:
        return 0.0
    x, y = xs.astype(np.float32), ys.astype(np.float32)
    model = np.stack([fit[0, 0] * x + fit[0, 1] * y + fit[0, 2],
                      fit[1, 0] * x + fit[1, 1] * y + fit[1, 2]], axis=-1).astype(np.float32)
    left = np.stack([x, y], axis=-1) + flow[ys, xs] - model
    return float(np.mean(vector_length(left))) * px

"""Reduced luminance copies, and the coarse alignment from SIFT + RANSAC.

Estimation never runs on the full-resolution pixels: the AI image is smoothed
(pores and blemishes removed), so only the structure both images share can be
matched, and that structure survives on small, blurred luminance copies.
Features also decide whether the two files show the same photo at all.
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

from processing.align.errors import AlignmentError
from processing.align.geometry import check_geometry, resize_matrix, similarity_params
from processing.dtypes import to_float
from processing.filters import gaussian_blur, luminance

__all__ = [
    "FEATURE_SIDE", "MIN_INLIERS", "MIN_MATCH_FRACTION",
    "ReducedPair", "reduced_luminance", "reduced_pair", "reduce_further",
    "standardize", "standardized_to_uint8", "match_features", "coarse_alignment",
]

# Longest side of the copies used for feature matching: SIFT cost grows with
# area and 640 px already pins the similarity to ~1 px for the flow to finish.
FEATURE_SIDE = 640
# Same-photo checks on the RANSAC result: inlier count, and inliers as a
# fraction of the smaller keypoint set.
MIN_INLIERS = 25
MIN_MATCH_FRACTION = 0.05


class ReducedPair(NamedTuple):
    """Reduced luminance copies of the original and the AI image.

    Attributes
    ----------
    orig, ai : ndarray, float32, shape (h, w)
        Luminance in [0, 1].
    orig_grid, ai_grid : ndarray, shape (3, 3)
        Full-resolution px of each image -> px of its copy.
    """

    orig: np.ndarray
    orig_grid: np.ndarray
    ai: np.ndarray
    ai_grid: np.ndarray


def reduced_luminance(image: np.ndarray, max_side: int) -> tuple[np.ndarray, np.ndarray]:
    """Float32 luminance in [0, 1], area-downscaled to ``max_side`` px at most.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C)
        uint8, uint16 or float in [0, 1].
    max_side : int
        Longest side of the copy, px.

    Returns
    -------
    copy : ndarray, float32, shape (h, w)
    grid : ndarray, shape (3, 3)
        Full-resolution px -> px of the copy.
    """
    h, w = image.shape[:2]
    k = min(1.0, max_side / max(h, w))
    # Downscale first, in the native dtype: keeps the 24 MP case cheap.
    small = image if image.dtype != np.float64 else image.astype(np.float32)
    if small.ndim == 3:
        small = small[..., :3] if small.shape[2] >= 3 else small[..., 0]
    size = (max(1, round(w * k)), max(1, round(h * k)))
    f = int(np.ceil(max(h, w) / max_side))
    if f >= 2 and k < 1:
        # A whole reduction factor keeps INTER_AREA on OpenCV's fast path (3x
        # faster on 24 MP); the last < f rows and columns are dropped, so the
        # map stays a pure 1/f scale of the top-left-aligned grid.
        size = (w // f, h // f)
        small = cv2.resize(small[:size[1] * f, :size[0] * f], size, interpolation=cv2.INTER_AREA)
        return luminance(to_float(small)), resize_matrix((size[0] * f, size[1] * f), size)
    if size != (w, h):
        small = cv2.resize(small, size, interpolation=cv2.INTER_AREA)
    return luminance(to_float(small)), resize_matrix((w, h), size)


def reduced_pair(original: np.ndarray, ai: np.ndarray, max_side: int) -> ReducedPair:
    """Both images as :func:`reduced_luminance` copies of ``max_side`` px at most."""
    orig, orig_grid = reduced_luminance(original, max_side)
    ai_small, ai_grid = reduced_luminance(ai, max_side)
    return ReducedPair(orig, orig_grid, ai_small, ai_grid)


def reduce_further(pair: ReducedPair, orig_side: int, ai_side: int) -> ReducedPair:
    """Smaller copies of a reduced pair, each at most ``*_side`` px.

    The grids still start from the full-resolution images.
    """
    orig, orig_grid = reduced_luminance(pair.orig, orig_side)
    ai_small, ai_grid = reduced_luminance(pair.ai, ai_side)
    return ReducedPair(orig, orig_grid @ pair.orig_grid, ai_small, ai_grid @ pair.ai_grid)


def standardize(image: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Zero mean, unit standard deviation (over ``mask``).

    This absorbs the global exposure and contrast changes of retouching
    before images are compared.
    """
    values = image if mask is None else image[mask]
    return (image - values.mean()) / (values.std() + 1e-6)


def standardized_to_uint8(image: np.ndarray) -> np.ndarray:
    """Map a standardised image to 8 bits (+-3 std), as DIS and SIFT need."""
    return np.clip(image * 42.5 + 127.5, 0, 255).astype(np.uint8)


def _detect(sift: cv2.SIFT, lum: np.ndarray) -> tuple[tuple, np.ndarray | None]:
    """SIFT keypoints and descriptors of a luminance copy.

    It is blurred first so the smoothed AI image and the original, with its
    pores, share keypoints.
    """
    return sift.detectAndCompute(standardized_to_uint8(standardize(gaussian_blur(lum, 1.0))), None)


def _unique_matches(des_o: np.ndarray, des_a: np.ndarray) -> list:
    """Ratio-test matches original -> AI, the best one per AI keypoint.

    Many-to-one matches (flat, repetitive areas of unrelated images) make
    RANSAC agree on a degenerate, zero-scale map.
    """
    pairs = cv2.BFMatcher(cv2.NORM_L2).knnMatch(des_o, des_a, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < 0.8 * p[1].distance]
    best = {}
    for g in good:
        if g.trainIdx not in best or g.distance < best[g.trainIdx].distance:
            best[g.trainIdx] = g
    return list(best.values())


def match_features(orig_lum: np.ndarray,
                   ai_lum: np.ndarray) -> tuple[np.ndarray | None, int, float]:
    """Coarse similarity (original -> AI, px of the given copies) by SIFT + RANSAC.

    Returns
    -------
    m : ndarray, shape (3, 3), or None
        None when too few features match.
    n_inliers : int
    fraction : float
        Inliers over the smaller keypoint set.
    """
    sift = cv2.SIFT_create(nfeatures=2000)
    kp_o, des_o = _detect(sift, orig_lum)
    kp_a, des_a = _detect(sift, ai_lum)
    n_kp = min(len(kp_o), len(kp_a))
    if n_kp < 3 or des_o is None or des_a is None:
        return None, 0, 0.0
    good = _unique_matches(des_o, des_a)
    if len(good) < 3:
        return None, 0, 0.0
    src = np.float32([kp_o[m.queryIdx].pt for m in good])
    dst = np.float32([kp_a[m.trainIdx].pt for m in good])
    m, inl = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC,
                                         ransacReprojThreshold=2.0, maxIters=5000,
                                         confidence=0.999, refineIters=20)
    if m is None:
        return None, 0, 0.0
    n_in = int(inl.sum())
    return np.vstack([m, [0.0, 0.0, 1.0]]), n_in, n_in / n_kp


def coarse_alignment(pair: ReducedPair) -> np.ndarray:
    """Feature-based similarity, AI full-resolution px -> original px (3x3).

    Raises
    ------
    AlignmentError
        Too few features match (not the same photo), or the geometry is
        beyond what a retouching tool does.
    """
    feat = reduce_further(pair, FEATURE_SIDE, FEATURE_SIDE)
    m, n_in, fraction = match_features(feat.orig, feat.ai)
    if m is None or n_in < MIN_INLIERS or fraction < MIN_MATCH_FRACTION:
        raise AlignmentError(
            "The two images do not show the same photo (only "
            f"{fraction * 100:.0f} % of features match): check that you uploaded "
            "the original and its retouched version.")
    # Feature copies -> full resolution: original full -> AI full.
    orig_to_ai = (np.linalg.inv(feat.ai_grid) @ m @ feat.orig_grid)
    scale, rotation, _ = similarity_params(orig_to_ai)
    check_geometry(scale, rotation)
    return np.linalg.inv(orig_to_ai)

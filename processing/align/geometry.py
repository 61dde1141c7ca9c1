"""Matrices, points and smooth fields on pixel grids.

Maps are 3x3 homogeneous matrices acting on ``(x, y, 1)``; pixel centres sit
at integer ``(x, y)``, x to the right, y down. Fields (local warps, distance
maps) are sampled on a reduced grid and padded by one sample per side so that
they can be evaluated, or upsampled, right up to the image edge.
"""

from __future__ import annotations

import cv2
import numpy as np

from processing.align.errors import AlignmentError

__all__ = [
    "MAX_ROTATION_DEG", "SCALE_RANGE",
    "resize_matrix", "apply_affine", "linear_scale", "similarity_params", "fit_similarity",
    "max_move", "check_geometry", "warp_linear",
    "pad_linear", "upsample_padded", "sample_padded", "squared_length", "vector_length",
]

# Geometry a retouching tool plausibly applies (generous margins for refusal).
MAX_ROTATION_DEG = 10.0
SCALE_RANGE = (0.35, 3.0)


def resize_matrix(src_wh: tuple[int, int], dst_wh: tuple[int, int]) -> np.ndarray:
    """Map pixel coordinates of an image to those of its ``cv2.resize`` copy.

    Parameters
    ----------
    src_wh, dst_wh : tuple of int
        ``(width, height)`` of the image and of its copy, px.

    Returns
    -------
    ndarray, float64, shape (3, 3)
        Source px -> copy px. cv2.resize aligns pixel *areas*, so
        ``x' = (x + 0.5) * k - 0.5``.
    """
    kx = dst_wh[0] / src_wh[0]
    ky = dst_wh[1] / src_wh[1]
    return np.array([[kx, 0.0, 0.5 * kx - 0.5],
                     [0.0, ky, 0.5 * ky - 0.5],
                     [0.0, 0.0, 1.0]])


def apply_affine(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Apply a 3x3 affine matrix to ``(x, y)`` points, shape (N, 2), px."""
    return pts @ m[:2, :2].T + m[:2, 2]


def linear_scale(m: np.ndarray) -> float:
    """Area scale of a 3x3 map's linear part, as a length: output px per input px."""
    return float(np.sqrt(abs(np.linalg.det(m[:2, :2]))))


def similarity_params(m: np.ndarray) -> tuple[float, float, tuple[float, float]]:
    """Scale, rotation (deg) and shift (px) of the similarity closest to ``m``."""
    a = 0.5 * (m[0, 0] + m[1, 1])
    b = 0.5 * (m[1, 0] - m[0, 1])
    return (float(np.hypot(a, b)), float(np.degrees(np.arctan2(b, a))),
            (float(m[0, 2]), float(m[1, 2])))


def fit_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity ``dst ~ s R src + t`` of (N, 2) points, px.

    Returns
    -------
    ndarray, float64, shape (3, 3)
    """
    mu_s = src.mean(0)
    mu_d = dst.mean(0)
    s0 = src - mu_s
    d0 = dst - mu_d
    # Closed form for the 2-D similarity [[a, -b], [b, a]]: no SVD needed.
    den = (s0 ** 2).sum()
    a = (s0[:, 0] * d0[:, 0] + s0[:, 1] * d0[:, 1]).sum() / den
    b = (s0[:, 0] * d0[:, 1] - s0[:, 1] * d0[:, 0]).sum() / den
    lin = np.array([[a, -b], [b, a]])
    t = mu_d - lin @ mu_s
    return np.array([[a, -b, t[0]], [b, a, t[1]], [0.0, 0.0, 1.0]])


def max_move(m: np.ndarray, shape: tuple[int, int]) -> float:
    """Largest displacement (px) a 3x3 map applies to the corners of a grid.

    ``shape`` is the grid's ``(height, width)``, px.
    """
    h, w = shape
    corners = np.array([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]], float)
    return float(np.max(np.linalg.norm(apply_affine(m, corners) - corners, axis=1)))


def check_geometry(scale: float, rotation: float) -> None:
    """Refuse a scale or rotation (deg) no retouching tool applies.

    Raises
    ------
    AlignmentError
        Such a geometry means a wrong orientation, size or pair of files.
    """
    if abs(rotation) > MAX_ROTATION_DEG:
        raise AlignmentError(
            f"The retouched image is rotated by {rotation:.0f}° relative to the "
            f"original, more than the {MAX_ROTATION_DEG:.0f}° a retouching tool "
            "applies: check the orientation (EXIF rotation) of both files.")
    if not SCALE_RANGE[0] <= scale <= SCALE_RANGE[1]:
        raise AlignmentError(
            f"The retouched image is {scale:.2f} times the size of the original, "
            f"outside the supported {SCALE_RANGE[0]}-{SCALE_RANGE[1]} range: export "
            "both at comparable sizes.")


def warp_linear(image: np.ndarray, m: np.ndarray, size_wh: tuple[int, int],
                border: int = cv2.BORDER_REPLICATE) -> np.ndarray:
    """Bilinear warp of ``image`` onto a ``(width, height)`` grid, px.

    ``m`` (3x3) maps output pixels to ``image`` pixels (an inverse map, so
    no matrix inversion is needed); outside pixels follow ``border``, with 0
    as the constant.
    """
    return cv2.warpAffine(image, m[:2], size_wh,
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=border, borderValue=0)


def pad_linear(field_: np.ndarray) -> np.ndarray:
    """Pad a field by one sample per side, extrapolating linearly.

    Upsampling then continues the field's slope up to the image edge instead
    of clamping it over the outer half sample (cv2.resize does the latter).

    Parameters
    ----------
    field_ : ndarray, shape (h, w) or (h, w, C)

    Returns
    -------
    ndarray, shape (h + 2, w + 2) or (h + 2, w + 2, C)
    """
    f = np.pad(field_, [(1, 1), (1, 1)] + [(0, 0)] * (field_.ndim - 2), mode="edge")
    if field_.shape[0] > 1:
        f[0] = 2 * f[1] - f[2]
        f[-1] = 2 * f[-2] - f[-3]
    if field_.shape[1] > 1:
        f[:, 0] = 2 * f[:, 1] - f[:, 2]
        f[:, -1] = 2 * f[:, -2] - f[:, -3]
    return f


def upsample_padded(padded: np.ndarray, grid: np.ndarray,
                    size_wh: tuple[int, int]) -> np.ndarray:
    """Bilinear upsampling of a :func:`pad_linear` field onto the full grid.

    Parameters
    ----------
    padded : ndarray
        The padded field.
    grid : ndarray, shape (3, 3)
        Full-resolution px -> the unpadded field's samples.
    size_wh : tuple of int
        ``(width, height)`` of the full grid, px.

    Returns
    -------
    ndarray, float32
    """
    m = grid.copy()
    m[:2, 2] += 1.0  # the pad shifts samples by one
    return warp_linear(padded.astype(np.float32), m, size_wh)


def sample_padded(padded: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Bilinear samples of a padded field at unpadded positions.

    Parameters
    ----------
    padded : ndarray, shape (h + 2, w + 2, C)
    pts : ndarray, shape (N, 2)
        ``(x, y)`` in the unpadded field's samples.

    Returns
    -------
    ndarray, float64, shape (N, C)
    """
    h, w = padded.shape[:2]
    x = np.clip(pts[:, 0] + 1.0, 0, w - 1)
    y = np.clip(pts[:, 1] + 1.0, 0, h - 1)
    x0 = np.minimum(np.floor(x).astype(int), w - 2)
    y0 = np.minimum(np.floor(y).astype(int), h - 2)
    fx = (x - x0)[:, None]
    fy = (y - y0)[:, None]
    p = padded.astype(np.float64)
    return ((1 - fy) * ((1 - fx) * p[y0, x0] + fx * p[y0, x0 + 1])
            + fy * ((1 - fx) * p[y0 + 1, x0] + fx * p[y0 + 1, x0 + 1]))


def squared_length(v: np.ndarray) -> np.ndarray:
    """``x^2 + y^2`` of each 2-vector on the last axis, in ``v``'s precision.

    What ``(v * v).sum(axis=-1)`` gives, bit for bit: numpy's reduction over
    an axis of two is about ten times slower than the two slices added.
    """
    sq = v * v
    return sq[..., 0] + sq[..., 1]


def vector_length(v: np.ndarray) -> np.ndarray:
    """Length of each 2-vector on the last axis: ``np.linalg.norm(v, axis=-1)``, bit for bit, faster."""
    return np.sqrt(squared_length(v))

"""Coverage of the AI grid by the original, and the one full-resolution resampling.

The original is resampled once, bicubic, with ``cv2.warpAffine`` (similarity
only) or ``cv2.remap`` (similarity + local warp): every extra resampling
would soften the texture that is grafted.
"""

from __future__ import annotations

import cv2
import numpy as np

from processing.align.geometry import linear_scale, resize_matrix, upsample_padded

__all__ = ["ERODE_PX", "FEATHER_PX", "MIN_COVERAGE_FRACTION", "coverage", "full_coverage", "resample"]

# Coverage edge in AI px: zero within ERODE_PX of the original's border, then
# a linear ramp to one over FEATHER_PX (bicubic taps there reach past the
# border into reflected samples, so they are not trusted).
ERODE_PX = 1.0
FEATHER_PX = 2.0
# Below this covered fraction of the AI image the pair is refused (not the
# same crop of the photo).
MIN_COVERAGE_FRACTION = 0.5


def full_coverage(shape: tuple[int, int]) -> np.ndarray:
    """Coverage 1 everywhere: a read-only (H, W) float32 view of one value (a
    frame of ones would be 576 MB at 144 MP)."""
    return np.broadcast_to(np.ones((1, 1), np.float32), tuple(shape[:2]))


def is_full_coverage(cover: np.ndarray | None) -> bool:
    """Whether ``cover`` is :func:`full_coverage` (1 everywhere, nothing stored)."""
    return cover is not None and cover.size > 0 and not any(cover.strides) and float(cover.flat[0]) == 1.0


def _border_distance(ai_to_orig: np.ndarray, flow_padded: np.ndarray | None,
                     flow_grid: np.ndarray, orig_shape: tuple[int, int],
                     small_shape: tuple[int, int]) -> np.ndarray:
    """Signed distance (original px) from each source position to the
    original's border, on the padded reduced AI grid (positive inside)."""
    hs, ws = small_shape
    m = ai_to_orig @ np.linalg.inv(flow_grid)  # reduced AI -> original full
    xs = np.arange(-1, ws + 1, dtype=np.float32)[None, :]
    ys = np.arange(-1, hs + 1, dtype=np.float32)[:, None]
    sx = m[0, 0] * xs + m[0, 1] * ys + m[0, 2]
    sy = m[1, 0] * xs + m[1, 1] * ys + m[1, 2]
    if flow_padded is not None:
        sx = sx + flow_padded[..., 0]
        sy = sy + flow_padded[..., 1]
    ho, wo = orig_shape
    return np.minimum(np.minimum(sx + 0.5, wo - 0.5 - sx), np.minimum(sy + 0.5, ho - 0.5 - sy))


def coverage(ai_to_orig: np.ndarray, flow_padded: np.ndarray | None, flow_grid: np.ndarray,
             orig_shape: tuple[int, int], scale: float, small_shape: tuple[int, int],
             full_shape: tuple[int, int]) -> np.ndarray:
    """Feathered coverage mask on the full AI grid.

    The signed distance (AI px) from each AI pixel's source position to the
    original's border is computed on the reduced grid, upsampled (it is
    nearly linear) and only then clipped into a ramp.

    Parameters
    ----------
    ai_to_orig : ndarray, shape (3, 3)
        AI full-resolution px -> original px.
    flow_padded : ndarray or None
        Local warp (original px) on the padded reduced AI grid.
    flow_grid : ndarray, shape (3, 3)
        AI full-resolution px -> reduced AI px.
    orig_shape, small_shape, full_shape : tuple of int
        ``(height, width)`` of the original, the reduced and the full AI grid.
    scale : float
        AI px per original px.

    Returns
    -------
    ndarray, float32, shape ``full_shape``
        In [0, 1].
    """
    d = _border_distance(ai_to_orig, flow_padded, flow_grid, orig_shape, small_shape)
    d = (d * scale).astype(np.float32)
    if d.min() > ERODE_PX + FEATHER_PX + 1.0:
        # Covered everywhere (e.g. the AI image is a crop): skip the upsampling.
        return full_coverage(full_shape)
    d = upsample_padded(d, flow_grid, (full_shape[1], full_shape[0]))
    d -= ERODE_PX
    d *= 1.0 / FEATHER_PX
    return np.clip(d, 0.0, 1.0, out=d)


def _prescale(original: np.ndarray, ai_to_orig: np.ndarray,
              flow_full: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Area-downscale the original when the AI grid is smaller.

    Bicubic sampling of a shrinking map would alias into a false, grainy
    texture. Returns the source image and the AI -> source map (3x3);
    ``flow_full`` is rescaled in place to source px.
    """
    scale = 1.0 / linear_scale(ai_to_orig)
    if scale >= 0.9:
        return original, ai_to_orig
    ho, wo = original.shape[:2]
    size = (max(1, round(wo * scale)), max(1, round(ho * scale)))
    pre = resize_matrix((wo, ho), size)
    src = cv2.resize(original, size, interpolation=cv2.INTER_AREA)
    if flow_full is not None:
        flow_full[..., 0] *= pre[0, 0]
        flow_full[..., 1] *= pre[1, 1]
    return src, pre @ ai_to_orig


def _remap_cubic(src: np.ndarray, m: np.ndarray, flow_full: np.ndarray,
                 out_shape: tuple[int, int]) -> np.ndarray:
    """Bicubic samples of ``src`` at ``m`` (3x3) applied to the AI grid, plus
    the local warp ``flow_full`` (H, W, 2), px.

    The maps (affine grid + local warp) are built in float32: exact, no
    fixed point.
    """
    h, w = out_shape
    mx = np.ascontiguousarray(flow_full[..., 0])
    my = np.ascontiguousarray(flow_full[..., 1])
    x = np.arange(w, dtype=np.float32)
    y = np.arange(h, dtype=np.float32)
    mx += (m[0, 0] * x + m[0, 2]).astype(np.float32)[None, :]
    mx += (m[0, 1] * y).astype(np.float32)[:, None]
    my += (m[1, 0] * x + m[1, 2]).astype(np.float32)[None, :]
    my += (m[1, 1] * y).astype(np.float32)[:, None]
    return cv2.remap(src, mx, my, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)


def resample(original: np.ndarray, ai_to_orig: np.ndarray, flow_full: np.ndarray | None,
             out_shape: tuple[int, int]) -> np.ndarray:
    """Resample the full-resolution original once onto the AI grid, bicubic.

    Parameters
    ----------
    original : ndarray, shape (H0, W0) or (H0, W0, C)
    ai_to_orig : ndarray, shape (3, 3)
        AI px -> original px.
    flow_full : ndarray, float32, shape (H, W, 2), or None
        Local warp in original px; modified in place.
    out_shape : tuple of int
        ``(H, W)`` of the AI grid.

    Returns
    -------
    ndarray
        Same dtype and channels as ``original``, shape ``out_shape`` (+ C).
    """
    h, w = out_shape
    src, m = _prescale(original, ai_to_orig, flow_full)
    if flow_full is None:
        # Reflect, not replicate: 30 % faster, and coverage is 0 there anyway.
        out = cv2.warpAffine(src, m[:2], (w, h),
                             flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                             borderMode=cv2.BORDER_REFLECT)
    else:
        out = _remap_cubic(src, m, flow_full, out_shape)
    if out.ndim == 2 and original.ndim == 3:
        out = out[..., None]  # cv2 drops a single channel axis
    if np.issubdtype(out.dtype, np.floating):
        np.clip(out, 0.0, 1.0, out=out)  # bicubic overshoot
    return out

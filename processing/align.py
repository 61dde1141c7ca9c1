"""Put the original photo on the pixel grid of its AI-retouched version.

AI retouching tools do not always return the same pixel grid: some export at
another size, crop a few per cent, shift by a pixel or apply a liquify warp.
Grafting texture from a misaligned original makes ghost edges and doubled
pores, so the original is first resampled onto the AI image's geometry.

The estimation works on reduced, blurred luminance copies, because the AI image
is smoothed (pores and blemishes removed) and only the structure both images
share can be matched:

1. SIFT features + RANSAC give a coarse similarity (scale, rotation, shift) and
   decide whether the two files show the same photo at all;
2. DIS optical flow between the AI image and the coarsely warped original
   gives a dense displacement field; a robust least-squares fit of it refines
   the similarity to a few hundredths of a pixel;
3. what the similarity does not explain is a local warp (liquify); it is
   applied, smoothed, only when ``refine`` is set and it is meaningful.

The original is then resampled once, at full resolution (``cv2.warpAffine`` or
``cv2.remap``, bicubic). When both images already share the pixel grid - the
common case - nothing is resampled, because resampling softens the very
texture that is grafted.

Coordinates: pixel centres sit at integer ``(x, y)``, x to the right, y down.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from processing.filters import gaussian_blur, luminance

__all__ = ["AlignmentError", "Alignment", "align_pair"]

# Longest side of the copies used for feature matching: SIFT cost grows with
# area and 640 px already pins the similarity to ~1 px for the flow to finish.
FEATURE_SIDE = 640
# Motion below this (AI px) is not worth a resampling of the original.
MIN_MOTION_PX = 0.3
# Same-size pairs of large images are first checked cheaply: flow on a copy of
# this size finds warps over QUICK_WARP_PX (full-res px), phase correlation on
# a full-resolution central crop finds global shifts over MIN_MOTION_PX.
QUICK_SIDE = 768
QUICK_WARP_PX = 1.0
QUICK_CROP = 1024
# ... and a local warp must cut the local mismatch to this fraction: flow
# noise on a same-grid pair reaches ~0.4 near edges, a 1 px liquify ~0.3.
MAX_WARP_GAIN = 0.35
# Same-photo checks: RANSAC inliers, and band-pass correlation after alignment.
MIN_INLIERS = 25
MIN_MATCH_FRACTION = 0.05
MIN_STRUCTURE_NCC = 0.5
# Geometry a retouching tool plausibly applies (generous margins for refusal).
MAX_ROTATION_DEG = 10.0
SCALE_RANGE = (0.35, 3.0)
MIN_COVERAGE_FRACTION = 0.5
# Coverage edge in AI px: zero within ERODE_PX of the original's border, then
# a linear ramp to one over FEATHER_PX (bicubic taps there reach past the
# border into reflected samples, so they are not trusted).
ERODE_PX = 1.0
FEATHER_PX = 2.0


class AlignmentError(ValueError):
    """The two images cannot be aligned: they are not the same photo."""


@dataclass
class Alignment:
    """The original resampled onto the AI image's grid, and how it was moved.

    Attributes
    ----------
    original : ndarray
        The original warped onto the AI grid: same dtype and channels as the
        input original, shape ``ai.shape[:2]`` (+ channels).
    coverage : ndarray, float32, shape (H, W)
        In [0, 1]: 1 where the original covers the AI pixel, 0 outside, with
        a slightly eroded and feathered edge. Multiply it into the skin mask.
    scale : float
        Global scale, original -> AI (2.0: the AI image is twice as large).
    rotation_deg : float
        Global rotation in degrees, original -> AI, of the matrix
        ``[[cos, -sin], [sin, cos]]`` in pixel coordinates (y down), so a
        positive angle turns the content clockwise on screen.
    shift : tuple of float
        ``(dx, dy)`` in AI pixels: an original pixel ``p`` lands at
        ``scale * R(rotation) @ p + shift`` (before any local warp).
    residual_px : float
        Mean displacement (AI px) between the aligned original and the AI
        image still measured by optical flow on textured pixels, i.e. what
        the applied model leaves unexplained.
    refined : bool
        Whether a dense local warp was applied on top of the similarity.
    identity : bool
        True when the pair already shared the pixel grid: nothing was
        resampled and ``original`` is the input object itself.
    """

    original: np.ndarray
    coverage: np.ndarray
    scale: float
    rotation_deg: float
    shift: tuple[float, float]
    residual_px: float
    refined: bool
    identity: bool
    # Largest local displacement (AI px) of the applied dense warp.
    local_warp_px: float = 0.0
    # The mapping itself, kept small so :meth:`ai_to_original` can evaluate
    # it: 3x3 AI -> original (full-resolution px), plus the local warp
    # sampled on a reduced AI grid (original px) and that grid's 3x3 map.
    _ai_to_orig: np.ndarray = field(default_factory=lambda: np.eye(3), repr=False)
    _flow: np.ndarray | None = field(default=None, repr=False)
    _flow_grid: np.ndarray = field(default_factory=lambda: np.eye(3), repr=False)

    def summary(self) -> str:
        """One line for the CLI and the web app."""
        if self.identity:
            return ("Already aligned: same pixel grid, "
                    f"residual {self.residual_px:.2f} px, no resampling.")
        text = (f"Aligned: scale {self.scale:.3f}, rotation {self.rotation_deg:.1f}°, "
                f"shift ({self.shift[0]:.1f}, {self.shift[1]:.1f}) px")
        if self.refined:
            text += f", local warp up to {self.local_warp_px:.1f} px corrected"
        return text + f", residual {self.residual_px:.2f} px."

    def to_dict(self) -> dict:
        """JSON-able figures (no arrays)."""
        return {
            "scale": float(self.scale),
            "rotation_deg": float(self.rotation_deg),
            "shift": [float(self.shift[0]), float(self.shift[1])],
            "residual_px": float(self.residual_px),
            "refined": bool(self.refined),
            "identity": bool(self.identity),
            "local_warp_px": float(self.local_warp_px),
            "coverage_fraction": float(np.mean(self.coverage > 0.5)),
        }

    def ai_to_original(self, points: np.ndarray) -> np.ndarray:
        """Where AI pixels were sampled in the original.

        Parameters
        ----------
        points : array_like, shape (N, 2)
            ``(x, y)`` positions on the AI grid, px.

        Returns
        -------
        ndarray, float64, shape (N, 2)
            The matching ``(x, y)`` positions in the original, px: the exact
            mapping used to resample ``original``.
        """
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        out = pts @ self._ai_to_orig[:2, :2].T + self._ai_to_orig[:2, 2]
        if self._flow is not None:
            out += _sample_padded(self._flow, _apply(self._flow_grid, pts))
        return out


# --------------------------------------------------------------------------
# Small geometric helpers (3x3 homogeneous matrices acting on (x, y, 1)).


def _resize_matrix(src_wh: tuple[int, int], dst_wh: tuple[int, int]) -> np.ndarray:
    """Map pixel coordinates of an image to those of its ``cv2.resize`` copy.

    cv2.resize aligns pixel *areas*: ``x' = (x + 0.5) * k - 0.5``.
    """
    kx = dst_wh[0] / src_wh[0]
    ky = dst_wh[1] / src_wh[1]
    return np.array([[kx, 0.0, 0.5 * kx - 0.5],
                     [0.0, ky, 0.5 * ky - 0.5],
                     [0.0, 0.0, 1.0]])


def _apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Apply a 3x3 affine matrix to (N, 2) points."""
    return pts @ m[:2, :2].T + m[:2, 2]


def _similarity_params(m: np.ndarray) -> tuple[float, float, tuple[float, float]]:
    """Scale, rotation (deg) and shift of the similarity closest to ``m``."""
    a = 0.5 * (m[0, 0] + m[1, 1])
    b = 0.5 * (m[1, 0] - m[0, 1])
    return (float(np.hypot(a, b)), float(np.degrees(np.arctan2(b, a))),
            (float(m[0, 2]), float(m[1, 2])))


def _fit_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity ``dst ~ s R src + t`` of (N, 2) points (3x3)."""
    mu_s = src.mean(0)
    mu_d = dst.mean(0)
    s0 = src - mu_s
    d0 = dst - mu_d
    # Closed form for the 2-D similarity [[a, -b], [b, a]].
    den = (s0 ** 2).sum()
    a = (s0[:, 0] * d0[:, 0] + s0[:, 1] * d0[:, 1]).sum() / den
    b = (s0[:, 0] * d0[:, 1] - s0[:, 1] * d0[:, 0]).sum() / den
    lin = np.array([[a, -b], [b, a]])
    t = mu_d - lin @ mu_s
    return np.array([[a, -b, t[0]], [b, a, t[1]], [0.0, 0.0, 1.0]])


def _pad_linear(field_: np.ndarray) -> np.ndarray:
    """Pad a field by one sample per side, extrapolating linearly.

    Upsampling then continues the field's slope up to the image edge instead
    of clamping it over the outer half sample (cv2.resize does the latter).
    """
    f = np.pad(field_, [(1, 1), (1, 1)] + [(0, 0)] * (field_.ndim - 2), mode="edge")
    if field_.shape[0] > 1:
        f[0] = 2 * f[1] - f[2]
        f[-1] = 2 * f[-2] - f[-3]
    if field_.shape[1] > 1:
        f[:, 0] = 2 * f[:, 1] - f[:, 2]
        f[:, -1] = 2 * f[:, -2] - f[:, -3]
    return f


def _upsample_padded(padded: np.ndarray, grid: np.ndarray,
                     size_wh: tuple[int, int]) -> np.ndarray:
    """Bilinear upsampling of a ``_pad_linear`` field onto the full grid.

    ``grid`` maps full-resolution pixels to the unpadded field's samples.
    """
    m = grid.copy()
    m[:2, 2] += 1.0  # the pad shifts samples by one
    return cv2.warpAffine(padded.astype(np.float32), m[:2], size_wh,
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


def _sample_padded(padded: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Bilinear samples of a padded field at unpadded positions (N, 2)."""
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


# --------------------------------------------------------------------------
# Image preparation.


def _check_image(image: np.ndarray, name: str) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
        raise ValueError(f"The {name} image must be (H, W) gray or (H, W, 3) RGB, "
                         f"not an array of shape {image.shape}.")
    if image.dtype not in (np.uint8, np.uint16, np.float32, np.float64):
        raise ValueError(f"The {name} image must be uint8, uint16 or float in [0, 1], "
                         f"not {image.dtype}.")
    if min(image.shape[:2]) < 32:
        raise ValueError(f"The {name} image ({image.shape[1]}x{image.shape[0]} px) is "
                         "too small to align: use at least 32 px on each side.")
    return image


def _reduced_luminance(image: np.ndarray, max_side: int) -> tuple[np.ndarray, np.ndarray]:
    """Float32 luminance in [0, 1], area-downscaled to ``max_side`` at most.

    Returns the copy and the 3x3 map from full-resolution pixels to it.
    Downscaling first, in the native dtype, keeps the 24 MP case cheap.
    """
    h, w = image.shape[:2]
    k = min(1.0, max_side / max(h, w))
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
        return luminance(_as_float(small)), _resize_matrix((size[0] * f, size[1] * f), size)
    if size != (w, h):
        small = cv2.resize(small, size, interpolation=cv2.INTER_AREA)
    return luminance(_as_float(small)), _resize_matrix((w, h), size)


def _as_float(small: np.ndarray) -> np.ndarray:
    if small.dtype == np.uint8:
        return small.astype(np.float32) * (1 / 255)
    if small.dtype == np.uint16:
        return small.astype(np.float32) * (1 / 65535)
    return small.astype(np.float32, copy=False)


def _standardize(image: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Zero mean, unit standard deviation (over ``mask``): absorbs the global
    exposure and contrast changes of retouching before images are compared."""
    values = image if mask is None else image[mask]
    return (image - values.mean()) / (values.std() + 1e-6)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    """Map a standardised image to 8 bits (+-3 std), as DIS and SIFT need."""
    return np.clip(image * 42.5 + 127.5, 0, 255).astype(np.uint8)


def _match_features(orig_lum: np.ndarray,
                    ai_lum: np.ndarray) -> tuple[np.ndarray | None, int, float]:
    """Coarse similarity (original -> AI, on the given copies) from SIFT + RANSAC.

    Returns the 3x3 matrix (or None), the inlier count and the inlier
    fraction of the smaller keypoint set.
    """
    sift = cv2.SIFT_create(nfeatures=2000)
    # Blur away pores so the smoothed AI image and the original share keypoints.
    kp_o, des_o = sift.detectAndCompute(
        _to_uint8(_standardize(gaussian_blur(orig_lum, 1.0))), None)
    kp_a, des_a = sift.detectAndCompute(
        _to_uint8(_standardize(gaussian_blur(ai_lum, 1.0))), None)
    n_kp = min(len(kp_o), len(kp_a))
    if n_kp < 3 or des_o is None or des_a is None:
        return None, 0, 0.0
    pairs = cv2.BFMatcher(cv2.NORM_L2).knnMatch(des_o, des_a, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < 0.8 * p[1].distance]
    # One match per AI keypoint: many-to-one matches (flat, repetitive areas
    # of unrelated images) make RANSAC agree on a degenerate, zero-scale map.
    best = {}
    for g in good:
        if g.trainIdx not in best or g.distance < best[g.trainIdx].distance:
            best[g.trainIdx] = g
    good = list(best.values())
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


def _dis_flow(ref: np.ndarray, moving: np.ndarray) -> np.ndarray:
    """Dense flow ``f`` with ``ref(p) ~ moving(p + f(p))``, float32 (H, W, 2).

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
    return dis.calc(_to_uint8(ref), _to_uint8(moving), None)


def _warp_original_copy(orig_lum, orig_grid, ai_to_orig, ai_grid, ai_shape):
    """Warp the original's reduced copy onto the AI's reduced grid.

    Returns the warped copy and its validity mask (float32).
    """
    # AI reduced -> original full -> original reduced.
    w2o = orig_grid @ ai_to_orig @ np.linalg.inv(ai_grid)
    # Area-downscale first when the warp shrinks: linear warping would alias.
    shrink = np.sqrt(abs(np.linalg.det(w2o[:2, :2])))
    if shrink > 1.25:
        h, w = orig_lum.shape
        size = (max(1, round(w / shrink)), max(1, round(h / shrink)))
        extra = _resize_matrix((w, h), size)
        orig_lum = cv2.resize(orig_lum, size, interpolation=cv2.INTER_AREA)
        w2o = extra @ w2o
    hw, ww = ai_shape
    warped = cv2.warpAffine(orig_lum, w2o[:2], (ww, hw),
                            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                            borderMode=cv2.BORDER_REPLICATE)
    ones = np.ones(orig_lum.shape, np.float32)
    valid = cv2.warpAffine(ones, w2o[:2], (ww, hw),
                           flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return warped, valid


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur; wide kernels run on a reduced copy (4x+ cheaper, and
    only smooth fields and decision maps are blurred that wide)."""
    if sigma <= 4.0:
        return gaussian_blur(image, sigma)
    h, w = image.shape[:2]
    k = int(sigma // 2)
    small = cv2.resize(image, (max(1, w // k), max(1, h // k)), interpolation=cv2.INTER_AREA)
    small = gaussian_blur(small, sigma / k)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _band_ncc(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """Normalised correlation of the structure band (DoG 2 - 8 px) of a and b."""
    ba = gaussian_blur(a, 2.0) - _blur(a, 8.0)
    bb = gaussian_blur(b, 2.0) - _blur(b, 8.0)
    ba = ba[mask] - ba[mask].mean()
    bb = bb[mask] - bb[mask].mean()
    return float((ba @ bb) / (np.sqrt((ba @ ba) * (bb @ bb)) + 1e-12))


def _structure_weight(image: np.ndarray) -> np.ndarray:
    """Smaller structure-tensor eigenvalue: high where flow is well defined
    in both directions (corners, texture), zero on flat areas and along edges."""
    gy, gx = np.gradient(image)
    jxx = gaussian_blur(gx * gx, 3.0)
    jyy = gaussian_blur(gy * gy, 3.0)
    jxy = gaussian_blur(gx * gy, 3.0)
    return np.maximum(0.5 * (jxx + jyy - np.sqrt((jxx - jyy) ** 2 + 4 * jxy ** 2)), 0)


def _normalized_smooth(flow: np.ndarray, weight: np.ndarray, sigma: float) -> np.ndarray:
    """Weighted Gaussian smoothing: reliable vectors fill in flat areas."""
    den = _blur(weight, sigma) + 1e-12
    return np.dstack([_blur(np.ascontiguousarray(flow[..., c]) * weight, sigma) / den
                      for c in range(2)])


# Smoothing of the local warp, as a fraction of the reduced image's long side:
# liquify fields are smooth over tens of px, flow noise is not.
LOCAL_SIGMA_FRACTION = 0.006


@dataclass
class _FlowFit:
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


def _flow_pass(orig_lum, orig_grid, ai_lum, ai_grid, ai_to_orig) -> _FlowFit:
    """Warp the original's copy with ``ai_to_orig``, measure the DIS flow
    left, and fit it with a similarity (robust to liquified areas)."""
    warped, valid = _warp_original_copy(orig_lum, orig_grid, ai_to_orig, ai_grid,
                                        ai_lum.shape)
    h, w = ai_lum.shape
    inside = valid > 0.999
    # Uncovered parts take the AI's own values: zero flow there, no border pull.
    warped = np.where(inside, warped, ai_lum)
    # Blur both: the AI image lacks pores and fine detail, match structure only.
    ref = _standardize(gaussian_blur(ai_lum, 2.0), inside)
    mov = _standardize(gaussian_blur(warped, 2.0), inside)
    flow = _dis_flow(ref, mov)

    border = max(4, min(h, w) // 50)
    kernel = np.ones((2 * border + 1, 2 * border + 1), np.uint8)
    core = cv2.erode(inside.astype(np.uint8), kernel,
                     borderType=cv2.BORDER_CONSTANT, borderValue=0).astype(bool)
    weight = _structure_weight(ref) * core
    if core.sum() < 100:
        return _FlowFit(ref, mov, flow, inside, core, core, weight, np.eye(3), 0.0)

    textured = weight > np.percentile(weight[core][::7], 50)
    # Every 3rd pixel: flow vectors are correlated over the 8 px DIS patches.
    ys, xs = np.nonzero(textured[::3, ::3])
    ys, xs = ys * 3, xs * 3
    p = np.stack([xs, ys], 1).astype(np.float64)
    q = p + flow[ys, xs].astype(np.float64)
    if len(p) < 50:  # a flat image: nothing to measure
        return _FlowFit(ref, mov, flow, inside, core, textured, weight, np.eye(3), 0.0)
    keep = np.ones(len(p), bool)
    for _ in range(4):
        fit = _fit_similarity(p[keep], q[keep])
        err = np.linalg.norm(q - _apply(fit, p), axis=1)
        # Liquified areas are outliers of the global model: trim them.
        keep = err < max(0.3, 3.0 * np.median(err[keep]))
    fit = _fit_similarity(p[keep], q[keep])
    return _FlowFit(ref, mov, flow, inside, core, textured, weight, fit,
                    float(keep.mean()))


def _model_grid(fit: np.ndarray, shape: tuple[int, int]):
    """Pixel grid (x, y) and its image under ``fit``, float32 (h, w, 2) each."""
    h, w = shape
    xx, yy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    model = np.dstack([fit[0, 0] * xx + fit[0, 1] * yy + fit[0, 2],
                       fit[1, 0] * xx + fit[1, 1] * yy + fit[1, 2]]).astype(np.float32)
    return np.dstack([xx, yy]), model


def _structure_match(ff: _FlowFit) -> float:
    """Structure correlation with the similarity applied (not the flow: flow
    can bend a different photo into partial agreement)."""
    if ff.core.sum() < 100:
        return 0.0
    h, w = ff.ref.shape
    fitted = cv2.warpAffine(ff.mov, ff.fit[:2], (w, h),
                            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                            borderMode=cv2.BORDER_REPLICATE)
    return _band_ncc(ff.ref, fitted, ff.core)


def _local_warp(ff: _FlowFit):
    """What the similarity leaves of the flow, smoothed; and whether it helps.

    Returns
    -------
    local : (h, w, 2) float32
        Smoothed local warp, reduced AI px (0 outside the cover).
    left : (h, w, 2) float32
        Measured flow explained neither by the similarity nor by ``local``.
    gain : (h, w) float
        Local mismatch with ``local`` applied over the mismatch without it.
    """
    h, w = ff.ref.shape
    grid, model = _model_grid(ff.fit, (h, w))
    residual = (grid + ff.flow - model) * ff.inside[..., None]
    # Trust vectors on texture that also explain the images well.
    target = grid + ff.flow
    matched = cv2.remap(ff.mov, target[..., 0], target[..., 1], cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REPLICATE)
    photo = gaussian_blur(np.abs(matched - ff.ref), 3.0)
    eps = float(np.median(photo[ff.core])) ** 2 + 1e-6 if ff.core.any() else 1.0
    trust = ff.weight / (photo ** 2 + eps)
    sigma = max(3.0, LOCAL_SIGMA_FRACTION * max(h, w))
    local = _normalized_smooth(residual, trust, sigma) * ff.inside[..., None]
    left = residual - local
    if np.abs(local).max() > 0.1:
        # One more round from the warped state: DIS and the smoothing both
        # underestimate large, steep warps; the second measurement sees
        # only what is left, where both are accurate.
        target = model + local
        warped = cv2.remap(ff.mov, target[..., 0], target[..., 1], cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
        flow = _dis_flow(ff.ref, warped) * ff.inside[..., None]
        target = grid + flow
        matched = cv2.remap(warped, target[..., 0], target[..., 1], cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REPLICATE)
        photo = gaussian_blur(np.abs(matched - ff.ref), 3.0)
        trust = ff.weight / (photo ** 2 + eps)
        more = _normalized_smooth(flow, trust, sigma) * ff.inside[..., None]
        local += more
        left = flow - more

    # Compare the mismatch with and without the local warp, locally: flow
    # noise on a same-grid pair lowers it by 60 % at most, a real warp of
    # 1 px or more by far more.
    fitted = cv2.remap(ff.mov, model[..., 0], model[..., 1], cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REPLICATE)
    target = model + local
    warped = cv2.remap(ff.mov, target[..., 0], target[..., 1], cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REPLICATE)
    e0 = _blur((fitted - ff.ref) ** 2, 4 * sigma)
    e1 = _blur((warped - ff.ref) ** 2, 4 * sigma)
    return local.astype(np.float32), left.astype(np.float32), e1 / (e0 + 1e-12)


def _max_move(m: np.ndarray, shape: tuple[int, int]) -> float:
    """Largest displacement (px) a 3x3 map applies to the corners of a grid."""
    h, w = shape
    corners = np.array([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]], float)
    return float(np.max(np.linalg.norm(_apply(m, corners) - corners, axis=1)))


def _coverage(ai_to_orig, flow_padded, flow_grid, orig_shape, scale, small_shape,
              full_shape) -> np.ndarray:
    """Feathered coverage mask on the full AI grid, float32 (H, W).

    The signed distance (AI px) from each AI pixel's source position to the
    original's border is computed on the reduced grid, upsampled (it is
    nearly linear) and only then clipped into a ramp.
    """
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
    d = np.minimum(np.minimum(sx + 0.5, wo - 0.5 - sx), np.minimum(sy + 0.5, ho - 0.5 - sy))
    d = (d * scale).astype(np.float32)
    if d.min() > ERODE_PX + FEATHER_PX + 1.0:
        # Covered everywhere (e.g. the AI image is a crop): skip the upsampling.
        return np.ones(full_shape, np.float32)
    d = _upsample_padded(d, flow_grid, (full_shape[1], full_shape[0]))
    d -= ERODE_PX
    d *= 1.0 / FEATHER_PX
    return np.clip(d, 0.0, 1.0, out=d)


def _resample(original: np.ndarray, ai_to_orig: np.ndarray, flow_full: np.ndarray | None,
              out_shape: tuple[int, int]) -> np.ndarray:
    """Resample the full-resolution original once, bicubic.

    ``flow_full`` (H, W, 2) float32 is the local warp in original px, or None.
    """
    h, w = out_shape
    scale = 1.0 / np.sqrt(abs(np.linalg.det(ai_to_orig[:2, :2])))
    src = original
    m = ai_to_orig
    if scale < 0.9:
        # Shrinking: area-downscale first so bicubic sampling does not alias
        # into a false, grainy texture.
        ho, wo = original.shape[:2]
        size = (max(1, round(wo * scale)), max(1, round(ho * scale)))
        pre = _resize_matrix((wo, ho), size)
        src = cv2.resize(original, size, interpolation=cv2.INTER_AREA)
        m = pre @ ai_to_orig
        if flow_full is not None:
            flow_full[..., 0] *= pre[0, 0]
            flow_full[..., 1] *= pre[1, 1]
    if flow_full is None:
        # Reflect, not replicate: 30 % faster, and coverage is 0 there anyway.
        out = cv2.warpAffine(src, m[:2], (w, h),
                             flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                             borderMode=cv2.BORDER_REFLECT)
    else:
        # map = affine grid + local warp, in float32 (exact, no fixed point).
        mx = np.ascontiguousarray(flow_full[..., 0])
        my = np.ascontiguousarray(flow_full[..., 1])
        x = np.arange(w, dtype=np.float32)
        y = np.arange(h, dtype=np.float32)
        mx += (m[0, 0] * x + m[0, 2]).astype(np.float32)[None, :]
        mx += (m[0, 1] * y).astype(np.float32)[:, None]
        my += (m[1, 0] * x + m[1, 2]).astype(np.float32)[None, :]
        my += (m[1, 1] * y).astype(np.float32)[:, None]
        out = cv2.remap(src, mx, my, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    if out.ndim == 2 and original.ndim == 3:
        out = out[..., None]  # cv2 drops a single channel axis
    if np.issubdtype(out.dtype, np.floating):
        np.clip(out, 0.0, 1.0, out=out)  # bicubic overshoot
    return out


# --------------------------------------------------------------------------
# Public entry point.


def align_if_enabled(original: np.ndarray, ai: np.ndarray, enabled: bool = True,
                     enable_hint: str = "turn alignment on", **kwargs) -> Alignment | None:
    """:func:`align_pair` when ``enabled``; with alignment off, None, and the two
    must then have the same size.

    Parameters
    ----------
    enable_hint : str
        How the user turns alignment on in this front end, for the message.
    kwargs
        Passed to :func:`align_pair`.

    Raises
    ------
    AlignmentError
        Not the same photo, or (alignment off) not the same size.
    """
    if enabled:
        return align_pair(original, ai, **kwargs)
    if original.shape[:2] != ai.shape[:2]:
        raise AlignmentError(
            f"The original is {original.shape[1]}x{original.shape[0]} but the retouched image is "
            f"{ai.shape[1]}x{ai.shape[0]}: {enable_hint}, or export both at the same size.")
    return None


def align_pair(original: np.ndarray, ai: np.ndarray, refine: bool = True,
               max_side: int = 1500) -> Alignment:
    """Resample the original onto the AI-retouched image's pixel grid.

    Handles a global similarity (scale 0.5x-2x, rotation up to a few degrees,
    crops up to ~10 % per side, sub-pixel shifts) and, with ``refine``, local
    warps up to ~15 px such as liquify.

    Parameters
    ----------
    original : ndarray, shape (H0, W0, 3) or (H0, W0)
        The unretouched photo: RGB or gray, uint8, uint16 or float in [0, 1].
    ai : ndarray, shape (H, W, 3) or (H, W)
        The AI-retouched photo; it keeps its size and geometry.
    refine : bool
        Also estimate and correct a dense local warp (optical flow). It is
        applied only when it moves some area by more than ~0.3 px.
    max_side : int
        Longest side (px) of the reduced copies the estimation runs on; the
        final resampling is always at full resolution. Larger is slower and
        slightly more precise.

    Returns
    -------
    Alignment

    Raises
    ------
    AlignmentError
        When the two images do not show the same photo (different person or
        shot), or their geometry is beyond what a retouching tool does.
    ValueError
        For arrays that are not images.
    """
    original = _check_image(original, "original")
    ai = _check_image(ai, "AI-retouched")
    max_side = max(256, int(max_side))
    h, w = ai.shape[:2]
    ho, wo = original.shape[:2]
    if original.shape == ai.shape and original.dtype == ai.dtype and \
            np.array_equal(original[::31, ::29], ai[::31, ::29]) and \
            np.array_equal(original, ai):
        # The very same pixels (the subsampled test keeps the usual case cheap).
        return Alignment(original=original, coverage=np.ones((h, w), np.float32),
                         scale=1.0, rotation_deg=0.0, shift=(0.0, 0.0),
                         residual_px=0.0, refined=False, identity=True)

    if original.shape == ai.shape and max(h, w) > 2 * max(QUICK_SIDE, max_side):
        residual_px = _quick_same_grid(original, ai)
        if residual_px is not None:
            return Alignment(original=original, coverage=np.ones((h, w), np.float32),
                             scale=1.0, rotation_deg=0.0, shift=(0.0, 0.0),
                             residual_px=residual_px, refined=False, identity=True)

    ai_lum, ai_grid = _reduced_luminance(ai, max_side)
    orig_lum, orig_grid = _reduced_luminance(original, max_side)

    # A first flow pass on half-size copies gets within ~0.1 px; the second,
    # at max_side, removes the DIS bias on sub-pixel motion and measures the
    # local warp. Same-grid pairs without `refine` stop after the first.
    ai_half, half = _reduced_luminance(ai_lum, max(ai_lum.shape) // 2)
    orig_half, orig_half_grid = _reduced_luminance(orig_lum, max(orig_lum.shape) // 2)
    coarse = (orig_half, orig_half_grid @ orig_grid, ai_half, half @ ai_grid)
    fine = (orig_lum, orig_grid, ai_lum, ai_grid)

    same_size = (h, w) == (ho, wo)
    ff = None
    if same_size:
        # Fast path: most tools keep the grid. Start from the identity and
        # keep it when the flow is explained and the structure matches.
        ai_to_orig = np.eye(3)
        ff = _flow_pass(*coarse, ai_to_orig)
        if ff.inlier_fraction < 0.5 or _structure_match(ff) < MIN_STRUCTURE_NCC:
            ff = None
    if ff is None:
        ai_to_orig = _coarse_alignment(*fine)
        ff = _flow_pass(*coarse, ai_to_orig)
        ncc = _structure_match(ff)
        if ncc < MIN_STRUCTURE_NCC:
            raise AlignmentError(
                "The two images do not show the same photo (their structure "
                f"correlates only {max(ncc, 0) * 100:.0f} % after alignment): check "
                "that you uploaded the original and its retouched version.")
    grid = coarse[3]
    if refine or not same_size or _max_move(ff.fit, ai_half.shape) > 0.02:
        ai_to_orig = ai_to_orig @ np.linalg.inv(grid) @ ff.fit @ grid
        ff = _flow_pass(*fine, ai_to_orig)
        grid = ai_grid

    # Compose: AI full -> AI reduced -> flow fit -> (coarse map) original full.
    reduced_to_orig = ai_to_orig @ np.linalg.inv(grid)
    ai_to_orig = reduced_to_orig @ ff.fit @ grid
    scale, rotation, shift = _similarity_params(np.linalg.inv(ai_to_orig))
    _check_geometry(scale, rotation)

    # Local warp (AI full px): applied only where it is larger than
    # MIN_MOTION_PX and clearly lowers the mismatch over a visible area.
    ai_px = 1.0 / np.sqrt(abs(np.linalg.det(grid[:2, :2])))
    apply_flow = False
    local_px = 0.0
    if refine:
        local, left, gain = _local_warp(ff)
        motion = np.linalg.norm(local, axis=2) * ai_px
        local_px = float(motion[ff.core].max()) if ff.core.any() else 0.0
        warped_area = ff.core & (gain < MAX_WARP_GAIN) & (motion > MIN_MOTION_PX)
        apply_flow = warped_area.sum() >= 1e-3 * max(ff.core.sum(), 1)
        if not apply_flow:
            left = left + local
    else:
        xy, model = _model_grid(ff.fit, ff.ref.shape)
        left = xy + ff.flow - model
    residual_px = (float(np.mean(np.linalg.norm(left[ff.textured], axis=1))) * ai_px
                   if ff.textured.any() else 0.0)

    if same_size and _max_move(ai_to_orig, (h, w)) < MIN_MOTION_PX and not apply_flow:
        return Alignment(original=original, coverage=np.ones((h, w), np.float32),
                         scale=1.0, rotation_deg=0.0, shift=(0.0, 0.0),
                         residual_px=residual_px, refined=False, identity=True)

    flow_padded = None
    flow_full = None
    if apply_flow:
        # Residual flow is in reduced AI px; express it in original full px.
        lin = (reduced_to_orig @ ff.fit)[:2, :2]
        flow_orig = (local.reshape(-1, 2) @ lin.T).reshape(local.shape)
        flow_padded = _pad_linear(flow_orig.astype(np.float32))
        flow_full = _upsample_padded(flow_padded, ai_grid, (w, h))

    coverage = _coverage(ai_to_orig, flow_padded, ai_grid, (ho, wo), scale,
                         ai_lum.shape, (h, w))
    if float(np.mean(coverage > 0.5)) < MIN_COVERAGE_FRACTION:
        raise AlignmentError(
            f"The original covers only {np.mean(coverage > 0.5) * 100:.0f} % of the "
            "retouched image: check that you uploaded the original and its "
            "retouched version, not a different crop.")
    out = _resample(original, ai_to_orig, flow_full, (h, w))
    return Alignment(original=out, coverage=coverage, scale=scale,
                     rotation_deg=rotation, shift=shift, residual_px=residual_px,
                     refined=apply_flow, identity=False,
                     local_warp_px=float(local_px) if apply_flow else 0.0,
                     _ai_to_orig=ai_to_orig, _flow=flow_padded,
                     _flow_grid=ai_grid)


def _quick_same_grid(original: np.ndarray, ai: np.ndarray) -> float | None:
    """Residual (full-res px) when a large same-size pair is already on one
    grid, or None when the full estimation must decide.

    The common case (the AI tool kept the grid) costs a quarter of the full
    path on 24 MP: flow on ``QUICK_SIDE`` copies rules out warps and moves over
    ``QUICK_WARP_PX``; phase correlation of a full-resolution central crop
    rules out a global shift over ``MIN_MOTION_PX``, which the reduced flow
    cannot resolve.
    """
    h, w = ai.shape[:2]
    ai_q, ai_grid = _reduced_luminance(ai, QUICK_SIDE)
    orig_q, orig_grid = _reduced_luminance(original, QUICK_SIDE)
    ff = _flow_pass(orig_q, orig_grid, ai_q, ai_grid, np.eye(3))
    if ff.inlier_fraction < 0.5 or _structure_match(ff) < MIN_STRUCTURE_NCC:
        return None
    px = max(h, w) / max(ai_q.shape)  # full-res px per reduced px
    if _max_move(ff.fit, ai_q.shape) * px > QUICK_WARP_PX:
        return None
    local, left, gain = _local_warp(ff)
    # As in the full path: a warp counts only where it clearly explains the images better.
    motion = np.linalg.norm(local, axis=2) * px
    warped_area = ff.core & (gain < MAX_WARP_GAIN) & (motion > QUICK_WARP_PX)
    if warped_area.sum() >= 1e-3 * max(ff.core.sum(), 1):
        return None
    ch, cw = min(QUICK_CROP, h), min(QUICK_CROP, w)
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    crops = [_reduced_luminance(x[y0:y0 + ch, x0:x0 + cw], QUICK_CROP)[0] for x in (original, ai)]
    (dx, dy), _ = cv2.phaseCorrelate(crops[0], crops[1], cv2.createHanningWindow((cw, ch), cv2.CV_32F))
    if np.hypot(dx, dy) > MIN_MOTION_PX:
        return None
    return float(np.mean(np.linalg.norm(left[ff.textured], axis=1))) * px if ff.textured.any() else 0.0


def _coarse_alignment(orig_lum, orig_grid, ai_lum, ai_grid):
    """Feature-based similarity, AI full -> original full (3x3)."""
    o_small, o_feat = _reduced_luminance(orig_lum, FEATURE_SIDE)
    a_small, a_feat = _reduced_luminance(ai_lum, FEATURE_SIDE)
    m, n_in, fraction = _match_features(o_small, a_small)
    if m is None or n_in < MIN_INLIERS or fraction < MIN_MATCH_FRACTION:
        raise AlignmentError(
            "The two images do not show the same photo (only "
            f"{fraction * 100:.0f} % of features match): check that you uploaded "
            "the original and its retouched version.")
    # Feature copies -> full resolution: AI full -> original full.
    orig_to_ai = (np.linalg.inv(a_feat @ ai_grid) @ m @ (o_feat @ orig_grid))
    scale, rotation, _ = _similarity_params(orig_to_ai)
    _check_geometry(scale, rotation)
    return np.linalg.inv(orig_to_ai)


def _check_geometry(scale: float, rotation: float) -> None:
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

"""The alignment result and :func:`align_pair`, cut into its stages.

check inputs -> same pixels? -> quick same-grid check -> coarse alignment ->
flow refinement -> local warp -> coverage -> resample. Each stage is one
function below, in that order; :func:`align_pair` only chains them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from processing.align.errors import AlignmentError
from processing.align.features import ReducedPair, coarse_alignment, reduce_further, \
    reduced_pair
from processing.align.flow import MIN_MOTION_PX, MIN_STRUCTURE_NCC, QUICK_SIDE, FlowFit, \
    flow_pass, local_warp, mean_residual, model_grid, quick_same_grid, similarity_explains, \
    structure_match, warp_is_significant
from processing.align.geometry import apply_affine, check_geometry, max_move, pad_linear, \
    sample_padded, similarity_params, upsample_padded
from processing.align.resample import MIN_COVERAGE_FRACTION, coverage, full_coverage, resample

__all__ = ["AlignmentError", "Alignment", "align_pair", "align_if_enabled"]


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
        Where the original covers everything it is a read-only view of a
        single 1 (:func:`~processing.align.resample.full_coverage`): no frame is stored.
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
            "coverage_fraction": covered_fraction(self.coverage),
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
            out += sample_padded(self._flow, apply_affine(self._flow_grid, pts))
        return out


def covered_fraction(cover: np.ndarray) -> float:
    """Fraction of the AI grid the original covers (coverage above 0.5), counted a band at a time."""
    if cover.size == 0:
        return 0.0
    if not any(cover.strides):  # a single value spread over the frame
        return float(cover.flat[0] > 0.5)
    step = max(1, (1 << 22) // max(1, cover.shape[1]))
    covered = sum(int(np.count_nonzero(cover[r:r + step] > 0.5)) for r in range(0, cover.shape[0], step))
    return covered / cover.size


def _unmoved(original: np.ndarray, residual_px: float) -> Alignment:
    """The result for a pair already on one grid: the input, not resampled."""
    return Alignment(original=original, coverage=full_coverage(original.shape[:2]),
                     scale=1.0, rotation_deg=0.0, shift=(0.0, 0.0),
                     residual_px=residual_px, refined=False, identity=True)


@dataclass
class _GlobalFit:
    """The similarity after flow refinement, and the flow pass that fixed it."""

    ff: FlowFit                  # last flow pass
    grid: np.ndarray             # AI full px -> the reduced grid of ``ff``
    reduced_to_orig: np.ndarray  # that reduced grid -> original px, before ``ff.fit``
    ai_to_orig: np.ndarray       # AI full px -> original px (3x3)
    scale: float                 # original -> AI
    rotation: float              # deg
    shift: tuple[float, float]   # AI px


@dataclass
class _LocalWarp:
    """The local warp decision and what the applied model leaves."""

    local: np.ndarray | None     # (h, w, 2) reduced AI px, None when not applied
    max_px: float                # largest applied displacement, AI px
    residual_px: float           # mean unexplained flow, AI px


# --------------------------------------------------------------------------
# Stages, in the order align_pair runs them.


def _check_image(image: np.ndarray, name: str) -> np.ndarray:
    """``image`` as an array, or ValueError naming the ``name`` image."""
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


def _check_inputs(original, ai, max_side) -> tuple[np.ndarray, np.ndarray, int]:
    """Both images as arrays, and ``max_side`` (px) no smaller than 256."""
    return (_check_image(original, "original"), _check_image(ai, "AI-retouched"),
            max(256, int(max_side)))


def _same_pixels(original: np.ndarray, ai: np.ndarray) -> bool:
    """The very same pixels (the subsampled test keeps the usual case cheap).

    Compared a band of rows at a time: a whole-frame comparison makes a
    boolean copy of the image (432 MB at 144 MP).
    """
    if original is ai:
        return True
    if not (original.shape == ai.shape and original.dtype == ai.dtype
            and np.array_equal(original[::31, ::29], ai[::31, ::29])):
        return False
    step = max(1, (1 << 22) // max(1, original[0].size))
    return all(np.array_equal(original[r:r + step], ai[r:r + step]) for r in range(0, original.shape[0], step))


def _quick_check(original: np.ndarray, ai: np.ndarray, max_side: int) -> float | None:
    """Residual (px) when a large same-size pair is cheaply found on one grid.

    Only for pairs much larger than the estimation copies, where the full
    path is expensive; None means the full estimation decides.
    """
    h, w = ai.shape[:2]
    if original.shape == ai.shape and max(h, w) > 2 * max(QUICK_SIDE, max_side):
        return quick_same_grid(original, ai)
    return None


def _coarse_stage(coarse: ReducedPair, fine: ReducedPair,
                  same_size: bool) -> tuple[np.ndarray, FlowFit]:
    """Coarse AI -> original map (3x3) and a first flow pass on ``coarse``.

    Most tools keep the grid, so a same-size pair starts from the identity
    and keeps it when the flow is explained and the structure matches;
    otherwise features decide.

    Raises
    ------
    AlignmentError
        The structure does not match after alignment: not the same photo.
    """
    if same_size:
        ff = flow_pass(coarse, np.eye(3))
        if similarity_explains(ff):
            return np.eye(3), ff
    ai_to_orig = coarse_alignment(fine)
    ff = flow_pass(coarse, ai_to_orig)
    ncc = structure_match(ff)
    if ncc < MIN_STRUCTURE_NCC:
        raise AlignmentError(
            "The two images do not show the same photo (their structure "
            f"correlates only {max(ncc, 0) * 100:.0f} % after alignment): check "
            "that you uploaded the original and its retouched version.")
    return ai_to_orig, ff


def _refine_stage(coarse: ReducedPair, fine: ReducedPair, ai_to_orig: np.ndarray,
                  ff: FlowFit, second_pass: bool) -> _GlobalFit:
    """Compose the coarse map with the flow fit, after a second flow pass on
    ``fine`` when asked or when the first fit still moves the grid.

    The first pass on half-size copies gets within ~0.1 px; the second, at
    ``max_side``, removes the DIS bias on sub-pixel motion and measures the
    local warp.

    Raises
    ------
    AlignmentError
        The refined geometry is beyond what a retouching tool does.
    """
    grid = coarse.ai_grid
    if second_pass or max_move(ff.fit, coarse.ai.shape) > 0.02:
        ai_to_orig = ai_to_orig @ np.linalg.inv(grid) @ ff.fit @ grid
        ff = flow_pass(fine, ai_to_orig)
        grid = fine.ai_grid
    # Compose: AI full -> AI reduced -> flow fit -> (coarse map) original full.
    reduced_to_orig = ai_to_orig @ np.linalg.inv(grid)
    ai_to_orig = reduced_to_orig @ ff.fit @ grid
    scale, rotation, shift = similarity_params(np.linalg.inv(ai_to_orig))
    check_geometry(scale, rotation)
    return _GlobalFit(ff, grid, reduced_to_orig, ai_to_orig, scale, rotation, shift)


def _local_warp_stage(fit: _GlobalFit, refine: bool) -> _LocalWarp:
    """Estimate the local warp (with ``refine``) and decide whether to apply it.

    It is applied only where it is larger than MIN_MOTION_PX and clearly
    lowers the mismatch over a visible area; a warp not applied counts in the
    residual.
    """
    ff = fit.ff
    ai_px = 1.0 / np.sqrt(abs(np.linalg.det(fit.grid[:2, :2])))  # AI px per reduced px
    if not refine:
        xy, model = model_grid(ff.fit, ff.ref.shape)
        return _LocalWarp(None, 0.0, mean_residual(xy + ff.flow - model, ff.textured, ai_px))
    local, left, gain = local_warp(ff)
    motion = np.linalg.norm(local, axis=2) * ai_px
    if warp_is_significant(ff, gain, motion, MIN_MOTION_PX):
        max_px = float(motion[ff.core].max()) if ff.core.any() else 0.0
        return _LocalWarp(local, max_px, mean_residual(left, ff.textured, ai_px))
    return _LocalWarp(None, 0.0, mean_residual(left + local, ff.textured, ai_px))


def _warp_fields(fit: _GlobalFit, local: np.ndarray, ai_grid: np.ndarray,
                 ai_shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The applied local warp in original px: padded on the reduced AI grid
    (kept for :meth:`Alignment.ai_to_original`) and on the full AI grid."""
    lin = (fit.reduced_to_orig @ fit.ff.fit)[:2, :2]
    flow_orig = (local.reshape(-1, 2) @ lin.T).reshape(local.shape)
    flow_padded = pad_linear(flow_orig.astype(np.float32))
    return flow_padded, upsample_padded(flow_padded, ai_grid, (ai_shape[1], ai_shape[0]))


def _coverage_stage(fit: _GlobalFit, flow_padded: np.ndarray | None, fine: ReducedPair,
                    orig_shape: tuple[int, int], ai_shape: tuple[int, int]) -> np.ndarray:
    """Coverage of the AI grid by the original, float32 (H, W).

    Raises
    ------
    AlignmentError
        The original covers too little of the AI image: a different crop.
    """
    cover = coverage(fit.ai_to_orig, flow_padded, fine.ai_grid, orig_shape, fit.scale,
                     fine.ai.shape, ai_shape)
    fraction = covered_fraction(cover)
    if fraction < MIN_COVERAGE_FRACTION:
        raise AlignmentError(
            f"The original covers only {fraction * 100:.0f} % of the "
            "retouched image: check that you uploaded the original and its "
            "retouched version, not a different crop.")
    return cover


# --------------------------------------------------------------------------
# Public entry points.


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
    original, ai, max_side = _check_inputs(original, ai, max_side)
    if _same_pixels(original, ai):
        return _unmoved(original, 0.0)
    quick_residual = _quick_check(original, ai, max_side)
    if quick_residual is not None:
        return _unmoved(original, quick_residual)

    ai_shape, orig_shape = ai.shape[:2], original.shape[:2]
    same_size = ai_shape == orig_shape
    fine = reduced_pair(original, ai, max_side)
    coarse = reduce_further(fine, max(fine.orig.shape) // 2, max(fine.ai.shape) // 2)
    ai_to_orig, ff = _coarse_stage(coarse, fine, same_size)
    # Same-grid pairs without `refine` stop after the coarse flow pass.
    fit = _refine_stage(coarse, fine, ai_to_orig, ff, refine or not same_size)
    warp = _local_warp_stage(fit, refine)
    if same_size and max_move(fit.ai_to_orig, ai_shape) < MIN_MOTION_PX and warp.local is None:
        return _unmoved(original, warp.residual_px)

    flow_padded, flow_full = (None, None) if warp.local is None else \
        _warp_fields(fit, warp.local, fine.ai_grid, ai_shape)
    cover = _coverage_stage(fit, flow_padded, fine, orig_shape, ai_shape)
    out = resample(original, fit.ai_to_orig, flow_full, ai_shape)
    return Alignment(original=out, coverage=cover, scale=fit.scale,
                     rotation_deg=fit.rotation, shift=fit.shift,
                     residual_px=warp.residual_px, refined=warp.local is not None,
                     identity=False, local_warp_px=warp.max_px,
                     _ai_to_orig=fit.ai_to_orig, _flow=flow_padded,
                     _flow_grid=fine.ai_grid)

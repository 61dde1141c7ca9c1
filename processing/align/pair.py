"""The alignment result and :func:`align_pair`, cut into its stages.

check inputs -> same pixels? -> coarse alignment -> flow refinement (the
global similarity) -> local warp (:mod:`~processing.align.local_warp`) ->
coverage -> resample. Each stage is one function below, in that order;
:func:`align_pair` only chains them. Every frame size takes the same path, so
an edit is judged the same at 1 MP and at 24 MP.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from processing.align.errors import AlignmentError
from processing.align.features import ReducedPair, coarse_alignment, reduce_further, \
    reduced_pair
from processing.align.flow import MIN_MOTION_PX, MIN_STRUCTURE_NCC, FlowFit, flow_pass, \
    mean_residual, similarity_explains, structure_match
from processing.align.geometry import check_geometry, linear_scale, max_move, similarity_params
from processing.align.local_warp import LocalWarp, apply_local_warp, find_local_warp
from processing.align.resample import MIN_COVERAGE_FRACTION, coverage, full_coverage, resample
from processing.align.shift_check import direct_shift
from processing.row_bands import on_own_thread

__all__ = ["AlignmentError", "Alignment", "align_pair", "align_if_enabled"]

#: A same-size pair whose fitted similarity moves points by MIN_MOTION_PX up
#: to this (AI px) is checked by a direct fit before it is resampled
#: (:func:`_on_grid`); the flow's reading on smoothed frames stays below 0.8 px.
RECHECK_MAX_PX = 1.5


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
        Whether a local warp (liquify) was followed on top of the similarity.
    identity : bool
        True when the pair already shared the pixel grid and nothing moved:
        nothing was resampled and ``original`` is the input object itself.
    local_warp_px : float
        Largest local displacement followed, AI px (0 without a local warp).
    local_warp_fraction : float
        Fraction of the frame the local warp moved (and resampled when the
        pair shares the grid; the rest of the original is kept bit for bit).
    local_warp_faces : list of int
        1-based numbers of the faces the local warp touches.
    """

    original: np.ndarray
    coverage: np.ndarray
    scale: float
    rotation_deg: float
    shift: tuple[float, float]
    residual_px: float
    refined: bool
    identity: bool
    local_warp_px: float = 0.0
    local_warp_fraction: float = 0.0
    local_warp_faces: list = field(default_factory=list)
    # The mapping itself, kept small so :meth:`ai_to_original` can evaluate
    # it: 3x3 AI -> original (full-resolution px), plus the local warp.
    _ai_to_orig: np.ndarray = field(default_factory=lambda: np.eye(3), repr=False)
    _warp: LocalWarp | None = field(default=None, repr=False)

    @property
    def same_grid(self) -> bool:
        """Whether the global alignment is the identity (a local warp may still apply)."""
        return self.scale == 1.0 and self.rotation_deg == 0.0 and self.shift == (0.0, 0.0)

    def local_warp_text(self) -> str:
        """'local warp up to 3.2 px over 0.4 % of the frame (faces 1, 3)'."""
        text = (f"local warp up to {self.local_warp_px:.1f} px over "
                f"{_percent(self.local_warp_fraction)} of the frame")
        if self.local_warp_faces:
            word = "face" if len(self.local_warp_faces) == 1 else "faces"
            text += f" ({word} {', '.join(str(i) for i in self.local_warp_faces)})"
        return text

    def summary(self) -> str:
        """One line for the CLI, the batch report and the web app."""
        if self.identity:
            return "Same grid, nothing resampled."
        if self.same_grid:
            return f"Same grid; {self.local_warp_text()}: only that region resampled."
        text = (f"Aligned: scale {self.scale:.3f}, rotation {self.rotation_deg:.1f}°, "
                f"shift ({self.shift[0]:.1f}, {self.shift[1]:.1f}) px")
        if self.refined:
            text += f"; {self.local_warp_text()}"
        return text + f"; residual {self.residual_px:.2f} px."

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
            "local_warp_fraction": float(self.local_warp_fraction),
            "local_warp_faces": [int(i) for i in self.local_warp_faces],
            "coverage_fraction": covered_fraction(self.coverage),
            "summary": self.summary(),
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
        if self._warp:
            out += self._warp.at(pts[:, 0], pts[:, 1]).astype(np.float64)
        return out


def _percent(fraction: float) -> str:
    """A fraction as a short percentage: '0.4 %', '12 %'."""
    p = 100.0 * fraction
    return f"{p:.1f} %" if p < 10 else f"{p:.0f} %"


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
    ``max_side``, removes the DIS bias on sub-pixel motion. A same-size pair
    whose first fit moves nothing (the common case) skips it.

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


def _residual(fit: _GlobalFit) -> float:
    """Mean flow (AI px) on textured pixels that the global similarity leaves unexplained."""
    ff = fit.ff
    ai_px = 1.0 / linear_scale(fit.grid)  # AI px per reduced px
    return mean_residual(ff.fit, ff.flow, ff.textured, ai_px)


def _on_grid(fit: _GlobalFit, fine: ReducedPair, ai_shape: tuple[int, int]) -> bool:
    """Whether a same-size pair keeps its grid: the fit moves no point by
    MIN_MOTION_PX, or it moves them by less than RECHECK_MAX_PX and a direct
    least-squares fit of the two copies (:mod:`~processing.align.shift_check`)
    finds no shift of MIN_MOTION_PX either: the flow reads up to 0.8 px of
    motion on frames smoothed hard at the copies' scale."""
    move = max_move(fit.ai_to_orig, ai_shape)
    if move < MIN_MOTION_PX:
        return True
    if move >= RECHECK_MAX_PX:
        return False
    ai_px = 1.0 / linear_scale(fine.ai_grid)  # AI px per px of the copies
    return float(np.hypot(*direct_shift(fine.ai, fine.orig))) * ai_px < MIN_MOTION_PX


def _coverage_stage(fit: _GlobalFit, fine: ReducedPair,
                    orig_shape: tuple[int, int], ai_shape: tuple[int, int]) -> np.ndarray:
    """Coverage of the AI grid by the original, float32 (H, W).

    Raises
    ------
    AlignmentError
        The original covers too little of the AI image: a different crop.
    """
    cover = coverage(fit.ai_to_orig, None, fine.ai_grid, orig_shape, fit.scale,
                     fine.ai.shape, ai_shape)
    fraction = covered_fraction(cover)
    if fraction < MIN_COVERAGE_FRACTION:
        raise AlignmentError(
            f"The original covers only {fraction * 100:.0f} % of the "
            "retouched image: check that you uploaded the original and its "
            "retouched version, not a different crop.")
    return cover


class _SearchOnGrid:
    """The liquify search on the identity map, started on its own thread before
    the global fit is known. It looks for motion at once but measures a field
    only once the fit has confirmed the grid (:meth:`result`): on a pair the fit
    moves, a field measured on the wrong map would take a core for a second."""

    def __init__(self, original, ai, faces, fine):
        self._decided = threading.Event()
        self._kept = False
        self._future = on_own_thread(find_local_warp, original, ai, np.eye(3), faces, fine, self._wanted)

    def _wanted(self) -> bool:
        self._decided.wait()
        return self._kept

    def result(self) -> LocalWarp:
        """The search's warp: the fit confirmed the grid."""
        self._kept = True
        self._decided.set()
        return self._future.result()

    def drop(self) -> None:
        """Not on the grid after all (or the alignment failed): the search stops
        before measuring any field. Harmless after :meth:`result`."""
        self._decided.set()


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
               max_side: int = 1500, faces=None) -> Alignment:
    """Put the original on the AI-retouched image's pixel grid, moving only what moved.

    Handles a global similarity (scale 0.5x-2x, rotation up to a few degrees,
    crops up to ~10 % per side, sub-pixel shifts) and, with ``refine``, local
    warps such as liquify. A pair on the same grid that only differs by
    smoothing, tone or removed blemishes comes back untouched; a local warp
    on such a pair resamples only the region that moved.

    Parameters
    ----------
    original : ndarray, shape (H0, W0, 3) or (H0, W0)
        The unretouched photo: RGB or gray, uint8, uint16 or float in [0, 1].
    ai : ndarray, shape (H, W, 3) or (H, W)
        The AI-retouched photo; it keeps its size and geometry.
    refine : bool
        Also follow local warps (liquify) of at least ~0.5 px.
    max_side : int
        Longest side (px) of the reduced copies the global similarity is
        estimated on; the resampling is always at full resolution.
    faces : list of FaceLandmarks or an ArrivingList of them, optional
        Faces found on the AI image: each is also searched for a reshape at
        its own scale, and the summary names the faces a warp touches. An
        :class:`~processing.row_bands.ArrivingList` gives each face as it is
        found, so the alignment can start while they are still being found.

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

    ai_shape, orig_shape = ai.shape[:2], original.shape[:2]
    same_size = ai_shape == orig_shape
    fine = reduced_pair(original, ai, max_side)
    # Most tools keep the grid: the liquify search on it starts now, beside the
    # global fit, and is kept when that fit confirms the grid.
    on_grid = _SearchOnGrid(original, ai, faces, fine) if same_size and refine else None
    try:
        coarse = reduce_further(fine, max(fine.orig.shape) // 2, max(fine.ai.shape) // 2)
        ai_to_orig, ff = _coarse_stage(coarse, fine, same_size)
        fit = _refine_stage(coarse, fine, ai_to_orig, ff, not same_size)
        residual = _residual(fit)
        same_grid = same_size and _on_grid(fit, fine, ai_shape)
        if same_grid:
            fit.ai_to_orig, fit.scale, fit.rotation, fit.shift = np.eye(3), 1.0, 0.0, (0.0, 0.0)
        if on_grid and same_grid:
            warp = on_grid.result()
        else:
            if on_grid:
                on_grid.drop()
            warp = find_local_warp(original, ai, fit.ai_to_orig, faces, fine) if refine else LocalWarp()
    finally:
        if on_grid:
            on_grid.drop()  # never left waiting, whatever failed
    details = dict(residual_px=residual, refined=bool(warp), local_warp_px=warp.max_px,
                   local_warp_fraction=warp.moved_fraction, local_warp_faces=warp.faces,
                   _ai_to_orig=fit.ai_to_orig, _warp=warp if warp else None)
    if same_grid:
        if not warp:
            return _unmoved(original, residual)
        # Only the moved region is resampled; the rest is the original, bit for bit.
        return Alignment(original=apply_local_warp(original, warp), coverage=full_coverage(ai_shape),
                         scale=1.0, rotation_deg=0.0, shift=(0.0, 0.0), identity=False, **details)

    cover = _coverage_stage(fit, fine, orig_shape, ai_shape)
    flow_full = None
    if warp:
        flow_full = np.zeros(ai_shape + (2,), np.float32)
        x0, y0, x1, y1 = warp.bbox()
        flow_full[y0:y1, x0:x1] = warp.on_box((x0, y0, x1, y1))
    out = resample(original, fit.ai_to_orig, flow_full, ai_shape)
    return Alignment(original=out, coverage=cover, scale=fit.scale, rotation_deg=fit.rotation,
                     shift=fit.shift, identity=False, **details)

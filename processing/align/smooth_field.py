"""A smooth displacement field fitted to a noisy optical flow.

A liquify moves skin as a smooth sheet, but the flow measured between a
smoothed AI image and its textured original is noisy wherever the skin is
flat: averaged locally it scatters by 0.5-1 px in worm-like patterns, enough to
put the grafted pores half a pore off. So the field is fitted to the whole
window at once instead:

``min_d  sum_p (d - f)^T wJ (d - f) + lambda |L d|^2``

on a coarse grid (one node every ``step`` px). The data term is the flow
``f`` weighted by the image's structure tensor ``J`` (an edge constrains only
the motion across it, flat skin almost nothing) and by the caller's
confidence ``w``; ``|L d|^2`` is the thin-plate bending energy (squared second
differences, :func:`bending`): an affine field costs nothing, and
flat skin between moved features takes the smoothest field that the features
around it allow, rather than the flow's noise there. A small ridge keeps the
system well posed where nothing constrains the field.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import cv2
import numpy as np

from processing.filters import gradient

if TYPE_CHECKING:  # imported where used: scipy.sparse takes 0.2 s, and only a pair that moved needs it
    import scipy.sparse as sp

__all__ = ["STIFFNESS", "NODES_PER_SIDE", "bending", "fit_smooth_field"]

#: Weight of the bending penalty against the data, relative to the 99th
#: percentile of the nodes' tensor trace. Mean field error on the 1.5 MP
#: liquified portrait under TV / edge-preserving smoothing (px): 0.25 / 0.65 at
#: 0.01, 0.25 / 0.59 at 0.05, 0.29 / 0.65 at 0.15, 0.35 / 0.72 at 0.3, 0.84 / 1.18 at 3.
STIFFNESS = 0.05
#: Nodes along a window's long side (a node every 8 px on a 1024 px window):
#: every 4 px costs 4x the time for no gain, every 16 px loses 0.2 px.
NODES_PER_SIDE = 128
#: Relative weight of the pull towards zero where nothing constrains the field.
RIDGE = 1e-6
#: Conjugate gradients stop at this relative residual, or after this many steps.
SOLVER_TOLERANCE = 1e-4
SOLVER_ITERATIONS = 1000
#: Fits of at least twice this many nodes on each side start from a fit on half as many.
WARM_START_NODES = 16


def _first_difference(n: int) -> sp.csr_matrix:
    """1-D first differences of ``n`` nodes, sparse (n - 1, n)."""
    import scipy.sparse as sp

    ones = np.ones(max(n - 1, 0))
    return sp.diags([-ones, ones], [0, 1], shape=(max(n - 1, 0), n), format="csr")


def _second_difference(n: int) -> sp.csr_matrix:
    """1-D second differences of ``n`` nodes, one per interior node, sparse (n - 2, n).

    No rows at the ends: a straight line has none, so it costs nothing.
    """
    import scipy.sparse as sp

    if n < 3:
        return sp.csr_matrix((0, n))
    ones = np.ones(n - 2)
    return sp.diags([ones, -2.0 * ones, ones], [0, 1, 2], shape=(n - 2, n), format="csr")


@functools.lru_cache(maxsize=8)
def bending(shape: tuple[int, int]) -> sp.csr_matrix:
    """The thin-plate bending energy ``d_xx^2 + 2 d_xy^2 + d_yy^2`` summed over a
    grid of ``shape`` (rows, columns), as a sparse quadratic form (row-major).

    Zero exactly for affine fields; positive for anything that bends. Kept for
    the next fit on the same grid (a field's rounds share theirs): do not
    modify the returned matrix.
    """
    import scipy.sparse as sp

    h, w = shape
    dxx, dyy = _second_difference(w), _second_difference(h)
    dxy = sp.kron(_first_difference(h), _first_difference(w))
    return (sp.kron(sp.identity(h, format="csr"), dxx.T @ dxx)
            + sp.kron(dyy.T @ dyy, sp.identity(w, format="csr"))
            + 2.0 * (dxy.T @ dxy)).tocsr()


def fit_smooth_field(flow: np.ndarray, image: np.ndarray, weight: np.ndarray,
                     step: float | None = None, stiffness: float = STIFFNESS,
                     zero_border: bool = False) -> np.ndarray:
    """The smooth field closest to ``flow`` where ``image`` has structure.

    Parameters
    ----------
    flow : ndarray, float32, shape (h, w, 2)
        Measured displacement, px.
    image : ndarray, float32, shape (h, w)
        The image whose structure tensor weighs the flow (the reference side).
    weight : ndarray, float32, shape (h, w)
        Confidence of each flow vector in [0, 1] (0: ignored).
    step : float, optional
        Node spacing, px; default the long side over NODES_PER_SIDE (at least 4).
    stiffness : float
        Curvature penalty, see STIFFNESS.
    zero_border : bool
        Hold the field at zero on the outermost nodes: for a window drawn
        around all the motion, where a free edge would let the fit run on.

    Returns
    -------
    ndarray, float32, shape (h, w, 2)
        The fitted field, px, interpolated (bicubic) from the nodes.
    """
    h, w = image.shape
    step = step or max(4.0, max(h, w) / NODES_PER_SIDE)
    gh, gw = max(2, int(round(h / step))), max(2, int(round(w / step)))
    gy, gx = gradient(image)
    jxx, jxy, jyy = weight * gx * gx, weight * gx * gy, weight * gy * gy
    fx, fy = flow[..., 0], flow[..., 1]

    terms = (jxx, jxy, jyy, jxx * fx + jxy * fy, jxy * fx + jyy * fy)
    start = None
    if min(gh, gw) >= 2 * WARM_START_NODES:
        # Conjugate gradients remove a smooth error slowest: start from the same
        # fit on half the nodes a side (a 2x spacing makes the bending 16x
        # dearer per node, hence the stiffness / 16): 40 % fewer steps.
        coarse_shape = (gh // 2, gw // 2)
        coarse = _solve(terms, coarse_shape, stiffness / 16.0, zero_border, None)
        start = np.concatenate([cv2.resize(p, (gw, gh), interpolation=cv2.INTER_LINEAR).ravel()
                                for p in _planes(coarse, coarse_shape)])
    nodes = _solve(terms, (gh, gw), stiffness, zero_border, start).astype(np.float32)
    return np.dstack([cv2.resize(p, (w, h), interpolation=cv2.INTER_CUBIC) for p in _planes(nodes, (gh, gw))])


def _planes(nodes: np.ndarray, nodes_shape: tuple[int, int]) -> list[np.ndarray]:
    """The x and y node values of a solve (one block after the other) as two grids of ``nodes_shape``."""
    n = nodes_shape[0] * nodes_shape[1]
    return [nodes[i * n:(i + 1) * n].reshape(nodes_shape) for i in range(2)]


def _solve(terms: tuple, nodes_shape: tuple[int, int], stiffness: float, zero_border: bool,
           start: np.ndarray | None) -> np.ndarray:
    """The fit's node values (x block, then y block), float64, from the per-pixel
    terms ``(wJxx, wJxy, wJyy, (wJ f)_x, (wJ f)_y)``, starting from ``start``."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    gh, gw = nodes_shape

    def to_nodes(x: np.ndarray) -> np.ndarray:
        # The data term is a sum over pixels: each node takes its block's mean.
        return cv2.resize(x, (gw, gh), interpolation=cv2.INTER_AREA).ravel().astype(np.float64)

    sxx, sxy, syy, bx, by = (to_nodes(t) for t in terms)
    scale = float(np.percentile(sxx + syy, 99)) + 1e-12
    ridge = np.full((gh, gw), RIDGE)
    if zero_border:
        ridge[[0, -1], :] = ridge[:, [0, -1]] = 1.0
    smooth = stiffness * scale * bending((gh, gw)) + scale * sp.diags(ridge.ravel())
    system = sp.bmat([[sp.diags(sxx) + smooth, sp.diags(sxy)],
                      [sp.diags(sxy), sp.diags(syy) + smooth]], format="csr")
    # Conjugate gradients (the system is symmetric positive definite), Jacobi
    # preconditioned: about 0.1 s on a 1024 px window where a direct solve takes
    # 0.7 s; the liquify cases' correlations agree with a 1e-5 tolerance to 0.001.
    nodes, _ = spla.cg(system, np.concatenate([bx, by]), x0=start, M=sp.diags(1.0 / system.diagonal()),
                       rtol=SOLVER_TOLERANCE, maxiter=SOLVER_ITERATIONS)
    return nodes

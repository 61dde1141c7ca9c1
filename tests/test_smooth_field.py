"""The smooth field fitted to a noisy flow (processing/align/smooth_field.py).

Properties pinned by the math (an affine field costs no bending, an edge
constrains only the motion across it) and the energy minimised against a
dense least-squares solve written out here, one residual per term.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from processing.align.smooth_field import RIDGE, bending, fit_smooth_field
from processing.filters import luminance


@pytest.fixture(scope="module")
def texture() -> np.ndarray:
    """The astronaut's luminance, 256 px, float32: structure in every direction."""
    img = cv2.resize(data.astronaut(), (256, 256), interpolation=cv2.INTER_AREA)
    return luminance(img.astype(np.float32) / 255)


def affine_field(shape, a=(0.5, 0.004, -0.003), b=(-0.8, 0.002, 0.005)) -> np.ndarray:
    """d(x, y) = (a0 + a1 x + a2 y, b0 + b1 x + b2 y), float32 (h, w, 2), px."""
    h, w = shape
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    return np.dstack([a[0] + a[1] * xx + a[2] * yy, b[0] + b[1] * xx + b[2] * yy]).astype(np.float32)


def test_bending_is_zero_for_affine_fields_only():
    h, w = 7, 9
    q = bending((h, w))
    yy, xx = np.mgrid[:h, :w].astype(np.float64)
    for plane in (np.ones((h, w)), xx, yy, 0.3 + 2 * xx - yy):
        assert plane.ravel() @ q @ plane.ravel() == pytest.approx(0.0, abs=1e-9)
    # d_xx, d_yy and d_xy each cost: x^2, y^2 and x*y bend.
    for plane in (xx ** 2, yy ** 2, xx * yy):
        assert plane.ravel() @ q @ plane.ravel() > 1.0
    # x*y: only the cross term, d_xy = 1 on each of the (h-1)(w-1) cells, counted twice.
    cross = (xx * yy).ravel()
    assert cross @ q @ cross == pytest.approx(2.0 * (h - 1) * (w - 1))


def test_an_affine_flow_is_kept(texture):
    flow = affine_field(texture.shape)
    fitted = fit_smooth_field(flow, texture, np.ones(texture.shape, np.float32))
    error = np.abs(fitted - flow)[8:-8, 8:-8]
    assert error.mean() < 0.005 and error.max() < 0.05


def test_a_hole_in_the_data_is_bridged_by_the_affine_field(texture):
    """Where the flow is not trusted (weight 0), the field is what the data around it says."""
    h, w = texture.shape
    flow = affine_field(texture.shape)
    weight = np.ones((h, w), np.float32)
    hole = np.hypot(*np.mgrid[:h, :w][::-1] - np.array([128, 128])[:, None, None]) < 50
    weight[hole] = 0.0
    noisy = flow.copy()
    noisy[hole] += np.float32([3.0, -2.0])  # what a flow says on flat, smoothed skin
    fitted = fit_smooth_field(noisy, texture, weight)
    assert np.abs(fitted - flow)[hole].max() < 0.05


def test_an_edge_constrains_only_the_motion_across_it():
    img = np.zeros((96, 96), np.float32)
    img[:, ::8] = 1.0  # vertical lines: gradients along x only
    img = cv2.GaussianBlur(img, (0, 0), 1.5)
    flow = np.dstack([np.full((96, 96), 1.5, np.float32), np.full((96, 96), 4.0, np.float32)])
    fitted = fit_smooth_field(flow, img, np.ones((96, 96), np.float32))
    inner = (slice(10, -10), slice(10, -10))
    assert np.abs(fitted[..., 0][inner] - 1.5).max() < 0.02
    # Nothing in the image says anything about y: the field stays at zero there.
    assert np.abs(fitted[..., 1]).max() < 0.01


def test_noise_is_averaged_away_but_a_bump_is_kept(texture):
    """A smooth reshape measured with 0.5 px of noise: the fit is closer to it than the flow."""
    h, w = texture.shape
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    bump = 4.0 * np.exp(-((xx - 130) ** 2 + (yy - 120) ** 2) / (2 * 35.0 ** 2))
    truth = np.dstack([bump, -0.5 * bump]).astype(np.float32)
    rng = np.random.default_rng(0)
    noise = cv2.GaussianBlur(rng.normal(0, 1, (h, w, 2)).astype(np.float32), (0, 0), 2.0)
    noise *= 0.5 / noise.std()
    fitted = fit_smooth_field(truth + noise, texture, np.ones((h, w), np.float32))
    inner = (slice(16, -16), slice(16, -16))
    err_fit = np.linalg.norm(fitted - truth, axis=2)[inner].mean()
    err_flow = np.linalg.norm(noise, axis=2)[inner].mean()
    assert err_fit < 0.6 * err_flow
    assert fitted[120, 130, 0] == pytest.approx(4.0, abs=0.25)


def test_zero_border_holds_the_outer_nodes():
    img = np.random.default_rng(1).random((64, 64)).astype(np.float32)
    flow = np.full((64, 64, 2), 2.0, np.float32)
    free = fit_smooth_field(flow, img, np.ones((64, 64), np.float32), step=4)
    held = fit_smooth_field(flow, img, np.ones((64, 64), np.float32), step=4, zero_border=True)
    assert np.abs(free - 2.0)[8:-8, 8:-8].max() < 0.01
    # The outer nodes (centred 1.5 px in) are held at 0: the outer pixels lie
    # between them and the next nodes in, at most half way up.
    for edge in (held[:2], held[-2:], held[:, :2], held[:, -2:]):
        assert np.abs(edge).max() < 1.0
    assert held[32, 32, 0] > 1.8  # the inside still follows the data


def test_matches_a_dense_least_squares_solve():
    """One node per pixel: the CG solution equals the minimiser of the energy,
    written out here as one residual row per term and solved densely."""
    rng = np.random.default_rng(2)
    h, w = 9, 11
    img = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 0.8)
    flow = rng.normal(0, 1, (h, w, 2)).astype(np.float32)
    weight = rng.random((h, w)).astype(np.float32)
    stiffness = 0.05
    fitted = fit_smooth_field(flow, img, weight, step=1.0, stiffness=stiffness)

    gy, gx = np.gradient(img.astype(np.float64))
    jxx, jxy, jyy = weight * gx * gx, weight * gx * gy, weight * gy * gy
    scale = float(np.percentile(jxx + jyy, 99)) + 1e-12
    n = h * w

    def idx(y, x, c):  # unknown number of d_c at node (y, x)
        return c * n + y * w + x

    rows, rhs = [], []
    for y in range(h):
        for x in range(w):
            # Data: sqrt(wJ) (d - f), a 2x2 square root of the tensor.
            tensor = np.array([[jxx[y, x], jxy[y, x]], [jxy[y, x], jyy[y, x]]])
            vals, vecs = np.linalg.eigh(tensor)
            root = vecs @ np.diag(np.sqrt(np.clip(vals, 0, None))) @ vecs.T
            for r in range(2):
                row = np.zeros(2 * n)
                row[idx(y, x, 0)], row[idx(y, x, 1)] = root[r]
                rows.append(row)
                rhs.append(root[r] @ flow[y, x].astype(np.float64))
            for c in range(2):  # ridge
                row = np.zeros(2 * n)
                row[idx(y, x, c)] = np.sqrt(RIDGE * scale)
                rows.append(row)
                rhs.append(0.0)
    lam = np.sqrt(stiffness * scale)
    for c in range(2):
        for y in range(h):
            for x in range(w):
                terms = []
                if 0 < x < w - 1:
                    terms.append({(y, x - 1): 1, (y, x): -2, (y, x + 1): 1})
                if 0 < y < h - 1:
                    terms.append({(y - 1, x): 1, (y, x): -2, (y + 1, x): 1})
                if x < w - 1 and y < h - 1:  # d_xy, weighted sqrt(2): 2 d_xy^2
                    s2 = np.sqrt(2.0)
                    terms.append({(y, x): s2, (y, x + 1): -s2, (y + 1, x): -s2, (y + 1, x + 1): s2})
                for term in terms:
                    row = np.zeros(2 * n)
                    for (yy, xx), v in term.items():
                        row[idx(yy, xx, c)] = lam * v
                    rows.append(row)
                    rhs.append(0.0)
    solution = np.linalg.lstsq(np.array(rows), np.array(rhs), rcond=None)[0]
    reference = np.dstack([solution[:n].reshape(h, w), solution[n:].reshape(h, w)])
    assert np.abs(fitted - reference).max() < 1e-3 * max(1.0, np.abs(reference).max())

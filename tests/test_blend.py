"""Blend modes against an independent per-pixel computation (plain Python floats)."""

import numpy as np
import pytest

from processing.blend import apply_masked, linear_light, overlay

rng = np.random.default_rng(7)
A = rng.random((9, 11, 3)).astype(np.float32)
B = rng.random((9, 11, 3)).astype(np.float32)
# Exercise the branch boundaries exactly.
A[0, 0, 0], B[0, 0, 0] = 0.5, 0.5
A[0, 1, 0], B[0, 1, 0] = 0.0, 1.0
A[0, 2, 0], B[0, 2, 0] = 1.0, 0.0


def per_pixel(f, a, b):
    return np.vectorize(lambda x, y: f(float(x), float(y)))(a, b)


def ref_overlay(a, b):
    return 2 * a * b if a < 0.5 else 1 - 2 * (1 - a) * (1 - b)


def ref_linear_light(a, b):
    return min(1.0, max(0.0, a + 2 * b - 1))


@pytest.mark.parametrize("mode, ref", [(overlay, ref_overlay), (linear_light, ref_linear_light)])
def test_blend_mode_matches_per_pixel_formula(mode, ref):
    np.testing.assert_allclose(mode(A, B), per_pixel(ref, A, B), atol=1e-6)


def test_apply_masked_is_base_where_mask_zero_and_blend_where_one():
    m = np.zeros(A.shape[:2], np.float32)
    m[:, 5:] = 1.0
    m[:, 3] = 0.5
    r = apply_masked(A, B, m)
    assert np.array_equal(r[:, :3], A[:, :3])
    np.testing.assert_allclose(r[:, 5:], B[:, 5:], atol=1e-6)
    np.testing.assert_allclose(r[:, 3], (A[:, 3] + B[:, 3]) / 2, atol=1e-6)

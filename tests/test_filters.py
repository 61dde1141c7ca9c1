"""Small shared filters against references computed here."""

import numpy as np
import pytest

from processing.filters import gradient, largest_channel, low_pass, luminance_of


@pytest.mark.parametrize("dtype, white", [(np.uint8, 255), (np.uint16, 65535), (np.float32, 1.0)])
def test_luminance_of_any_depth_is_rec709_in_unit_range(dtype, white):
    rng = np.random.default_rng(3)
    x = (rng.random((37, 53, 3)) * white).astype(dtype)
    expected = (x.astype(np.float64) / white) @ [0.2126, 0.7152, 0.0722]
    y = luminance_of(x)
    assert y.dtype == np.float32 and y.shape == (37, 53)
    assert np.abs(y - expected).max() < 1e-6


def test_luminance_of_gray_and_alpha():
    rng = np.random.default_rng(4)
    gray = rng.integers(0, 256, (20, 30), dtype=np.uint8)
    assert np.allclose(luminance_of(gray), gray / 255.0, atol=1e-7)
    rgba = rng.integers(0, 256, (20, 30, 4), dtype=np.uint8)
    assert np.allclose(luminance_of(rgba), (rgba[..., :3] / 255.0) @ [0.2126, 0.7152, 0.0722], atol=1e-6)


@pytest.mark.parametrize("cell", [2.0, 3.0])
def test_low_pass_on_a_reduced_copy_is_close_to_the_gaussian(cell):
    """A smooth field (what the reduced copy is for) within a fraction of a per cent of its range."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(5)
    field = gaussian_filter(rng.random((300, 400)), 6).astype(np.float32)
    field = (field - field.min()) / (field.max() - field.min())
    sigma = 12.0
    expected = gaussian_filter(field.astype(np.float64), sigma, truncate=4, mode="mirror")
    inner = (slice(60, -60), slice(60, -60))  # edges are reflected differently
    err = np.abs(low_pass(field, sigma, cell=cell)[inner] - expected[inner]).max()
    assert err < (0.01 if cell == 2.0 else 0.005)


@pytest.mark.parametrize("shape", [(2, 2), (3, 7), (64, 41)])
def test_gradient_is_numpys_bit_for_bit(shape):
    rng = np.random.default_rng(5)
    x = (rng.normal(0, 3, shape)).astype(np.float32)
    gy, gx = gradient(x)
    ry, rx = np.gradient(x)
    assert gy.dtype == gx.dtype == np.float32
    assert np.array_equal(gy, ry) and np.array_equal(gx, rx)


@pytest.mark.parametrize("shape, dtype", [((40, 3), np.float32), ((30, 20, 3), np.uint8),
                                          ((30, 20, 4), np.uint16), ((9, 7, 2), np.int16)])
def test_largest_channel_is_numpys_max_over_channels(shape, dtype):
    x = (np.random.default_rng(6).random(shape) * 400 - 100).astype(dtype)
    out = largest_channel(x)
    assert out.dtype == x.dtype and out.flags.c_contiguous
    assert np.array_equal(out, x.max(axis=-1))

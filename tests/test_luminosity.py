"""Luminosity protection's ramp."""

import numpy as np
import pytest

from processing.luminosity import smoothstep


@pytest.mark.parametrize("edges", [(0.0, 0.5), (0.2, 0.05), (0.1, 0.9)])
def test_smoothstep_is_the_hermite_ramp(edges):
    e0, e1 = edges
    x = np.random.default_rng(0).normal(0.3, 0.4, (50, 60)).astype(np.float32)
    t = np.clip((x.astype(np.float64) - e0) / (e1 - e0), 0, 1)
    out = smoothstep(e0, e1, x)
    assert out.dtype == np.float32 and out.shape == x.shape
    np.testing.assert_allclose(out, t * t * (3 - 2 * t), atol=1e-6)
    assert out[x <= min(e0, e1) - 1e-3].max(initial=0) in (0.0, 1.0)


def test_smoothstep_of_a_number_is_a_number():
    assert float(smoothstep(0.0, 1.0, 0.5)) == 0.5
    assert np.ndim(smoothstep(0.0, 1.0, 0.25)) == 0

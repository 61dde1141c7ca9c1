"""Shared fixtures: test images made in code or shipped inside scikit-image."""

import numpy as np
import pytest


@pytest.fixture(scope="session")
def astronaut():
    from skimage import data

    return data.astronaut()


@pytest.fixture(scope="session")
def textured_face(astronaut):
    """The astronaut with fine pore-like luminance texture added (uint8 RGB)."""
    import cv2

    rng = np.random.default_rng(3)
    pores = cv2.GaussianBlur(rng.normal(0, 6, astronaut.shape[:2]).astype(np.float32), (0, 0), 0.8)
    return np.clip(astronaut.astype(np.float32) + pores[..., None], 0, 255).astype(np.uint8)

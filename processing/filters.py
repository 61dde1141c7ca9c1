"""Small filters shared by the methods, masks and metrics.

All functions take float32 images with values in [0, 1] (any number of channels)
and return float32.
"""

from __future__ import annotations

import cv2
import numpy as np

# Rec. 709 luma weights, in RGB order.
REC709 = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur ``G_sigma`` with the kernel truncated at 4 sigma.

    Parameters
    ----------
    image : ndarray, float32, shape (H, W) or (H, W, C)
    sigma : float
        Standard deviation in pixels. ``sigma <= 0`` returns a copy.

    Returns
    -------
    ndarray, float32, same shape. Borders are reflected (no dark rim).
    """
    image = np.asarray(image, dtype=np.float32)
    if sigma <= 0:
        return image.copy()
    ksize = 2 * int(np.ceil(4.0 * sigma)) + 1
    return cv2.GaussianBlur(image, (ksize, ksize), sigmaX=sigma, sigmaY=sigma,
                            borderType=cv2.BORDER_REFLECT_101)


def luminance(image: np.ndarray) -> np.ndarray:
    """Rec. 709 luminance ``Y`` of an RGB image; a gray image is returned as is.

    Parameters
    ----------
    image : ndarray, float32, shape (H, W, 3) or (H, W)

    Returns
    -------
    ndarray, float32, shape (H, W)
    """
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 2:
        return image
    if image.shape[2] == 1:
        return image[..., 0]
    # cv2.transform is a fused per-pixel dot product: much faster than image @ w.
    return cv2.transform(image[..., :3], REC709[None, :]).reshape(image.shape[:2])

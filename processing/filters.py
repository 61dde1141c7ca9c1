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


def low_pass(image: np.ndarray, sigma: float, exact_below: float = 6.0) -> np.ndarray:
    """Gaussian low-pass, computed on a reduced copy when ``sigma`` is large.

    A wide Gaussian leaves nothing finer than ``sigma / 2`` px, so blurring a
    copy reduced by ``f = sigma // 3`` (box-averaged) with the remaining sigma
    and enlarging it back gives the same low band at a fraction of the cost
    (within about 0.3 % of full scale on photographs). Below ``exact_below`` px
    this is :func:`gaussian_blur`.

    Parameters
    ----------
    image : ndarray, float32 or int16, (H, W) or (H, W, C)
    sigma : float, px

    Returns
    -------
    ndarray, float32, same shape.
    """
    if sigma < exact_below:
        return gaussian_blur(image, sigma)
    image = np.asarray(image)
    h, w = image.shape[:2]
    f = max(1, int(sigma // 3))
    hf, wf = -(-h // f), -(-w // f)
    # Pad to a multiple of f (reflecting) so the box average is OpenCV's fast integer case.
    padded = cv2.copyMakeBorder(image, 0, hf * f - h, 0, wf * f - w, cv2.BORDER_REFLECT_101)
    small = cv2.resize(padded, (wf, hf), interpolation=cv2.INTER_AREA)
    if small.dtype != np.float32:
        small = small.astype(np.float32)
    # The box average already blurred by f^2/12 per axis (in full-res px^2).
    rest = np.sqrt(max(sigma * sigma - f * f / 12.0, 0.25)) / f
    small = gaussian_blur(small, rest)
    # Sample centres of the small grid sit at (i + 0.5) f - 0.5 in full-res pixels.
    big = cv2.resize(small, (wf * f, hf * f), interpolation=cv2.INTER_LINEAR)
    return big[:h, :w]

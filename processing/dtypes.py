"""Conversions between pixel depths: uint8, uint16 and float32 in [0, 1].

One place for every depth conversion, so that rounding is the same wherever an
image is converted: to the float32 the methods compute in, back to the file's
depth, and down to 8 bits for a screen or a detector.
"""

from __future__ import annotations

import numpy as np


def full_scale(dtype) -> float:
    """The value of white: 255, 65535, or 1.0 for float images."""
    dtype = np.dtype(dtype)
    return float(np.iinfo(dtype).max) if dtype.kind in "ui" else 1.0


def to_float(x: np.ndarray) -> np.ndarray:
    """An image of any depth as float32 in [0, 1] (the input itself when it already is)."""
    scale = full_scale(x.dtype)
    if x.dtype == np.float32 and scale == 1.0:
        return x
    return x.astype(np.float32) * np.float32(1.0 / scale)


def from_float(x: np.ndarray, dtype) -> np.ndarray:
    """A float32 image in [0, 1] (clipped) rounded to ``dtype``."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return np.clip(x, 0.0, 1.0).astype(dtype)
    scale = np.float32(full_scale(dtype))
    # Non-negative after the clip, so truncating x + 0.5 rounds to nearest.
    return (np.clip(x, 0.0, 1.0) * scale + np.float32(0.5)).astype(dtype)


def mask_to_float(mask: np.ndarray) -> np.ndarray:
    """A mask as float32 in [0, 1] from float, bool, uint8 or uint16."""
    if mask.dtype == np.bool_:
        return mask.astype(np.float32)
    return to_float(mask)


def to_uint8(a: np.ndarray) -> np.ndarray:
    """8-bit copy of an image of any depth, rounded to nearest (the input when already 8-bit)."""
    if a.dtype == np.uint8:
        return a
    if a.dtype == np.uint16:
        return ((a.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    return (np.clip(a, 0, 1) * 255 + 0.5).astype(np.uint8)


def to_uint16(a: np.ndarray) -> np.ndarray:
    """16-bit copy of an image of any depth (8-bit values are scaled by 257: 255 -> 65535)."""
    if a.dtype == np.uint16:
        return a
    if a.dtype == np.uint8:
        return a.astype(np.uint16) * 257
    return (np.clip(a, 0, 1) * 65535 + 0.5).astype(np.uint16)


def to_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """Contiguous 8-bit RGB of an image: gray is repeated, alpha dropped.

    Parameters
    ----------
    image : ndarray, shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)
        uint8, uint16 (full 16-bit range) or float in [0, 1].

    Returns
    -------
    ndarray, uint8, shape (H, W, 3)
    """
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim == 3:
        image = image[..., :3]
    out = to_uint8(image)
    if out.ndim == 2:
        out = np.repeat(out[..., None], 3, axis=2)
    return np.ascontiguousarray(out)

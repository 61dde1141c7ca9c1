"""Small filters shared by the methods, masks and metrics.

All functions take float32 images with values in [0, 1] (any number of channels)
and return float32.
"""

from __future__ import annotations

import cv2
import numpy as np

from processing.dtypes import full_scale, to_float

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


def gradient(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.gradient`` of a float32 image, 4x faster: ``(d/dy, d/dx)``, per px.

    Central differences inside (OpenCV's 3-tap Sobel at scale 1/2), one-sided
    differences on the first and last row and column, as numpy computes them:
    the same values bit for bit.

    Parameters
    ----------
    image : ndarray, float32, shape (H, W), H and W at least 2

    Returns
    -------
    gy, gx : ndarray, float32, shape (H, W)
    """
    image = np.asarray(image, dtype=np.float32)
    gx = cv2.Sobel(image, cv2.CV_32F, 1, 0, ksize=1, scale=0.5, borderType=cv2.BORDER_REPLICATE)
    gy = cv2.Sobel(image, cv2.CV_32F, 0, 1, ksize=1, scale=0.5, borderType=cv2.BORDER_REPLICATE)
    gx[:, 0], gx[:, -1] = image[:, 1] - image[:, 0], image[:, -1] - image[:, -2]
    gy[0], gy[-1] = image[1] - image[0], image[-1] - image[-2]
    return gy, gx


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


def luminance_of(image: np.ndarray) -> np.ndarray:
    """Rec. 709 luminance in [0, 1] of an image of any depth: float32 (H, W).

    For 8 and 16-bit RGB the scaling to [0, 1] is folded into the weights:
    one conversion of the three channels instead of two passes (a 24 MP
    frame's float RGB copy is 290 MB of memory traffic).
    """
    image = np.asarray(image)
    if image.dtype == np.float32 or image.ndim == 2 or image.shape[2] < 3:
        return luminance(to_float(image))
    weights = (REC709 / np.float32(full_scale(image.dtype)))[None, :]
    return cv2.transform(image[..., :3].astype(np.float32), weights).reshape(image.shape[:2])


def largest_channel(pixels: np.ndarray) -> np.ndarray:
    """Each pixel's largest channel (the last axis): ``pixels.max(axis=-1)``
    bit for bit, the channels compared pairwise (numpy's reduction over three
    values a pixel takes 0.86 s on 24 MP, this 0.07 s)."""
    out = pixels[..., 0]
    for c in range(1, pixels.shape[-1]):
        out = np.maximum(out, pixels[..., c])
    return np.ascontiguousarray(out)


def reduction_factor(sigma: float, cell: float = 3.0) -> int:
    """How much :func:`low_pass` reduces its copy for a blur of ``sigma`` px: ``sigma // cell``, at least 1."""
    return max(1, int(sigma // cell))


def low_pass(image: np.ndarray, sigma: float, exact_below: float = 6.0, cell: float = 3.0) -> np.ndarray:
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
    exact_below : float, px
    cell : float
        The copy is reduced by ``sigma // cell``: 3 keeps the default accuracy;
        2 halves the cost again where a few per cent will do (a local spread).

    Returns
    -------
    ndarray, float32, same shape.
    """
    if sigma < exact_below:
        return gaussian_blur(image, sigma)
    image = np.asarray(image)
    h, w = image.shape[:2]
    f = reduction_factor(sigma, cell)
    hf, wf = -(-h // f), -(-w // f)
    # Pad to a multiple of f (reflecting) so the box average is OpenCV's fast integer case.
    padded = image if (hf * f, wf * f) == (h, w) else cv2.copyMakeBorder(image, 0, hf * f - h, 0, wf * f - w,
                                                                         cv2.BORDER_REFLECT_101)
    small = cv2.resize(padded, (wf, hf), interpolation=cv2.INTER_AREA)
    if small.dtype != np.float32:
        small = small.astype(np.float32)
    # The box average already blurred by f^2/12 per axis (in full-res px^2).
    rest = np.sqrt(max(sigma * sigma - f * f / 12.0, 0.25)) / f
    small = gaussian_blur(small, rest)
    # Sample centres of the small grid sit at (i + 0.5) f - 0.5 in full-res pixels.
    big = cv2.resize(small, (wf * f, hf * f), interpolation=cv2.INTER_LINEAR)
    return big[:h, :w]


#: Reduced rows per piece of :func:`enlarge_rows`: a piece is enlarged on its
#: own (with one row of context each side), so rows come out the same whichever
#: band asks for them.
ENLARGE_PIECE = 64


def enlarge_rows(small: np.ndarray, f: int, r0: int, r1: int, width: int | None = None,
                 first: int = 0, total: int | None = None) -> np.ndarray:
    """Rows ``r0:r1`` of ``cv2.resize(reduced, (w * f, total * f), INTER_LINEAR)``, made piece by piece.

    Only the reduced rows those output rows read are enlarged, in pieces of
    :data:`ENLARGE_PIECE` reduced rows fixed on the reduced grid, so a band of a
    large image never holds the whole enlargement and a row comes out the same
    whichever band asks for it. Where ``1 / f`` is exact in binary (f = 1, 2,
    4, 8 ...) this equals the whole-image resize bit for bit; otherwise
    OpenCV's float32 sample positions, which it counts from the top of what it
    resizes, differ in the last bits (about 1e-4 of a weight).

    Parameters
    ----------
    small : ndarray, float32, (n, w) or (n, w, C)
        Rows ``first:first + n`` of the reduced image; they must include every
        row the output rows read (``r0 // f // ENLARGE_PIECE * ENLARGE_PIECE - 1``
        to one past the last piece).
    f : int
        Enlargement factor.
    r0, r1 : int
        Output rows, ``0 <= r0 < r1 <= total * f``.
    width : int, optional
        Keep only the first ``width`` output columns (default all ``w * f``).
    first, total : int
        Where ``small`` starts in the reduced image, and that image's height
        (default: ``small`` is the whole of it).

    Returns
    -------
    ndarray, float32, (r1 - r0, width) (+ C)
    """
    n, w = small.shape[:2]
    total = first + n if total is None else total
    width = w * f if width is None else width
    if f == 1:
        return small[r0 - first:r1 - first, :width]
    out = np.empty((r1 - r0, width) + small.shape[2:], np.float32)
    piece = ENLARGE_PIECE
    for c in range(r0 // f // piece, (r1 - 1) // f // piece + 1):
        a0, a1 = c * piece, min(total, (c + 1) * piece)      # the piece's reduced rows
        b0, b1 = max(0, a0 - 1), min(total, a1 + 1)          # and the rows interpolation reads
        lo, hi = max(r0, a0 * f), min(r1, a1 * f)             # output rows it gives
        big = cv2.resize(small[b0 - first:b1 - first], (w * f, (b1 - b0) * f), interpolation=cv2.INTER_LINEAR)
        out[lo - r0:hi - r0] = big[lo - b0 * f:hi - b0 * f, :width]
    return out


class LowPassRows:
    """:func:`low_pass` of an image, made band by band.

    The image is read through ``read(i0, i1)`` (its rows ``i0:i1``), so it need
    not exist whole (a difference of two photos is made band by band too).
    The box average and the blur run on just the rows a band needs; the
    reduced grid stays fixed to the image's top-left corner. The result equals
    :func:`low_pass` exactly below ``exact_below`` and when the reduction
    factor is a power of two, otherwise within float32 rounding of the
    enlargement (see :func:`enlarge_rows`).

    Parameters
    ----------
    read : callable
        ``read(i0, i1)`` -> rows ``i0:i1`` of the image, float32 or int16 (or
        uint8), (rows, W) or (rows, W, C).
    shape : tuple
        (H, W) of the image, px.
    sigma : float, px
    exact_below : float, px
        As in :func:`low_pass`.
    """

    def __init__(self, read, shape, sigma: float, exact_below: float = 6.0):
        self.read, self.h, self.w = read, int(shape[0]), int(shape[1])
        self.sigma = float(sigma)
        self.exact = sigma < exact_below
        f = 1 if self.exact else reduction_factor(sigma)
        self.f = f
        self.hf, self.wf = -(-self.h // f), -(-self.w // f)
        self.rest = np.sqrt(max(sigma * sigma - f * f / 12.0, 0.25)) / f
        blur = self.sigma if self.exact else self.rest
        self.reach = int(np.ceil(4.0 * blur))  # rows the Gaussian reads on each side

    def rows(self, r0: int, r1: int) -> np.ndarray:
        """Rows ``r0:r1`` of the low-pass, float32."""
        if self.exact:
            j0, j1 = max(0, r0 - self.reach), min(self.h, r1 + self.reach)
            return gaussian_blur(self.read(j0, j1), self.sigma)[r0 - j0:r1 - j0]
        f, piece = self.f, ENLARGE_PIECE
        # Reduced rows the pieces covering r0:r1 read (one of context each side).
        s0 = max(0, (r0 // f // piece) * piece - 1)
        s1 = min(self.hf, ((r1 - 1) // f // piece + 1) * piece + 1)
        return enlarge_rows(self._reduced(s0, s1), f, r0, r1, self.w, first=s0, total=self.hf)

    def _reduced(self, s0: int, s1: int) -> np.ndarray:
        """Blurred reduced rows ``s0:s1`` (float32), as :func:`low_pass` makes them whole."""
        f, k = self.f, self.reach
        t0, t1 = max(0, s0 - k), min(self.hf, s1 + k)
        pad_bottom = t1 * f - self.h if t1 == self.hf else 0
        if pad_bottom > 0:
            # The reflected rows below the image come from the rows above its end.
            t0 = min(t0, max(0, self.hf - 2))
        block = self.read(t0 * f, min(self.h, t1 * f))
        pad_right = self.wf * f - self.w
        padded = block if pad_bottom <= 0 and pad_right == 0 else cv2.copyMakeBorder(
            block, 0, max(0, pad_bottom), 0, pad_right, cv2.BORDER_REFLECT_101)
        small = cv2.resize(padded, (self.wf, t1 - t0), interpolation=cv2.INTER_AREA)
        if small.dtype != np.float32:
            small = small.astype(np.float32)
        return gaussian_blur(small, self.rest)[s0 - t0:s1 - t0]

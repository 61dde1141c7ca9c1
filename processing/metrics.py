"""Texture metrics: how much of the original's skin texture an image carries.

Band energy ``E_band(X) = mean over the mask of (G_s1(Y) - G_s2(Y))^2`` (a
difference of Gaussians on Rec. 709 luminance); the texture ratio
``E(X) / E(original)`` is ~1 when texture is restored, well below 1 for plastic
skin and above 1 for doubled detail.
"""

from __future__ import annotations

import numpy as np

from processing.filters import gaussian_blur, luminance
from processing.boxes import mask_work_box
from processing.dtypes import mask_to_float, to_float

# name -> (inner sigma, outer sigma) in px
BANDS: dict[str, tuple[float, float]] = {"fine": (0.5, 1.0), "pores": (1.0, 3.0), "mid": (3.0, 8.0)}
TONE_SIGMA = 8.0


def _crop(images, mask, halo: int):
    """Crop images and mask to the mask's bounding box plus a halo, for speed."""
    box = mask_work_box(mask, images[0].shape, halo)
    if box is None:
        return None
    y0, y1, x0, x1 = box
    m = np.ones((y1 - y0, x1 - x0), np.float32) if mask is None else mask_to_float(mask[y0:y1, x0:x1])
    return [im[y0:y1, x0:x1] for im in images], m


def _weighted_mean(x: np.ndarray, m: np.ndarray) -> float:
    total = float(m.sum())
    return float((x * m).sum() / total) if total > 0 else float("nan")


def band_energies(image: np.ndarray, mask: np.ndarray | None = None,
                  bands: dict[str, tuple[float, float]] = BANDS) -> dict[str, float]:
    """Energy of each difference-of-Gaussians band of the luminance inside the mask.

    Parameters
    ----------
    image : ndarray (H, W) or (H, W, 3); uint8, uint16 or float32 in [0, 1]
    mask : ndarray (H, W) in [0, 1] or None
        Weights of the mean; None = whole image.
    bands : dict name -> (s1, s2) Gaussian sigmas in px, s1 < s2

    Returns
    -------
    dict name -> mean squared band amplitude, in (full scale)^2.
    """
    return band_energies_of([image], mask, bands)[0]


def band_energies_of(images, mask: np.ndarray | None = None,
                     bands: dict[str, tuple[float, float]] = BANDS) -> list[dict[str, float]]:
    """:func:`band_energies` of several images of the same shape under one mask.

    The mask's box is found and its weights cropped once for all of them (a
    scan of a 24 MP mask costs about as much as one image's bands).
    """
    halo = int(np.ceil(4 * max(s for b in bands.values() for s in b))) + 1
    cropped = _crop(list(images), mask, halo)
    if cropped is None:
        return [{name: float("nan") for name in bands} for _ in images]
    crops, m = cropped
    sigmas = sorted({s for b in bands.values() for s in b})
    out = []
    for img in crops:
        y = luminance(to_float(img))
        blurred = {s: gaussian_blur(y, s) for s in sigmas}
        out.append({name: _weighted_mean((blurred[s1] - blurred[s2]) ** 2, m) for name, (s1, s2) in bands.items()})
    return out


def tone_difference(image: np.ndarray, reference: np.ndarray, mask: np.ndarray | None = None,
                    sigma: float = TONE_SIGMA) -> dict[str, float]:
    """How far the low-pass tone of ``image`` moved from ``reference`` inside the mask.

    Returns
    -------
    dict with 'mean_abs_lsb' and 'mean_lsb' (signed): ``G_sigma(Y)`` differences in
    8-bit levels (1 LSB = 1/255 of full scale).
    """
    halo = int(np.ceil(4 * sigma)) + 1
    cropped = _crop([image, reference], mask, halo)
    if cropped is None:
        return {"mean_abs_lsb": float("nan"), "mean_lsb": float("nan")}
    (img, ref), m = cropped
    d = (gaussian_blur(luminance(to_float(img)), sigma) - gaussian_blur(luminance(to_float(ref)), sigma)) * 255
    return {"mean_abs_lsb": _weighted_mean(np.abs(d), m), "mean_lsb": _weighted_mean(d, m)}


def laplacian_variance(image: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Variance of the Laplacian of the luminance inside the mask: the classic blur
    score. Added noise inflates it too, so read it beside the band ratios."""
    import cv2

    cropped = _crop([image], mask, 2)
    if cropped is None:
        return float("nan")
    (img,), m = cropped
    lap = cv2.Laplacian(luminance(to_float(img)), cv2.CV_32F, ksize=1)
    mean = _weighted_mean(lap, m)
    return _weighted_mean((lap - mean) ** 2, m)


def texture_report(original: np.ndarray, ai: np.ndarray, restored: np.ndarray,
                   mask: np.ndarray | None = None) -> dict:
    """Band energies and texture ratios of the AI image and the result relative to
    the original, and the result's tone difference against the AI image.

    Returns
    -------
    dict, JSON-serialisable::

        {"bands": {"pores": {"original": E, "ai": E, "restored": E,
                             "ai_ratio": E_ai / E_o, "restored_ratio": E_r / E_o}, ...},
         "tone_vs_ai": {"mean_abs_lsb": ..., "mean_lsb": ...},
         "laplacian_variance": {"original": ..., "ai": ..., "restored": ...},
         "spectrum": {"scales_px": [0.5, 1, ...], "ai": [...], "result": [...]}}

    ``spectrum`` holds the octave-band ratios to the original (band ``s`` to ``2 s``).
    """
    from processing.spectrum import spectrum_report

    energies = dict(zip(("original", "ai", "restored"), band_energies_of((original, ai, restored), mask)))
    bands = {}
    for band in BANDS:
        e_o = energies["original"][band]
        row = {k: energies[k][band] for k in energies}
        row["ai_ratio"] = energies["ai"][band] / e_o if e_o > 0 else float("nan")
        row["restored_ratio"] = energies["restored"][band] / e_o if e_o > 0 else float("nan")
        bands[band] = row
    return {
        "bands": bands,
        "tone_vs_ai": tone_difference(restored, ai, mask),
        "laplacian_variance": {k: laplacian_variance(v, mask) for k, v in
                               (("original", original), ("ai", ai), ("restored", restored))},
        "spectrum": spectrum_report(original, ai, restored, mask),
    }

"""Texture spectrum: energy in a ladder of octave bands, relative to the original.

Band ``k`` is the difference of Gaussians ``G_s(Y) - G_2s(Y)`` of the Rec. 709
luminance, ``s = 0.5, 1, 2, 4 ...`` px. A ratio ``E_k(X) / E_k(original)`` near 1
means the band is as in the original; the AI image's ratios show which scales
the retoucher smoothed away (low) and which it left alone (near 1).

Coarse bands are computed on a copy reduced by a power of two so that their
inner sigma stays at 1-2 px there: the same band at a fraction of the cost.
Every image is measured the same way, so the ratios are unaffected.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from processing.filters import gaussian_blur, luminance_of
from processing.boxes import mask_bbox
from processing.dtypes import mask_to_float

LADDER = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)  # inner sigmas of the octave bands, px


@dataclass
class Spectrum:
    """Band energies of one image inside a mask.

    Attributes
    ----------
    scales : tuple of float
        Inner sigma ``s`` of each band (the band spans ``s`` to ``2 s``), px.
    energy : ndarray
        Mean squared band amplitude inside the mask, (full scale)^2.
    """

    scales: tuple[float, ...]
    energy: np.ndarray

    def ratio_to(self, reference: "Spectrum") -> np.ndarray:
        """``E_k(self) / E_k(reference)`` per band (nan where the reference is flat)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(reference.energy > 0, self.energy / reference.energy, np.nan)


def _reduce(x: np.ndarray, level: int) -> np.ndarray:
    if level == 0:
        return x
    f = 2 ** level
    return cv2.resize(x, (max(1, x.shape[1] // f), max(1, x.shape[0] // f)), interpolation=cv2.INTER_AREA)


def texture_spectrum(image: np.ndarray, mask: np.ndarray | None = None,
                     scales=LADDER) -> Spectrum:
    """Energy of each octave band of the luminance, weighted by the mask.

    Parameters
    ----------
    image : ndarray (H, W) or (H, W, 3); uint8, uint16 or float32 in [0, 1]
    mask : ndarray (H, W) in [0, 1] (or uint8) or None for the whole image
    scales : sequence of float
        Inner sigmas of the bands in px.

    Returns
    -------
    Spectrum
    """
    bands = TextureBands.of(image, mask, scales)
    if bands is None:
        return Spectrum(tuple(scales), np.full(len(scales), np.nan))
    return bands.spectrum(mask)


@dataclass
class TextureBands:
    """The octave bands of an image's luminance around a mask's box, not yet weighted.

    Made before the weights are final (match mode measures them while it
    searches for removed blemishes, which it then leaves out of the weights).

    Attributes
    ----------
    scales : tuple of float
        Inner sigmas, px.
    mask_box : (y0, y1, x0, x1)
        Where the mask they were made for is above 0.
    crop : (y0, y1, x0, x1)
        The part of the image measured (``mask_box`` and the widest band's halo).
    bands : list of ndarray, float32
        ``G_s(Y) - G_2s(Y)`` of the crop, each on its reduced copy (``levels``).
    levels : list of int
        Each band's copy is reduced by ``2 ** level``.
    """

    scales: tuple
    mask_box: tuple
    crop: tuple
    bands: list
    levels: list

    @classmethod
    def of(cls, image: np.ndarray, mask: np.ndarray | None, scales=LADDER) -> "TextureBands | None":
        """The bands of ``image`` around ``mask`` (None for an empty mask)."""
        box = mask_bbox(mask, image.shape)
        if box is None:
            return None
        y0, y1, x0, x1 = box
        h, w = image.shape[:2]
        halo = int(8 * max(scales)) + 2
        crop = max(0, y0 - halo), min(h, y1 + halo), max(0, x0 - halo), min(w, x1 + halo)
        y = luminance_of(image[crop[0]:crop[1], crop[2]:crop[3]])
        bands, levels = [], []
        for s in scales:
            level = max(0, int(np.floor(np.log2(s))))  # inner sigma 1-2 px at that level
            yl = _reduce(y, level)
            sl = s / 2 ** level
            bands.append(gaussian_blur(yl, sl) - gaussian_blur(yl, 2 * sl))
            levels.append(level)
        return cls(tuple(scales), box, crop, bands, levels)

    def spectrum(self, mask: np.ndarray | None) -> Spectrum:
        """The bands' energies inside ``mask`` (where it is above 0 must still be
        :attr:`mask_box`: a weight that only lowers the mask inside it)."""
        c0, c1, d0, d1 = self.crop
        m = np.ones((c1 - c0, d1 - d0), np.float32) if mask is None else mask_to_float(mask[c0:c1, d0:d1])
        energies = []
        for band, level in zip(self.bands, self.levels):
            ml = _reduce(m, level)
            total = float(ml.sum())
            # Energy per full-resolution pixel: a band's mean square does not change
            # with the reduction (the band is smooth at that level).
            energies.append(float((band * band * ml).sum() / total) if total > 0 else np.nan)
        return Spectrum(self.scales, np.array(energies))


def spectrum_report(original: np.ndarray, ai: np.ndarray, result: np.ndarray | None,
                    mask: np.ndarray | None = None, scales=LADDER) -> dict:
    """The AI image's and the result's band ratios to the original, JSON-ready.

    Returns
    -------
    dict: ``{"scales_px": [...], "ai": [...], "result": [...]}``, ratios per band.
    """
    ref = texture_spectrum(original, mask, scales)
    out = {"scales_px": list(scales), "ai": texture_spectrum(ai, mask, scales).ratio_to(ref).tolist()}
    if result is not None:
        out["result"] = texture_spectrum(result, mask, scales).ratio_to(ref).tolist()
    return out


def removed_scale(ai_ratios: np.ndarray, scales=LADDER, kept: float = 0.5) -> float:
    """The scale up to which the AI removed texture: where its band ratio climbs
    back towards 1 (log-interpolated between band centres).

    "Back towards 1" is relative to how much was removed: a band counts as
    left alone once its deficit ``1 - r`` is below ``1 - kept`` of the largest
    deficit: the half-removal point by default. A Gaussian smoother (deficit
    ~1 in the finest band) is cut where its ratio is back at 0.5, about 1.3
    times its sigma; a gentle edge-preserving filter that kept 60 % of the
    finest band is cut where its ratio is back at 0.8.

    Parameters
    ----------
    ai_ratios : ndarray
        ``E_k(AI) / E_k(original)`` per band, fine to coarse.
    scales : sequence of float
        Inner sigmas of the bands (band centre ``s * sqrt(2)``).
    kept : float
        Ratio from which a band counts as left alone, for a full removal.

    Returns
    -------
    float, px: the cut-off radius. The smallest scale when nothing was removed,
    the coarsest band's centre when everything was.
    """
    r = np.nan_to_num(np.asarray(ai_ratios, float), nan=1.0)
    centres = np.asarray(scales, float) * np.sqrt(2)
    deficit = float(np.max(1.0 - r))
    if deficit < 0.05:
        return float(scales[0])
    level = 1.0 - (1.0 - kept) * deficit
    # Only a run of kept bands from the coarse end counts: a noisy fine band near 1
    # under smoothed mid bands is not "left alone".
    low = np.nonzero(r < level)[0]
    if len(low) == 0:
        return float(scales[0])
    k = low[-1]  # last band still below the level
    if k == len(r) - 1:
        return float(centres[-1])
    # Interpolate the crossing between band k (below) and k + 1 (at or above).
    r0, r1 = max(r[k], 1e-6), max(r[k + 1], 1e-6)
    t = np.clip((np.log(level) - np.log(r0)) / (np.log(r1) - np.log(r0) + 1e-12), 0, 1)
    return float(np.exp(np.log(centres[k]) + t * (np.log(centres[k + 1]) - np.log(centres[k]))))

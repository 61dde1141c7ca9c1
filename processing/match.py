"""Match mode: give every band the AI smoothed its original energy back, no more.

Per band below a cut-off the result takes the original's band and drops the AI
image's (``R = G_r(A) + O - G_r(O)``, ``r`` twice the cut-off): what the AI removed is put back, what it
kept is not stacked a second time, so every band below the cut-off ends at the
original's energy while the tone (everything above ``c``) stays the AI's. The
cut-off is read off the texture spectrum: the scale where the AI's band ratio
climbs back towards 1, i.e. the bands the AI did not touch. Removed blemishes
are kept out (see :mod:`processing.blemish`), and strength can differ per region
of the face.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from processing.blemish import blemish_protection
from processing.filters import gaussian_blur
from processing.graft import add_detail
from processing.settings import MatchSettings
from processing.spectrum import LADDER, removed_scale, texture_spectrum
from processing.tiles import mask_bbox, mask_to_float

# The spectrum for the automatic cut-off is measured on at most this many pixels
# around the mask's centre: plenty of skin, bounded cost on 24 MP files.
SPECTRUM_SIDE = 1536
MIN_CUTOFF, MAX_CUTOFF = 0.7, 24.0
# The swap R = G_r(A) + O - G_r(O) only fully restores scales well below r
# (at r itself the Gaussian passes half of each image), so it runs at twice the
# cut-off: every band up to the cut-off then ends within a few per cent of the
# original's energy, and bands the AI left alone are swapped for themselves.
SWAP_FACTOR = 2.0


@dataclass
class MatchPlan:
    """What match mode decided for a pair, for the UI and the report.

    Attributes
    ----------
    cutoff : float
        Cut-off radius used, px: bands finer than this are matched.
    swap_radius : float
        Radius of the low/high swap, ``SWAP_FACTOR * cutoff``, px.
    auto_cutoff : float
        Cut-off the spectrum suggests, px.
    ai_ratios : list of float
        AI band energy / original's per band of ``LADDER`` inside the mask.
    weight : ndarray or None
        Final per-pixel weight (mask x blemish protection x regional strength), float32 (H, W).
    blemish : ndarray or None
        Blemish protection weight (0 where a removed spot is kept clean), or None.
    """

    cutoff: float
    swap_radius: float
    auto_cutoff: float
    ai_ratios: list
    weight: np.ndarray | None
    blemish: np.ndarray | None


def _central_window(mask: np.ndarray | None, shape, side: int):
    box = mask_bbox(mask, shape)
    if box is None:
        return None
    y0, y1, x0, x1 = box
    cy, cx = (y0 + y1) // 2, (x0 + x1) // 2
    hh, hw = min(side, y1 - y0) // 2, min(side, x1 - x0) // 2
    return slice(max(0, cy - hh), cy + hh + 1), slice(max(0, cx - hw), cx + hw + 1)


def auto_cutoff(original: np.ndarray, ai: np.ndarray, mask: np.ndarray | None) -> tuple[float, list]:
    """Cut-off radius (px) from the AI's band ratios inside the mask, and the ratios."""
    win = _central_window(mask, ai.shape, SPECTRUM_SIDE)
    if win is None:
        return MIN_CUTOFF, [float("nan")] * len(LADDER)
    m = None if mask is None else mask[win]
    ratios = texture_spectrum(ai[win], m).ratio_to(texture_spectrum(original[win], m))
    cut = removed_scale(ratios, LADDER)
    return float(np.clip(cut, MIN_CUTOFF, MAX_CUTOFF)), [float(r) for r in ratios]


def regional_weight(faces, shape, strengths: dict[str, float], feather: float = 0.03) -> np.ndarray | None:
    """Per-pixel strength multiplier from the face regions, feathered at the seams.

    Parameters
    ----------
    faces : sequence of FaceMask
        With ``regions`` polygons ('forehead', 'left_cheek', 'right_cheek', 'nose', 'chin').
    shape : tuple
        (H, W, ...) of the image.
    strengths : dict
        'forehead', 'cheeks', 'nose', 'chin' -> multiplier (1.0 = unchanged).
    feather : float
        Seam blur, fraction of the face height.

    Returns
    -------
    ndarray float32 (H, W) or None when every strength is 1 or there is no face.
    """
    if not faces or all(abs(v - 1.0) < 1e-6 for v in strengths.values()):
        return None
    h, w = shape[:2]
    out = np.ones((h, w), np.float32)
    for face in faces:
        x0, y0, x1, y1 = face.bbox
        height = max(y1 - y0, 1)
        pad = int(3 * feather * height) + 1
        x0, y0, x1, y1 = max(0, x0 - pad), max(0, y0 - pad), min(w, x1 + pad), min(h, y1 + pad)
        tile = np.ones((y1 - y0, x1 - x0), np.float32)
        for name, poly in face.regions.items():
            key = "cheeks" if name.endswith("cheek") else name
            if key in strengths:
                pts = np.round(np.asarray(poly, np.float64) - (x0, y0)).astype(np.int32)
                cv2.fillPoly(tile, [pts], float(strengths[key]))
        out[y0:y1, x0:x1] = gaussian_blur(tile, feather * height)
    return out


def plan_match(original: np.ndarray, ai: np.ndarray, mask: np.ndarray | None,
               settings: MatchSettings = MatchSettings(), faces=()) -> MatchPlan:
    """Decide the cut-off and the per-pixel weight for match mode."""
    weight = None if mask is None else mask_to_float(mask)
    spots = None
    if settings.blemish > 0:
        # Removed spots are energy the AI removed at their scale: leave them out
        # of the spectrum, or they push the cut-off up.
        spots = blemish_protection(original, ai, mask, settings.blemish, scale=1.5, margin=2.0)
    spectrum_mask = weight if spots is None else (spots if weight is None else weight * spots)
    auto, ratios = auto_cutoff(original, ai, spectrum_mask)
    cutoff = settings.cutoff if settings.cutoff > 0 else auto
    swap = SWAP_FACTOR * cutoff
    blemish = None
    if settings.blemish > 0:
        blemish = blemish_protection(original, ai, mask, settings.blemish,
                                     scale=float(np.clip(cutoff / 2, 1.0, 2.0)), margin=cutoff)
        if blemish is not None:
            weight = blemish if weight is None else weight * blemish
    regional = regional_weight(faces, ai.shape, {k: getattr(settings, k) / 100.0 for k in
                                                 ("forehead", "cheeks", "nose", "chin")})
    if regional is not None:
        weight = regional if weight is None else weight * regional
    return MatchPlan(cutoff, swap, auto, ratios, weight, blemish)


def texture_match(original: np.ndarray, ai: np.ndarray, mask: np.ndarray | None,
                  settings: MatchSettings = MatchSettings(), faces=(),
                  plan: MatchPlan | None = None) -> np.ndarray:
    """Restore each band below the cut-off to the original's, keeping removed blemishes clean.

    Parameters
    ----------
    original, ai : ndarray, same shape; uint8, uint16 or float32 in [0, 1]
    mask : ndarray (H, W) in [0, 1] or None
    settings : MatchSettings
    faces : sequence of FaceMask, optional
        For regional strength.
    plan : MatchPlan, optional
        A plan already made for this pair (the web app shows it too).

    Returns
    -------
    ndarray like ``ai``; equal to ``ai`` bit for bit where the weight is 0.
    """
    plan = plan or plan_match(original, ai, mask, settings, faces)
    # Regional strengths above 100 % must scale the detail, not saturate a weight
    # at 1: split the weight into its <= 1 part and a strength factor.
    weight = plan.weight
    strength = settings.strength / 100.0
    if weight is not None and float(weight.max()) > 1.0:
        peak = float(weight.max())
        weight, strength = weight / peak, strength * peak
    return add_detail(original, ai, weight, plan.swap_radius, strength, True,
                      settings.shadows / 100.0, settings.highlights / 100.0)

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

from processing.blemish import BlemishSpots, blemish_protection, find_blemishes
from processing.boxes import grow_box
from processing.detail_transfer import add_detail
from processing.filters import gaussian_blur
from processing.row_bands import BandWeight, crop_mask, weight_box, weight_rows
from processing.spectrum import LADDER, removed_scale, texture_spectrum

# The spectrum for the automatic cut-off is measured on at most this many pixels
# around the mask's centre: plenty of skin, bounded cost on 24 MP files.
SPECTRUM_SIDE = 1024
MIN_CUTOFF, MAX_CUTOFF = 0.7, 24.0
# The swap R = G_r(A) + O - G_r(O) only fully restores scales well below r
# (at r itself the Gaussian passes half of each image), so it runs at twice the
# cut-off: every band up to the cut-off then ends within a few per cent of the
# original's energy, and bands the AI left alone are swapped for themselves.
SWAP_FACTOR = 2.0


@dataclass
class MatchPlan:
    """What match mode decided for a pair, for the UI and the report.

    Everything covers only the work box (the mask's bounding box plus the
    context the swap needs); :meth:`full` places an array in a full-size frame.
    The weight is kept as its factors and made band by band when applied.

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
    box : tuple of int
        (y0, y1, x0, x1) of the work box in the image.
    band_weight : BandWeight
        Per-pixel weight in the box (mask x blemish protection x regional strength).
    spots : BlemishSpots or None
        Blemish protection in the box (0 where a removed spot is kept clean).
    """

    cutoff: float
    swap_radius: float
    auto_cutoff: float
    ai_ratios: list
    box: tuple
    band_weight: BandWeight
    spots: BlemishSpots | None = None

    @property
    def weight(self) -> np.ndarray:
        """The per-pixel weight in the box as one float32 array (made on demand)."""
        return self.band_weight.full()

    @property
    def blemish(self) -> np.ndarray | None:
        """Blemish protection in the box as one float32 array (made on demand), or None."""
        return None if self.spots is None else self.spots.full()

    def full(self, array: np.ndarray | None, shape, fill: float = 1.0) -> np.ndarray | None:
        """``array`` (box-sized) placed in a float32 frame of ``shape`` filled with ``fill``."""
        if array is None:
            return None
        out = np.full(shape[:2], fill, np.float32)
        y0, y1, x0, x1 = self.box
        out[y0:y1, x0:x1] = array
        return out


def _central_window(mask: np.ndarray | None, shape, side: int):
    box = weight_box(mask, shape)
    if box is None:
        return None
    y0, y1, x0, x1 = box
    cy, cx = (y0 + y1) // 2, (x0 + x1) // 2
    hh, hw = min(side, y1 - y0) // 2, min(side, x1 - x0) // 2
    return slice(max(0, cy - hh), cy + hh + 1), slice(max(0, cx - hw), cx + hw + 1)


def auto_cutoff(original: np.ndarray, ai: np.ndarray, mask: np.ndarray | None,
                blemish: float = 0.0) -> tuple[float, list]:
    """Cut-off radius (px) from the AI's band ratios inside the mask, and the ratios.

    With ``blemish`` (sensitivity, a fraction) removed spots are left out of the
    spectrum: they are energy the AI removed at their own scale and would
    push the cut-off up.
    """
    win = _central_window(mask, ai.shape, SPECTRUM_SIDE)
    if win is None:
        return MIN_CUTOFF, [float("nan")] * len(LADDER)
    wh, ww = ai[win].shape[:2]
    m = weight_rows(mask, win[0].start, win[0].start + wh, win[1].start, win[1].start + ww)
    if blemish > 0:
        spots = blemish_protection(original[win], ai[win], m, blemish, scale=1.5, margin=2.0)
        if spots is not None:
            m = m * spots
    ratios = texture_spectrum(ai[win], m).ratio_to(texture_spectrum(original[win], m))
    cut = removed_scale(ratios, LADDER)
    return float(np.clip(cut, MIN_CUTOFF, MAX_CUTOFF)), [float(r) for r in ratios]


@dataclass
class RegionalWeight:
    """Per-pixel strength multiplier kept as one tile per face (1 elsewhere).

    Attributes
    ----------
    shape : (H, W)
    tiles : list of ((y0, y1, x0, x1), ndarray float32)
        Pasted in order: a later face's tile covers an earlier one's.
    """

    shape: tuple[int, int]
    tiles: list

    def rows(self, r0: int, r1: int, c0: int = 0, c1: int | None = None) -> np.ndarray:
        """Rows ``r0:r1``, columns ``c0:c1`` of the multiplier, float32."""
        c1 = self.shape[1] if c1 is None else c1
        out = np.ones((r1 - r0, c1 - c0), np.float32)
        for (y0, y1, x0, x1), tile in self.tiles:
            ya, yb, xa, xb = max(r0, y0), min(r1, y1), max(c0, x0), min(c1, x1)
            if ya < yb and xa < xb:
                out[ya - r0:yb - r0, xa - c0:xb - c0] = tile[ya - y0:yb - y0, xa - x0:xb - x0]
        return out

    def full(self) -> np.ndarray:
        """The whole multiplier, float32 (H, W)."""
        return self.rows(0, self.shape[0])


def regional_weight(faces, shape, strengths: dict[str, float], feather: float = 0.03,
                    origin: tuple[int, int] = (0, 0)) -> np.ndarray | None:
    """Per-pixel strength multiplier from the face regions, feathered at the seams.

    :func:`regional_tiles` as one array.

    Parameters
    ----------
    faces : sequence of FaceMask
        With ``regions`` polygons ('forehead', 'left_cheek', 'right_cheek', 'nose', 'chin').
    shape : tuple
        (H, W, ...) of the frame to fill.
    strengths : dict
        'forehead', 'cheeks', 'nose', 'chin' -> multiplier (1.0 = unchanged).
    feather : float
        Seam blur, fraction of the face height.
    origin : (x, y)
        Image position of the frame's top-left pixel (for a crop).

    Returns
    -------
    ndarray float32 (H, W) or None when every strength is 1 or there is no face.
    """
    tiles = regional_tiles(faces, shape, strengths, feather, origin)
    return None if tiles is None else tiles.full()


def regional_tiles(faces, shape, strengths: dict[str, float], feather: float = 0.03,
                   origin: tuple[int, int] = (0, 0)) -> RegionalWeight | None:
    """:func:`regional_weight` (same parameters) kept as one tile per face."""
    if not faces or all(abs(v - 1.0) < 1e-6 for v in strengths.values()):
        return None
    h, w = shape[:2]
    ox, oy = origin
    tiles = []
    for face in faces:
        x0, y0, x1, y1 = face.bbox
        height = max(y1 - y0, 1)
        pad = int(3 * feather * height) + 1
        x0, y0 = max(0, x0 - ox - pad), max(0, y0 - oy - pad)
        x1, y1 = min(w, x1 - ox + pad), min(h, y1 - oy + pad)
        if x1 <= x0 or y1 <= y0:
            continue
        tile = np.ones((y1 - y0, x1 - x0), np.float32)
        for name, poly in face.regions.items():
            key = "cheeks" if name.endswith("cheek") else name
            if key in strengths:
                pts = np.round(np.asarray(poly, np.float64) - (x0 + ox, y0 + oy)).astype(np.int32)
                cv2.fillPoly(tile, [pts], float(strengths[key]))
        tiles.append(((y0, y1, x0, x1), gaussian_blur(tile, feather * height)))
    return RegionalWeight((h, w), tiles)


# Context around the mask's box: the widest swap blur (4 sigma) and the blemish search.
WORK_HALO = int(4 * SWAP_FACTOR * MAX_CUTOFF) + 2


def plan_match(original: np.ndarray, ai: np.ndarray, mask: np.ndarray | None,
               cutoff: float = 0.0, blemish: float = 0.5, regions: dict[str, float] | None = None,
               faces=()) -> MatchPlan | None:
    """Decide the cut-off and the per-pixel weight for match mode.

    Parameters
    ----------
    original, ai : ndarray, same shape
    mask : ndarray (H, W) or None
    cutoff : float
        px; 0 = read it off the texture spectrum.
    blemish : float
        Sensitivity of the removed-blemish protection, a fraction (0 = off).
    regions : dict, optional
        'forehead', 'cheeks', 'nose', 'chin' -> strength multiplier (1.0 = unchanged).
    faces : sequence of FaceMask
        For the regional strengths.

    Returns
    -------
    MatchPlan, or None for an empty mask.
    """
    box = weight_box(mask, ai.shape)
    if box is None:
        return None
    box = grow_box(box, WORK_HALO, ai.shape)
    y0, y1, x0, x1 = box
    o, a = original[y0:y1, x0:x1], ai[y0:y1, x0:x1]
    m = crop_mask(mask, y0, y1, x0, x1)  # a view: converted band by band
    auto, ratios = auto_cutoff(o, a, m, blemish)
    cut = cutoff if cutoff > 0 else auto
    spots = None
    if blemish > 0:
        spots = find_blemishes(o, a, m, blemish, scale=float(np.clip(cut / 2, 1.0, 2.0)), margin=cut)
    regional = regional_tiles(faces, a.shape, regions or {}, origin=(x0, y0))
    factors = tuple(f for f in (spots, regional) if f is not None)
    return MatchPlan(cut, SWAP_FACTOR * cut, auto, ratios, box, BandWeight(a.shape[:2], m, factors), spots)


def texture_match(original: np.ndarray, ai: np.ndarray, plan: MatchPlan | None, strength: float = 1.0,
                  shadows: float = 0.0, highlights: float = 1.0) -> np.ndarray:
    """Restore each band below the plan's cut-off to the original's, keeping removed blemishes clean.

    Parameters
    ----------
    original, ai : ndarray, same shape; uint8, uint16 or float32 in [0, 1]
    plan : MatchPlan or None
        From :func:`plan_match` on this pair (None: an empty mask, nothing to do).
    strength : float
        Fraction of the original's energy in every matched band (1.0 = as in the original).
    shadows, highlights : float
        Luminosity protection, fractions of white (0 and 1 = off).

    Returns
    -------
    ndarray like ``ai``; equal to ``ai`` bit for bit where the weight is 0.
    """
    out = ai.copy()
    if plan is None:
        return out
    # Regional strengths above 100 % must scale the detail, not saturate a weight
    # at 1: split the weight into its <= 1 part and a strength factor.
    weight = plan.band_weight
    peak = weight.max()
    if peak > 1.0:
        weight, strength = weight.divided_by(peak), strength * peak
    y0, y1, x0, x1 = plan.box
    add_detail(original[y0:y1, x0:x1], ai[y0:y1, x0:x1], weight, plan.swap_radius, strength, True,
               shadows, highlights, exact=False, out=out[y0:y1, x0:x1])
    return out

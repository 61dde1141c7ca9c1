"""Match mode: give every band the AI smoothed its original energy back, no more.

Per band below a cut-off the result takes the original's band and drops the AI
image's (``R = G_r(A) + O - G_r(O)``, ``r`` twice the cut-off): what the AI removed is put back, what it
kept is not stacked a second time, so every band below the cut-off ends at the
original's energy while the tone (everything above ``c``) stays the AI's. The
cut-off is read off the texture spectrum: the scale where the AI's band ratio
climbs back towards 1, i.e. the bands the AI did not touch, sought only in
the texture range and never where the swap would move the AI's tone (see
:func:`auto_cutoff`). Removed blemishes are kept out (see
:mod:`processing.blemish`), and strength can differ per region of the face.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import cv2
import numpy as np

from processing.blemish import BlemishSpots, search_blemishes
from processing.healing import add_texture, heal_patches, healed
from processing.boxes import grow_box, mask_bbox
from processing.detail_transfer import add_detail, halo_for
from processing.dtypes import mask_to_float
from processing.filters import gaussian_blur, low_pass, luminance_of, reduction_factor
from processing.row_bands import (BandWeight, copy_in_bands, crop_mask, map_items, on_own_thread, skin_regions, weight_box,
                                  weight_rows)
from processing.spectrum import LADDER, TextureBands, removed_scale, texture_spectrum

# The spectrum for the automatic cut-off is measured on at most this many pixels
# around the mask's centre (see spectrum_window): plenty of skin, bounded cost on 24 MP files.
SPECTRUM_SIDE = 1024
# The texture range: pores and fine lines are 0.5-6 px across on a portrait's
# own pixels; anything coarser is shape and tone, which stay the AI's. The
# floor keeps the swap (2 x 1.5 = 3 px) over the whole pore band (0.5-2 px):
# an edge-aware smoother that thinned the pores by a quarter has its
# half-deficit point inside that band, and cutting there leaves most of the
# loss in place.
MIN_CUTOFF, MAX_CUTOFF = 1.5, 6.0
# Where the spectrum shows no clear smoothing (or too little skin to read it):
# the middle of the pore band's swap, neither extreme.
DEFAULT_CUTOFF = 2.0
# The automatic cut-off never moves the AI's tone (its 8 px Gaussian, the scale
# a viewer reads as tone) by more than this, as a fraction of full scale (half
# an 8-bit level) on the skin measured.
TONE_SIGMA = 8.0
TONE_BUDGET = 0.5 / 255
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
    reason : str
        Why the automatic cut-off is what it is, in a few words (for the plan message).
    patches : list of HealPatch
        Removed blemishes healed (:mod:`processing.healing`): the original healed
        for the swap's band, and texture borrowed into each spot.
    skin_weight : BandWeight or None
        Mask x regional strength without the protection (the borrowed texture's weight).
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
    reason: str = ""
    patches: list = field(default_factory=list)
    skin_weight: BandWeight | None = None

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


def _central_window(mask: np.ndarray | None, shape, side: int, box=None):
    box = weight_box(mask, shape) if box is None else box
    if box is None:
        return None
    y0, y1, x0, x1 = box
    cy, cx = (y0 + y1) // 2, (x0 + x1) // 2
    hh, hw = min(side, y1 - y0) // 2, min(side, x1 - x0) // 2
    return slice(max(0, cy - hh), cy + hh + 1), slice(max(0, cx - hw), cx + hw + 1)


# The skin is counted on a grid this many cells across a window: a face
# fills several cells, and the count reads one pixel a cell.
WINDOW_CELLS = 32


def _cell_samples(mask, box, cell: int) -> np.ndarray:
    """The mask at the middle of each whole ``cell``-px cell of ``box``, float32."""
    y0, y1, x0, x1 = box
    gh, gw = (y1 - y0) // cell, (x1 - x0) // cell
    first_y, first_x = y0 + cell // 2, x0 + cell // 2
    if isinstance(mask, np.ndarray):
        return mask_to_float(mask[first_y:first_y + gh * cell:cell, first_x:first_x + gw * cell:cell])
    return np.concatenate([weight_rows(mask, r, r + 1, first_x, first_x + gw * cell)[:, ::cell]
                           for r in range(first_y, first_y + gh * cell, cell)])


def spectrum_window(mask: np.ndarray | None, shape, side: int = SPECTRUM_SIDE, box=None):
    """The window (slice, slice) the automatic cut-off measures, or None for an empty mask.

    The window around the mask's centre, unless it holds less than half the
    skin of the window that holds the most: the centre of a group photo's
    mask falls between the faces. Then the skin-richest window (the nearest
    to the centre of equal ones). Skin is counted where the mask is above
    0.5, on a grid of ``side / WINDOW_CELLS`` px cells.
    """
    box = weight_box(mask, shape) if box is None else box
    centre = _central_window(mask, shape, side, box)
    if centre is None or mask is None:
        return centre
    y0, y1, x0, x1 = box
    cell = max(1, side // WINDOW_CELLS)
    gh, gw = (y1 - y0) // cell, (x1 - x0) // cell
    if (gh <= WINDOW_CELLS and gw <= WINDOW_CELLS) or min(gh, gw) == 0:
        return centre  # the window covers the whole skin whatever its place (or a strip of it)
    counts = cv2.integral((_cell_samples(mask, box, cell) > 0.5).astype(np.uint8))
    wh, ww = min(WINDOW_CELLS, gh), min(WINDOW_CELLS, gw)
    sums = counts[wh:, ww:] - counts[:-wh, ww:] - counts[wh:, :-ww] + counts[:-wh, :-ww]
    cy, cx = (centre[0].start - y0) // cell, (centre[1].start - x0) // cell
    cy, cx = min(cy, sums.shape[0] - 1), min(cx, sums.shape[1] - 1)
    best = int(sums.max())
    if 2 * int(sums[cy, cx]) >= best:
        return centre
    ys, xs = np.nonzero(sums == best)
    k = int(np.argmin((ys - cy) ** 2 + (xs - cx) ** 2))
    top, left = y0 + int(ys[k]) * cell, x0 + int(xs[k]) * cell
    hh, hw = centre[0].stop - centre[0].start, centre[1].stop - centre[1].start
    return slice(top, min(shape[0], top + hh)), slice(left, min(shape[1], left + hw))


def tone_shift(original: np.ndarray, ai: np.ndarray, weight: np.ndarray, swap_radius: float) -> float:
    """Mean |change of the AI's tone| a swap at ``swap_radius`` px makes, full-scale fraction.

    The swap adds ``H_r(O) - H_r(A)`` (``H_r = 1 - G_r``); what of it a tone
    blur ``G_t`` keeps is ``G_t(D) - G_sqrt(t^2 + r^2)(D)`` with ``D`` the
    luminance of ``O - A``: exact for the linear swap, and cheap.

    Parameters
    ----------
    original, ai : ndarray, same shape
    weight : ndarray (H, W) in [0, 1]
        Where to measure (the skin, removed blemishes left out).
    swap_radius : float, px
    """
    return _tone_shifts(original, ai, weight)(swap_radius)


def _tone_shifts(original: np.ndarray, ai: np.ndarray, weight: np.ndarray):
    """:func:`tone_shift` as a function of the swap radius, ``D`` and ``G_t(D)`` made once."""
    return _ToneChangeBands(original, ai).shifts(weight)


class _ToneChangeBands:
    """``D``, the luminance of ``O - A``, and its tone ``G_t(D)``: what :func:`tone_shift` needs besides the weight."""

    def __init__(self, original: np.ndarray, ai: np.ndarray):
        self.d = luminance_of(original) - luminance_of(ai)
        self.toned = low_pass(self.d, TONE_SIGMA)

    def shifts(self, weight: np.ndarray):
        total = float(weight.sum())

        def shift(swap_radius: float) -> float:
            if total <= 0:
                return 0.0
            t = self.toned - low_pass(self.d, float(np.hypot(TONE_SIGMA, swap_radius)))
            return float((np.abs(t) * weight).sum() / total)

        return shift


@dataclass
class SpectrumReading:
    """What the automatic cut-off measures before the removed blemishes are known.

    Attributes
    ----------
    window : (slice, slice)
        The skin around the mask's centre measured (at most ``SPECTRUM_SIDE`` px a side).
    weight : ndarray float32
        The mask over the window.
    bands : (TextureBands, TextureBands)
        The AI image's and the original's, around the mask.
    tone : _ToneChangeBands
        For the tone budget.
    """

    window: tuple
    weight: np.ndarray
    bands: tuple
    tone: _ToneChangeBands


def read_spectra(original: np.ndarray, ai: np.ndarray, mask: np.ndarray | None,
                 box=None) -> SpectrumReading | None:
    """The spectra and tone change :func:`auto_cutoff` weighs, or None for an empty mask.

    ``box``: where the mask is above 0, when known.
    """
    win = spectrum_window(mask, ai.shape, SPECTRUM_SIDE, box)
    if win is None:
        return None
    wh, ww = ai[win].shape[:2]
    m = weight_rows(mask, win[0].start, win[0].start + wh, win[1].start, win[1].start + ww)
    o, a = original[win], ai[win]
    bands = tuple(map_items(lambda image: TextureBands.of(image, m), (a, o)))
    return SpectrumReading(win, m, bands, _ToneChangeBands(o, a))


def auto_cutoff(original: np.ndarray, ai: np.ndarray, mask: np.ndarray | None,
                spots: BlemishSpots | None = None, reading: SpectrumReading | None = None) -> tuple[float, list, str]:
    """Cut-off radius (px) from the AI's band ratios inside the mask, the ratios, and why.

    The cut-off is where the AI's band ratio climbs back towards 1
    (:func:`processing.spectrum.removed_scale`), kept in the texture range
    ``MIN_CUTOFF``-``MAX_CUTOFF`` px, and lowered until the swap moves the AI's
    tone by at most ``TONE_BUDGET``: a smoother whose loss runs on into the
    shape of the face does not take the AI's tone work with it. An ambiguous
    spectrum (no clear smoothing, too little skin) gives ``DEFAULT_CUTOFF``.

    Removed spots (``spots``, on the same frame) are left out of the
    spectrum: they are energy the AI removed at their own scale and would
    push the cut-off up. ``reading``: :func:`read_spectra` of the same pair
    and mask, when it was made beforehand.
    """
    if reading is None:
        reading = read_spectra(original, ai, mask)
    if reading is None:
        return DEFAULT_CUTOFF, [float("nan")] * len(LADDER), "no skin to measure"
    win, m = reading.window, reading.weight
    wh, ww = m.shape
    if spots is not None:
        m = m * spots.rows(win[0].start, win[0].start + wh, win[1].start, win[1].start + ww)

    def spectrum(bands, image):
        # Spots on the edge of the skin can shrink its box: then measured afresh.
        if bands is None or mask_bbox(m, m.shape) != bands.mask_box:
            return texture_spectrum(image, m)
        return bands.spectrum(m)

    ai_spectrum, original_spectrum = map_items(lambda pair: spectrum(*pair),
                                               list(zip(reading.bands, (ai[win], original[win]))))
    ratios = ai_spectrum.ratio_to(original_spectrum)
    ratio_list = [float(r) for r in ratios]
    finite = np.isfinite(ratios)
    if float((m > 0.5).sum()) < 256 or not finite[:3].all():
        return DEFAULT_CUTOFF, ratio_list, "too little skin to read the spectrum: the default"
    if float(np.max(1.0 - ratios[finite])) < 0.05:
        return DEFAULT_CUTOFF, ratio_list, "the spectrum shows no clear smoothing: the default"
    suggested = removed_scale(ratios, LADDER)
    cut = float(np.clip(suggested, MIN_CUTOFF, MAX_CUTOFF))
    reason = f"the spectrum suggests {suggested:.1f} px"
    if suggested > MAX_CUTOFF:
        reason += f", beyond the texture range (kept to {MAX_CUTOFF:.0f} px)"
    elif suggested < MIN_CUTOFF:
        reason += f", raised to {MIN_CUTOFF:.1f} px to cover the pores"
    # Lower in quarter octaves while the swap would move the tone.
    shift, start = reading.tone.shifts(m), cut
    while cut > MIN_CUTOFF and shift(SWAP_FACTOR * cut) > TONE_BUDGET:
        cut = max(MIN_CUTOFF, cut * 2 ** -0.25)
    if cut < start:
        reason += f"; lowered to {cut:.1f} px to keep the AI's tone"
    return cut, ratio_list, reason


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
    skin_box = weight_box(mask, ai.shape)
    if skin_box is None:
        return None
    box = grow_box(skin_box, WORK_HALO, ai.shape)
    y0, y1, x0, x1 = box
    o, a = original[y0:y1, x0:x1], ai[y0:y1, x0:x1]
    m = crop_mask(mask, y0, y1, x0, x1)  # a view: converted band by band
    skin_box = (skin_box[0] - y0, skin_box[1] - y0, skin_box[2] - x0, skin_box[3] - x0)
    # The spectra do not need the removed blemishes until they are weighed:
    # measured beside the search.
    reading = on_own_thread(read_spectra, o, a, m, skin_box)
    # One search for removed blemishes serves both: the spectrum leaves them
    # out with a small margin, the match keeps them clean with a margin of the cut-off.
    search = search_blemishes(o, a, m, blemish, mask_box=skin_box) if blemish > 0 else None
    auto, ratios, reason = auto_cutoff(o, a, m, None if search is None else search.protection(2.0), reading.result())
    cut = cutoff if cutoff > 0 else auto
    spots = None if search is None else search.protection(cut)
    regional = regional_tiles(faces, a.shape, regions or {}, origin=(x0, y0))
    factors = tuple(f for f in (spots, regional) if f is not None)
    # A factor never makes the mask's zeros non-zero: the weights lie in the mask's box (no scan for it).
    skin_weight = BandWeight(a.shape[:2], m, () if regional is None else (regional,), within=skin_box)
    patches = [] if spots is None else heal_patches(o, a, spots, BandWeight(a.shape[:2], m).rows, SWAP_FACTOR * cut)
    return MatchPlan(cut, SWAP_FACTOR * cut, auto, ratios, box, BandWeight(a.shape[:2], m, factors, within=skin_box),
                     spots, reason, patches, skin_weight)


def texture_match(original: np.ndarray, ai: np.ndarray, plan: MatchPlan | None, strength: float = 1.0,
                  shadows: float = 0.0, highlights: float = 1.0) -> np.ndarray:
    """Restore each band below the plan's cut-off to the original's, with removed blemishes healed.

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
    Removed blemishes get the healed original's texture (``plan.patches``).
    """
    out = copy_in_bands(ai)
    if plan is None:
        return out
    amount = strength
    # Regional strengths above 100 % must scale the detail, not saturate a weight
    # at 1: split the weight into its <= 1 part and a strength factor.
    weight = plan.band_weight
    peak = 1.0 if weight.at_most_one() else weight.max()
    if peak > 1.0:
        weight, strength = weight.divided_by(peak), strength * peak
    y0, y1, x0, x1 = plan.box
    source = healed(original[y0:y1, x0:x1], plan.patches)
    a, o = ai[y0:y1, x0:x1], out[y0:y1, x0:x1]
    # The faces of a group photo one by one: the box around them is mostly
    # background. Each part with the swap's context, on the wide blur's cells.
    f = reduction_factor(plan.swap_radius)
    for (c0, c1, d0, d1), inner in skin_regions(weight, a.shape, halo_for(plan.swap_radius) + 2 * f, align=f):
        part = dataclasses.replace(weight.crop(c0, c1, d0, d1), within=inner)
        add_detail(source[c0:c1, d0:d1], a[c0:c1, d0:d1], part, plan.swap_radius, strength, True,
                   shadows, highlights, exact=False, out=o[c0:c1, d0:d1], keep_luminance=True)
    if plan.patches and plan.skin_weight is not None:
        add_texture(out[y0:y1, x0:x1], plan.patches, plan.skin_weight.rows, amount, shadows, highlights)
    return out

"""Where the AI removed a blemish: keep the original's texture out of it.

A removed spot shows as a strong, local change of the low-pass tone between the
original and the AI image: ``G_s(O - A)`` stands out from its surroundings
(``G_4s``) by many times the typical skin-texture difference. Both the
luminance and the redness (R - G) are searched: a spot the AI healed was
darker and redder than the skin, while the pores it smoothed away change the
luminance only, so redness finds faint spots that luminance alone confuses
with texture. Grafting the
original's high band there would bring the spot back as a ghost (its edges live
in the high band), so the graft weight goes to 0 there, fading smoothly.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from processing.boxes import components, grow_box
from processing.dtypes import to_float
from processing.filters import REC709, enlarge_rows, gaussian_blur, low_pass, luminance
from processing.luminosity import smoothstep
from processing.row_bands import band_height, crop_mask, map_bands, map_items, weight_box, weight_rows

# Detection works on a copy whose long side is at most this: a blemish of
# 4-8 px at 2 MP is 15-30 px at 24 MP, still 5-10 px after reduction by 3,
# and the smallest core counted (MIN_CORE_FRACTION) at least 2.3 px.
DETECT_MAX_SIDE = 1600
#: Smallest core of a removed spot across, as a fraction of the image's long
#: side (at least 2.75 px): a blemish is a few pixels across on a web image and a
#: dozen on a 24 MP file, while chance peaks of smoothed-away texture are a pixel or two.
MIN_CORE_FRACTION = 0.002
#: The least spread a spot's change is measured in, in [0, 1] units (one 8-bit
#: level): at z = 3 a spot must change by 3 levels at its own scale (a disc of
#: about 4 levels, 3 % on skin), which is where a spot starts to be seen.
#: Fainter changes are chance peaks of smoothed-away texture; on a large frame
#: there are many, because the texture's own spread at a blemish's scale is a
#: fraction of a level.
VISIBLE_SPREAD = 1.0 / 255
#: Grids up to this many cells are searched without the shortcuts that only pay
#: on large ones (the local spread's blur on a reduced copy, coarser copies per
#: scale). From about half a megapixel they take a third off the search (a
#: face filling a 24 MP frame is about 1 MP at DETECT_MAX_SIDE) and find the same spots.
EXACT_SPREAD_CELLS = 1 << 19
#: A core whose faint rim runs into a smoothed edge (a spot beside a nostril or
#: on a smile line) still counts when it stands out this many times the
#: threshold. At 2 a spot beside an edge a Gaussian of 4-6 px smeared (z 4.9-5.1)
#: was lost; at 1.5 every removed spot of the smoother pairs is found, for a
#: few more marks where the AI smoothed a compact dark detail (75 against 71 over 26 pairs).
STANDS_OUT = 1.5


def smallest_core(h: int, w: int) -> float:
    """Diameter (px) of the smallest removed spot's core counted in an ``h`` x ``w`` frame."""
    return max(2.75, MIN_CORE_FRACTION * max(h, w))


def blemish_threshold(sensitivity: float) -> float:
    """Robust z-score above which a tone change counts as a removed blemish.

    ``sensitivity`` as a fraction (0.01-1): 0.5 gives z = 3, 1.0 z = 1.5, 0.1 z = 15.
    The score counts luminance and redness and is measured against the skin's
    local spread (:func:`_spot_score`); at z = 3 pairs with no removed spot
    mark none of their clean skin (cores smaller than MIN_CORE_FRACTION do not count).
    """
    return 1.5 / max(float(sensitivity), 0.01)


@dataclass
class ToneChange:
    """Luminance change original - AI on a reduced copy of the mask's box.

    Computed once and shared by every blemish search on a pair.
    """

    diff: np.ndarray            # float32 (h, w), reduced by ``f``
    redness: np.ndarray | None  # float32 (h, w): (R - G) of original - AI; None for gray
    mask: np.ndarray            # float32 (h, w), the mask reduced the same way
    f: int                      # reduction factor
    box: tuple[int, int, int, int]   # (y0, y1, x0, x1) of the full image it covers
    shape: tuple[int, int]      # full image (H, W)


@dataclass
class BlemishSpots:
    """Removed-blemish protection, kept at the size it was found at.

    The weight is 1 everywhere but around removed spots; it is found on a
    reduced copy, so it is stored that way (a few MB where the full frame
    would be 576 MB at 144 MP) and enlarged band by band when a restore reads
    it (:class:`processing.row_bands.BandWeight` takes it as a factor).

    Attributes
    ----------
    soft : ndarray, float32 (h, w)
        How much each reduced pixel belongs to a kept-clean spot (clipped to [0, 1] on use).
    f : int
        Reduction factor: a reduced pixel is f x f image pixels.
    origin : (y0, x0)
        Image position of the reduced grid's top-left pixel, px.
    shape : (H, W)
        Size of the image the weight covers, px.
    """

    soft: np.ndarray
    f: int
    origin: tuple[int, int]
    shape: tuple[int, int]

    AT_MOST_ONE = True  # a weight of 1 - p, p in [0, 1]

    def rows(self, r0: int, r1: int, c0: int = 0, c1: int | None = None) -> np.ndarray:
        """The weight's rows ``r0:r1``, columns ``c0:c1``: float32, 0 where a spot is kept clean."""
        c1 = self.shape[1] if c1 is None else c1
        out = np.ones((r1 - r0, c1 - c0), np.float32)
        y0, x0 = self.origin
        f = self.f
        ya, yb = max(r0, y0), min(r1, y0 + self.soft.shape[0] * f)
        xa, xb = max(c0, x0), min(c1, x0 + self.soft.shape[1] * f)
        if ya < yb and xa < xb:
            # Rows far from every spot enlarge to exactly 0 (weight 1): skip them.
            near = self.soft[max(0, (ya - y0) // f - 1):(yb - y0 - 1) // f + 2]
            if near.max() > 0:
                big = enlarge_rows(self.soft, f, ya - y0, yb - y0, width=xb - x0)[:, xa - x0:]
                out[ya - r0:yb - r0, xa - c0:xb - c0] = 1.0 - np.clip(big, 0.0, 1.0)
        return out

    def full(self) -> np.ndarray:
        """The whole weight, float32 (H, W)."""
        return self.rows(0, self.shape[0])


def tone_change(original: np.ndarray, ai: np.ndarray, mask: np.ndarray | None,
                halo: int = 130, mask_box=None) -> ToneChange | None:
    """The change to search for removed blemishes in, or None for an empty mask.

    ``halo`` (px) of context around the mask's box: four times the widest
    blur plus margin a search will use. The AI image's smooth gain per channel
    (its tone and colour work, over 5 % of the long side) is undone before
    the difference is taken. ``mask_box``: where the mask is above 0, when known.
    """
    box = weight_box(mask, ai.shape) if mask_box is None else mask_box
    if box is None:
        return None
    box = grow_box(box, halo, ai.shape)
    h, w = ai.shape[:2]
    y0, y1, x0, x1 = box
    o, a = original[y0:y1, x0:x1], ai[y0:y1, x0:x1]
    m = crop_mask(mask, y0, y1, x0, x1)
    f = max(1, int(np.ceil(max(o.shape[:2]) / DETECT_MAX_SIDE)))
    hh, ww = (y1 - y0) // f, (x1 - x0) // f
    # Reduced before conversion (24 MP of float is the slow part), piece by
    # piece on the band threads. Whole multiples of f keep INTER_AREA on OpenCV's
    # fast integer path, and each reduced pixel is its own f x f block, so a
    # piece's rows are the whole reduction's.
    of = np.empty((hh, ww) + o.shape[2:], np.float32)
    af = np.empty((hh, ww) + a.shape[2:], np.float32)
    m_small = np.empty((hh, ww), np.float32)
    piece = max(1, -(-hh // 4)) * f  # four pieces each: a few large tasks keep the threads' overhead small

    def reduce(job) -> None:
        x, out, r = job
        rows = slice(r, min(hh * f, r + piece))
        block = weight_rows(m, rows.start, rows.stop, 0, ww * f) if x is None else x[rows, :ww * f]
        small = block if f == 1 else cv2.resize(block, (ww, block.shape[0] // f), interpolation=cv2.INTER_AREA)
        out[r // f:rows.stop // f] = small if x is None else to_float(small).reshape(out[r // f:rows.stop // f].shape)

    map_items(reduce, [(x, out, r) for x, out in ((o, of), (a, af), (None, m_small)) for r in range(0, hh * f, piece)])
    if of.ndim == 2 or of.shape[2] < 3:
        return ToneChange(luminance(of) - luminance(af), None, m_small, f, (y0, y1, x0, x1), (h, w))
    of, af = of[..., :3], af[..., :3]
    # The AI's brightening and warming scale every channel by a smooth gain;
    # undone first, so its change (the original's own structure times a few per
    # cent) is not searched as spots. The gain varies over much more than a spot.
    wide = max(16.0, max(h, w) * 0.05) / f
    gain_o, gain_a = map_items(lambda x: low_pass(x, wide) + np.float32(1e-3), (of, af))
    diff = np.empty((hh, ww), np.float32)
    redness = np.empty((hh, ww), np.float32)
    lum = REC709[None, :]

    band = band_height(ww * 3)

    def rows(r0: int) -> None:
        r = slice(r0, min(hh, r0 + band))
        o_r, a_r = of[r], af[r]
        # A channel the AI's brightening clipped lost its texture there, peaks
        # first: the pores' tops would look like spots. Such channels are left
        # out where they clip (within half a level of white or black).
        ok = ((a_r < 1 - 0.5 / 255) & (a_r > 0.5 / 255)).astype(np.float32)
        change = o_r - a_r * gain_o[r] / gain_a[r]
        # Luminance of the channels that did not clip (cv2.transform: a fused per-pixel dot product).
        n = o_r.shape[0]
        diff[r] = (cv2.transform(change * ok, lum).reshape(n, ww)
                   / np.maximum(cv2.transform(ok, lum).reshape(n, ww), 1e-6))
        redness[r] = (change[..., 0] - change[..., 1]) * (ok[..., 0] * ok[..., 1])

    map_bands(rows, 0, hh, band)
    return ToneChange(diff, redness, m_small, f, (y0, y1, x0, x1), (h, w))


def _removal_score(change: ToneChange, s: float, inside: np.ndarray) -> np.ndarray:
    """How strongly a spot of scale ``s`` (reduced px) changed, luminance and
    redness together, on the change's reduced grid.

    Scales of 2 px (1.4 px on a large copy) and more are measured on a copy
    reduced by a power of two (their blurs are wide, and the change has nothing
    finer to lose).
    """
    # A power of two at or below s (each scale's blur 1-2 cells of its copy);
    # on a large copy the nearest one (0.7-1.4 cells), which halves the cost
    # of the scale whose copy is the full grid. On a small copy a spot is only
    # a few cells across, and coarser cells would blur it into its surroundings.
    h, w = change.diff.shape
    large = h * w > EXACT_SPREAD_CELLS
    level = max(0, int(np.floor(np.log2(max(s, 1.0)) + (0.5 if large else 0.0))))
    k = 2 ** level

    def small(x):
        return x if k == 1 else cv2.resize(x, (max(1, w // k), max(1, h // k)), interpolation=cv2.INTER_AREA)

    inside_k = inside if k == 1 else small(inside.astype(np.float32)) > 0.5
    if inside_k.sum() < 16:
        return np.zeros((h, w), np.float32)
    # A removed blemish was darker (original - AI < 0) and redder than the skin.
    skin = _SkinCells(inside_k, 8.0 * s / k, exact=not large)
    z, spread = _spot_score(small(change.diff), s / k, skin, floor=VISIBLE_SPREAD)
    z = np.maximum(np.negative(z, out=z), 0.0, out=z)  # in place: each is a grid of floats
    if change.redness is not None:
        # Skin texture has little colour, so the redness change's own spread
        # can be tiny: count it in the luminance's spread, not below.
        red = _spot_score(small(change.redness), s / k, skin, floor=spread)[0]
        np.hypot(z, np.maximum(red, 0.0, out=red), out=z)
    return z if k == 1 else cv2.resize(z, (w, h), interpolation=cv2.INTER_LINEAR)


class _SkinCells:
    """The skin searched at one scale: where it is, a sample of it for the
    overall spread, and its local average over ``wide`` px (shared by
    luminance and redness)."""

    def __init__(self, inside: np.ndarray, wide: float, exact: bool = True):
        self.inside = inside
        self.wide = wide
        # A regular sample of about 100 000 cells is plenty for a median.
        self.step = max(1, int(np.sqrt(float(inside.sum()) / 100_000)))
        self.sample = inside[::self.step, ::self.step] if self.step > 1 else None
        self.mask = inside.astype(np.float32)
        # On a large search grid the average is made on a reduced copy (the
        # spread varies slowly); on a small one exactly.
        self.exact_below = float("inf") if exact else 3.0
        self.norm = np.maximum(self.low_pass(self.mask), 1e-3)

    def values(self, x: np.ndarray) -> np.ndarray:
        return x[self.inside] if self.sample is None else x[::self.step, ::self.step][self.sample]

    def average(self, x: np.ndarray) -> np.ndarray:
        """Local average of ``x`` over the skin (the spread varies slowly: a reduced copy does)."""
        out = self.low_pass(x * self.mask)
        return np.divide(out, self.norm, out=out)

    def low_pass(self, x: np.ndarray) -> np.ndarray:
        return low_pass(x, self.wide, exact_below=self.exact_below, cell=2.0)


def _spot_score(diff: np.ndarray, s: float, skin, floor: float = 1e-4) -> tuple[np.ndarray, float]:
    """Local change of ``diff`` at scale ``s`` px (signed) in spreads of the skin around it.

    The spread is measured locally (over about 8 s), because what the AI did
    to ordinary skin varies across a face: an edge-aware smoother leaves more
    texture on some cheeks than others, and a channel the AI's brightening
    clipped loses all its texture there. Each pixel's change is clipped at three
    first-pass spreads before it is averaged, so a spot does not hide itself.
    Returns the score and the skin's overall spread (at least ``floor``).
    """
    # In place where a step's input is not needed again: on a large frame
    # each of these is a full grid of floats.
    low = gaussian_blur(diff, s)
    signed = np.subtract(low, gaussian_blur(low, 4 * s), out=low)  # a change of its surroundings is not a spot
    local = np.abs(signed)
    # Overall robust spread of ordinary differences (texture the AI smoothed) on the skin.
    spread = max(1.4826 * float(np.median(skin.values(local))), floor)
    # E|x| of a Gaussian is 0.798 of its standard deviation.
    first = skin.average(local)
    first = np.maximum(np.divide(first, 0.798, out=first), spread, out=first)
    clipped = np.minimum(local, np.multiply(first, 3.0, out=first), out=local)
    second = skin.average(clipped)
    second = np.maximum(np.divide(second, 0.798, out=second), spread, out=second)
    return np.divide(signed, second, out=signed), spread


def _compact_spots(core: np.ndarray, max_d: float, min_area: float) -> np.ndarray:
    """The compact regions of ``core`` (bool): at most ``max_d`` px across, at
    least ``min_area`` px, and filling a good part of the disc they span.

    A blemish is a compact spot: a long or large region of strong change is an
    edge the AI smoothed (hairline, nostril), and a fold or a crescent along an
    edge does not fill its disc.
    """
    where = core.astype(np.uint8)
    n, labels, stats = components(where)
    area = stats[1:, cv2.CC_STAT_AREA].astype(float)
    extent = _extent(stats[1:]).astype(float)
    keep = np.zeros(n, bool)
    keep[1:] = (extent <= max_d) & (area >= 0.45 * np.pi / 4 * extent ** 2) & (area >= min_area)
    return _labelled(keep, labels, where)


def _extent(stats: np.ndarray) -> np.ndarray:
    """Each component's larger side (px), from OpenCV-style stats rows."""
    return np.maximum(stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT])


def _labelled(table: np.ndarray, labels: np.ndarray, where: np.ndarray) -> np.ndarray:
    """``table[labels]`` (bool) where ``where`` (uint8) is set, False elsewhere.

    The same as indexing the whole grid when label 0 (the background) maps to
    False, looked up only at the few labelled cells (spots are sparse).
    """
    out = np.zeros(labels.shape, bool)
    points = cv2.findNonZero(where)
    if points is not None:
        xs, ys = points.reshape(-1, 2).T  # (x, y) pairs; OpenCV 4 adds an axis
        out[ys, xs] = table[labels[ys, xs]]
    return out


def _grown_spots(core: np.ndarray, z: np.ndarray, inside: np.ndarray, thr: float, max_d: float,
                 min_area: float) -> np.ndarray:
    """The removed spots (bool): each core grown to its faint rim (hysteresis,
    the weaker change connected to it).

    A blemish stays a compact spot; a piece of a fold or a crease the AI
    smoothed runs on along it and is dropped, unless it stands out from the
    fold at STANDS_OUT times the threshold (a spot on a smile line). Then its
    whole core (above the threshold) is grown by its own radius: the rim runs
    into the fold, and a disc's band-pass falls off well inside its edge.
    """
    faint = (((z > 0.5 * thr) & inside) | core).astype(np.uint8)
    n, labels, stats = components(faint)
    extent = _extent(stats).astype(float)
    isolated = (extent <= 1.5 * max_d) & (stats[:, cv2.CC_STAT_AREA] >= 0.3 * np.pi / 4 * extent ** 2)
    isolated[0] = False
    has_core = np.zeros(n, bool)
    has_core[np.unique(labels[core])] = True
    spots = _labelled(isolated & has_core, labels, faint)
    strong = _compact_spots(core & (z > STANDS_OUT * thr), max_d, min_area)
    strong &= ~_labelled(isolated, labels, strong.view(np.uint8))
    if not strong.any():
        return spots
    # The whole core a strong middle stands in (its part above the threshold:
    # the middle alone leaves the spot's edge to come back), if it is compact.
    n, labels, stats = components(core.view(np.uint8))
    kept = np.zeros(n, bool)
    kept[np.unique(labels[strong])] = True
    kept &= _extent(stats) <= max_d
    kept[0] = False
    for k in np.flatnonzero(kept):
        rim = max(1, int(round(np.sqrt(stats[k, cv2.CC_STAT_AREA] / np.pi))))
        x, y, bw, bh = stats[k, :4]
        y0, y1 = max(0, y - rim), min(z.shape[0], y + bh + rim)
        x0, x1 = max(0, x - rim), min(z.shape[1], x + bw + rim)
        one = (labels[y0:y1, x0:x1] == k).astype(np.uint8)
        spots[y0:y1, x0:x1] |= cv2.dilate(one, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * rim + 1,) * 2)) > 0
    return spots


def blemish_protection(original: np.ndarray, ai: np.ndarray, mask: np.ndarray | None,
                       sensitivity: float = 0.5, scale: float = 2.0,
                       margin: float = 4.0, max_spot: float | None = None,
                       change: ToneChange | None = None) -> np.ndarray | None:
    """Weight in [0, 1] (H, W): 0 where the AI removed a blemish, 1 elsewhere.

    :func:`find_blemishes` as one full-frame array (parameters and None as there).
    """
    spots = find_blemishes(original, ai, mask, sensitivity, scale, margin, max_spot, change)
    return None if spots is None else spots.full()


@dataclass
class SpotSearch:
    """Where the AI removed blemishes, before a margin is put around them.

    Attributes
    ----------
    spots : ndarray bool (h, w)
        The removed spots on the reduced grid (cores grown to their rims).
    f : int
        Reduction factor of the grid.
    origin : (y0, x0)
        Image position of the grid's top-left cell, px.
    shape : (H, W)
        Size of the image searched, px.
    """

    spots: np.ndarray
    f: int
    origin: tuple[int, int]
    shape: tuple[int, int]

    def protection(self, margin: float) -> BlemishSpots:
        """The spots grown by ``margin`` px and fading back over about as much again."""
        grow = max(1, int(round(margin / self.f)))
        sigma = max(grow / 2.0, 0.5)
        soft = np.zeros(self.spots.shape, np.float32)
        # Made around the spots only (a few per cent of a large grid): the
        # window reaches past the growth and twice the blur's radius, so its
        # edges reflect zeros and every value equals the whole grid's.
        found = cv2.findNonZero(self.spots.view(np.uint8))
        if found is not None:
            x, y, w, h = cv2.boundingRect(found)
            pad = grow + 2 * int(np.ceil(4.0 * sigma)) + 1
            rows = slice(max(0, y - pad), y + h + pad)
            cols = slice(max(0, x - pad), x + w + pad)
            spots = cv2.dilate(self.spots[rows, cols].astype(np.float32),
                               cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1)))
            soft[rows, cols] = np.maximum(smoothstep(0.0, 0.5, gaussian_blur(spots, sigma)), spots)
        return BlemishSpots(soft, self.f, self.origin, self.shape)


def find_blemishes(original: np.ndarray, ai: np.ndarray, mask: np.ndarray | None,
                   sensitivity: float = 0.5, scale: float = 2.0,
                   margin: float = 4.0, max_spot: float | None = None,
                   change: ToneChange | None = None) -> BlemishSpots | None:
    """Where the AI removed a blemish, as a weight 0 there and 1 elsewhere (kept reduced).

    :func:`search_blemishes` (parameters and None as there) with ``margin``
    (px) kept clean past each spot before the weight fades: about the graft
    radius, since a spot's edge reaches that far into the high band.
    """
    search = search_blemishes(original, ai, mask, sensitivity, scale, max_spot, change,
                              halo=int(4 * (4 * scale + margin)) + 2)
    return None if search is None else search.protection(margin)


def search_blemishes(original: np.ndarray, ai: np.ndarray, mask: np.ndarray | None,
                     sensitivity: float = 0.5, scale: float = 1.0, max_spot: float | None = None,
                     change: ToneChange | None = None, halo: int = 130, mask_box=None) -> SpotSearch | None:
    """Where the AI removed a blemish (see the module's notes).

    Parameters
    ----------
    original, ai : ndarray, same shape
        uint8, uint16 or float32 in [0, 1].
    mask : ndarray (H, W) or None
        Where to look (the skin mask); None = everywhere.
    sensitivity : float
        Fraction (0-1): higher finds fainter removed spots; 0 switches protection off (returns None).
    scale : float, px
        Low-pass sigma of the tone change at the finest scale searched, about
        a quarter of the smallest spot; the search goes up in octaves from there.
    max_spot : float, px, optional
        Largest blemish diameter; larger changes are smoothed edges, not spots.
        Default 2.4 % of the image's long side (at least 16): a 20 px spot on a 1500 px frame.
    change : ToneChange, optional
        The pair's tone change, when several searches share it.
    halo : int, px
        Context around the mask's box for the tone change.
    mask_box : (y0, y1, x0, x1), optional
        Where the mask is above 0, when known (saves a scan of it).

    Returns
    -------
    SpotSearch, or None when off or nothing was found.
    """
    if sensitivity <= 0:
        return None
    if change is None:
        change = tone_change(original, ai, mask, halo=halo, mask_box=mask_box)
    if change is None:
        return None
    h, w = change.shape
    if max_spot is None:
        max_spot = max(16.0, 0.024 * max(h, w))
    m_small, f = change.mask, change.f
    y0, y1, x0, x1 = change.box
    core_d = smallest_core(h, w)
    # No finer than a quarter of the smallest core (a spot's core is about half
    # the spot, which the band-pass at scale s answers best at about 4 s
    # across): a finer scale's cores are too small to count.
    s = max(scale, core_d / 4) / f
    inside = m_small > 0.5
    if inside.sum() < 16:
        return None
    max_d = max_spot / f
    min_area = np.pi / 4 * core_d ** 2 / f ** 2
    thr = blemish_threshold(sensitivity)
    # Spots from the smallest size up to the largest, one octave of scales at a
    # time, each scale's spots judged on their own (a small spot's core and a
    # larger scale's halo of it must not merge into one "edge").
    scales = [s]
    while 2 * scales[-1] <= max_d / 6:
        scales.append(2 * scales[-1])

    def score(scale: float):
        z_s = _removal_score(change, scale, inside)
        return z_s, _compact_spots((z_s > thr) & inside, max_d, min_area)

    # The scales are independent: measured on the band threads.
    z = np.zeros(inside.shape, np.float32)
    core = np.zeros(inside.shape, bool)
    for z_s, core_s in map_items(score, scales):
        core |= core_s
        np.maximum(z, z_s, out=z)
    if not core.any():
        return None
    spots = _grown_spots(core, z, inside, thr, max_d, min_area)
    if not spots.any():
        return None
    return SpotSearch(spots, f, (y0, x0), (h, w))




def graft_spots(original: np.ndarray, ai: np.ndarray, mask: np.ndarray | None,
                sensitivity: float, radius: float) -> BlemishSpots | None:
    """:func:`find_blemishes` for a graft of ``radius`` px (graft, frequency separation).

    A spot's edge reaches about the graft radius into the high band, so that is
    the margin kept clean around it; ``sensitivity`` is a fraction (0 = off).
    """
    return find_blemishes(original, ai, mask, sensitivity, scale=max(1.0, radius / 2),
                          margin=max(2.0, radius))


def graft_protection(original: np.ndarray, ai: np.ndarray, mask: np.ndarray | None,
                     sensitivity: float, radius: float) -> np.ndarray | None:
    """:func:`graft_spots` as one full-frame weight (H, W), or None."""
    spots = graft_spots(original, ai, mask, sensitivity, radius)
    return None if spots is None else spots.full()

"""Where the AI removed a blemish: keep the original's texture out of it.

A removed spot shows as a strong, local change of the low-pass tone between the
original and the AI image: ``G_s(O - A)`` stands out from its surroundings
(``G_4s``) by many times the typical skin-texture difference. Grafting the
original's high band there would bring the spot back as a ghost (its edges live
in the high band), so the graft weight goes to 0 there, fading smoothly.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from processing.boxes import grow_box
from processing.dtypes import to_float
from processing.filters import enlarge_rows, gaussian_blur, luminance
from processing.luminosity import smoothstep
from processing.row_bands import band_height, crop_mask, weight_box, weight_rows

# Detection works on a copy whose long side is at most this: a blemish of
# 4-8 px at 2 MP is 15-30 px at 24 MP, still several pixels after reduction.
DETECT_MAX_SIDE = 2400


def blemish_threshold(sensitivity: float) -> float:
    """Robust z-score above which a tone change counts as a removed blemish.

    ``sensitivity`` as a fraction (0.01-1): 0.5 gives z = 5, 1.0 z = 2.5, 0.1 z = 10.
    """
    return 2.5 / max(float(sensitivity), 0.01)


@dataclass
class ToneChange:
    """Luminance change original - AI on a reduced copy of the mask's box.

    Computed once and shared by every blemish search on a pair.
    """

    diff: np.ndarray            # float32 (h, w), reduced by ``f``
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


def _reduced_mask(mask: np.ndarray | None, f: int, hh: int, ww: int) -> np.ndarray:
    """A mask's box-average over f x f blocks (hh, ww), float32, converted a band at a time."""
    if mask is None:
        # Every block averages to the same value: that of one block of ones.
        one = cv2.resize(np.ones((f, f), np.float32), (1, 1), interpolation=cv2.INTER_AREA)[0, 0]
        return np.full((hh, ww), one, np.float32)
    step = max(1, band_height(ww * f) // f) * f
    out = np.empty((hh, ww), np.float32)
    for r in range(0, hh * f, step):
        rows = min(step, hh * f - r)
        out[r // f:(r + rows) // f] = cv2.resize(weight_rows(mask, r, r + rows, 0, ww * f), (ww, rows // f),
                                                interpolation=cv2.INTER_AREA)
    return out


def tone_change(original: np.ndarray, ai: np.ndarray, mask: np.ndarray | None,
                halo: int = 130) -> ToneChange | None:
    """The change to search for removed blemishes in, or None for an empty mask.

    ``halo`` (px) of context around the mask's box: four times the widest
    blur plus margin a search will use.
    """
    box = weight_box(mask, ai.shape)
    if box is None:
        return None
    box = grow_box(box, halo, ai.shape)
    h, w = ai.shape[:2]
    y0, y1, x0, x1 = box
    o, a = original[y0:y1, x0:x1], ai[y0:y1, x0:x1]
    m = crop_mask(mask, y0, y1, x0, x1)
    f = max(1, int(np.ceil(max(o.shape[:2]) / DETECT_MAX_SIDE)))
    if f > 1:  # reduce before converting: 24 MP of float is the slow part
        # Whole multiples of f keep INTER_AREA on OpenCV's fast integer path.
        hh, ww = (y1 - y0) // f, (x1 - x0) // f
        o, a = (cv2.resize(x[:hh * f, :ww * f], (ww, hh), interpolation=cv2.INTER_AREA) for x in (o, a))
        m_small = _reduced_mask(m, f, hh, ww)
    else:
        m_small = weight_rows(m, 0, y1 - y0, 0, x1 - x0)
    diff = luminance(to_float(o)) - luminance(to_float(a))
    return ToneChange(diff, m_small, f, (y0, y1, x0, x1), (h, w))


def blemish_protection(original: np.ndarray, ai: np.ndarray, mask: np.ndarray | None,
                       sensitivity: float = 0.5, scale: float = 2.0,
                       margin: float = 4.0, max_spot: float | None = None,
                       change: ToneChange | None = None) -> np.ndarray | None:
    """Weight in [0, 1] (H, W): 0 where the AI removed a blemish, 1 elsewhere.

    :func:`find_blemishes` as one full-frame array (parameters and None as there).
    """
    spots = find_blemishes(original, ai, mask, sensitivity, scale, margin, max_spot, change)
    return None if spots is None else spots.full()


def find_blemishes(original: np.ndarray, ai: np.ndarray, mask: np.ndarray | None,
                   sensitivity: float = 0.5, scale: float = 2.0,
                   margin: float = 4.0, max_spot: float | None = None,
                   change: ToneChange | None = None) -> BlemishSpots | None:
    """Where the AI removed a blemish, as a weight 0 there and 1 elsewhere (kept reduced).

    Parameters
    ----------
    original, ai : ndarray, same shape
        uint8, uint16 or float32 in [0, 1].
    mask : ndarray (H, W) or None
        Where to look (the skin mask); None = everywhere.
    sensitivity : float
        Fraction (0-1): higher finds fainter removed spots; 0 switches protection off (returns None).
    scale : float, px
        Low-pass sigma of the tone change, about a quarter of the smallest spot.
    margin : float, px
        How far past the spot the weight stays 0 before fading: about the
        graft radius, since a spot's edge reaches that far into the high band.
    max_spot : float, px, optional
        Largest blemish diameter; larger changes are smoothed edges, not spots.
        Default 16 px per 1000 px of the image's long side (at least 16).
    change : ToneChange, optional
        The pair's tone change, when several searches share it.

    Returns
    -------
    BlemishSpots, or None when off or nothing was found.
    """
    if sensitivity <= 0:
        return None
    if change is None:
        change = tone_change(original, ai, mask, halo=int(4 * (4 * scale + margin)) + 2)
    if change is None:
        return None
    h, w = change.shape
    if max_spot is None:
        max_spot = 16.0 * max(1.0, max(h, w) / 1000.0)
    diff, m_small, f = change.diff, change.mask, change.f
    y0, y1, x0, x1 = change.box
    s = scale / f
    low = gaussian_blur(diff, s)
    local = low - gaussian_blur(low, 4 * s)  # a change of its surroundings is not a spot
    inside = m_small > 0.5
    if inside.sum() < 16:
        return None
    # Robust spread of ordinary differences (texture the AI smoothed) on the skin.
    vals = local[inside]
    spread = 1.4826 * float(np.median(np.abs(vals - np.median(vals)))) + 1e-4
    z = np.abs(local) / spread
    thr = blemish_threshold(sensitivity)
    core = ((z > thr) & inside).astype(np.uint8)
    # A blemish is a compact spot: a long or large region of strong change is an
    # edge the AI smoothed (hairline, nostril), not something it removed.
    max_d = max_spot / f
    n, labels, stats, _ = cv2.connectedComponentsWithStats(core)
    area = stats[1:, cv2.CC_STAT_AREA].astype(float)
    extent = np.maximum(stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT]).astype(float)
    small = np.zeros(n, bool)
    # Compact: fills a good part of the disc its extent spans (a fold or a
    # crescent along an edge does not).
    small[1:] = (extent <= max_d) & (area >= 0.45 * np.pi / 4 * extent ** 2)
    if not small.any():
        return None
    core = small[labels]
    # Grow each spot to its faint rim (hysteresis), but only nearby, then past
    # it by the margin.
    reach = max(1, int(round(max_d / 4)))
    near = cv2.dilate(core.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1,) * 2))
    spots = (core | ((z > 0.5 * thr) & (near > 0))).astype(np.float32)
    grow = max(1, int(round(margin / f)))
    spots = cv2.dilate(spots, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1)))
    # Fade back to full texture over about the margin again.
    soft = smoothstep(0.0, 0.5, gaussian_blur(spots, max(grow / 2.0, 0.5)))
    soft = np.maximum(soft, spots)
    return BlemishSpots(soft, f, (y0, x0), (h, w))


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

"""How much each pixel near a face looks like that face's own skin.

The automatic skin mask (:mod:`processing.skin_mask`) is drawn from landmarks:
its forehead extension is a fixed fraction of the face height, so a fringe of
hair over the forehead is painted as skin, and so are a beard or glasses
frames inside the oval. This module measures, per face, what the skin looks
like where it surely is skin (the cheekbones and the middle of the forehead
just above the brows) and scores every pixel of the face's box by how far it
is from that:

* **hue** (CIE a*b*, the component square to the skin's own median chroma):
  hair, beard and frames differ in hue from the skin; a shadow does not;
* **chroma** (along the skin's hue, one-sided): grey hair, black frames and
  stubble have less of it; a shadow on skin has as much or more;
* **darkness** (CIE L*, one-sided): hair and frames are usually darker than
  the skin; a highlight is brighter and costs nothing;
* **fine texture** (one-sided): the local energy of a small band-pass of L*
  relative to the local brightness. Hair is a tight pattern of strands; skin
  seen at a face height of about a hundred pixels is nearly smooth, and the
  AI-retouched skin this mask is made for is smoother still.

Each deviation is in units of the face's robust spread (median and MAD of the
samples, floored), and the squares add into one distance ``d``. The likeness is
``1 - smoothstep(D_SKIN, D_HAIR, d)``: narrow gaps inside a cut area (the skin
between locks of a fringe) are closed and the edge is softened by a blur that
follows the face size. Below the eyes and away from the oval's edge, where
hair only grows as a beard or moustache, which stand far out, the cut starts
:data:`INNER_SHIFT` spreads later, so that smile lines and moles stay in.

Everything is measured on the face's box reduced by an integer factor (an
exact box average, so the fine texture of skin at 24 MP does not alias into
the measure) to a face height of :data:`WORK_HEIGHT` to twice that: a few
milliseconds per face whatever the resolution. Pure numpy and OpenCV.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from processing.dtypes import to_rgb_uint8

#: Face height (px, chin to mesh top) the likeness is measured at: larger faces
#: are reduced by an integer factor to between this and twice this.
WORK_HEIGHT = 128
#: Band-pass of L* for the fine texture: Gaussian sigmas as fractions of the
#: face height (0.7 px and 2 px on a 108 px face), and the sigma of the window
#: its energy is averaged over.
FINE_SIGMA = 0.0065
COARSE_SIGMA = 0.019
ENERGY_SIGMA = 0.014
#: Smallest sigma (px) a filter is given, whatever the face size.
MIN_SIGMA = 0.5
#: L* added to the local brightness before dividing (keeps black from blowing up).
L_OFFSET = 5.0
#: Floors of the robust spreads: hue offset and chroma (a*b* units), L*,
#: ln(energy). A flat sample (a gray picture, a tiny face) would otherwise make
#: every other pixel an outlier.
SPREAD_FLOOR = np.array([2.5, 2.5, 9.0, 0.6], np.float32)
#: Samples farther than this many spreads from the median in any feature are
#: dropped before the statistics are measured again (a stray lock, a mole).
OUTLIER_SPREADS = 3.0
#: Distances (in spreads, all features together) where the likeness starts to
#: fall and where it reaches 0.
D_SKIN, D_HAIR = 3.0, 4.5
#: Extra spreads the cut needs in the inner face (below the eyes, away from the oval's edge).
INNER_SHIFT = 1.0
#: Sigma of the inner face's soft edge, as a fraction of the face height.
INNER_SOFT = 0.03
#: Gaps narrower than this (fraction of the face height) inside a cut area are
#: cut too: the skin-coloured pockets between the locks of a fringe.
CLOSE_SIZE = 0.03
#: Sigma of the final blur, as a fraction of the face height.
EDGE_SIGMA = 0.008
#: Margin (fraction of the face height) around the polygons left out of the samples.
EXCLUDE_MARGIN = 0.02
#: Fewer sample pixels than this and the face is left uncut (likeness 1).
MIN_SAMPLES = 30
#: At most about this many sample pixels enter the statistics (evenly spaced).
MAX_SAMPLES = 1024
#: Boxes smaller than this (px, on the reduced grid) are left uncut.
MIN_SIDE = 8

_MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class LikenessRegions:
    """Where a face's skin is sampled, and where the cut is lenient.

    All polygons are ndarray (N, 2) in full-resolution pixels (x, y), pixel
    i's centre at i + 0.5 (as in :mod:`processing.skin_mask`).

    Attributes
    ----------
    samples : list of ndarray
        Surely skin: the statistics come from here.
    exclude : list of ndarray
        Taken out of the samples, with a margin of :data:`EXCLUDE_MARGIN`
        (eyes, brows, mouth, nostrils: lashes, brow hairs, lip edges).
    inner : list of ndarray
        Where hair is rare: the cut there needs :data:`INNER_SHIFT` more spreads.
    """

    samples: list
    exclude: list = field(default_factory=list)
    inner: list = field(default_factory=list)


@dataclass(frozen=True)
class SkinStats:
    """Robust statistics of a face's skin features.

    Attributes
    ----------
    center : ndarray, float32, shape (4,)
        Median hue offset (about 0), chroma, L* and ln(fine energy) of the
        sampled skin, in the frame of :func:`in_skin_frame`.
    spread : ndarray, float32, shape (4,)
        Their robust standard deviations (1.4826 MAD), floored by :data:`SPREAD_FLOOR`.
    hue : ndarray, float32, shape (2,)
        Unit vector of the skin's median chroma in the a*b* plane.
    count : int
        Sample pixels used (after outlier rejection).
    """

    center: np.ndarray
    spread: np.ndarray
    hue: np.ndarray
    count: int


# --------------------------------------------------------------------------
# Pixels and features
# --------------------------------------------------------------------------

def work_factor(face_height: float) -> int:
    """Integer reduction that brings a face of ``face_height`` px to [WORK_HEIGHT, 2 WORK_HEIGHT) px.

    Faces smaller than :data:`WORK_HEIGHT` are measured at their own scale (factor 1).
    """
    return max(1, int(face_height // WORK_HEIGHT))


def reduce_box(image: np.ndarray, box, factor: int) -> np.ndarray:
    """The image inside ``box`` as 8-bit RGB, averaged over ``factor`` x ``factor`` blocks.

    Parameters
    ----------
    image : ndarray, shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)
        uint8, uint16 or float in [0, 1]; gray is repeated, alpha dropped.
    box : tuple of int
        x0, y0, x1, y1 in full-resolution pixels (x1, y1 exclusive), inside the image.
    factor : int
        Reduction; output pixel (i, j) averages input rows ``y0 + i*factor``
        to ``y0 + (i+1)*factor`` and the same columns (the last row and
        column may be partial).

    Returns
    -------
    ndarray, uint8, shape (about (y1 - y0) / factor, (x1 - x0) / factor, 3)
        Eight bits are plenty: the statistics' floors are several levels wide.
    """
    x0, y0, x1, y1 = box
    crop = np.asarray(image)[y0:y1, x0:x1]
    if crop.ndim == 3 and crop.shape[2] == 1:
        crop = crop[..., 0]
    if crop.dtype not in (np.uint8, np.uint16, np.float32):
        crop = crop.astype(np.float32)
    if factor > 1:
        # fx = 1/factor exactly: OpenCV's integer box-average path (fast, no aliasing).
        crop = cv2.resize(crop, None, fx=1.0 / factor, fy=1.0 / factor, interpolation=cv2.INTER_AREA)
    return to_rgb_uint8(crop)


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    sigma = max(MIN_SIGMA, sigma)
    k = 2 * int(np.ceil(3 * sigma)) + 1
    return cv2.GaussianBlur(x, (k, k), sigma, borderType=cv2.BORDER_REFLECT_101)


def skin_features(rgb: np.ndarray, face_height: float) -> np.ndarray:
    """Per-pixel a*, b*, L* and ln(fine texture energy).

    Parameters
    ----------
    rgb : ndarray, uint8, shape (h, w, 3)
        sRGB.
    face_height : float
        Face height in pixels of ``rgb``: the filters' unit.

    Returns
    -------
    ndarray, float32, shape (4, h, w)
        a*, b* (about -128 to 127), L* (0 to 100), and the natural log of the
        local mean square of ``(G_fine(L) - G_coarse(L)) / (G_coarse(L) + 5)``,
        a relative contrast (unitless), so a shadow does not change it.
    """
    # The 8-bit conversion is a table look-up, several times faster than the float one.
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab)
    out = np.empty((4,) + rgb.shape[:2], np.float32)
    np.multiply(lab[..., 0], np.float32(100.0 / 255.0), out=out[2])
    np.subtract(lab[..., 1], np.float32(128), out=out[0])
    np.subtract(lab[..., 2], np.float32(128), out=out[1])
    coarse = _blur(out[2], COARSE_SIGMA * face_height)
    band = (_blur(out[2], FINE_SIGMA * face_height) - coarse) / (coarse + np.float32(L_OFFSET))
    np.log(_blur(band * band, ENERGY_SIGMA * face_height) + np.float32(1e-6), out=out[3])
    return out


def in_skin_frame(features: np.ndarray, hue: np.ndarray) -> np.ndarray:
    """Features with a*, b* turned into the frame of the skin's own hue.

    Parameters
    ----------
    features : ndarray, float32, shape (4, ...)
        a*, b*, L*, ln(energy) from :func:`skin_features`.
    hue : ndarray, shape (2,)
        Unit a*b* vector of the skin's median chroma.

    Returns
    -------
    ndarray, float32, shape (4, ...)
        Hue offset (a*b* units square to ``hue``: a change of hue), chroma
        along ``hue`` (a change of saturation, which a shadow brings), L*, ln(energy).
    """
    a, b = features[0], features[1]
    c, s = np.float32(hue[0]), np.float32(hue[1])
    return np.stack([b * c - a * s, a * c + b * s, features[2], features[3]])


# --------------------------------------------------------------------------
# Statistics and distance
# --------------------------------------------------------------------------

def _median_and_spread(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-row median and floored robust sigma of (4, n) values."""
    center = np.median(values, axis=1)
    mad = np.median(np.abs(values - center[:, None]), axis=1)
    return center, np.maximum(_MAD_TO_SIGMA * mad, SPREAD_FLOOR)


def _median_hue(values: np.ndarray) -> np.ndarray:
    ab = np.median(values[:2], axis=1).astype(np.float64)
    norm = float(np.hypot(*ab))
    return (ab / norm if norm > 1e-3 else np.array([1.0, 0.0])).astype(np.float32)


def skin_statistics(features: np.ndarray, sample: np.ndarray) -> SkinStats | None:
    """Median and MAD of the features over the sample, outliers dropped once.

    Parameters
    ----------
    features : ndarray, float32, shape (4, h, w)
        From :func:`skin_features`.
    sample : ndarray, bool, shape (h, w)
        Pixels that should be skin.

    Returns
    -------
    SkinStats, or None when fewer than :data:`MIN_SAMPLES` pixels are sampled.
    """
    values = features[:, sample]
    if values.shape[1] < MIN_SAMPLES:
        return None
    values = values[:, ::max(1, values.shape[1] // MAX_SAMPLES)]  # medians of a thousand are plenty
    hue = _median_hue(values)
    framed = in_skin_frame(values, hue)
    center, spread = _median_and_spread(framed)
    keep = np.all(np.abs(framed - center[:, None]) <= OUTLIER_SPREADS * spread[:, None], axis=0)
    if keep.sum() >= MIN_SAMPLES:
        values = values[:, keep]
        hue = _median_hue(values)
        center, spread = _median_and_spread(in_skin_frame(values, hue))
    return SkinStats(center=center.astype(np.float32), spread=spread.astype(np.float32), hue=hue,
                     count=int(values.shape[1]))


def skin_distance(features: np.ndarray, stats: SkinStats) -> np.ndarray:
    """How far each pixel is from the face's skin, in robust spreads (0 = typical skin).

    A change of hue counts both ways. Less chroma, darker, or more fine texture
    than the skin counts; more chroma, brighter or smoother does not (a shadow
    on skin is darker but as saturated or more, a highlight brighter). The
    squares add.

    Parameters
    ----------
    features : ndarray, float32, shape (4, h, w)
    stats : SkinStats

    Returns
    -------
    ndarray, float32, shape (h, w)
    """
    z = in_skin_frame(features, stats.hue)
    z -= stats.center[:, None, None]
    z /= stats.spread[:, None, None]
    np.minimum(z[1:3], 0.0, out=z[1:3])
    np.maximum(z[3], 0.0, out=z[3])
    np.square(z, out=z)
    return np.sqrt(z.sum(axis=0))


def _smoothstep(lo: float, hi: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def likeness_from_distance(distance: np.ndarray, face_height: float) -> np.ndarray:
    """Soft skin likeness in [0, 1] from :func:`skin_distance`.

    ``cut = smoothstep(D_SKIN, D_HAIR, d)``; narrow gaps inside a cut area are
    cut too (a grey-level closing, :data:`CLOSE_SIZE`); the likeness is
    ``1 - cut`` blurred by :data:`EDGE_SIGMA` of the face height.

    Parameters
    ----------
    distance : ndarray, float32, shape (h, w)
    face_height : float
        In pixels of ``distance``.

    Returns
    -------
    ndarray, float32, shape (h, w)
    """
    cut = _smoothstep(D_SKIN, D_HAIR, distance).astype(np.float32)
    side = int(round(CLOSE_SIZE * face_height))
    if side >= 2:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side | 1, side | 1))
        cut = cv2.morphologyEx(cut, cv2.MORPH_CLOSE, kernel, borderType=cv2.BORDER_REPLICATE)
    return np.clip(1.0 - _blur(cut, EDGE_SIGMA * face_height), 0.0, 1.0)


# --------------------------------------------------------------------------
# One face
# --------------------------------------------------------------------------

def rasterize(polygons, shape, origin, factor: int) -> np.ndarray:
    """Polygons (full-resolution x, y) filled on the reduced grid of :func:`reduce_box`.

    Returns
    -------
    ndarray, uint8 (0 or 1), shape ``shape[:2]``
    """
    out = np.zeros(shape[:2], np.uint8)
    for poly in polygons:
        if len(poly) < 3:
            continue
        # Polygons put pixel i's centre at i + 0.5; reduced pixel j spans [j, j + 1) * factor.
        q = (np.asarray(poly, np.float64) - np.asarray(origin, np.float64)) / factor - 0.5
        cv2.fillPoly(out, [np.round(q * 16).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
    return out


def skin_likeness(image: np.ndarray, box, face_height: float,
                  regions: LikenessRegions) -> tuple[np.ndarray, int]:
    """Skin likeness of one face over a box, on a reduced grid.

    Parameters
    ----------
    image : ndarray
        The picture the face is in (any of :func:`reduce_box`'s inputs).
    box : tuple of int
        x0, y0, x1, y1 in full-resolution pixels, inside the image.
    face_height : float
        Chin to mesh top, full-resolution pixels.
    regions : LikenessRegions
        Where the skin is sampled and where the cut is lenient.

    Returns
    -------
    likeness : ndarray, float32, shape (h, w)
        In [0, 1]; all ones when there is too little to measure (a box a
        few pixels wide, fewer than :data:`MIN_SAMPLES` sample pixels).
    factor : int
        Reduction of the grid: pixel (i, j) covers full-resolution rows
        ``y0 + i*factor`` to ``y0 + (i+1)*factor``, likewise columns.
    """
    factor = work_factor(face_height)
    x0, y0, x1, y1 = box
    if min(x1 - x0, y1 - y0) < MIN_SIDE * factor:
        shape = (max(1, -(-(y1 - y0) // factor)), max(1, -(-(x1 - x0) // factor)))
        return np.ones(shape, np.float32), factor
    rgb = reduce_box(image, box, factor)
    height = face_height / factor
    side = 2 * int(round(EXCLUDE_MARGIN * height)) + 1
    holes = cv2.dilate(rasterize(regions.exclude, rgb.shape, (x0, y0), factor),
                       cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side)))
    sample = (rasterize(regions.samples, rgb.shape, (x0, y0), factor) > 0) & (holes == 0)
    features = skin_features(rgb, height)
    stats = skin_statistics(features, sample)
    if stats is None:
        return np.ones(rgb.shape[:2], np.float32), factor
    distance = skin_distance(features, stats)
    if regions.inner and INNER_SHIFT > 0:
        inner = rasterize(regions.inner, rgb.shape, (x0, y0), factor).astype(np.float32)
        distance -= np.float32(INNER_SHIFT) * _blur(inner, INNER_SOFT * height)
    return likeness_from_distance(distance, height), factor


def likeness_on_grid(likeness: np.ndarray, factor: int, size, scale) -> np.ndarray:
    """Resample a likeness from :func:`skin_likeness` onto another grid of the same box.

    Parameters
    ----------
    likeness : ndarray, float32, shape (h, w)
    factor : int
        Its reduction.
    size : tuple of int
        (width, height) of the target grid.
    scale : tuple of float
        (sx, sy): target pixels per full-resolution pixel; both grids start at
        the box's corner.

    Returns
    -------
    ndarray, float32, shape (size[1], size[0]); edges replicated.
    """
    sx, sy = scale
    # Target pixel u's centre is at x0 + (u + 0.5) / sx (polygon coordinates, as in
    # processing.skin_mask), which is reduced pixel (u + 0.5) / (sx factor) - 0.5.
    ax, ay = 1.0 / (sx * factor), 1.0 / (sy * factor)
    m = np.array([[ax, 0.0, 0.5 * ax - 0.5], [0.0, ay, 0.5 * ay - 0.5]], np.float64)
    return cv2.warpAffine(likeness, m, (int(size[0]), int(size[1])),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)

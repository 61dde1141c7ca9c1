"""Liquify followed where it happened, and nowhere else.

Motion is looked for on windows of the AI grid (:class:`Window`): the whole
frame at a reduced scale, and each face at a scale where it is about
DETECT_FACE_PX tall, because a face in a group photo is too small on a
reduced frame for a 2 px reshape to show. Where a window finds motion
(:func:`~processing.align.local_motion.moved_seeds`), the field is measured
again on a window around that motion at up to full resolution
(:func:`~processing.align.local_motion.motion_field`) and kept only over the
region that moved, fading to exactly zero over a short feathered edge
(:class:`LocalWarp`).

Resampling (:func:`apply_local_warp`) then touches only that region: every
pixel whose displacement is below ZERO_PX keeps the original's value, bit for
bit; the moved region is resampled once (Lanczos, which keeps more of the fine
detail that is grafted than bicubic) and blended in over FEATHER_PX.

Face Mesh landmarks locate the faces and name the faces that moved; they are
not used as anchors of the field, because between a photo and its smoothed
copy they differ by 0.6-4 px on a 430 px face - as much as the reshapes they
would measure (see docs/METHODS.md).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

import cv2
import numpy as np

from processing.align.features import ReducedPair
from processing.align.geometry import linear_scale, resize_matrix, squared_length, vector_length
from processing.align.local_motion import FULL_FLOW_SIDE, consistent_flow, look_alike, motion_field, \
    moved_seeds
from processing.dtypes import to_float
from processing.filters import gaussian_blur, luminance
from processing.row_bands import ArrivingList, copy_in_bands, map_as_they_come, map_items, on_own_thread

__all__ = ["DETECT_SIDE", "DETECT_FACE_PX", "REFINE_SIDE", "MIN_WARP_PX", "SUPPORT_PX_SAME_GRID",
           "SUPPORT_PX_RESAMPLED", "ZERO_PX", "FEATHER_PX",
           "Window", "RegionField", "LocalWarp", "find_local_warp", "apply_local_warp"]

#: Long side (px) of the frame window motion is first looked for on.
DETECT_SIDE = 1024
#: Faces are looked at again, each at about this height (px).
DETECT_FACE_PX = 256
#: Windows seen at this scale or less (window px per full-resolution px) look
#: for motion on a quarter-resolution flow (_detection_finest).
COARSE_DETECT_K = 0.25
#: Long side (px, at most full resolution) of the windows the field is measured on.
REFINE_SIDE = 1024
#: Boxes of motion share one such window when they overlap once each is grown
#: by this share of its long side (_merge).
MERGE_REACH = 0.25
#: Smallest local motion followed, full-resolution px (the detection window
#: also needs the motion above its own noise floor and above the blur the
#: two images needed to look alike: see local_motion).
MIN_WARP_PX = 0.5
#: The moved region grows from where motion is clear over displacements of at
#: least this (full-resolution px), or half the window's largest if that is
#: less. On a pair that keeps its grid the floor is high: the fitted field of
#: a pair that was only smoothed says 0.3-1 px on flat skin and at a smoothed
#: hairline (edge-preserving and wavelet smoothers), and every pixel it
#: touches would be resampled; below it the field fades to zero over the
#: feather. A pair resampled anyway has no pixels to keep, and its field is
#: followed down to the flow's own noise.
SUPPORT_PX_SAME_GRID = 0.8
SUPPORT_PX_RESAMPLED = 0.2
#: ... and fades to zero over this many averaging scales (window.sigma()) past it.
FEATHER_SIGMAS = 1.0
#: Displacement below this (full-resolution px) is none: those pixels are the original's.
ZERO_PX = 0.03
#: Blend of the resampled region into the untouched original, full-resolution px.
FEATHER_PX = 3.0
#: Averaging scale of the motion, as a fraction of a window's long side: wide
#: when deciding whether something moved (a removed blemish is a few px, a
#: reshape tens), narrower when measuring the field.
DETECT_SIGMA_FRACTION = 0.018
SIGMA_FRACTION = 0.012
#: Scale over which the two images' detail levels are compared, fraction of the long side.
ALIKE_FRACTION = 0.025


@dataclass(frozen=True)
class Window:
    """A rectangle of the AI grid and the scale it is looked at.

    ``x0, y0, x1, y1`` are full-resolution AI px (x1, y1 exclusive); the
    window's own grid is that rectangle resized by ``k`` (window px per
    full-resolution px, at most 1).
    """

    x0: int
    y0: int
    x1: int
    y1: int
    k: float

    @property
    def shape(self) -> tuple[int, int]:
        """(h, w) of the window's grid."""
        return (max(8, round((self.y1 - self.y0) * self.k)), max(8, round((self.x1 - self.x0) * self.k)))

    @property
    def grid(self) -> np.ndarray:
        """3x3: AI full-resolution px -> window px."""
        h, w = self.shape
        shift = np.array([[1.0, 0, -self.x0], [0, 1.0, -self.y0], [0, 0, 1.0]])
        return resize_matrix((self.x1 - self.x0, self.y1 - self.y0), (w, h)) @ shift

    def sigma(self, fraction: float = SIGMA_FRACTION) -> float:
        """An averaging scale (window px): ``fraction`` of the long side, at least 3 px."""
        return max(3.0, fraction * max(self.shape))


def _window(x0, y0, x1, y1, side: int, frame_wh: tuple[int, int]) -> Window:
    """A window on the clipped rectangle, at most ``side`` px on its long side."""
    x0, y0 = max(0, int(np.floor(x0))), max(0, int(np.floor(y0)))
    x1, y1 = min(frame_wh[0], int(np.ceil(x1))), min(frame_wh[1], int(np.ceil(y1)))
    return Window(x0, y0, x1, y1, min(1.0, side / max(1, x1 - x0, y1 - y0)))


def _luminance_on(image: np.ndarray, window_to_image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Luminance of ``image`` sampled on a window's grid (bilinear after an area reduction).

    ``window_to_image`` (3x3) maps window px to the image's px.
    """
    h, w = shape
    corners = np.array([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]], np.float64)
    src = corners @ window_to_image[:2, :2].T + window_to_image[:2, 2]
    step = linear_scale(window_to_image)  # image px per window px
    pad = 2 + 2 * step
    ih, iw = image.shape[:2]
    x0 = int(max(0, np.floor(src[:, 0].min() - pad)))
    y0 = int(max(0, np.floor(src[:, 1].min() - pad)))
    x1 = int(min(iw, np.ceil(src[:, 0].max() + pad) + 1))
    y1 = int(min(ih, np.ceil(src[:, 1].max() + pad) + 1))
    crop = image[y0:max(y1, y0 + 1), x0:max(x1, x0 + 1)]
    m = np.array([[1.0, 0, -x0], [0, 1.0, -y0], [0, 0, 1.0]]) @ window_to_image
    if step > 1.25:  # area-reduce first: a linear warp that shrinks aliases
        # By a whole factor, OpenCV's fast path (3x faster on 24 MP); the linear
        # warp does the rest (less than 2x).
        f = int(step)
        ch, cw = (crop.shape[0] // f) * f, (crop.shape[1] // f) * f
        size = (max(1, cw // f), max(1, ch // f))
        crop = cv2.resize(crop[:max(ch, f), :max(cw, f)], size, interpolation=cv2.INTER_AREA)
        m = resize_matrix((size[0] * f, size[1] * f), size) @ m
    lum = luminance(to_float(crop[..., :3] if crop.ndim == 3 and crop.shape[2] > 3 else crop))
    return cv2.warpAffine(lum, m[:2], (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)


@dataclass
class RegionField:
    """The field measured on one window, kept where it moved.

    Attributes
    ----------
    window : Window
    field : ndarray, float32, shape (h, w, 2)
        Displacement in full-resolution *original* px, already faded to zero
        outside the region that moved.
    """

    window: Window
    field: np.ndarray

    def bbox(self) -> tuple[int, int, int, int]:
        """Full-resolution AI rectangle holding every non-zero displacement (x0, y0, x1, y1)."""
        moving = ~_small(self.field)
        if not moving.any():
            return (0, 0, 0, 0)
        ys, xs = np.nonzero(moving)
        inv = np.linalg.inv(self.window.grid)
        pts = np.array([[xs.min() - 1, ys.min() - 1], [xs.max() + 1, ys.max() + 1]], np.float64)
        full = pts @ inv[:2, :2].T + inv[:2, 2]
        w = self.window
        return (max(w.x0, int(np.floor(full[0, 0]))), max(w.y0, int(np.floor(full[0, 1]))),
                min(w.x1, int(np.ceil(full[1, 0])) + 1), min(w.y1, int(np.ceil(full[1, 1])) + 1))

    def on_box(self, box: tuple[int, int, int, int]) -> np.ndarray:
        """The displacement on every full-resolution AI pixel of ``box`` (x0, y0, x1, y1),
        float32 (h, w, 2), original px: :meth:`sample` on a grid, without building
        the grid (the window's grid is a scale and a shift of the AI grid)."""
        x0, y0, x1, y1 = box
        g = self.window.grid
        box_to_window = np.array([[g[0, 0], 0.0, g[0, 0] * x0 + g[0, 2]],
                                  [0.0, g[1, 1], g[1, 1] * y0 + g[1, 2]]])
        return cv2.warpAffine(self.field, box_to_window, (x1 - x0, y1 - y0),
                              flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)

    def sample(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The displacement at full-resolution AI positions ``x, y`` (any equal shapes), original px."""
        g = self.window.grid
        wx = (g[0, 0] * x + g[0, 2]).astype(np.float32)
        wy = (g[1, 1] * y + g[1, 2]).astype(np.float32)
        if wx.ndim == 2 and max(wx.shape) < _REMAP_MAX:
            out = cv2.remap(self.field, wx, wy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            return out.reshape(x.shape + (2,))
        # Any other shape as rows OpenCV can take (remap refuses 32767 or more in a row).
        wx, wy = wx.ravel(), wy.ravel()
        out = np.empty((wx.size, 2), np.float32)
        for i in range(0, wx.size, _REMAP_MAX - 1):
            out[i:i + _REMAP_MAX - 1] = cv2.remap(
                self.field, wx[None, i:i + _REMAP_MAX - 1], wy[None, i:i + _REMAP_MAX - 1],
                cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)[0]
        return out.reshape(x.shape + (2,))


@dataclass
class LocalWarp:
    """The local warp applied on top of the global alignment.

    Attributes
    ----------
    regions : list of RegionField
    max_px : float
        Largest displacement, full-resolution AI px.
    moved_fraction : float
        Fraction of the frame whose displacement is at least ZERO_PX.
    faces : list of int
        1-based numbers of the faces (in the order the mask lists them) the warp touches.
    """

    regions: list = field(default_factory=list)
    max_px: float = 0.0
    moved_fraction: float = 0.0
    faces: list = field(default_factory=list)
    # The displacement on bbox(), computed once (it is read for the figures and
    # for the resampling).
    _on_bbox: np.ndarray | None = field(default=None, repr=False)
    # bbox() itself, once: each region's costs a pass over its field (6 ms on a 24 MP face).
    _bbox: tuple | None = field(default=None, repr=False)

    def __bool__(self) -> bool:
        return bool(self.regions)

    def bbox(self) -> tuple[int, int, int, int]:
        """Full-resolution AI rectangle holding every moved pixel (x0, y0, x1, y1)."""
        if self._bbox is None:
            boxes = [r.bbox() for r in self.regions]
            boxes = [b for b in boxes if b[2] > b[0] and b[3] > b[1]]
            self._bbox = (0, 0, 0, 0) if not boxes else (
                min(b[0] for b in boxes), min(b[1] for b in boxes),
                max(b[2] for b in boxes), max(b[3] for b in boxes))
        return self._bbox

    def at(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Displacement (original px) at full-resolution AI positions, float32 (..., 2)."""
        x = np.asarray(x, np.float32)
        y = np.asarray(y, np.float32)
        out = np.zeros(x.shape + (2,), np.float32)
        for r in self.regions:
            out += r.sample(x, y)
        out[_small(out)] = 0.0  # none: those pixels stay the original's
        return out

    def on_box(self, box: tuple[int, int, int, int]) -> np.ndarray:
        """Displacement on every pixel of ``box`` (x0, y0, x1, y1), float32 (h, w, 2), original px."""
        if self._on_bbox is not None and tuple(box) == self.bbox():
            return self._on_bbox
        x0, y0, x1, y1 = box
        d = np.zeros((y1 - y0, x1 - x0, 2), np.float32)
        for r in self.regions:
            d += r.on_box(box)
        d[_small(d)] = 0.0  # none: those pixels stay the original's
        if tuple(box) == self.bbox():
            self._on_bbox = d
        return d


#: cv2.remap takes maps of fewer rows and columns than this.
_REMAP_MAX = 32767


def _small(d: np.ndarray) -> np.ndarray:
    """Where a displacement field (..., 2) is below ZERO_PX (squared: no square roots on 7 MP)."""
    return d[..., 0] * d[..., 0] + d[..., 1] * d[..., 1] < ZERO_PX * ZERO_PX


def _seed_boxes(seeds: np.ndarray, window: Window) -> list[tuple[float, float, float, float]]:
    """Full-resolution AI boxes around each cluster of seeds, grown to hold the whole movement.

    A reshape moves more than where its motion is clearest: the box is grown
    by its own size (at least 4 % of the window) on every side.
    """
    n, labels, stats, _ = cv2.connectedComponentsWithStats(seeds.astype(np.uint8), connectivity=8)
    inv = np.linalg.inv(window.grid)
    grow_min = 0.04 * max(window.shape)
    boxes = []
    for i in range(1, n):
        x, y, w, h, area = stats[i]
        if area < 4:  # a few isolated pixels: noise
            continue
        g = max(grow_min, 0.5 * max(w, h))
        pts = np.array([[x - g, y - g], [x + w + g, y + h + g]], np.float64)
        full = pts @ inv[:2, :2].T + inv[:2, 2]
        boxes.append((full[0, 0], full[0, 1], full[1, 0], full[1, 1]))
    return boxes


def _merge(boxes: list) -> list:
    """Union of boxes that overlap or nearly do (MERGE_REACH), until none do.

    The features of one reshape (an eye, the jaw beside it) move together, and
    the skin between them too: their field is fitted on one window, not on
    windows whose borders hold it at zero between them.
    """
    boxes = [list(b) for b in boxes]

    def grown(b: list) -> list:
        g = MERGE_REACH * max(b[2] - b[0], b[3] - b[1])
        return [b[0] - g, b[1] - g, b[2] + g, b[3] + g]

    merged = True
    while merged:
        merged = False
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                a, b = boxes[i], boxes[j]
                ga, gb = grown(a), grown(b)
                if ga[0] < gb[2] and gb[0] < ga[2] and ga[1] < gb[3] and gb[1] < ga[3]:
                    boxes[i] = [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]
                    del boxes[j]
                    merged = True
                    break
            if merged:
                break
    return [tuple(b) for b in boxes]


def _with_room(face) -> tuple[float, float, float, float]:
    """A face's box grown for the jaw and hair, full-resolution AI px (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = face.bbox
    m = 0.35 * face.height
    return (x0 - m, y0 - m, x1 + m, y1 + m)


def _covered(window: Window, ai_to_orig: np.ndarray, orig_shape: tuple[int, int]) -> np.ndarray:
    """Window pixels whose source lies well inside the original (bool): motion is
    measured only there, since outside the original the AI image is made up."""
    h, w = window.shape
    m = ai_to_orig @ np.linalg.inv(window.grid)
    xs = np.arange(w, dtype=np.float64)[None, :]
    ys = np.arange(h, dtype=np.float64)[:, None]
    # Without rotation x depends on the column only and y on the row: a row and
    # a column, broadcast once at the end (the common same-grid case).
    sx = m[0, 0] * xs + m[0, 2] + (m[0, 1] * ys if m[0, 1] else 0.0)
    sy = m[1, 1] * ys + m[1, 2] + (m[1, 0] * xs if m[1, 0] else 0.0)
    margin = 3.0 * linear_scale(m) + 2.0  # a few window px, in original px
    ho, wo = orig_shape
    return (sx >= margin) & (sx <= wo - 1 - margin) & (sy >= margin) & (sy <= ho - 1 - margin)


def _pair_on(window: Window, original: np.ndarray, ai: np.ndarray, ai_to_orig: np.ndarray,
             reduced: ReducedPair | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Both images' luminance on a window, made to look alike, the blur that took
    (:func:`~processing.align.local_motion.look_alike`) and where the original covers it.

    With ``reduced`` (the global alignment's luminance copies), a window no
    finer than those copies is sampled from them: the frame window of a 24 MP
    pair then costs no second pass over the full-resolution pixels.
    """
    from processing.align.features import standardize

    to_ai = np.linalg.inv(window.grid)
    if reduced is not None and window.k <= linear_scale(reduced.ai_grid) and window.k <= linear_scale(
            reduced.orig_grid @ ai_to_orig):
        a = _luminance_on(reduced.ai, reduced.ai_grid @ to_ai, window.shape)
        b = _luminance_on(reduced.orig, reduced.orig_grid @ ai_to_orig @ to_ai, window.shape)
    else:
        # From the full-resolution pixels: the two reductions side by side.
        b_job = on_own_thread(_luminance_on, original, ai_to_orig @ to_ai, window.shape)
        a = _luminance_on(ai, to_ai, window.shape)
        b = b_job.result()
    covered = _covered(window, ai_to_orig, original.shape[:2])
    # Outside the original the AI's own values: no motion, no mismatch there.
    b = np.where(covered, b, a)
    # The standardisation absorbs global tone; the light blur, pores the AI removed.
    a = standardize(gaussian_blur(a, 1.0))
    b = standardize(gaussian_blur(b, 1.0))
    window_px = ALIKE_FRACTION * max(window.shape)
    a, b = _local_contrast(a, window_px), _local_contrast(b, window_px)
    a, b, blur = look_alike(a, b, window_px)
    return a, b, blur, covered


def _local_contrast(image: np.ndarray, sigma: float) -> np.ndarray:
    """Local mean removed and local contrast set to one (scale ``sigma`` px).

    AI tools brighten and warm the skin and lift its shadows inside a soft
    region: a change of tone that varies across the frame, which a global
    standardisation leaves and a flow would take for motion at the region's edge.
    """
    from processing.align.local_motion import _wide_blur

    detail = image - _wide_blur(image, sigma)
    power = _wide_blur(detail * detail, sigma)
    # Floored at the frame's median: flat, smoothed skin is not amplified into
    # structure the flow would then follow.
    return detail / np.sqrt(power + float(np.median(power)) + 1e-6)


def _eroded(mask: np.ndarray, px: float) -> np.ndarray:
    """``mask`` shrunk by ``px`` (the flow near the edge of the covered area is pulled)."""
    r = max(1, int(round(px)))
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * r + 1, 2 * r + 1))
    # The window's own edge counts as uncovered: blur and flow are unreliable next to it.
    return cv2.erode(mask.astype(np.uint8), kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0).astype(bool)


def _frame_window(ai_shape: tuple[int, int]) -> Window:
    """The whole frame at DETECT_SIDE."""
    h, w = ai_shape
    return _window(0, 0, w, h, DETECT_SIDE, (w, h))


def _face_windows(frame: Window, faces: list) -> list[Window]:
    """Each face (with room for jaw and hair) at DETECT_FACE_PX tall, unless the
    frame window already sees it nearly as well."""
    w, h = frame.x1, frame.y1
    windows = []
    for face in faces:
        win = _window(*_with_room(face), 10 ** 6, (w, h))
        k = min(1.0, DETECT_FACE_PX / max(face.height, 1.0))
        if k > frame.k * 1.5:
            windows.append(Window(win.x0, win.y0, win.x1, win.y1, k))
    return windows


def _detection_finest(window: Window) -> int:
    """DIS's finest level for deciding whether anything moved on ``window``.

    Half resolution; a quarter (4x faster: 0.1 s of a 24 MP same-grid pair) on
    a window of a large frame seen at COARSE_DETECT_K or less, where faces
    small enough to need the detail have their own windows (_face_windows).
    On smaller frames the frame window is the only one, and a 2 px reshape
    must still show in its flow.
    """
    return 2 if window.k <= COARSE_DETECT_K and max(window.shape) > FULL_FLOW_SIDE else 1


def _support(motion: np.ndarray, seeds: np.ndarray, low_px: float, feather: float) -> np.ndarray:
    """Where the field is kept, in [0, 1]: the moving area connected to the seeds, feathered.

    Hysteresis: the region grows from the seeds over every pixel whose
    conservative motion is at least ``low_px``; the feather keeps it at 1
    inside and lets it fall to 0 just outside.
    """
    grown = (vector_length(motion) >= low_px).astype(np.uint8)
    n, labels = cv2.connectedComponents(grown, connectivity=8)
    keep = np.zeros(n, bool)
    keep[np.unique(labels[seeds & (grown > 0)])] = True
    keep[0] = False
    outside = (~keep[labels]).astype(np.uint8)
    # Grown by ``feather`` px: a disc dilation, as a distance threshold (10x faster).
    region = (cv2.distanceTransform(outside, cv2.DIST_L2, cv2.DIST_MASK_PRECISE) <= feather).astype(np.float32)
    blurred = gaussian_blur(region, feather / 2)
    return np.clip(2.0 * blurred, 0.0, 1.0) * (blurred > 1e-3)


def _region_field(window: Window, original, ai, ai_to_orig, support_px: float) -> RegionField | None:
    """The field on a refinement window, kept over the region that moved; None when nothing did."""
    a, b, blur, covered = _pair_on(window, original, ai, ai_to_orig)
    sigma = window.sigma()
    measured = consistent_flow(a, b, finest=1)  # the seeds' flow is also the field's first round
    # The field is measured beside the seeds that decide whether it is kept
    # (they need only the first round's flow); it stops early when none are found.
    seeded: Future = Future()
    # A window reduced from a large frame (a 24 MP face) carries the field
    # closer between its first and last rounds at a quarter of its resolution:
    # 0.1-0.2 s less, its texture correlation within 0.001 (at full resolution,
    # 1.5 MP, that cost 0.002).
    middle = 2 if window.k < 1 and max(a.shape) > FULL_FLOW_SIDE else 1
    field_job = on_own_thread(motion_field, a, b, 3, measured, seeded.result, middle)
    try:
        _, seeds = moved_seeds(a, b, MIN_WARP_PX * window.k, window.sigma(DETECT_SIGMA_FRACTION), blur,
                               measured)
        seeds &= _eroded(covered, 3 * sigma)
    except BaseException:
        seeded.set_result(False)  # the field is never left waiting
        raise
    found = bool(seeds.any())
    seeded.set_result(found)
    if not found:
        return None
    d = field_job.result()
    # The region grows from the seeds over the measured field, not the
    # conservative one: flat skin between moved features moves too.
    largest = float(np.sqrt(squared_length(d).max()))
    support = _support(d, seeds, min(support_px * window.k, 0.5 * largest), FEATHER_SIGMAS * sigma)
    d *= (support * covered)[..., None]
    # Window px -> original full-resolution px (the global map's linear part).
    lin = (ai_to_orig @ np.linalg.inv(window.grid))[:2, :2]
    d = (d.reshape(-1, 2) @ lin.T).reshape(d.shape).astype(np.float32)
    # The window's border is where the field must already be zero: fade it anyway.
    h, w = d.shape[:2]
    edge = np.minimum.outer(np.minimum(np.arange(h), np.arange(h)[::-1]),
                            np.minimum(np.arange(w), np.arange(w)[::-1])).astype(np.float32)
    d *= np.clip(edge / 4.0, 0.0, 1.0)[..., None]
    return RegionField(window, d)


def find_local_warp(original: np.ndarray, ai: np.ndarray, ai_to_orig: np.ndarray,
                    faces: list | None = None, reduced: ReducedPair | None = None,
                    wanted: Callable[[], bool] | None = None) -> LocalWarp:
    """Find liquify that the global alignment ``ai_to_orig`` leaves.

    Parameters
    ----------
    original, ai : ndarray
        Full-resolution images.
    ai_to_orig : ndarray, shape (3, 3)
        AI px -> original px, the global alignment.
    faces : list of FaceLandmarks or an ArrivingList of them, optional
        The faces found on the AI image: each is also looked at on its own,
        from an ArrivingList as soon as it arrives (the faces may still be
        being found while the frame's own search runs).
    reduced : ReducedPair, optional
        Luminance copies already made (the global alignment's): windows no
        finer than them are sampled from them.
    wanted : callable, optional
        For a search started before the global alignment is known: called
        once motion has been looked for, before any field is measured (it may
        wait for the global fit); False drops the search (an empty warp comes back).

    Returns
    -------
    LocalWarp
        Empty (false) when nothing moved.
    """
    h, w = ai.shape[:2]
    same_grid = np.allclose(ai_to_orig, np.eye(3))
    support_px = SUPPORT_PX_SAME_GRID if same_grid else SUPPORT_PX_RESAMPLED

    def boxes_on(window: Window) -> list:
        a, b, blur, covered = _pair_on(window, original, ai, ai_to_orig, reduced)
        sigma = window.sigma(DETECT_SIGMA_FRACTION)
        _, seeds = moved_seeds(a, b, MIN_WARP_PX * window.k, sigma, blur,
                               consistent_flow(a, b, _detection_finest(window)))
        return _seed_boxes(seeds & _eroded(covered, sigma), window)

    # Windows are independent: the frame's is measured at once (while the
    # faces may still be being found), the faces' on the band threads (OpenCV
    # and numpy release the GIL), so a group photo's faces share both cores.
    frame = _frame_window((h, w))
    on_frame = on_own_thread(boxes_on, frame)
    if isinstance(faces, ArrivingList):  # each face looked at as soon as it is found
        on_faces = map_as_they_come(boxes_on, (win for face in faces for win in _face_windows(frame, [face])))
        faces = faces.final()
    else:
        faces = list(faces or [])
        on_faces = map_items(boxes_on, _face_windows(frame, faces))  # while the frame's is measured
    boxes = on_frame.result() + [b for found in on_faces for b in found]
    if wanted is not None and not wanted():
        return LocalWarp()
    windows = [_window(*box, REFINE_SIDE, (w, h)) for box in _merge(boxes)]
    regions = map_items(lambda win: _region_field(win, original, ai, ai_to_orig, support_px), windows)
    warp = LocalWarp([r for r in regions if r is not None])
    if not warp:
        return warp
    box = warp.bbox()
    if box[2] <= box[0]:
        return LocalWarp()
    d = warp.on_box(box)
    moving = ~_small(d)
    scale = 1.0 / linear_scale(ai_to_orig)  # AI px per original px
    warp.max_px = float(np.sqrt(squared_length(d).max())) * scale
    warp.moved_fraction = float(np.count_nonzero(moving)) / (h * w)
    warp.faces = [i + 1 for i, f in enumerate(faces) if _touches(f.bbox, box, moving)]
    return warp


def _touches(face_box, box, moving: np.ndarray) -> bool:
    """Whether any pixel of ``moving`` (bool, laid on ``box``) falls inside ``face_box``."""
    fx0, fy0, fx1, fy1 = face_box
    x0, y0 = box[0], box[1]
    sub = moving[max(0, fy0 - y0):max(0, fy1 - y0), max(0, fx0 - x0):max(0, fx1 - x0)]
    return bool(sub.size and sub.any())


def _feather(moved: np.ndarray) -> np.ndarray:
    """Blend weight in [0, 1]: 0 outside ``moved``, rising to 1 over FEATHER_PX inside it."""
    inside = cv2.distanceTransform(np.pad(moved.astype(np.uint8), 1), cv2.DIST_L2, 3)[1:-1, 1:-1]
    return np.clip(inside / FEATHER_PX, 0.0, 1.0).astype(np.float32)


def apply_local_warp(original: np.ndarray, warp: LocalWarp) -> np.ndarray:
    """The original with only the moved region resampled (same grid as the AI image).

    Pixels whose displacement is below ZERO_PX are the original's, bit for bit.

    Parameters
    ----------
    original : ndarray, shape (H, W) or (H, W, C)
        Already on the AI grid (the global alignment is the identity).
    warp : LocalWarp

    Returns
    -------
    ndarray
        A copy of ``original`` with the moved region replaced.
    """
    out = copy_in_bands(original)
    box = warp.bbox()
    x0, y0, x1, y1 = box
    if x1 <= x0 or y1 <= y0:
        return out
    d = warp.on_box(box)
    moved = ~_small(d)
    map_x = d[..., 0] + np.arange(x0, x1, dtype=np.float32)[None, :]
    map_y = d[..., 1] + np.arange(y0, y1, dtype=np.float32)[:, None]
    resampled = cv2.remap(original, map_x, map_y, cv2.INTER_LANCZOS4, borderMode=cv2.BORDER_REFLECT)
    del map_x, map_y
    if resampled.ndim == 2 and original.ndim == 3:
        resampled = resampled[..., None]
    if np.issubdtype(resampled.dtype, np.floating):
        np.clip(resampled, 0.0, 1.0, out=resampled)  # Lanczos overshoot
    weight = _feather(moved)
    region = out[y0:y1, x0:x1]  # a view: writes go to ``out``
    inner = weight >= 1.0
    np.copyto(region, resampled, where=inner[..., None] if region.ndim == 3 else inner)
    # The feathered edge: a blend of the two, computed on its pixels only.
    edge = moved & ~inner
    if edge.any():
        w = weight[edge]
        if original.ndim == 3:
            w = w[:, None]
        mixed = w * resampled[edge].astype(np.float32) + (1.0 - w) * original[y0:y1, x0:x1][edge].astype(np.float32)
        if np.issubdtype(original.dtype, np.integer):
            info = np.iinfo(original.dtype)
            mixed = np.clip(np.rint(mixed), info.min, info.max)
        region[edge] = mixed.astype(original.dtype)
    return out

"""Run a per-pixel restoration kernel over an image in bands of rows.

Why bands: a 24 MP RGB image is 290 MB as float32. Converting, blurring and
blending it whole is memory-bound and slow; doing the same work on bands of a
few hundred rows keeps every temporary in cache, lets two cores share the work
(OpenCV and numpy release the GIL), and skips everything outside the mask's
bounding box. A band is read with a halo as wide as the widest blur kernel, so
the result equals a whole-image computation exactly.

Weights too: a mask times the blemish protection times the regional strength
would be a 576 MB float32 frame at 144 MP. :class:`BandWeight` keeps the
factors (the mask by reference, the protection at the size it was found at)
and multiplies out only the rows a band reads. With that, a restore holds the
two photos and the result, plus a few MB per band, whatever the image size.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Iterable, Sequence

import cv2
import numpy as np

from processing.boxes import grow_box
from processing.dtypes import from_float, mask_to_float, to_float
from processing.filters import luminance
from processing.luminosity import luminosity_weight

Kernel = Callable[[np.ndarray, np.ndarray, Sequence[np.ndarray], tuple[int, int, int, int], tuple[int, int]],
                  np.ndarray]

_POOL: ThreadPoolExecutor | None = None
_BAND_THREAD = "retexture-band"


#: Pixels in one band of a kernel or a scan: a couple of MB per temporary, so a
#: 144 MP frame never has a full-size float copy, and what the allocator keeps
#: of the bands' freed temporaries per thread stays small (about 20 MB).
BAND_PIXELS = 1 << 19


def one_blas_thread() -> None:
    """Keep BLAS (numpy's and scipy's OpenBLAS) on the thread that calls it.

    Retexture shares the cores out itself: row bands, two decoders, the
    alignment beside the face search. A few large products (the alignment's
    shift check and correlations) wake OpenBLAS's own threads, which then
    spin on the cores those need: 0.15 s of CPU in a one-second 24 MP
    restore, for products that take a few ms on one thread. Applications
    call it once at start (the command line, batch workers, the web server);
    the library never does it on import. The variable covers a BLAS loaded
    later (scipy's) and child processes; threadpoolctl the ones loaded already.
    """
    global _ONE_BLAS_THREAD
    if _ONE_BLAS_THREAD:
        return  # once per process: a web server's every rerun calls it
    from threadpoolctl import threadpool_limits

    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    threadpool_limits(1, user_api="blas")
    _ONE_BLAS_THREAD = True


_ONE_BLAS_THREAD = False


def band_threads() -> int:
    """How many band threads there are: one per core, at most four."""
    return max(1, min(4, os.cpu_count() or 1))


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=band_threads(), thread_name_prefix=_BAND_THREAD)
    return _POOL


def _on_band_thread() -> bool:
    return threading.current_thread().name.startswith(_BAND_THREAD)


def map_bands(fn: Callable[[int], object], start: int, stop: int, step: int) -> list:
    """``[fn(r) for r in range(start, stop, step)]`` on the band threads."""
    return map_items(fn, range(start, stop, step))


def map_items(fn: Callable[[object], object], items: Sequence) -> list:
    """``[fn(x) for x in items]`` on the band threads, in order.

    Called from a band thread it runs there, in turn: a band thread waiting on
    the others could leave none to run what it waits for.
    """
    if len(items) < 2 or _on_band_thread():
        return [fn(x) for x in items]
    return list(_pool().map(fn, items))


def map_as_they_come(fn: Callable[[object], object], items: Iterable) -> list:
    """``[fn(x) for x in items]`` on the band threads, each started as soon as
    ``items`` yields it (things found one by one on another thread), in order."""
    if _on_band_thread():
        return [fn(x) for x in items]
    return [job.result() for job in [_pool().submit(fn, x) for x in items]]


class ArrivingList:
    """A list one thread fills while others read it as it grows: iterating
    yields each item as it arrives and ends when the list is closed."""

    def __init__(self):
        self._items: list = []
        self._final: list | None = None
        self._changed = threading.Condition()

    def append(self, item) -> None:
        with self._changed:
            self._items.append(item)
            self._changed.notify_all()

    def close(self, final: Sequence) -> None:
        """No more items; ``final`` is the whole list as it ends up (the same
        items, perhaps in another order). Only the first call counts."""
        with self._changed:
            if self._final is None:
                self._final = list(final)
                self._changed.notify_all()

    def final(self) -> list:
        """The closed list (waits for it)."""
        with self._changed:
            self._changed.wait_for(lambda: self._final is not None)
            return self._final

    def __iter__(self):
        seen = 0
        while True:
            with self._changed:
                self._changed.wait_for(lambda: len(self._items) > seen or self._final is not None)
                if len(self._items) == seen:
                    return
                item = self._items[seen]
            seen += 1
            yield item


def copy_in_bands(image: np.ndarray) -> np.ndarray:
    """A copy of ``image``, made a band at a time on the band threads (a 24 MP
    frame is 72 MB: one thread's copy leaves the other core idle)."""
    out = np.empty_like(image)
    step = max(1, -(-len(image) // 8))  # a few large pieces: a copy has no temporaries to keep small

    def one(r: int) -> None:
        out[r:r + step] = image[r:r + step]

    map_bands(one, 0, image.shape[0], step)
    return out


def on_own_thread(fn: Callable, *args) -> Future:
    """``fn(*args)`` started on a new thread, not the band threads: for work that
    itself calls :func:`map_items` (a band thread waiting on band threads can
    leave none to run them)."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="retexture-task")
    try:
        return pool.submit(fn, *args)
    finally:
        pool.shutdown(wait=False)  # the thread ends with its one task


def band_height(width: int, at_least: int = 8) -> int:
    """Rows per band for an image ``width`` px wide (about :data:`BAND_PIXELS`)."""
    return max(at_least, BAND_PIXELS // max(1, width))


@dataclasses.dataclass
class BandWeight:
    """A per-pixel weight (H, W) kept as factors and multiplied out band by band.

    A full-frame float32 weight is 4 bytes a pixel (576 MB at 144 MP) though a
    restore only ever reads a band of it at a time; most factors are also
    mostly 1 (blemish protection, regional strength). The weight is
    ``mask * factor_1 * factor_2 ... / divisor``, multiplied in that order,
    so every band equals the same rows of the whole-frame product bit for bit.

    Attributes
    ----------
    shape : (H, W)
    mask : ndarray, BandWeight or None
        Any depth :func:`processing.dtypes.mask_to_float` takes; None = 1.
    factors : tuple
        Objects with ``rows(r0, r1, c0, c1) -> float32 (r1 - r0, c1 - c0)``, or
        ndarrays.
    divisor : float
        The product is divided by it (1 = as is).
    origin : (y, x)
        Where this weight's top-left pixel is in the mask and factors (a crop, see :meth:`crop`).
    within : (y0, y1, x0, x1) or None
        A box known to hold every weight above 0 (the mask's, when no factor
        makes its zeros non-zero): :meth:`box` gives it without a scan. It may be larger
        than the weight's own box; the rows and columns it adds have weight 0,
        which leaves an image as it is.
    """

    shape: tuple
    mask: object | None = None
    factors: tuple = ()
    divisor: float = 1.0
    origin: tuple = (0, 0)
    within: tuple | None = None
    _stats: tuple | None = dataclasses.field(default=None, repr=False, compare=False)

    def rows(self, r0: int, r1: int, c0: int = 0, c1: int | None = None) -> np.ndarray:
        """The weight's rows ``r0:r1``, columns ``c0:c1``, float32."""
        c1 = self.shape[1] if c1 is None else c1
        oy, ox = self.origin
        at = (r0 + oy, r1 + oy, c0 + ox, c1 + ox)
        w = None if self.mask is None else weight_rows(self.mask, *at)
        for factor in self.factors:
            f = weight_rows(factor, *at)
            w = f if w is None else w * f
        if w is None:
            w = np.ones((r1 - r0, c1 - c0), np.float32)
        if self.divisor != 1.0:
            w = w / self.divisor
        return w

    def full(self) -> np.ndarray:
        """The whole weight as one float32 array (for display and small images)."""
        return np.ascontiguousarray(self.rows(0, self.shape[0]), dtype=np.float32)

    def _scan(self) -> tuple:
        if self._stats is None:
            h, w = self.shape[:2]
            step = band_height(w)

            def scan(r0):
                band = self.rows(r0, min(h, r0 + step))
                box = weight_box(band, band.shape)
                return (None if box is None else (r0 + box[0], r0 + box[1], box[2], box[3]),
                        float(band.max()) if band.size else 0.0)

            found = map_bands(scan, 0, h, step)
            self._stats = (_union([b for b, _ in found]), max((m for _, m in found), default=0.0))
        return self._stats

    def at_most_one(self) -> bool:
        """Whether no weight can exceed 1, known without a scan: masks are in
        [0, 1] by contract, and every factor says so (``AT_MOST_ONE``)."""
        if self.divisor < 1 or (isinstance(self.mask, BandWeight) and not self.mask.at_most_one()):
            return False
        return all(getattr(factor, "AT_MOST_ONE", False) for factor in self.factors)

    def box(self) -> tuple[int, int, int, int] | None:
        """(y0, y1, x0, x1) of where the weight is above 0, or None when nowhere
        (:attr:`within` when it is given)."""
        return self.within if self.within is not None else self._scan()[0]

    def max(self) -> float:
        """The largest weight."""
        return self._scan()[1]

    def crop(self, y0: int, y1: int, x0: int, x1: int) -> "BandWeight":
        """The weight inside rows ``y0:y1``, columns ``x0:x1`` (nothing is copied)."""
        oy, ox = self.origin
        return dataclasses.replace(self, shape=(y1 - y0, x1 - x0), origin=(oy + y0, ox + x0), within=None,
                                   _stats=None)

    def divided_by(self, divisor: float) -> "BandWeight":
        """The same weight divided by ``divisor`` (where it is above 0 does not change)."""
        return dataclasses.replace(self, divisor=self.divisor * divisor, _stats=None) if self.divisor == 1.0 \
            else BandWeight(self.shape, self.full(), (), divisor)


def weight_box(mask, shape) -> tuple[int, int, int, int] | None:
    """(y0, y1, x0, x1) of where a mask is above 0: the whole image for None, None
    when the mask is 0 everywhere. Large masks are scanned band by band (a
    full-frame boolean copy of a 144 MP mask is 144 MB)."""
    h, w = shape[:2]
    if mask is None:
        return 0, h, 0, w
    if isinstance(mask, BandWeight):
        return mask.box()
    step = band_height(w)

    def band_box(r: int):
        band = mask[r:r + step]
        nz = band if band.dtype == np.uint8 else (band > 0).view(np.uint8)
        bx, by, bw, bh = cv2.boundingRect(np.ascontiguousarray(nz))
        return None if bw == 0 or bh == 0 else (r + by, r + by + bh, bx, bx + bw)

    return _union(map_bands(band_box, 0, h, step))


def skin_regions(weight, shape, margin: int, align: int = 1, cell: int = 32,
                 most: float = 0.6) -> list[tuple[tuple[int, int, int, int], tuple[int, int, int, int]]]:
    """Separate parts of a weight (the faces of a group photo), each with its context.

    A group photo's faces are a fifth of the box around them: working box by
    box skips the rest. Parts are found on cells of ``cell`` px (the mask
    alone: factors only lower it) and grown by ``margin`` px; parts whose
    grown boxes meet are one.

    Parameters
    ----------
    weight : ndarray, BandWeight or None
    shape : tuple
        (H, W) of the frame, px.
    margin : int, px
        Context each part needs around it.
    align : int
        Each part's box starts on multiples of this (a reduced grid's cells).
    most : float
        When the parts' boxes cover more than this share of the single grown
        box, that one box is returned: fewer, larger boxes cost less.

    Returns
    -------
    list of (box, inner)
        ``box`` (y0, y1, x0, x1) in the frame; ``inner``, within ``box``'s own
        px, holds every weight above 0 there. One entry (the weight's box
        grown) unless separate parts save work; empty for a weight of 0.
    """
    h, w = shape[:2]
    box = weight_box(weight, shape)
    if box is None:
        return []
    y0, y1, x0, x1 = box

    def grown(b):
        a0, a1, c0, c1 = grow_box(b, margin, shape)
        return a0 // align * align, a1, c0 // align * align, c1

    def entry(inner):
        g = grown(inner)
        return g, (inner[0] - g[0], inner[1] - g[0], inner[2] - g[2], inner[3] - g[2])

    whole = [entry(box)]
    if weight is None or (y1 - y0) * (x1 - x0) < 16 * cell * cell:
        return whole
    support = dataclasses.replace(weight, factors=(), divisor=1.0, _stats=None) \
        if isinstance(weight, BandWeight) else weight
    rows, cols = -(-(y1 - y0) // cell), -(-(x1 - x0) // cell)
    occupied = np.zeros((rows, cols), np.float32)
    step = max(1, band_height(x1 - x0) // cell) * cell

    def band(r0: int) -> None:
        r1 = min(y1, r0 + step)
        n = -(-(r1 - r0) // cell)
        padded = np.zeros((n * cell, cols * cell), np.float32)
        padded[:r1 - r0, :x1 - x0] = weight_rows(support, r0, r1, x0, x1)
        # A cell's average of a weight >= 0 is above 0 where any of its pixels is.
        occupied[(r0 - y0) // cell:(r0 - y0) // cell + n] = cv2.resize(padded, (cols, n), interpolation=cv2.INTER_AREA)

    map_bands(band, y0, y1, step)
    stats = cv2.connectedComponentsWithStats((occupied > 0).astype(np.uint8))[2]
    parts = [(y0 + t * cell, min(y1, y0 + (t + hh) * cell), x0 + l * cell, min(x1, x0 + (l + ww) * cell))
             for l, t, ww, hh, _ in stats[1:]]
    # Parts whose grown boxes meet become one, until none meet.
    while (pair := next(((i, j) for i, j in itertools.combinations(range(len(parts)), 2)
                         if _meet(grown(parts[i]), grown(parts[j]))), None)) is not None:
        parts[pair[0]] = _union([parts[pair[0]], parts.pop(pair[1])])
    entries = [entry(p) for p in parts]
    g = whole[0][0]
    area = sum((e[0][1] - e[0][0]) * (e[0][3] - e[0][2]) for e in entries)
    return whole if len(entries) < 2 or area > most * (g[1] - g[0]) * (g[3] - g[2]) else entries


def _meet(a, b) -> bool:
    """Whether boxes ``a`` and ``b`` (y0, y1, x0, x1) overlap."""
    return a[0] < b[1] and b[0] < a[1] and a[2] < b[3] and b[2] < a[3]


def _union(boxes) -> tuple[int, int, int, int] | None:
    """The box around ``boxes`` (y0, y1, x0, x1 each); None entries are empty (bands with no weight)."""
    boxes = [b for b in boxes if b is not None]
    if not boxes:
        return None
    return min(b[0] for b in boxes), max(b[1] for b in boxes), min(b[2] for b in boxes), max(b[3] for b in boxes)


def weight_rows(mask, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
    """Rows ``r0:r1``, columns ``c0:c1`` of a mask as float32: an ndarray (any
    depth), None (1 everywhere), or anything with ``rows`` (:class:`BandWeight`)."""
    if mask is None:
        return np.ones((r1 - r0, c1 - c0), np.float32)
    if isinstance(mask, np.ndarray):
        return mask_to_float(mask[r0:r1, c0:c1])
    return mask.rows(r0, r1, c0, c1)


def crop_mask(mask, y0: int, y1: int, x0: int, x1: int):
    """A mask (ndarray, BandWeight or None) inside rows ``y0:y1``, columns ``x0:x1``, without copying."""
    if mask is None:
        return None
    if isinstance(mask, BandWeight):
        return mask.crop(y0, y1, x0, x1)
    return mask[y0:y1, x0:x1]


def run_kernel(ai: np.ndarray, mask, sources: Sequence[np.ndarray],
               kernel: Kernel, halo: int, shadows: float = 0.0, highlights: float = 1.0,
               band_rows: int = 256, out: np.ndarray | None = None) -> np.ndarray:
    """Apply ``kernel`` band by band inside the mask's bounding box.

    Parameters
    ----------
    ai : ndarray
        The base image (H, W) or (H, W, C), uint8, uint16 or float32 in [0, 1].
    mask : ndarray (H, W), BandWeight or None
        Skin mask, float in [0, 1] or uint8/uint16 scaled to full range; None = everywhere.
    sources : sequence of ndarray
        Other images the kernel reads (the original), same shape as ``ai``.
    kernel : callable
        ``kernel(a, m, srcs, window, origin) -> R`` on float32 bands, where ``a`` and
        each of ``srcs`` carry ``halo`` extra pixels on every side (fewer at the
        image border), ``m`` is the effective mask of the inner window only, and
        ``window`` = (top, bottom, left, right) offsets of the inner window inside
        the haloed band. ``R`` is the result for the inner window.
    halo : int
        Pixels of context the kernel needs (4 sigma of its widest blur).
    shadows, highlights : float in [0, 1]
        Luminosity protection thresholds (0 and 1 = off), on the AI image.
    band_rows : int
        Rows per band (at least 8 halos).
    out : ndarray, optional
        Where to write the result: another array (not ``ai``: bands read their
        neighbours' rows) holding ``ai``'s pixels already, such as a view of a
        larger result; only the mask's box is written. Default: a copy of ``ai``.

    Returns
    -------
    ndarray, same shape and dtype as ``ai`` (``out`` when given). Where the
    mask is 0 it equals ``ai`` bit for bit.
    """
    for s in sources:
        if s.shape != ai.shape:
            raise ValueError(f"image sizes differ: {s.shape[1]}x{s.shape[0]} and {ai.shape[1]}x{ai.shape[0]}")
    if mask is not None and tuple(mask.shape) != ai.shape[:2]:
        raise ValueError(f"the mask is {mask.shape[1]}x{mask.shape[0]} but the image is {ai.shape[1]}x{ai.shape[0]}")
    out = ai.copy() if out is None else out
    box = weight_box(mask, ai.shape)
    if box is None:
        return out
    y0, y1, x0, x1 = box
    h, w = ai.shape[:2]
    band_rows = max(band_rows, 8 * halo)
    hx0, hx1 = max(0, x0 - halo), min(w, x1 + halo)

    def one_band(by0: int) -> None:
        by1 = min(y1, by0 + band_rows)
        hy0, hy1 = max(0, by0 - halo), min(h, by1 + halo)
        window = (by0 - hy0, by1 - hy0, x0 - hx0, x1 - hx0)
        a = to_float(ai[hy0:hy1, hx0:hx1])
        srcs = [to_float(s[hy0:hy1, hx0:hx1]) for s in sources]
        m = weight_rows(mask, by0, by1, x0, x1)
        a_in = a[window[0]:window[1], window[2]:window[3]]
        if shadows > 0 or highlights < 1:
            m = m * luminosity_weight(luminance(a_in), shadows, highlights)
        r = kernel(a, m, srcs, window, (hy0, hx0))
        out[by0:by1, x0:x1] = from_float(r, ai.dtype)

    map_bands(one_band, y0, y1, band_rows)
    return out


def inner(x: np.ndarray, window: tuple[int, int, int, int]) -> np.ndarray:
    """The inner window of a haloed band."""
    return x[window[0]:window[1], window[2]:window[3]]

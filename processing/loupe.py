"""What the 1:1 loupe shows: the full-size restored image inside a window.

The web app previews on a reduced copy; its loupe must show the download's own
pixels. Restoring the whole frame at every slider move would cost a full-size
restore (seconds and hundreds of MB at 24 MP and more), so the plan is cut to
the window plus the reach of the method's widest blur, and only that is restored.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from processing.detail_transfer import halo_for
from processing.plan import RestorePlan
from processing.restore import apply
from processing.row_bands import BandWeight
from processing.settings import Section, SyntheticSettings


class _ShiftedRows:
    """A weight factor (anything with ``rows(r0, r1, c0, c1)``) seen from a crop at (y0, x0)."""

    def __init__(self, factor, y0: int, x0: int, shape: tuple[int, int]):
        self.factor, self.y0, self.x0, self.shape = factor, y0, x0, shape

    def rows(self, r0: int, r1: int, c0: int = 0, c1: int | None = None) -> np.ndarray:
        c1 = self.shape[1] if c1 is None else c1
        return self.factor.rows(r0 + self.y0, r1 + self.y0, c0 + self.x0, c1 + self.x0)


def crop_weight(weight, region: tuple[int, int, int, int]):
    """A weight (ndarray, :class:`processing.row_bands.BandWeight` or None) on
    ``region`` (y0, y1, x0, x1) of its frame: views, nothing multiplied out."""
    y0, y1, x0, x1 = region
    if weight is None:
        return None
    if isinstance(weight, np.ndarray):
        return weight[y0:y1, x0:x1]
    if isinstance(weight, BandWeight):
        shape = (y1 - y0, x1 - x0)
        factors = tuple(f[y0:y1, x0:x1] if isinstance(f, np.ndarray) else _ShiftedRows(f, y0, x0, shape)
                        for f in weight.factors)
        return BandWeight(shape, crop_weight(weight.mask, region), factors, weight.divisor)
    raise TypeError(f"cannot crop a {type(weight).__name__}")


def crop_plan(restore_plan: RestorePlan, region: tuple[int, int, int, int]) -> RestorePlan:
    """The plan restricted to ``region`` (y0, y1, x0, x1): views of its photos,
    masks and weights there, with match mode's work box moved into the crop.

    Applying it gives the full-size result inside the region, except within a
    blur's reach of the region's edges.
    """
    y0, y1, x0, x1 = region
    pair = restore_plan.pair
    shape = pair.retouched.pixels.shape[:2]

    def frame(a):
        return a if a is None or a.shape[:2] != shape else a[y0:y1, x0:x1]

    retouched = dataclasses.replace(pair.retouched, pixels=frame(pair.retouched.pixels),
                                    alpha=frame(pair.retouched.alpha))
    cropped = dataclasses.replace(pair, retouched=retouched, original=frame(pair.original),
                                  skin_mask=frame(pair.skin_mask), coverage=frame(pair.coverage),
                                  faces=[], landmarks=[])
    match = restore_plan.match
    if match is not None:
        by0, by1, bx0, bx1 = match.box
        iy0, iy1, ix0, ix1 = max(by0, y0), min(by1, y1), max(bx0, x0), min(bx1, x1)
        if iy1 <= iy0 or ix1 <= ix0:
            match = None  # the region is outside the work box: nothing goes back there
        else:
            in_box = (iy0 - by0, iy1 - by0, ix0 - bx0, ix1 - bx0)
            match = dataclasses.replace(match, box=(iy0 - y0, iy1 - y0, ix0 - x0, ix1 - x0),
                                        band_weight=crop_weight(match.band_weight, in_box), spots=None,
                                        patches=[patch.shifted(iy0 - by0, ix0 - bx0) for patch in match.patches],
                                        skin_weight=crop_weight(match.skin_weight, in_box))
    mask = restore_plan.mask
    mask = crop_weight(mask, region) if mask is not None and tuple(mask.shape[:2]) == shape else mask
    return dataclasses.replace(restore_plan, pair=cropped, mask=mask, match=match, spots=None)


def loupe_margin(restore_plan: RestorePlan, settings: Section) -> int:
    """Pixels of context around the loupe's window that its restore reads: twice
    the reach of the method's widest blur (its reduced-copy grid included)."""
    p = settings.as_fractions()
    if restore_plan.match is not None:
        sigma = restore_plan.match.swap_radius
    else:
        sigma = max(p.get("radius", 0.0), p.get("blur", 0.0), p.get("grain_size", 0.0))
    return 2 * halo_for(sigma) + 3 * int(sigma // 3 + 1) + 8


def restored_window(restore_plan: RestorePlan, settings: Section, window: tuple[int, int, int, int]) -> np.ndarray:
    """The full-size restored image inside ``window`` (x0, y0, x1, y1).

    Restored on a crop of the plan (:func:`crop_plan`) with :func:`loupe_margin`
    around the window: the download's pixels there (match mode's wide swap,
    made on a reduced copy, within a level), at the cost of a small crop.
    Synthetic grain is drawn from the whole frame's positions, so it restores
    the window in place (:func:`processing.restore.apply` with ``window``).
    """
    x0, y0, x1, y1 = window
    if isinstance(settings, SyntheticSettings):
        return apply(restore_plan, settings, window=window)[y0:y1, x0:x1]
    h, w = restore_plan.pair.retouched.pixels.shape[:2]
    m = loupe_margin(restore_plan, settings)
    region = (max(0, y0 - m), min(h, y1 + m), max(0, x0 - m), min(w, x1 + m))
    out = apply(crop_plan(restore_plan, region), settings)
    return out[y0 - region[0]:y1 - region[0], x0 - region[2]:x1 - region[2]]

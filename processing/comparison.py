"""The comparison sheet a retoucher sends a client.

The AI-retouched photo and the restored one side by side at the same scale,
each labelled, and under each a 1:1 crop of the same spot (where pores show:
a reduced overview cannot show them). The spot is outlined on both overviews.
Text is drawn with OpenCV's built-in Hershey font: nothing to download.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from processing.dtypes import to_rgb_uint8

#: Long side of each overview panel, px (a client's screen; the crops carry the detail).
OVERVIEW_SIDE = 1600
#: Side of the 1:1 crop, px of the photo.
CROP_SIDE = 512
#: Outline of the cropped spot on the overviews (RGB).
SPOT_RGB = (255, 200, 0)
_PAD = 24
_BACKGROUND = 255
_INK = (30, 30, 30)
_FONT = cv2.FONT_HERSHEY_SIMPLEX


@dataclass(frozen=True)
class SheetLayout:
    """Where each part of a comparison sheet is, as (x0, y0, x1, y1) boxes in sheet pixels.

    ``overviews`` and ``crops`` list the AI-retouched panel first, then the
    restored one; ``scale`` is overview width / photo width (the same for both);
    ``window`` is the cropped spot (x0, y0, x1, y1) in photo pixels.
    """

    overviews: tuple[tuple[int, int, int, int], ...]
    crops: tuple[tuple[int, int, int, int], ...]
    scale: float
    window: tuple[int, int, int, int]


def spot_window(shape, center: tuple[float, float], side: int = CROP_SIDE) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of a ``side`` px square around ``center`` (x, y in photo pixels),
    moved inside the photo (smaller where the photo is)."""
    h, w = shape[:2]
    sw, sh = min(side, w), min(side, h)
    x0 = int(round(min(max(center[0] - sw / 2, 0), w - sw)))
    y0 = int(round(min(max(center[1] - sh / 2, 0), h - sh)))
    return x0, y0, x0 + sw, y0 + sh


def _text_scale(width: int) -> float:
    """A font scale whose capital letters are about 1/60 of a panel's width, within reason."""
    return float(np.clip(width / 900.0, 0.5, 1.6))


def _label(sheet: np.ndarray, text: str, x: int, y_baseline: int, scale: float) -> None:
    ascii_text = text.encode("ascii", "replace").decode()
    cv2.putText(sheet, ascii_text, (x, y_baseline), _FONT, scale, _INK, max(1, int(round(scale * 1.5))),
                cv2.LINE_AA)


def comparison_sheet(ai: np.ndarray, restored: np.ndarray, center: tuple[float, float] | None = None, *,
                     overview_side: int = OVERVIEW_SIDE, crop_side: int = CROP_SIDE,
                     labels: tuple[str, str] = ("AI-retouched", "Restored with Retexture"),
                     ) -> tuple[np.ndarray, SheetLayout]:
    """AI-retouched and restored side by side, labelled, with 1:1 crops of one spot.

    Parameters
    ----------
    ai, restored : ndarray, shape (H, W) or (H, W, 3)
        The two versions at full size (uint8, uint16 or float in [0, 1]); same shape.
    center : (x, y), optional
        The inspected spot in photo pixels (the loupe's centre); the photo's centre if None.
    overview_side : int
        Long side of each overview panel, px; photos smaller than that are not enlarged.
    crop_side : int
        Side of the 1:1 crops, px of the photo.
    labels : (str, str)
        Titles of the two versions (ASCII).

    Returns
    -------
    sheet : ndarray, uint8, shape (h, w, 3)
        RGB.
    layout : SheetLayout
        Where the panels are, for a reader (or a test) of the sheet.
    """
    if ai.shape[:2] != restored.shape[:2]:
        raise ValueError(f"the two versions differ in size: {ai.shape[:2]} vs {restored.shape[:2]}")
    h, w = ai.shape[:2]
    scale = min(1.0, overview_side / float(max(w, h)))
    ow, oh = max(1, int(round(w * scale))), max(1, int(round(h * scale)))
    scale = ow / float(w)
    if center is None:
        center = (w / 2.0, h / 2.0)
    window = spot_window(ai.shape, center, crop_side)
    x0, y0, x1, y1 = window
    text = _text_scale(ow)
    line = int(round(46 * text))  # height of a label line

    def overview(image):
        small = image if (ow, oh) == (w, h) else cv2.resize(image, (ow, oh), interpolation=cv2.INTER_AREA)
        small = np.array(to_rgb_uint8(small), copy=True)  # drawn on: never the caller's array
        box = tuple(int(round(v * scale)) for v in window)
        cv2.rectangle(small, box[:2], (max(box[2], box[0] + 2) - 1, max(box[3], box[1] + 2) - 1), SPOT_RGB,
                      max(2, int(round(text * 2))))
        return small

    panels = [overview(ai), overview(restored)]
    crops = [to_rgb_uint8(np.ascontiguousarray(im[y0:y1, x0:x1])) for im in (ai, restored)]
    cw, ch = x1 - x0, y1 - y0
    col_w = max(ow, cw)
    sheet_w = _PAD + 2 * (col_w + _PAD)
    top = _PAD + line
    crop_top = top + oh + _PAD + line
    sheet_h = crop_top + ch + _PAD
    sheet = np.full((sheet_h, sheet_w, 3), _BACKGROUND, np.uint8)
    overview_boxes, crop_boxes = [], []
    for i, (label, panel, crop) in enumerate(zip(labels, panels, crops)):
        x = _PAD + i * (col_w + _PAD)
        _label(sheet, label, x, top - int(round(12 * text)), text)
        sheet[top:top + oh, x:x + ow] = panel
        overview_boxes.append((x, top, x + ow, top + oh))
        _label(sheet, f"{label}: 100 % crop", x, crop_top - int(round(12 * text)),
               text * 0.8)
        sheet[crop_top:crop_top + ch, x:x + cw] = crop
        crop_boxes.append((x, crop_top, x + cw, crop_top + ch))
    return sheet, SheetLayout(tuple(overview_boxes), tuple(crop_boxes), scale, window)

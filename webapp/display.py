"""What the page shows: display copies, the 1:1 loupe, comparisons, tints, the spectrum chart.

A 24 MP photo cannot be shown, nor restored at every slider move, at full size:
the page shows copies whose long side is a display size, and the loupe a small
window at full resolution, where pores are visible. Pure numpy and OpenCV;
the restoring itself is :mod:`processing.pipeline`'s.
"""

from __future__ import annotations

import base64
import re

import cv2
import numpy as np

from processing.dtypes import to_rgb_uint8, to_uint8

#: Long side of the downscaled previews, in pixels.
PREVIEW_SIDE = 1400
#: Tint of the mask on the photo (RGB, green).
MASK_RGB = (0, 200, 90)
#: Tint of the places where a removed blemish was kept clean (RGB, magenta: no skin tone).
BLEMISH_RGB = (235, 0, 200)
#: A pixel counts as "kept clean" where the protection weight is below this.
BLEMISH_LEVEL = 0.5


def fit_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """(width, height) scaled to fit ``max_side`` on the long side, never enlarged."""
    scale = min(1.0, max_side / float(max(width, height)))
    return max(1, int(round(width * scale))), max(1, int(round(height * scale)))


def downscale(image: np.ndarray, max_side: int = PREVIEW_SIDE) -> tuple[np.ndarray, float]:
    """Shrink an image (any dtype, gray or RGB) so its long side is at most ``max_side``.

    Returns
    -------
    (small, scale)
        ``small`` has the input's dtype; ``scale`` = small width / input width
        (1.0 and the input itself when it already fits).
    """
    h, w = image.shape[:2]
    nw, nh = fit_size(w, h, max_side)
    if (nw, nh) == (w, h):
        return image, 1.0
    small = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
    return small, nw / float(w)


def resize_to(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` at exactly ``size`` = (width, height): area-averaged when shrinking,
    linear when enlarging; the input itself when it already has that size."""
    if image.shape[1::-1] == tuple(size):
        return image
    shrink = size[0] < image.shape[1]
    return cv2.resize(image, tuple(size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def to_display(image: np.ndarray) -> np.ndarray:
    """8-bit RGB for the screen from gray/RGB/RGBA in uint8, uint16 or float."""
    return to_rgb_uint8(image)


#: zlib's run-length strategy, on libpng's "up" filter where OpenCV can choose it
#: (the numpy 1 builds, OpenCV 4.11, cannot: libpng then picks a filter per row).
_PNG_SPEED = [cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE] + (
    [cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP] if hasattr(cv2, "IMWRITE_PNG_FILTER") else [])


def encode_png(image: np.ndarray, compression: int = 1) -> bytes:
    """Fast PNG bytes of an 8-bit RGB or gray display image (low compression: speed first).

    zlib's run-length strategy on the "up" filter: a 1400 px preview in 37 ms
    and 1.6 MB, against 65 ms for libpng's choice of filter per row (which
    OpenCV 4.11 keeps: 66 ms) and 85 ms through Pillow, the pixels the same.
    """
    img = np.asarray(image)
    if img.dtype != np.uint8:
        img = to_uint8(img)
    if img.ndim == 3:
        img = cv2.cvtColor(img[..., :3], cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, int(compression), *_PNG_SPEED])
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


def png_data_url(png: bytes) -> str:
    """A ``data:image/png;base64,...`` URL of PNG bytes.

    The web app hands its images to the browser inline: no second request
    to a media endpoint, and the picture changes exactly when its URL does.
    """
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def tint_mask(image: np.ndarray, mask: np.ndarray, color=MASK_RGB, opacity: float = 0.45) -> np.ndarray:
    """The photo with the mask tinted over it, for display.

    Parameters
    ----------
    image : ndarray, uint8, shape (H, W, 3) or (H, W)
    mask : ndarray, float, shape (H, W), values in [0, 1]
        Resized to the image when its size differs.
    color : RGB tuple
    opacity : float
        Tint strength where the mask is 1.

    Returns
    -------
    ndarray, uint8, shape (H, W, 3)
    """
    img = np.asarray(image)
    if img.dtype != np.uint8:
        raise ValueError("tint_mask expects a uint8 display image")
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    img = img[..., :3]
    m = np.asarray(mask, np.float32)
    if m.shape != img.shape[:2]:
        m = cv2.resize(m, (img.shape[1], img.shape[0]), interpolation=cv2.INTER_AREA)
    a = (np.clip(m, 0, 1) * np.float32(opacity))[..., None]
    tint = np.asarray(color, np.float32)[None, None, :]
    out = img.astype(np.float32) * (1 - a) + tint * a
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def mask_percent(mask: np.ndarray) -> float:
    """Share of the image covered by the mask, in per cent (soft edges count partly)."""
    m = np.asarray(mask, np.float32)
    return float(m.mean() * 100.0) if m.size else 0.0


# --- The 1:1 loupe and comparisons ----------------------------------------------------------------

def crop(image: np.ndarray, window: tuple[int, int, int, int]) -> np.ndarray:
    """``image[y0:y1, x0:x1]`` for a window (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = window
    return image[y0:y1, x0:x1]


def frame_box(image: np.ndarray, window: tuple[int, int, int, int], scale: float,
              color=(255, 200, 0), thickness: int = 2) -> np.ndarray:
    """A copy of a display image with the full-size ``window`` outlined (at ``scale``)."""
    out = np.ascontiguousarray(image.copy())
    x0, y0, x1, y1 = (int(round(v * scale)) for v in window)
    x1, y1 = max(x1, x0 + 2), max(y1, y0 + 2)
    cv2.rectangle(out, (x0, y0), (x1 - 1, y1 - 1), color, thickness)
    return out


#: The views of the large picture, in the retoucher's words.
VIEWS = {"split": "Before / after", "side": "Side by side", "restored": "Restored", "ai": "AI-retouched",
         "original": "Original"}
#: Long side of the large picture, px: what a 1440 px screen shows beside the sidebar. It is an
#: overview (pores are judged in the loupe) and its PNG is made and sent at every change: 1000 px
#: showed new pixels 390 ms after a slider move on a 24 MP pair, 1200 px 440-480 ms
#: (benchmarks/bench_webapp.py). Side by side: two photos of 3/4 of it.
PICTURE_SIDE = 1000
#: Gap between the two photos of the side-by-side view, px.
SIDE_GAP = 8


def compose_view(view: str, original: np.ndarray, ai: np.ndarray, restored: np.ndarray,
                 split: float = 0.5) -> tuple[np.ndarray, tuple[tuple[int, int], ...]]:
    """The large picture of one view, from display copies of one size.

    Parameters
    ----------
    view : str
        A key of :data:`VIEWS`.
    original, ai, restored : ndarray, uint8, shape (h, w, 3)
    split : float
        Before/after line, as a fraction of the width (AI-retouched left of it).

    Returns
    -------
    picture : ndarray, uint8
    panels : tuple of (x0, x1)
        The columns of each copy of the photo in the picture.
    """
    w = ai.shape[1]
    if view == "split":
        return split_compare(ai, restored, split), ((0, w),)
    if view == "side":
        return side_by_side([ai, restored], gap=SIDE_GAP), ((0, w), (w + SIDE_GAP, 2 * w + SIDE_GAP))
    return {"restored": restored, "ai": ai, "original": original}[view], ((0, w),)


def mark_spot(picture: np.ndarray, panels, window: tuple[int, int, int, int], scale: float) -> np.ndarray:
    """A copy of the picture with the full-size ``window`` outlined in every panel
    (``scale`` = picture px per photo px)."""
    out = picture
    for x0, _ in panels:
        shifted = tuple(v + (x0 / scale if i % 2 == 0 else 0) for i, v in enumerate(window))
        out = frame_box(out, shifted, scale)
    return out


def split_compare(before: np.ndarray, after: np.ndarray, position: float = 0.5,
                  line_color=(255, 255, 255)) -> np.ndarray:
    """Before on the left of ``position`` (fraction of the width), after on the right,
    with a thin line at the split: the classic before/after slider, as one image."""
    if before.shape != after.shape:
        raise ValueError(f"before and after differ in size: {before.shape} vs {after.shape}")
    w = before.shape[1]
    x = int(round(min(max(position, 0.0), 1.0) * w))
    out = after.copy()
    out[:, :x] = before[:, :x]
    if 0 < x < w:
        lo, hi = max(0, x - 1), min(w, x + 1)
        out[:, lo:hi] = np.asarray(line_color, out.dtype)[: out.shape[2]] if out.ndim == 3 else 255
    return out


def side_by_side(images, gap: int = 8, background: int = 255) -> np.ndarray:
    """Display images of the same height placed left to right with a gap."""
    images = [np.asarray(im) for im in images]
    h = max(im.shape[0] for im in images)
    parts = []
    for i, im in enumerate(images):
        if im.shape[0] != h:
            pad = np.full((h - im.shape[0],) + im.shape[1:], background, im.dtype)
            im = np.concatenate([im, pad], axis=0)
        parts.append(im)
        if i < len(images) - 1 and gap > 0:
            parts.append(np.full((h, gap) + im.shape[2:], background, im.dtype))
    return np.concatenate(parts, axis=1)


def mask_center(mask: np.ndarray) -> tuple[float, float]:
    """The point deepest inside the mask, as fractions (x, y) of the size.

    The loupe starts there: in the middle of the skin (a cheek or the nose),
    not on an edge or an eye. The image centre when the mask is empty.
    """
    m = np.asarray(mask, np.float32)
    small, _ = downscale(m, 256)
    inside = (small > 0.5).astype(np.uint8)
    if not inside.any():
        return 0.5, 0.5
    depth = cv2.distanceTransform(np.pad(inside, 1), cv2.DIST_L2, 5)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(depth)), depth.shape)
    h, w = small.shape
    return (x + 0.5) / w, (y + 0.5) / h


def loupe_start(faces, mask: np.ndarray) -> tuple[float, float]:
    """Where the loupe opens, as fractions (x, y): the centre of the largest face's
    cheek when a face was found (pores show best there), else :func:`mask_center`."""
    h, w = mask.shape[:2]
    for face in faces or ():
        for name in ("left_cheek", "right_cheek"):
            poly = getattr(face, "regions", {}).get(name)
            if poly is not None and len(poly) >= 3:
                cx, cy = np.asarray(poly, np.float64).mean(axis=0)
                if 0 <= cx < w and 0 <= cy < h:
                    return float(cx / w), float(cy / h)
    return mask_center(mask)


def blemish_overlay(image: np.ndarray, protection: np.ndarray | None, color=BLEMISH_RGB,
                    level: float = BLEMISH_LEVEL, opacity: float = 0.55) -> np.ndarray:
    """A display image with the kept-clean places tinted and outlined.

    Parameters
    ----------
    image : ndarray uint8 (H, W, 3)
        A display image (before/after, preview).
    protection : ndarray (h, w) or None
        :attr:`RestorePlan.protection`; resized to the image when its size differs.
    color : RGB tuple
    level : float
        Protection below this counts as kept clean.
    opacity : float
        Tint strength where the protection is 0.

    Returns
    -------
    ndarray uint8 (H, W, 3): a copy (the image itself when there is nothing to show).
    """
    img = to_display(image)
    if protection is None:
        return img
    p = np.asarray(protection, np.float32)
    h, w = img.shape[:2]
    if p.shape != (h, w):
        p = cv2.resize(p, (w, h), interpolation=cv2.INTER_AREA)
    kept = p < level
    if not kept.any():
        return img
    a = (np.clip(1.0 - p, 0.0, 1.0) * np.float32(opacity) * kept)[..., None]
    tint = np.asarray(color, np.float32)[None, None, :]
    out = np.clip(img.astype(np.float32) * (1 - a) + tint * a + 0.5, 0, 255).astype(np.uint8)
    # An outline a little outside each place: small spots stay visible on a preview.
    ring = cv2.dilate(kept.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7)))
    contours, _ = cv2.findContours(ring, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(out, contours, -1, tuple(int(c) for c in color), 1, lineType=cv2.LINE_AA)
    return out


# --- The texture spectrum as the page draws it ----------------------------------------------------

def band_label(inner: float, scale: float = 1.0) -> str:
    """``"0.5-1 px"``: a band of inner sigma ``inner`` px on a copy at ``scale`` x
    the full size, labelled in full-size pixels."""
    lo, hi = inner / scale, 2 * inner / scale

    def fmt(v: float) -> str:
        return f"{v:.2g}" if v < 10 else f"{v:.0f}"

    return f"{fmt(lo)}-{fmt(hi)} px"


def spectrum_rows(report: dict, scale: float = 1.0) -> list[dict]:
    """One row per band of a :func:`processing.spectrum.spectrum_report`:
    ``{"Band", "Position", "AI-retouched", "Restored"}``, bands labelled in full-size px.

    ``Position`` is the band's index on the octave ladder (band ``k`` spans
    ``[k, k + 1]``): :func:`ladder_position` puts a cut-off on the same axis.
    """
    rows = []
    for k, s in enumerate(report["scales_px"]):
        ai = report["ai"][k]
        res = report.get("result", [float("nan")] * len(report["ai"]))[k]
        rows.append({"Band": band_label(s, scale), "Position": float(k),
                     "AI-retouched": None if not np.isfinite(ai) else float(ai),
                     "Restored": None if not np.isfinite(res) else float(res)})
    return rows


def ladder_position(radius: float, scales=None) -> float:
    """Where a radius (px, on the same copy as the spectrum) sits on the band axis of
    :func:`spectrum_rows`: band ``k`` spans ``[k, k + 1]``, one octave each."""
    if scales is None:
        from processing.spectrum import LADDER as scales
    return float(np.log2(max(radius, 1e-6) / scales[0]))


# --- Text ---------------------------------------------------------------------------------------------

# Every ASCII punctuation character: CommonMark lets each be backslash-escaped.
_MARKDOWN_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


def plain(text) -> str:
    """``text`` for Streamlit's Markdown (st.markdown, captions, alerts) shown as typed.

    File names and messages are data, not formatting: every ASCII punctuation
    character is backslash-escaped and line breaks become spaces, so a name like
    ``![px](http:host?t) a.png`` stays text instead of becoming an image that
    calls a remote host, and ``*``, ``_``, ``$`` or ``:red[...]`` stay literal.
    """
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", " ".join(str(text).splitlines()))

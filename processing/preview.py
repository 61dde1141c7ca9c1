"""Display helpers for the web app: downscaled previews, 1:1 loupes, comparisons.

A 24 MP photo cannot be shown, nor restored at every slider move, at full size:
previews are computed on a copy whose long side is a display size, and the
loupe shows a small window at full resolution, where pores are visible. Pure
numpy and OpenCV.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np


from processing.image_io import to_uint8
from processing.settings import RANGES
from processing.tiles import mask_to_float

#: Long side of the downscaled previews, in pixels.
PREVIEW_SIDE = 1400


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
    img = to_uint8(np.asarray(image))
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return np.ascontiguousarray(img[..., :3])


def encode_png(image: np.ndarray, compression: int = 1) -> bytes:
    """Fast PNG bytes of an 8-bit RGB or gray display image (low compression: speed first)."""
    img = np.asarray(image)
    if img.dtype != np.uint8:
        img = to_uint8(img)
    if img.ndim == 3:
        img = cv2.cvtColor(img[..., :3], cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, int(compression)])
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


def scaled_settings(settings, scale: float):
    """Settings for a preview at ``scale`` x the full size: pixel radii scaled, kept in range.

    Graft radius, frequency-separation blur and grain size are in full-size
    pixels; on a copy shrunk by ``scale`` they shrink with it, so the preview
    shows the same structures as the full-size result, only smaller.
    """
    if scale >= 1.0:
        return settings
    section = getattr(settings, "section", "")
    changes = {}
    for name in ("radius", "blur", "grain_size", "cutoff"):
        if hasattr(settings, name) and name in RANGES.get(section, {}):
            lo, hi, _ = RANGES[section][name]
            value = getattr(settings, name)
            if name == "cutoff" and value == 0:
                continue  # 0 = automatic: measured on the preview itself
            changes[name] = float(min(hi, max(lo, value * scale)))
    return dataclasses.replace(settings, **changes) if changes else settings


def scale_faces(faces, scale: float):
    """Face polygons (:class:`processing.skin_mask.FaceMask`) moved onto a copy shrunk by ``scale``."""
    if scale == 1.0 or not faces:
        return list(faces)
    out = []
    for f in faces:
        x0, y0, x1, y1 = f.bbox
        out.append(dataclasses.replace(
            f, oval=f.oval * np.float32(scale),
            holes={k: v * np.float32(scale) for k, v in f.holes.items()},
            regions={k: v * np.float32(scale) for k, v in f.regions.items()},
            bbox=(int(x0 * scale), int(y0 * scale), int(np.ceil(x1 * scale)), int(np.ceil(y1 * scale))),
            landmarks=f.landmarks * np.float32(scale), height=f.height * scale))
    return out


def loupe_window(shape, center: tuple[float, float], size: int) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of a ``size`` x ``size`` window centred on ``center``,
    moved inside the image (and shrunk if the image is smaller).

    Parameters
    ----------
    shape : tuple
        Image shape (H, W, ...).
    center : (x, y)
        Fractions of the width and height in [0, 1].
    size : int
        Window side in pixels.
    """
    h, w = shape[:2]
    sw, sh = min(size, w), min(size, h)
    cx, cy = float(center[0]) * w, float(center[1]) * h
    x0 = int(round(min(max(cx - sw / 2, 0), w - sw)))
    y0 = int(round(min(max(cy - sh / 2, 0), h - sh)))
    return x0, y0, x0 + sw, y0 + sh


def window_mask(mask: np.ndarray, window: tuple[int, int, int, int]) -> np.ndarray:
    """The mask kept only inside ``window`` (x0, y0, x1, y1), zero elsewhere.

    Restoring with it computes only the window (the methods skip the rest) yet
    gives there exactly the pixels of a whole-image restore.
    """
    x0, y0, x1, y1 = window
    out = np.zeros(mask.shape, np.float32)
    out[y0:y1, x0:x1] = mask[y0:y1, x0:x1]
    return out


def crop(image: np.ndarray, window: tuple[int, int, int, int]) -> np.ndarray:
    """``image[y0:y1, x0:x1]`` for a window (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = window
    return image[y0:y1, x0:x1]


def enlarge(image: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour enlargement (each pixel a ``factor`` x ``factor`` block): pores stay crisp."""
    if factor <= 1:
        return image
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def frame_box(image: np.ndarray, window: tuple[int, int, int, int], scale: float,
              color=(255, 200, 0), thickness: int = 2) -> np.ndarray:
    """A copy of a display image with the full-size ``window`` outlined (at ``scale``)."""
    out = np.ascontiguousarray(image.copy())
    x0, y0, x1, y1 = (int(round(v * scale)) for v in window)
    x1, y1 = max(x1, x0 + 2), max(y1, y0 + 2)
    cv2.rectangle(out, (x0, y0), (x1 - 1, y1 - 1), color, thickness)
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


def png_data_url(png: bytes) -> str:
    """A ``data:image/png;base64,...`` URL of PNG bytes.

    The web app hands its images to the browser inline: no second request
    to a media endpoint, and the picture changes exactly when its URL does.
    """
    import base64

    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


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


# --- Restore with its plan: what the page shows besides the pixels -------------------------------

#: Tint of the places where a removed blemish was kept clean (RGB, magenta: no skin tone).
BLEMISH_RGB = (235, 0, 200)
#: A pixel counts as "kept clean" where the protection weight is below this.
BLEMISH_LEVEL = 0.5
#: Settings that change only how much texture goes back, never where: a plan made
#: with other values of these is still valid.
_AMOUNT_FIELDS = {"strength": 100.0, "shadows": 0.0, "highlights": 100.0}


@dataclasses.dataclass
class RestorePlan:
    """What a restore decides from the whole mask before it touches a pixel.

    Attributes
    ----------
    mask : ndarray (H, W) or None
        The mask to restore with. For graft and frequency separation the
        removed-blemish protection is folded in (restore with ``blemish=0``).
    match : MatchPlan or None
        Match mode's plan (cut-off, weights), None for the other methods or an empty mask.
    protection : ndarray float32 (H, W) or None
        Full-frame blemish protection: 1 = texture goes back, 0 = a removed blemish
        is kept clean. None when protection is off or found nothing.
    """

    mask: np.ndarray | None
    match: object | None
    protection: np.ndarray | None


def plan_settings(settings):
    """``settings`` with strength and shadow/highlight protection set to neutral values.

    Two settings with the same :func:`plan_settings` share a :class:`RestorePlan`
    (the page caches the full-size plan on it).
    """
    changes = {k: v for k, v in _AMOUNT_FIELDS.items() if hasattr(settings, k)}
    return dataclasses.replace(settings, **changes) if changes else settings


def restore_plan(original: np.ndarray | None, ai: np.ndarray, mask: np.ndarray | None, settings,
                 faces=()) -> RestorePlan:
    """Decide cut-off, weights and blemish protection of a restore from the whole mask.

    Match mode's automatic cut-off and every method's blemish statistics depend
    on the whole mask: a loupe that restores only a window must use the plan
    of the whole image, or it shows other pixels than the full-size result.

    Parameters
    ----------
    original, ai : ndarray, same shape
    mask : ndarray (H, W) or None
    settings : any method's settings
    faces : FaceMask list, for match mode's regional strength
    """
    from processing.settings import FreqSepSettings, GraftSettings, MatchSettings

    if isinstance(settings, MatchSettings):
        from processing.match import plan_match

        plan = plan_match(original, ai, mask, settings, faces)
        protection = None
        if plan is not None and plan.blemish is not None:
            protection = plan.full(plan.blemish, ai.shape)
        return RestorePlan(mask, plan, protection)
    if isinstance(settings, (GraftSettings, FreqSepSettings)) and settings.blemish > 0 and original is not None:
        from processing.graft import with_blemish_protection

        radius = settings.radius if isinstance(settings, GraftSettings) else settings.blur
        protected = with_blemish_protection(original, ai, mask, settings.blemish, radius)
        if protected is mask:
            return RestorePlan(mask, None, None)
        if mask is None:
            return RestorePlan(protected, None, np.asarray(protected, np.float32))
        m = mask_to_float(np.asarray(mask))
        with np.errstate(divide="ignore", invalid="ignore"):
            protection = np.where(m > 0, protected / np.maximum(m, 1e-12), 1.0).astype(np.float32)
        return RestorePlan(protected, None, np.clip(protection, 0.0, 1.0))
    return RestorePlan(mask, None, None)


def restore_planned(original: np.ndarray | None, ai: np.ndarray, settings, plan: RestorePlan,
                    faces=(), window: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """The restore ``plan`` was made for, with ``settings`` (whose amounts may have changed).

    Gives exactly :func:`processing.restore.restore` ``(original, ai, mask,
    settings, faces)`` for the mask the plan was made from.

    Parameters
    ----------
    window : (x0, y0, x1, y1), optional
        Restore only there (a 1:1 loupe): graft, frequency separation and grain
        then give exactly the whole-image pixels inside the window. Match mode
        ignores it and restores the whole image (its wide swap runs on a reduced
        copy whose grid depends on the area restored, so a window would be off by
        1 level in places): crop the result, or cache it, as the page does.
    """
    from processing.restore import restore
    from processing.settings import FreqSepSettings, GraftSettings, MatchSettings

    if isinstance(settings, MatchSettings):
        from processing.match import texture_match

        if plan.match is None:
            return ai.copy()
        return texture_match(original, ai, plan.mask, settings, faces, plan=plan.match)
    mask = plan.mask
    if isinstance(settings, (GraftSettings, FreqSepSettings)) and settings.blemish > 0:
        settings = dataclasses.replace(settings, blemish=0.0)  # folded into plan.mask
    if window is not None:
        mask = window_mask(np.ones(ai.shape[:2], np.float32) if mask is None else mask_to_float(np.asarray(mask)), window)
    return restore(original, ai, mask, settings, faces=faces)


def blemish_spots(protection: np.ndarray | None, level: float = BLEMISH_LEVEL) -> int:
    """How many separate places a removed blemish was kept clean (protection below ``level``)."""
    if protection is None:
        return 0
    kept = (np.asarray(protection, np.float32) < level).astype(np.uint8)
    if not kept.any():
        return 0
    n, _ = cv2.connectedComponents(kept)
    return int(n - 1)


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

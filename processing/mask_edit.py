"""Hand edits of the skin mask: brush strokes from the web app's canvas.

The mask editor shows the photo on a canvas of a fixed pixel size (a few
hundred pixels across) while the mask lives at the photo's full resolution.
Each brush stroke arrives as a Fabric.js ``path`` object in canvas pixels; it
is mapped here onto the full-resolution grid and painted in order: an "add"
stroke sets the mask to 1 under the brush, an "erase" stroke sets it to 0.
The canvas has no eraser, so the two brushes are told apart by their colour.

Undo drops the last stroke, reset drops them all; the automatic mask itself is
never changed, so both are exact. Pure numpy and OpenCV.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import cv2
import numpy as np

#: Brush colours on the canvas (semi-transparent so the photo shows through).
ADD_COLOR = "rgba(0, 200, 90, 0.55)"
ERASE_COLOR = "rgba(230, 40, 70, 0.55)"
#: Tint of the mask in the overlay image (RGB).
OVERLAY_RGB = (0, 200, 90)

_RGB_RE = re.compile(r"rgba?\(\s*([\d.]+)\s*,\s*([\d.]+)\s*,\s*([\d.]+)")


@dataclass(frozen=True)
class Stroke:
    """One brush stroke in canvas pixels.

    Attributes
    ----------
    mode : {'add', 'erase'}
        What the stroke does to the mask.
    width : float
        Brush diameter in canvas pixels.
    points : ndarray, float32, shape (N, 2)
        The stroke's centre line, (x, y) in canvas pixels, N >= 1.
    """

    mode: str
    width: float
    points: np.ndarray


def parse_color(color) -> tuple[int, int, int] | None:
    """RGB of a CSS colour written as ``#rrggbb``, ``#rgb``, ``rgb(...)`` or ``rgba(...)``.

    Returns None for anything else (named colours are not needed here).
    """
    if not isinstance(color, str):
        return None
    text = color.strip().lower()
    if text.startswith("#"):
        hexa = text[1:]
        if len(hexa) in (3, 4):
            hexa = "".join(c * 2 for c in hexa[:3])
        if len(hexa) >= 6:
            try:
                return int(hexa[0:2], 16), int(hexa[2:4], 16), int(hexa[4:6], 16)
            except ValueError:
                return None
        return None
    m = _RGB_RE.match(text)
    if m:
        return tuple(int(round(float(v))) for v in m.groups())  # type: ignore[return-value]
    return None


def stroke_mode(color, add_color: str = ADD_COLOR, erase_color: str = ERASE_COLOR) -> str | None:
    """'add' or 'erase' for a stroke colour: the nearer of the two brush colours.

    Returns None when the colour cannot be read.
    """
    rgb = parse_color(color)
    if rgb is None:
        return None
    add, erase = parse_color(add_color), parse_color(erase_color)
    d_add = sum((a - b) ** 2 for a, b in zip(rgb, add))
    d_erase = sum((a - b) ** 2 for a, b in zip(rgb, erase))
    return "add" if d_add <= d_erase else "erase"


def _path_points(path) -> np.ndarray:
    """Vertices of a Fabric.js SVG-like path (M, L, Q, C commands; control points kept)."""
    pts = []
    for cmd in path or []:
        if not cmd or not isinstance(cmd, (list, tuple)):
            continue
        nums = [float(v) for v in cmd[1:] if isinstance(v, (int, float))]
        for i in range(0, len(nums) - 1, 2):
            pts.append((nums[i], nums[i + 1]))
    return np.asarray(pts, np.float32).reshape(-1, 2)


def _object_transform(obj: dict, pts: np.ndarray) -> np.ndarray:
    """Apply a moved/scaled object's transform (edit mode) to its path points.

    A freshly drawn path has its points in canvas pixels already. Once moved
    or scaled, Fabric keeps the points and changes ``left``/``top``/``scaleX``/
    ``scaleY``/``angle``: canvas = centre + R S (p - pathOffset).
    """
    if len(pts) == 0:
        return pts
    sx, sy = float(obj.get("scaleX", 1) or 1), float(obj.get("scaleY", 1) or 1)
    angle = float(obj.get("angle", 0) or 0)
    offset = obj.get("pathOffset")
    if isinstance(offset, dict) and "x" in offset and "y" in offset:
        po = np.array([float(offset["x"]), float(offset["y"])], np.float32)
    else:
        po = (pts.min(axis=0) + pts.max(axis=0)) / 2
    if "left" not in obj or "top" not in obj:
        return pts
    w = float(obj.get("width", 0) or 0) * sx
    h = float(obj.get("height", 0) or 0) * sy
    ox = {"left": 0.0, "center": 0.5, "right": 1.0}.get(obj.get("originX", "left"), 0.0)
    oy = {"top": 0.0, "center": 0.5, "bottom": 1.0}.get(obj.get("originY", "top"), 0.0)
    if not w or not h:
        # No size to find the centre from: trust the points.
        return pts
    t = np.deg2rad(angle)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]], np.float32)
    # The origin point (left, top) sits at (ox, oy) of the rotated box.
    to_origin = rot @ np.array([(ox - 0.5) * w, (oy - 0.5) * h], np.float32)
    centre = np.array([float(obj["left"]), float(obj["top"])], np.float32) - to_origin
    local = (pts - po) * np.array([sx, sy], np.float32)
    return local @ rot.T + centre


def strokes_from_fabric(json_data, add_color: str = ADD_COLOR,
                        erase_color: str = ERASE_COLOR) -> list[Stroke]:
    """Brush strokes, in drawing order, from the canvas's Fabric.js JSON.

    Parameters
    ----------
    json_data : dict or list or None
        ``CanvasResult.json_data`` (a dict with ``"objects"``) or the list of
        objects itself. Objects other than freehand paths are ignored.
    add_color, erase_color : str
        The two brush colours; each stroke goes to the nearer one.

    Returns
    -------
    list of Stroke
    """
    if json_data is None:
        return []
    objects = json_data.get("objects", []) if isinstance(json_data, dict) else json_data
    strokes = []
    for obj in objects or []:
        if not isinstance(obj, dict) or obj.get("type", "").lower() != "path":
            continue
        mode = stroke_mode(obj.get("stroke"), add_color, erase_color)
        pts = _path_points(obj.get("path"))
        if mode is None or len(pts) == 0:
            continue
        pts = _object_transform(obj, pts)
        width = float(obj.get("strokeWidth", 1) or 1) * float(obj.get("scaleX", 1) or 1)
        strokes.append(Stroke(mode=mode, width=width, points=pts))
    return strokes


def apply_strokes(mask: np.ndarray, strokes, canvas_size: tuple[int, int]) -> np.ndarray:
    """Paint canvas strokes onto a full-resolution mask, in order.

    Parameters
    ----------
    mask : ndarray, float32, shape (H, W)
        The mask to start from (the automatic proposal), values in [0, 1].
        It is not modified.
    strokes : iterable of Stroke
        In canvas pixels: 'add' sets the mask to 1 under the brush, 'erase' to 0.
    canvas_size : (width, height)
        Size of the canvas the strokes were drawn on; it covers the whole image,
        so canvas (x, y) maps to (x * W / width, y * H / height).

    Returns
    -------
    ndarray, float32, shape (H, W)
        A new mask; a copy of ``mask`` when there are no strokes.
    """
    out = np.array(mask, dtype=np.float32, copy=True)
    h, w = out.shape[:2]
    cw, ch = canvas_size
    if cw <= 0 or ch <= 0:
        raise ValueError(f"canvas size must be positive, got {canvas_size}")
    sx, sy = w / float(cw), h / float(ch)
    shift = 4  # sub-pixel precision bits for cv2 drawing
    for stroke in strokes:
        pts = np.asarray(stroke.points, np.float64).reshape(-1, 2) * (sx, sy)
        # Canvas pixel centres sit at +0.5: map edges onto edges.
        thickness = max(1, int(round(stroke.width * (sx + sy) / 2)))
        radius = thickness / 2.0
        x0 = int(max(0, np.floor(pts[:, 0].min() - radius - 2)))
        y0 = int(max(0, np.floor(pts[:, 1].min() - radius - 2)))
        x1 = int(min(w, np.ceil(pts[:, 0].max() + radius + 2)))
        y1 = int(min(h, np.ceil(pts[:, 1].max() + radius + 2)))
        if x1 <= x0 or y1 <= y0:
            continue
        layer = np.zeros((y1 - y0, x1 - x0), np.uint8)
        local = np.round((pts - (x0, y0) - 0.5) * (1 << shift)).astype(np.int32)
        if len(local) == 1:
            cv2.circle(layer, tuple(int(v) for v in local[0]), int(round(radius * (1 << shift))),
                       255, -1, cv2.LINE_8, shift)
        else:
            cv2.polylines(layer, [local.reshape(-1, 1, 2)], False, 255, thickness, cv2.LINE_8, shift)
            # Round caps at both ends, like the brush.
            for end in (local[0], local[-1]):
                cv2.circle(layer, tuple(int(v) for v in end), int(round(radius * (1 << shift))),
                           255, -1, cv2.LINE_8, shift)
        view = out[y0:y1, x0:x1]
        view[layer > 0] = 1.0 if stroke.mode == "add" else 0.0
    return out


def overlay(image: np.ndarray, mask: np.ndarray, color=OVERLAY_RGB, opacity: float = 0.45) -> np.ndarray:
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
        raise ValueError("overlay expects a uint8 display image")
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


def coverage(mask: np.ndarray) -> float:
    """Share of the image covered by the mask, in per cent (soft edges count partly)."""
    m = np.asarray(mask, np.float32)
    return float(m.mean() * 100.0) if m.size else 0.0


def mask_to_png_pixels(mask: np.ndarray) -> np.ndarray:
    """The mask as 8-bit gray (0 = untouched, 255 = full effect) for a PNG download."""
    return (np.clip(np.asarray(mask, np.float32), 0, 1) * 255 + 0.5).astype(np.uint8)


def edited_mask(automatic: np.ndarray, strokes, canvas_size: tuple[int, int],
                coverage_map: np.ndarray | None = None) -> np.ndarray:
    """The mask the restore uses: the automatic one, the user's strokes on top, and
    (after alignment) zero where the original does not cover the AI image.

    Parameters
    ----------
    automatic : ndarray, float32, shape (H, W)
    strokes : iterable of Stroke
        In canvas pixels, applied in order.
    canvas_size : (width, height)
    coverage_map : ndarray, float32, shape (H, W), optional
        :attr:`processing.align.Alignment.coverage`.
    """
    out = apply_strokes(automatic, strokes, canvas_size)
    if coverage_map is not None:
        out *= np.asarray(coverage_map, np.float32)
    return out

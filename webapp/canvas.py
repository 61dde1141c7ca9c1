"""The mask-editor canvas: drawing strokes in the browser and reading them back.

AppTest cannot drive custom components, so the page calls
:func:`draw_mask_strokes` through this module; logic tests monkeypatch it (or
set ``st.session_state["_fake_canvas_objects"]``) to hand the page a list of
Fabric.js objects as if the user had drawn them. The real canvas is tested in
the browser. Each brush stroke arrives as a Fabric.js ``path`` object in canvas
pixels; the canvas has no eraser, so the two brushes are told apart by colour.
"""

from __future__ import annotations

import re

import numpy as np
import streamlit as st

from processing.mask_strokes import Stroke

#: Brush colours on the canvas (semi-transparent so the photo shows through).
ADD_COLOR = "rgba(0, 200, 90, 0.55)"
ERASE_COLOR = "rgba(230, 40, 70, 0.55)"

_RGB_RE = re.compile(r"rgba?\(\s*([\d.]+)\s*,\s*([\d.]+)\s*,\s*([\d.]+)")
FAKE_KEY = "_fake_canvas_objects"


def draw_mask_strokes(background, width: int, height: int, stroke_color: str, stroke_width: int,
                      initial_objects: list, key: str) -> list | None:
    """Show the drawing canvas and return its Fabric.js objects, in drawing order.

    Parameters
    ----------
    background : str or PIL.Image.Image
        The photo with the mask tinted over it, already at ``width`` x ``height``
        (a data URL is sent as it is; an image is encoded at every run).
    width, height : int
        Canvas size in pixels (the strokes come back in these coordinates).
    stroke_color : str
        The brush colour: it tells an "add" stroke from an "erase" one.
    stroke_width : int
        Brush diameter in canvas pixels.
    initial_objects : list
        Strokes to draw at mount (after undo/reset the page remounts the canvas).
    key : str
        Widget key; the page changes it to remount the canvas.

    Returns
    -------
    list of dict or None
        The objects on the canvas, or None before the canvas has sent anything.
    """
    if FAKE_KEY in st.session_state:
        return list(st.session_state[FAKE_KEY])
    from streamlit_drawable_canvas import st_canvas

    result = st_canvas(
        fill_color="rgba(0, 0, 0, 0)",
        stroke_width=int(stroke_width),
        stroke_color=stroke_color,
        background_image=background,
        initial_drawing={"version": "5.3.0", "objects": list(initial_objects)},
        drawing_mode="freedraw",
        update_streamlit=True,
        width=int(width),
        height=int(height),
        return_image_data=False,
        key=key,
    )
    data = result.json_data
    if not data:
        return None
    return list(data.get("objects", []))


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

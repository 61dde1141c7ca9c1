"""The mask-editor canvas, behind one function that tests can replace.

AppTest cannot drive custom components, so the page calls
:func:`draw_mask_strokes` through this module; logic tests monkeypatch it (or
set ``st.session_state["_fake_canvas_objects"]``) to hand the page a list of
Fabric.js objects as if the user had drawn them. The real canvas is tested in
the browser.
"""

from __future__ import annotations

import streamlit as st

FAKE_KEY = "_fake_canvas_objects"


def draw_mask_strokes(background, width: int, height: int, stroke_color: str, stroke_width: int,
                      initial_objects: list, key: str) -> list | None:
    """Show the drawing canvas and return its Fabric.js objects, in drawing order.

    Parameters
    ----------
    background : PIL.Image.Image
        The photo with the mask tinted over it, already at ``width`` x ``height``.
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

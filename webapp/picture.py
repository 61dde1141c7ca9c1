"""The large picture: clicked to inspect a spot at 1:1, dragged to move the before/after split.

The clicks come from `streamlit-image-coordinates` (a well-kept component:
it reports where on the shown image the mouse went down and came up).
AppTest cannot drive a custom component, so logic tests hand the page a
gesture through ``st.session_state[FAKE_KEY]``, in the component's own form;
the real one is tested in the browser.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import streamlit as st

FAKE_KEY = "_fake_picture_gesture"
#: Mouse travel (screen px) below which a press and release is a click, not a drag.
DRAG_PX = 6


@dataclass(frozen=True)
class PictureLayout:
    """How the picture on the page maps back to the photo.

    ``panels`` are the (x0, x1) column ranges, in picture pixels, of each copy
    of the photo in the picture (one, or two side by side); every copy shows
    the whole photo of ``photo_size`` = (width, height).
    """

    size: tuple[int, int]
    panels: tuple[tuple[int, int], ...]
    photo_size: tuple[int, int]

    def to_photo(self, fx: float, fy: float) -> tuple[float, float] | None:
        """The photo pixel (x, y) under a point at fractions (fx, fy) of the picture's
        shown width and height; None between panels."""
        x, y = fx * self.size[0], fy * self.size[1]
        for x0, x1 in self.panels:
            if x0 <= x < x1:
                pw, ph = self.photo_size
                return (x - x0) * pw / (x1 - x0), y * ph / self.size[1]
        return None


@dataclass(frozen=True)
class Gesture:
    """What the user did on the picture: a click at a photo pixel, or a drag that ended
    at a fraction of the picture's width."""

    kind: str  # "click" or "drag"
    point: tuple[float, float] | None = None
    end_fraction: float | None = None


def read_gesture(value: dict | None, layout: PictureLayout) -> Gesture | None:
    """The component's value (``x1, y1, x2, y2, width, height``: where the mouse went
    down and up, in shown pixels) as a :class:`Gesture`, or None."""
    if not value or not value.get("width") or not value.get("height"):
        return None
    w, h = float(value["width"]), float(value["height"])
    x1, y1 = float(value.get("x1", 0)), float(value.get("y1", 0))
    x2, y2 = float(value.get("x2", x1)), float(value.get("y2", y1))
    if abs(x2 - x1) > DRAG_PX or abs(y2 - y1) > DRAG_PX:
        return Gesture("drag", end_fraction=min(max(x2 / w, 0.0), 1.0))
    point = layout.to_photo(min(max(x1 / w, 0.0), 1.0 - 1e-9), min(max(y1 / h, 0.0), 1.0 - 1e-9))
    return None if point is None else Gesture("click", point=point)


def take_fake_gesture() -> dict | None:
    """A gesture a logic test put in the session (once), or None."""
    return st.session_state.pop(FAKE_KEY, None)


class EncodedPNG:
    """A picture already encoded as PNG, handed to the component where it takes a
    PIL image: it calls ``save`` on it (``streamlit_image_coordinates`` 0.4), and
    gets the bytes :func:`webapp.display.encode_png` made (half the time Pillow takes)."""

    def __init__(self, png: bytes):
        self.png = png

    def save(self, fp, format: str = "PNG", **_options) -> None:  # noqa: A002 - PIL's signature
        if str(format).upper() != "PNG":
            raise ValueError(f"The picture is PNG, not {format}.")
        fp.write(self.png)


def show_picture(image: np.ndarray, key: str, on_change: Callable[[], None]) -> None:
    """Show the picture across the page's width; ``on_change`` runs (before the page's
    next run) when the user clicks or drags on it, with the value in ``st.session_state[key]``."""
    from streamlit_image_coordinates import streamlit_image_coordinates

    from webapp.display import encode_png

    # PNG, not JPEG: the texture is what is judged.
    streamlit_image_coordinates(EncodedPNG(encode_png(image)), width="stretch", key=key, click_and_drag=True,
                                image_format="PNG", on_click=on_change, cursor="crosshair")

"""Clicks and drags on the picture, mapped back to the photo (webapp.picture), against arithmetic here."""

import pytest

from webapp.picture import DRAG_PX, PictureLayout, read_gesture

# Two 1000 x 500 photos side by side with an 8 px gap, sent at 2008 x 500 and shown at half size.
SIDE = PictureLayout(size=(2008, 500), panels=((0, 1000), (1008, 2008)), photo_size=(4000, 2000))


def test_a_click_on_either_panel_is_the_same_photo_pixel():
    left = read_gesture({"x1": 100, "y1": 50, "x2": 100, "y2": 50, "width": 1004, "height": 250}, SIDE)
    right = read_gesture({"x1": 504 + 100, "y1": 50, "x2": 504 + 100, "y2": 50, "width": 1004, "height": 250},
                         SIDE)
    assert left.kind == right.kind == "click"
    assert left.point == pytest.approx((100 * 2 * 4, 50 * 2 * 4))
    assert right.point == pytest.approx(left.point)


def test_between_the_panels_nothing_and_outside_clamped():
    assert read_gesture({"x1": 501, "y1": 10, "width": 1004, "height": 250}, SIDE) is None
    one = PictureLayout(size=(800, 600), panels=((0, 800),), photo_size=(4000, 3000))
    g = read_gesture({"x1": 900, "y1": -5, "width": 800, "height": 600}, one)
    assert g.point[0] < 4000 and g.point[1] == 0


def test_a_drag_is_told_from_a_click_by_the_mouse_travel():
    one = PictureLayout(size=(800, 600), panels=((0, 800),), photo_size=(800, 600))
    still = read_gesture({"x1": 100, "y1": 100, "x2": 100 + DRAG_PX, "y2": 100, "width": 800, "height": 600}, one)
    moved = read_gesture({"x1": 100, "y1": 100, "x2": 101 + DRAG_PX + 500, "y2": 90, "width": 800, "height": 600},
                         one)
    assert still.kind == "click" and still.point == (100, 100)
    assert moved.kind == "drag" and moved.end_fraction == pytest.approx((101 + DRAG_PX + 500) / 800)
    beyond = read_gesture({"x1": 100, "y1": 100, "x2": 2000, "y2": 100, "width": 800, "height": 600}, one)
    assert beyond.end_fraction == 1.0
    assert read_gesture(None, one) is None and read_gesture({"x1": 1, "y1": 1, "width": 0, "height": 0}, one) is None


def test_the_picture_reaches_the_component_as_the_png_made_for_it(monkeypatch):
    """The picture goes to the click component already encoded (webapp.display.encode_png):
    the component's image source is exactly that PNG, and it decodes to the picture."""
    import base64

    import cv2
    import numpy as np
    import streamlit_image_coordinates as component

    from webapp.display import encode_png
    from webapp.picture import show_picture

    sent = {}
    monkeypatch.setattr(component, "_component_func", lambda **kw: sent.update(kw))
    image = np.random.default_rng(3).integers(0, 256, (30, 47, 3), dtype=np.uint8)
    show_picture(image, "picture", lambda: None)
    head, data = sent["src"].split(",", 1)
    png = base64.b64decode(data)
    assert head == "data:image/png;base64" and png == encode_png(image)
    decoded = cv2.cvtColor(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    assert np.array_equal(decoded, image)

"""Reading the mask editor's strokes out of the canvas, and replaying them on the full-size mask."""

import numpy as np

from processing.mask_strokes import apply_strokes
from webapp.canvas import ADD_COLOR, ERASE_COLOR, parse_color, stroke_mode, strokes_from_fabric


def path_obj(points, color, width):
    path = [["M", *points[0]]] + [["Q", *points[i], *points[i]] for i in range(1, len(points) - 1)] \
        + [["L", *points[-1]]]
    return {"type": "path", "stroke": color, "strokeWidth": width, "path": path}


def test_parse_and_classify_colors():
    assert parse_color("#ff0000") == (255, 0, 0)
    assert parse_color("#0f0") == (0, 255, 0)
    assert parse_color("rgba(1, 2, 3, 0.5)") == (1, 2, 3)
    assert parse_color("blue") is None
    assert stroke_mode(ADD_COLOR) == "add"
    assert stroke_mode(ERASE_COLOR) == "erase"
    assert stroke_mode("#00ff00") == "add"


def test_strokes_map_canvas_to_full_resolution_in_order():
    auto = np.zeros((400, 800), np.float32)
    objs = [path_obj([(10, 50), (90, 50)], ADD_COLOR, 20),     # canvas 100 x 50
            path_obj([(50, 40), (50, 60)], ERASE_COLOR, 10),
            {"type": "rect", "stroke": ADD_COLOR}]               # ignored
    strokes = strokes_from_fabric({"objects": objs})
    assert [s.mode for s in strokes] == ["add", "erase"]
    out = apply_strokes(auto, strokes, (100, 50))
    assert out.shape == auto.shape and auto.max() == 0  # input untouched
    # Canvas (10..90, 50) at 8x: full-res x 80..720, y 400 -> bottom edge; width 20 -> 160 px
    assert out[390, 200] == 1.0 and out[390, 600] == 1.0
    assert out[390, 400] == 0.0  # the erase stroke at canvas x=50 -> 400 cut through it
    assert out[100, 400] == 0.0
    # Order matters: erase then add keeps the add.
    out2 = apply_strokes(auto, strokes[::-1], (100, 50))
    assert out2[390, 400] == 1.0


def test_undo_and_reset_are_exact():
    rng = np.random.default_rng(0)
    auto = rng.random((120, 160)).astype(np.float32)
    assert np.array_equal(apply_strokes(auto, [], (64, 48)), auto)
    one = strokes_from_fabric([path_obj([(5, 5), (30, 30)], ERASE_COLOR, 6)])
    assert not np.array_equal(apply_strokes(auto, one, (64, 48)), auto)


def test_single_point_stroke_and_moved_object():
    auto = np.zeros((100, 100), np.float32)
    dot = [{"type": "path", "stroke": ADD_COLOR, "strokeWidth": 10, "path": [["M", 50, 50]]}]
    out = apply_strokes(auto, strokes_from_fabric(dot), (100, 100))
    assert out[50, 50] == 1.0 and out[50, 58] == 0.0
    # A path moved in edit mode: points unchanged, left/top moved by +20 px.
    obj = path_obj([(10, 10), (30, 10)], ADD_COLOR, 4)
    obj.update({"left": 28, "top": 28, "width": 24, "height": 4, "pathOffset": {"x": 20, "y": 10},
                "originX": "left", "originY": "top"})
    (s,) = strokes_from_fabric([obj])
    assert np.allclose(s.points[:, 1], 30) and np.isclose(s.points[:, 0].min(), 30)

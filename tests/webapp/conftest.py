"""AppTest fixtures: the page runs in-process; the canvas is replaced by a fake."""

from pathlib import Path

import pytest

APP = str(Path(__file__).resolve().parents[2] / "webapp" / "app.py")


@pytest.fixture(autouse=True)
def fresh_store():
    """Each test's page sessions start and end with an empty store (no runtime sweeps them here)."""
    from webapp import pair as pairs

    yield
    for session in pairs.STORE.sessions():
        pairs.STORE.drop(session)
    pairs.RECIPES.clear()


@pytest.fixture(autouse=True)
def unsettled(monkeypatch):
    """The page settles the process's objects once (processing.memory.settle_long_lived_objects):
    here the process is pytest's, so each test undoes it."""
    import gc

    from processing import memory

    monkeypatch.setattr(memory, "_SETTLED", False)
    yield
    gc.unfreeze()


@pytest.fixture
def app():
    from streamlit.testing.v1 import AppTest

    def make():
        return AppTest.from_file(APP, default_timeout=180)

    return make


def erase_stroke(points, width=40.0):
    """A Fabric.js freehand path object as the canvas sends it, drawn with the erase brush."""
    from webapp.canvas import ERASE_COLOR

    path = [["M", *points[0]]] + [["L", *p] for p in points[1:]]
    return {"type": "path", "stroke": ERASE_COLOR, "strokeWidth": width, "path": path,
            "fill": None, "scaleX": 1, "scaleY": 1, "angle": 0}

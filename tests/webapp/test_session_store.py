"""What the web app keeps per session: the byte budget, the sweep of closed sessions,
the mask painted without touching the whole frame, the loupe restored on a crop."""

import re

import numpy as np

from webapp import display
from webapp import pair as pairs


def test_held_bytes_counts_each_buffer_once():
    a = np.zeros((100, 100), np.float32)
    value = {"a": a, "view": a[10:20], "again": [a, (a,)], "b": b"x" * 1000, "n": 3}
    assert pairs.held_bytes(value) == a.nbytes + 1000


def test_store_keeps_a_value_for_its_key_only():
    store = pairs.SessionStore(budget=10 ** 9)
    store.put("s1", "pair", "k1", np.ones(4))
    assert store.get("s1", "pair", "k1") is not None
    assert store.get("s1", "pair", "k2") is None
    assert store.get("s2", "pair", "k1") is None  # another session never sees it
    store.put("s1", "pair", "k2", np.zeros(8))
    assert store.get("s1", "pair", "k1") is None and store.nbytes("s1") == 64


def test_store_drops_least_recently_used_sessions_over_budget():
    mb = 2 ** 20
    store = pairs.SessionStore(budget=3 * mb)
    for s in ("a", "b", "c"):
        store.put(s, "pair", 1, np.zeros(mb, np.uint8))
    store.get("a", "pair", 1)  # a used again: b is now the oldest
    store.put("d", "pair", 1, np.zeros(mb, np.uint8))
    assert store.sessions() == ["c", "a", "d"]
    assert store.nbytes() == 3 * mb
    # One session alone above the budget keeps its values; all others go.
    store.put("e", "pair", 1, np.zeros(5 * mb, np.uint8))
    assert store.sessions() == ["e"] and store.nbytes() == 5 * mb


def test_sweep_drops_closed_sessions():
    store = pairs.SessionStore(budget=10 ** 9)
    for s in ("open", "closed"):
        store.put(s, "mask", 0, np.zeros(10))
    assert store.sweep(lambda s: s == "open") == ["closed"]
    assert store.sessions() == ["open"]


def test_plain_shows_names_literally():
    name = "![px](http:example.com?track) *orig*_$x$ :red[a] <b>.png"
    escaped = display.plain(name)
    # Every Markdown-active character is escaped; removing the escapes gives the name back.
    assert re.sub(r"\\(.)", r"\1", escaped) == name
    assert not re.search(r"(?<!\\)[!\[\]()*_$:<>]", escaped)
    assert display.plain("two\nlines") == "two lines"


class FakeRuntime:
    """What the sweep asks of Streamlit's runtime, recorded."""

    def __init__(self, active):
        from types import SimpleNamespace

        self.active = set(active)
        self.removed_uploads, self.orphan_passes = [], 0
        self.uploaded_file_mgr = SimpleNamespace(remove_session_files=self.removed_uploads.append)
        self.media_file_mgr = SimpleNamespace(remove_orphaned_files=self._orphans)

    def _orphans(self):
        self.orphan_passes += 1

    def is_active_session(self, session):
        return session in self.active


def test_sweep_frees_closed_sessions_and_their_uploads_after_a_grace(monkeypatch):
    store = pairs.SessionStore(budget=10 ** 9)
    monkeypatch.setattr(pairs, "STORE", store)
    monkeypatch.setattr(pairs, "RECIPES", {})
    for s in ("kept", "closed"):
        store.put(s, "pair", 0, np.zeros(10))
        pairs.RECIPES[s] = object()
    rt = FakeRuntime(active={"kept"})
    closed = {}
    assert pairs.sweep_closed_sessions(rt, closed, now=100.0) == ["closed"]
    assert store.sessions() == ["kept"] and list(pairs.RECIPES) == ["kept"]
    assert rt.removed_uploads == [] and rt.orphan_passes == 0  # uploads wait; someone is still here
    pairs.sweep_closed_sessions(rt, closed, now=100.0 + pairs.UPLOAD_GRACE_SECONDS)
    assert rt.removed_uploads == ["closed"] and closed == {}
    # The last tab closes: its arrays go, and Streamlit drops the files it served (two passes).
    rt.active.clear()
    assert pairs.sweep_closed_sessions(rt, closed, now=200.0) == ["kept"]
    assert store.sessions() == [] and pairs.RECIPES == {} and rt.orphan_passes == 2


def test_a_reconnected_session_keeps_its_uploads(monkeypatch):
    store = pairs.SessionStore(budget=10 ** 9)
    monkeypatch.setattr(pairs, "STORE", store)
    monkeypatch.setattr(pairs, "RECIPES", {})
    store.put("s", "pair", 0, np.zeros(10))
    rt = FakeRuntime(active=set())
    closed = {}
    pairs.sweep_closed_sessions(rt, closed, now=0.0)
    rt.active.add("s")  # the tab came back within the grace
    pairs.sweep_closed_sessions(rt, closed, now=pairs.UPLOAD_GRACE_SECONDS + 1)
    assert rt.removed_uploads == [] and closed == {}


def test_a_session_counts_arrays_its_slots_share_once():
    store = pairs.SessionStore(budget=10 ** 9)
    photo = np.zeros((100, 100, 3), np.uint8)
    store.put("s", "pair", 0, {"photo": photo})
    store.put("s", "plan", 0, ("plan", photo[10:50]))  # a plan refers to the pair's photo
    assert store.nbytes("s") == photo.nbytes
    store.drop("s", "pair")
    assert store.nbytes("s") == photo.nbytes  # the plan still holds it
    store.drop("s", "plan")
    assert store.nbytes("s") == 0 and store.nbytes() == 0


def test_memory_budget_from_the_environment(monkeypatch, capsys):
    monkeypatch.setenv(pairs.BUDGET_ENV, "512")
    assert pairs._budget_bytes() == 512 * 2 ** 20
    monkeypatch.setenv(pairs.BUDGET_ENV, "lots")
    assert pairs._budget_bytes() == 2048 * 2 ** 20
    err = capsys.readouterr().err
    assert pairs.BUDGET_ENV in err and "'lots'" in err and len(err.strip().splitlines()) == 1


def test_room_is_made_before_a_new_pair_is_decoded(tmp_path):
    import cv2

    mb = 2 ** 20
    store = pairs.SessionStore(budget=4 * mb)
    store.put("old", "pair", 0, np.zeros(2 * mb, np.uint8))
    store.put("recent", "pair", 0, np.zeros(mb, np.uint8))
    store.make_room("new", 2 * mb)  # 3 MB held + 2 MB coming > 4 MB: the oldest goes
    assert store.sessions() == ["recent"]
    # What a pair will hold, read from the file headers: two RGB photos and a float32 mask.
    ok, png = cv2.imencode(".png", np.zeros((30, 40, 3), np.uint8))
    ok16, png16 = cv2.imencode(".png", np.zeros((30, 40, 3), np.uint16))
    uploads = pairs.Uploads(("o.png", png.tobytes()), ("a.png", png16.tobytes()), True)
    assert pairs.pair_bytes(uploads) == 30 * 40 * (3 + 6 + 4)
    assert pairs.pair_bytes(pairs.Uploads(("o.png", b"junk"), ("a.png", png.tobytes()), True)) == 0


def test_two_page_runs_asking_for_one_pair_prepare_it_once(monkeypatch):
    """Streamlit's fast reruns start a new run before the old one stops: both ask for
    the pair; it is decoded once and both get it (a 144 MP pair held twice would not fit)."""
    import threading
    import time

    calls = []

    def slow_prepare(uploads, on_stage=None):
        calls.append(threading.get_ident())
        time.sleep(0.3)
        return f"prepared {uploads.key}"

    monkeypatch.setattr(pairs, "prepare", slow_prepare)
    monkeypatch.setattr(pairs, "pair_bytes", lambda uploads: 0)
    uploads = pairs.Uploads(("o.jpg", b"o"), ("a.jpg", b"a"), True)
    got = []
    runs = [threading.Thread(target=lambda: got.append(pairs.load_pair(uploads, "s-once"))) for _ in range(2)]
    for run in runs:
        run.start()
        time.sleep(0.05)  # the second run starts while the first prepares
    for run in runs:
        run.join()
    assert len(calls) == 1
    assert got == [f"prepared {uploads.key}"] * 2
    assert pairs.load_pair(uploads, "s-once") == got[0]  # kept: not prepared again
    assert len(calls) == 1


def test_a_value_whose_maker_was_stopped_is_made_by_the_run_waiting_for_it():
    import threading
    import time

    started = threading.Event()

    def stopped():
        started.set()
        time.sleep(0.2)
        raise KeyboardInterrupt("the old run was stopped")  # a BaseException, like Streamlit's StopException

    caught = []

    def old_run():
        try:
            pairs.made_once("ident", stopped)
        except KeyboardInterrupt as exc:
            caught.append(exc)

    old = threading.Thread(target=old_run)
    old.start()
    assert started.wait(5)
    assert pairs.made_once("ident", lambda: "made here") == "made here"
    old.join()
    assert len(caught) == 1
    assert pairs.made_once("ident", lambda: "again") == "again"  # nothing left in flight

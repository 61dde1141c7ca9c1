"""The pair on the page, and what each browser session keeps of it between reruns.

Everything heavy runs once per upload, through the same
:func:`processing.pipeline.prepare_pair` as the command line and batch; the
page works on a reduced copy (:attr:`Pair.small`) and uses the full-size
photos only for the 1:1 loupe (a crop) and the downloads.

What a session keeps (the full-size photos, its mask, its restore plan) lives
in :data:`STORE`, one slot each, keyed on digests of what made it (never on
arrays), and nowhere else on the server: no Streamlit cache, no session state,
no download callback holds an array. The store keeps at most
:data:`BUDGET_BYTES` across all sessions (least recently used sessions go
first, and are made again from their uploads when they come back), and
:func:`start_sweeper` drops a session's arrays a few seconds after its browser
tab closes. Uploads live in memory only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import sys
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from processing.align import AlignmentError
from processing.demo import DEMO_NAMES, demo_files
from processing.image_io import ImageReadError
from processing.landmarks import FaceModelError
from processing.mask_strokes import paint_strokes
from processing.memory import trim_freed_memory
from processing.pipeline import PreparedPair, RestorePlan, plan, prepare_pair
from processing.settings import MaskSettings, Preset, Section, at_scale, plan_key
from webapp import display

#: Long side of the canvas of the mask editor, in pixels.
CANVAS_SIDE = 640
#: Long side of the three images side by side (a third of the page: small is fast).
#: Environment variable: megabytes of arrays the server keeps for all sessions together.
BUDGET_ENV = "RETEXTURE_WEB_MEMORY_MB"
#: Seconds between two looks for closed sessions.
SWEEP_SECONDS = 5.0
#: Seconds a closed session's uploads are kept, in case its tab reconnects.
UPLOAD_GRACE_SECONDS = 30.0


def _budget_bytes(default_mb: float = 2048.0) -> int:
    text = os.environ.get(BUDGET_ENV, "").strip()
    try:
        mb = float(text) if text else default_mb
        if not mb >= 0:
            raise ValueError
    except ValueError:
        print(f"{BUDGET_ENV} must be a number of megabytes, not {text!r}: using {default_mb:.0f}.",
              file=sys.stderr)
        mb = default_mb
    return int(mb * 2 ** 20)


#: Bytes of arrays :data:`STORE` keeps across sessions (``RETEXTURE_WEB_MEMORY_MB``, default 2048).
BUDGET_BYTES = _budget_bytes()


class PairError(ValueError):
    """The pair cannot be used; the message is one sentence for the user."""


# --- What a session keeps ---------------------------------------------------------------------------

def held_bytes(value, _seen=None) -> int:
    """Bytes of the numpy arrays and byte strings reachable from ``value``
    (dataclasses, tuples, lists, dicts), each buffer counted once."""
    seen = set() if _seen is None else _seen
    if isinstance(value, np.ndarray):
        base = value
        while isinstance(base.base, np.ndarray):
            base = base.base
        if id(base) in seen:
            return 0
        seen.add(id(base))
        return int(base.nbytes)
    if isinstance(value, (bytes, bytearray)):
        if id(value) in seen:
            return 0
        seen.add(id(value))
        return len(value)
    if isinstance(value, (str, int, float, bool, type(None))):
        return 0
    if id(value) in seen:
        return 0
    seen.add(id(value))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sum(held_bytes(getattr(value, f.name), seen) for f in dataclasses.fields(value))
    if isinstance(value, dict):
        return sum(held_bytes(v, seen) for v in value.values())
    if isinstance(value, (list, tuple, set, frozenset)):
        return sum(held_bytes(v, seen) for v in value)
    return 0


class SessionStore:
    """Values each browser session keeps between reruns, within one byte budget.

    A session has named slots; each holds one value and the key it was made
    for, so a rerun with the same key gets it back and a new key replaces it.
    A session's size is :func:`held_bytes` of all its slots together (slots
    share arrays: the plan refers to the pair's photos). When all sessions
    together hold more than ``budget`` bytes, whole sessions are dropped, least
    recently used first, never the one adding.

    Parameters
    ----------
    budget : int
        Bytes.
    """

    def __init__(self, budget: int):
        self.budget = int(budget)
        self._lock = threading.Lock()
        self._sessions: OrderedDict[str, dict[str, tuple]] = OrderedDict()
        self._sizes: dict[str, int] = {}

    def get(self, session: str, slot: str, key, default=None):
        """The value in ``slot`` if it was made for ``key``, else ``default``."""
        with self._lock:
            slots = self._sessions.get(session)
            if slots is None:
                return default
            self._sessions.move_to_end(session)
            item = slots.get(slot)
        return item[1] if item is not None and item[0] == key else default

    def latest(self, session: str, slot: str, default=None):
        """The value in ``slot`` whatever key it was made for (tests, diagnostics)."""
        with self._lock:
            item = self._sessions.get(session, {}).get(slot)
        return default if item is None else item[1]

    def put(self, session: str, slot: str, key, value) -> None:
        """Keep ``value`` (made for ``key``) in ``slot``; drop other sessions if over budget."""
        with self._lock:
            slots = self._sessions.setdefault(session, {})
            self._sessions.move_to_end(session)
            slots[slot] = (key, value)
            self._sizes[session] = held_bytes([v for _, v in slots.values()])
            dropped = self._make_room(session, 0)
        del dropped  # freed here, outside the lock

    def make_room(self, session: str, nbytes: int) -> None:
        """Drop other sessions, least recently used first, until ``nbytes`` more fit in the
        budget: called before making something that large, so the two are not held at once."""
        with self._lock:
            dropped = self._make_room(session, int(nbytes))
        del dropped

    def _make_room(self, session: str, nbytes: int) -> list:
        dropped = []
        for other in list(self._sessions):
            if self._total() + nbytes <= self.budget:
                break
            if other != session:
                dropped.append(self._pop(other))
        return dropped

    def drop(self, session: str, slot: str | None = None) -> None:
        """Forget one slot of a session, or the whole session."""
        with self._lock:
            if slot is None:
                item = self._pop(session)
            else:
                slots = self._sessions.get(session, {})
                item = slots.pop(slot, None)
                if session in self._sizes:
                    self._sizes[session] = held_bytes([v for _, v in slots.values()])
        del item

    def sessions(self) -> list[str]:
        """The sessions holding something, least recently used first."""
        with self._lock:
            return list(self._sessions)

    def nbytes(self, session: str | None = None) -> int:
        """Bytes held by one session, or by all."""
        with self._lock:
            return self._sizes.get(session, 0) if session is not None else self._total()

    def sweep(self, alive) -> list[str]:
        """Drop every session for which ``alive(session)`` is false; returns them."""
        with self._lock:
            gone = [s for s in self._sessions if not alive(s)]
            dropped = [self._pop(s) for s in gone]
        del dropped
        return gone

    def _pop(self, session: str):
        self._sizes.pop(session, None)
        return self._sessions.pop(session, None)

    def _total(self) -> int:
        return sum(self._sizes.values())


#: The arrays of every session (full-size photos, masks, plans).
STORE = SessionStore(BUDGET_BYTES)
_MISSING = object()


def session_id() -> str:
    """The id of the browser session whose script is running ('local' outside Streamlit)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx(suppress_warning=True)
    return "local" if ctx is None else ctx.session_id


def remember(slot: str, key, make, session: str | None = None):
    """``make()`` for this session, made again only when ``key`` changes.

    The slot's previous value is dropped before the new one is made, so the
    two are never held at once. While one page run makes it, another run of
    the same session asking for it waits for that value (:func:`made_once`).
    """
    session = session or session_id()
    return _kept(session, slot, key, make, lambda: STORE.drop(session, slot))


def _kept(session: str, slot: str, key, make, before_making):
    """The session's value in ``slot`` for ``key``, or ``make()`` kept there, after
    ``before_making()`` (which drops what the new value replaces): once, even when
    two runs of the session ask together (:func:`made_once`)."""
    value = STORE.get(session, slot, key, _MISSING)
    if value is not _MISSING:
        return value

    def make_and_keep():
        kept = STORE.get(session, slot, key, _MISSING)  # made while this run waited
        if kept is not _MISSING:
            return kept
        before_making()
        made = make()
        STORE.put(session, slot, key, made)
        start_sweeper()
        return made

    return made_once((session, slot, key), make_and_keep)


_MAKING: dict = {}
_MAKING_LOCK = threading.Lock()


def made_once(ident, make):
    """``make()``, unless another thread is making the same ``ident``: then its value.

    Streamlit starts a new page run at once when a widget changes (fast
    reruns) and stops the old one only at its next Streamlit call, so two runs
    of a session can ask for the same pair or plan together. Made twice, a
    144 MP pair's photos would be held twice. If the other thread's ``make``
    fails or its run is stopped, this one makes the value itself.
    """
    with _MAKING_LOCK:
        making = _MAKING.get(ident)
        mine = making is None
        if mine:
            making = _MAKING[ident] = Future()
    if not mine:
        try:
            return making.result()
        except BaseException:  # noqa: BLE001 - whatever ended the other run, make it here
            return made_once(ident, make)
    try:
        value = make()
    except BaseException as exc:  # StopException when Streamlit stops the run, too
        making.set_exception(exc)
        raise
    else:
        making.set_result(value)
        return value
    finally:
        with _MAKING_LOCK:
            if _MAKING.get(ident) is making:
                del _MAKING[ident]


# --- Freeing what closed sessions held ---------------------------------------------------------------

_SWEEPER: threading.Thread | None = None
_SWEEPER_LOCK = threading.Lock()


def sweep_closed_sessions(rt, closed_since: dict, now: float) -> list[str]:
    """One look for closed browser sessions: drop their arrays and recipes at once,
    their uploads after :data:`UPLOAD_GRACE_SECONDS`, and free the memory.

    Parameters
    ----------
    rt : streamlit.runtime.Runtime
        Asked ``is_active_session``; its upload and media managers are told to
        forget what closed sessions left.
    closed_since : dict
        Each session seen closed -> when it was first seen so (updated in place).
    now : float
        Seconds (monotonic clock).

    Returns
    -------
    list of str: the sessions whose arrays or recipes were dropped.
    """
    gone = set(STORE.sweep(rt.is_active_session))
    for session in list(RECIPES):
        if not rt.is_active_session(session):
            RECIPES.pop(session, None)
            gone.add(session)
    for session in gone:
        closed_since.setdefault(session, now)
    freed = bool(gone)
    for session, since in list(closed_since.items()):
        if rt.is_active_session(session):
            del closed_since[session]  # its tab reconnected
        elif now - since >= UPLOAD_GRACE_SECONDS:
            rt.uploaded_file_mgr.remove_session_files(session)
            del closed_since[session]
            freed = True
    if gone and not STORE.sessions() and not RECIPES:
        # Nobody left: forget downloads already sent (Streamlit deletes an unused
        # file on its second pass, normally at the end of some session's run).
        for _ in range(2):
            rt.media_file_mgr.remove_orphaned_files()
    if freed:
        trim_freed_memory()
    return sorted(gone)


def start_sweeper() -> None:
    """Start (once per server) the thread that frees closed sessions' arrays."""
    global _SWEEPER
    from streamlit import runtime

    if _SWEEPER is not None or not runtime.exists():
        return
    with _SWEEPER_LOCK:
        if _SWEEPER is not None:
            return

        def loop() -> None:
            closed_since: dict[str, float] = {}
            while True:
                time.sleep(SWEEP_SECONDS)
                try:
                    if runtime.exists():
                        sweep_closed_sessions(runtime.get_instance(), closed_since, time.monotonic())
                except Exception:  # the server outlives a failed sweep; the next one retries
                    pass

        _SWEEPER = threading.Thread(target=loop, name="retexture-sweeper", daemon=True)
        _SWEEPER.start()


# --- The pair ---------------------------------------------------------------------------------------

def digest(data: bytes) -> str:
    """A short content digest of uploaded bytes (the cache key)."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


@dataclass(frozen=True)
class Uploads:
    """The two files of a pair as uploaded, and how to read them.

    ``key`` (digests of both files and the alignment switch) names everything
    made from them.
    """

    original: tuple[str, bytes]
    ai: tuple[str, bytes]
    align: bool
    is_demo: bool = False
    key: str = field(default="", compare=False)

    def __post_init__(self):
        if not self.key:
            key = f"{digest(self.original[1])}-{digest(self.ai[1])}-{int(bool(self.align))}"
            object.__setattr__(self, "key", key)


@dataclass
class Pair:
    """A prepared pair (full size) and what the page shows of it.

    ``prepared`` carries the automatic mask made with the default mask
    settings; the page redraws it with the sliders' (:func:`automatic_mask`).
    """

    key: str
    prepared: PreparedPair
    small: PreparedPair
    original_name: str
    is_demo: bool
    scale: float
    display_original: np.ndarray
    display_ai: np.ndarray
    canvas_size: tuple[int, int]
    canvas_photo: np.ndarray
    notes: list[str] = field(default_factory=list)

    @property
    def ai(self):
        """The retouched photo (LoadedImage): pixels, name, format, depth, metadata."""
        return self.prepared.retouched

    @property
    def original_on_ai(self) -> np.ndarray:
        """The original on the retouched image's grid."""
        return self.prepared.original

    @property
    def align_summary(self) -> str | None:
        alignment = self.prepared.alignment
        return None if alignment is None else alignment.summary()

    @property
    def size(self) -> tuple[int, int]:
        return self.ai.size


def prepare(uploads: Uploads, on_stage=None) -> Pair:
    """Prepare a pair (decode, faces, alignment) and its display copies, or raise
    :class:`PairError` with one sentence. ``on_stage`` hears each stage's name as it
    starts (:func:`processing.pair.prepare_pair`)."""
    (o_name, o_bytes), (a_name, a_bytes) = uploads.original, uploads.ai
    try:
        # The demo pair is made on one grid: skip the check there.
        prepared = prepare_pair((o_name, o_bytes), (a_name, a_bytes), "auto",
                                Preset(align=uploads.align and not uploads.is_demo),
                                align_hint="turn on 'Align the original to the retouched image'",
                                on_stage=on_stage)
    except (ImageReadError, AlignmentError, FaceModelError) as exc:
        raise PairError(str(exc)) from None
    except MemoryError:
        raise PairError("These images are too large for the memory available: try smaller exports.") from None
    except ValueError as exc:
        raise PairError(str(exc)) from None
    small, scale = prepared.reduced(display.PREVIEW_SIDE)
    display_ai = display.to_display(small.retouched.pixels)
    display_original = display.to_display(small.original)
    w, h = prepared.size
    canvas_size = display.fit_size(w, h, CANVAS_SIDE)
    notes = ([f"{o_name}: {n}" for n in prepared.original_notes]
             + [f"{a_name}: {n}" for n in prepared.retouched.notes])
    return Pair(key=uploads.key, prepared=prepared, small=small, original_name=o_name, is_demo=uploads.is_demo,
                scale=scale, display_original=display_original, display_ai=display_ai, canvas_size=canvas_size,
                canvas_photo=display.resize_to(display_ai, canvas_size), notes=notes)


def pair_bytes(uploads: Uploads) -> int:
    """About what a prepared pair holds, from the files' headers: both photos and a
    float32 mask at full size, bytes (0 when a header cannot be read)."""
    from PIL import Image

    from processing.image_io import raw_kind, raw_pixels

    total = 0
    for (name, data), may_be_raw in ((uploads.original, True), (uploads.ai, False)):
        if may_be_raw and raw_kind(data, name):
            # Its first picture may be a thumbnail: the sensor's size, developed to 16-bit RGB.
            total += (raw_pixels(data) or 0) * 3 * 2
            continue
        try:
            with Image.open(io.BytesIO(data)) as im:
                w, h = im.size
                bands = len(im.getbands())
                # 16-bit RGB opens as mode RGB: its decoder's raw mode ("RGB;16B") says 16.
                args = im.tile[0][3] if im.tile else ""
                raw = str(args[0] if isinstance(args, tuple) and args else args)
                depth = 2 if im.mode in ("I", "F") or "16" in im.mode or ";16" in raw else 1
        except Exception:  # unreadable here: prepare() says why
            return 0
        total += w * h * bands * depth
    return total + w * h * 4


def is_loaded(uploads: Uploads, session: str | None = None) -> bool:
    """True when the session holds this pair prepared (the page shows it at once)."""
    return STORE.get(session or session_id(), "pair", uploads.key) is not None


def load_pair(uploads: Uploads, session: str | None = None, on_stage=None) -> Pair:
    """The session's prepared pair, made once per upload; raises :class:`PairError`.

    A new pair replaces everything the session held (the old pair's masks and
    plans go before the new photos are decoded), and other sessions make room
    for it first, least recently used first, when the budget is short.
    """
    session = session or session_id()

    def make_room():
        STORE.drop(session)
        STORE.make_room(session, pair_bytes(uploads))

    return _kept(session, "pair", uploads.key, lambda: prepare(uploads, on_stage), make_room)


@lru_cache(maxsize=1)
def _demo_files() -> tuple[bytes, bytes]:
    return demo_files()


def demo_uploads(align: bool = True) -> Uploads:
    """The built-in demo pair, as if uploaded."""
    o_bytes, a_bytes = _demo_files()
    return Uploads((DEMO_NAMES[0], o_bytes), (DEMO_NAMES[1], a_bytes), bool(align), is_demo=True)


# --- The mask ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MaskRecipe:
    """How the session's mask is made: the automatic mask's sliders and the brush strokes
    (in pixels of a canvas of ``canvas_size``)."""

    forehead: float
    feather: float
    strokes: tuple = ()
    canvas_size: tuple[int, int] = (1, 1)

    @property
    def key(self) -> tuple:
        strokes = json.dumps([(s.mode, float(s.width), np.asarray(s.points).tolist()) for s in self.strokes])
        return (float(self.forehead), float(self.feather), tuple(self.canvas_size),
                hashlib.blake2b(strokes.encode(), digest_size=16).hexdigest())


@dataclass
class MaskEdit:
    """The session's mask on the pair: full size (``edited``), on the preview copy
    (``small``), tinted on the canvas photo (``applied``) and its coverage (%)."""

    key: tuple
    edited: PreparedPair
    small: PreparedPair
    applied: np.ndarray
    coverage: float
    strokes: int


def automatic_mask(pair: Pair, forehead: float, feather: float, session: str | None = None) -> PreparedPair:
    """The pair with its automatic skin mask drawn with these sliders (from the faces
    found at preparation); the preparation's own mask at the default values."""
    defaults = MaskSettings()
    if (forehead, feather) == (defaults.forehead, defaults.feather):
        return pair.prepared
    return remember("auto", (pair.key, float(forehead), float(feather)),
                    lambda: pair.prepared.with_mask_settings(forehead, feather), session)


def edited_mask(pair: Pair, recipe: MaskRecipe, session: str | None = None) -> MaskEdit:
    """The session's mask (automatic, then the strokes), made once per change."""

    def make() -> MaskEdit:
        automatic = automatic_mask(pair, recipe.forehead, recipe.feather, session)
        skin = paint_strokes(automatic.skin_mask, recipe.strokes, recipe.canvas_size) \
            if automatic.skin_mask is not None else None
        edited = automatic if skin is automatic.skin_mask else automatic.with_skin_mask(skin)
        small, _ = edited.reduced(display.PREVIEW_SIDE, photos_from=pair.small)
        mask = edited.mask
        applied = display.tint_mask(pair.canvas_photo, mask) if mask is not None else pair.canvas_photo
        cover = display.mask_percent(mask) if mask is not None else 100.0
        return MaskEdit(recipe.key, edited, small, applied, cover, len(recipe.strokes))

    return remember("mask", (pair.key, recipe.key), make, session)


# --- The full-size plan and the downloads --------------------------------------------------------------

def full_plan(pair: Pair, edit: MaskEdit, settings: Section, session: str | None = None) -> RestorePlan:
    """The full-size :class:`processing.plan.RestorePlan`, made once per mask and plan settings.

    The loupe and the downloads share it, so match mode's automatic cut-off and
    the blemish statistics come from the whole mask in both. Amounts (strength,
    shadows, highlights) only re-apply it.
    """
    return remember("plan", _plan_key(pair, edit, settings), lambda: plan(edit.edited, settings), session)


def preview_plan(pair: Pair, edit: MaskEdit, settings: Section, session: str | None = None) -> RestorePlan:
    """The same plan on the preview copy (pixel sizes scaled to it), made once per mask and
    plan settings like :func:`full_plan`: match mode's analysis of the preview takes
    0.05-0.15 s, which a strength change need not wait for. Apply it with
    ``at_scale(settings, pair.scale)``."""
    scaled = at_scale(settings, pair.scale)
    return remember("preview plan", _plan_key(pair, edit, scaled), lambda: plan(edit.small, scaled), session)


def _plan_key(pair: Pair, edit: MaskEdit, settings: Section) -> tuple:
    return (pair.key, edit.key, type(settings).__name__, repr(plan_key(settings)))


def has_full_plan(pair: Pair, edit: MaskEdit, settings: Section, session: str | None = None) -> bool:
    """True when :func:`full_plan` has this plan made already (nothing to wait for)."""
    return STORE.get(session or session_id(), "plan", _plan_key(pair, edit, settings)) is not None


@dataclass(frozen=True)
class Recipe:
    """Everything the session's downloads are made from, small: the uploads (Streamlit
    keeps their bytes anyway), the mask recipe and the settings."""

    uploads: Uploads
    mask: MaskRecipe
    preset: Preset
    spot: tuple[float, float] | None = None  # the loupe's centre (full-size px): the comparison's crop


#: The latest :class:`Recipe` of each session, set by every run of the page and read
#: when a download button is clicked (outside any run).
RECIPES: dict[str, Recipe] = {}


def set_recipe(recipe: Recipe, session: str | None = None) -> None:
    RECIPES[session or session_id()] = recipe


def recipe_for(session: str, pair_key: str) -> Recipe:
    """The session's latest recipe; raises LookupError when it is for another pair
    (the button clicked belongs to a page being replaced)."""
    recipe = RECIPES.get(session)
    if recipe is None or recipe.uploads.key != pair_key:
        raise LookupError("The page changed since this button was drawn: click it again.")
    return recipe


def restored_pixels(session: str, pair_key: str) -> tuple[Pair, np.ndarray]:
    """The full-size restored image of the session's latest recipe (what the
    'Restored image' button downloads), made again from the uploads if the
    session's arrays were dropped meanwhile."""
    from processing.pipeline import apply

    recipe = recipe_for(session, pair_key)
    pair = load_pair(recipe.uploads, session)
    edit = edited_mask(pair, recipe.mask, session)
    settings = recipe.preset.settings
    return pair, apply(full_plan(pair, edit, settings, session), settings)


def session_mask(session: str, pair_key: str) -> np.ndarray | None:
    """The full-size mask of the session's latest recipe (what 'Mask (PNG)' downloads)."""
    recipe = recipe_for(session, pair_key)
    pair = load_pair(recipe.uploads, session)
    return edited_mask(pair, recipe.mask, session).edited.mask

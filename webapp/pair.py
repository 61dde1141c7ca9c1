"""The pair on the page: prepared once per upload, with its display copies.

Everything heavy runs once per upload, through the same
:func:`processing.pipeline.prepare_pair` as the command line and batch: the
cached functions are keyed on a digest of the uploaded bytes (never on arrays,
which Streamlit would hash from a sample). ``st.cache_resource`` holds the
full-size arrays without copying them on every rerun (``st.cache_data`` would
unpickle a fresh 24 MP copy each time); they are treated as read-only.
Uploads live in memory only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import streamlit as st

from processing.align import AlignmentError
from processing.demo import DEMO_NAMES, demo_files
from processing.image_io import ImageReadError
from processing.landmarks import FaceModelError
from processing.pipeline import PreparedPair, prepare_pair
from processing.settings import Preset
from webapp import display

#: Long side of the canvas of the mask editor, in pixels.
CANVAS_SIDE = 640
#: Long side of the three images side by side (a third of the page: small is fast).
TRIPTYCH_SIDE = 720


class PairError(ValueError):
    """The pair cannot be used; the message is one sentence for the user."""


@dataclass
class Pair:
    """A prepared pair (full size) and what the page shows of it.

    ``prepared`` carries the automatic mask made with the default mask
    settings; the page redraws it with the sliders' (:func:`auto_mask`).
    """

    key: str
    prepared: PreparedPair
    small: PreparedPair
    original_name: str
    is_demo: bool
    scale: float
    png_original: bytes
    png_ai: bytes
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


def digest(data: bytes) -> str:
    """A short content digest of uploaded bytes (the cache key)."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


@st.cache_resource(max_entries=3, show_spinner=False)
def load_pair_cached(key: str, align: bool, _original_bytes: bytes, original_name: str,
                     _ai_bytes: bytes, ai_name: str, is_demo: bool = False) -> Pair:
    """Prepare a pair (cached on ``key``, the digests of both files, and ``align``)."""
    # The demo pair is made on one grid: skip the check there.
    prepared = prepare_pair((original_name, _original_bytes), (ai_name, _ai_bytes), "auto",
                            Preset(align=align and not is_demo),
                            align_hint="turn on 'Align the original to the retouched image'")
    small, scale = prepared.reduced(display.PREVIEW_SIDE)
    display_ai = display.to_display(small.retouched.pixels)
    display_original = display.to_display(small.original)
    w, h = prepared.size
    canvas_size = display.fit_size(w, h, CANVAS_SIDE)
    notes = ([f"{original_name}: {n}" for n in prepared.original_notes]
             + [f"{ai_name}: {n}" for n in prepared.retouched.notes])
    return Pair(key=key, prepared=prepared, small=small, original_name=original_name, is_demo=is_demo, scale=scale,
                png_original=display.encode_png(display.downscale(display_original, TRIPTYCH_SIDE)[0]),
                png_ai=display.encode_png(display.downscale(display_ai, TRIPTYCH_SIDE)[0]),
                display_ai=display_ai, canvas_size=canvas_size,
                canvas_photo=display.resize_to(display_ai, canvas_size), notes=notes)


def load_pair(original: tuple[str, bytes], ai: tuple[str, bytes], align: bool,
              is_demo: bool = False) -> Pair:
    """Prepare an uploaded pair, or raise :class:`PairError` with one sentence.

    Parameters
    ----------
    original, ai : (name, bytes)
        The uploaded files.
    align : bool
        Resample the original onto the AI image's grid when needed.
    """
    (o_name, o_bytes), (a_name, a_bytes) = original, ai
    key = f"{digest(o_bytes)}-{digest(a_bytes)}"
    try:
        return load_pair_cached(key, bool(align), o_bytes, o_name, a_bytes, a_name, is_demo)
    except PairError:
        raise
    except (ImageReadError, AlignmentError, FaceModelError) as exc:
        raise PairError(str(exc)) from None
    except MemoryError:
        raise PairError("These images are too large for the memory available: try smaller exports.") from None
    except ValueError as exc:
        raise PairError(str(exc)) from None


def load_demo(align: bool = True) -> Pair:
    """The built-in demo pair, loaded like an upload."""
    o_bytes, a_bytes = demo_files()
    return load_pair((DEMO_NAMES[0], o_bytes), (DEMO_NAMES[1], a_bytes), align, is_demo=True)


@st.cache_resource(max_entries=6, show_spinner=False)
def auto_mask(key: str, forehead: float, feather: float, _pair: Pair) -> PreparedPair:
    """The pair with its automatic skin mask drawn with these sliders (cached on the
    pair's key and the two values; the faces are found once, at preparation)."""
    return _pair.prepared.with_mask_settings(forehead, feather)

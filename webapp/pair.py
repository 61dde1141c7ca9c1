"""Loading a pair of photos for the page: decode, align, preview, propose the mask.

Everything heavy runs once per upload: the cached functions are keyed on a
digest of the uploaded bytes (never on arrays, which Streamlit would hash
from a sample). ``st.cache_resource`` holds the full-size arrays without
copying them on every rerun (``st.cache_data`` would unpickle a fresh 24 MP
copy each time); they are treated as read-only. Uploads live in memory only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import streamlit as st

from processing import preview
from processing.align import AlignmentError, align_if_enabled
from processing.demo import DEMO_NAMES, demo_files
from processing.image_io import ImageReadError, LoadedImage, match_layout, read_image
from processing.skin_mask import propose_skin_mask

#: Long side of the canvas of the mask editor, in pixels.
CANVAS_SIDE = 640
#: Long side of the three images side by side (a third of the page: small is fast).
TRIPTYCH_SIDE = 720


class PairError(ValueError):
    """The pair cannot be used; the message is one sentence for the user."""


@dataclass
class Pair:
    """A decoded pair on the AI image's pixel grid, with its display copies."""

    key: str
    original: LoadedImage
    ai: LoadedImage
    original_on_ai: np.ndarray
    coverage: np.ndarray | None
    align_summary: str | None
    is_demo: bool
    small_original: np.ndarray
    small_ai: np.ndarray
    scale: float
    png_original: bytes
    png_ai: bytes
    display_ai: np.ndarray
    canvas_size: tuple[int, int]
    canvas_photo: np.ndarray
    notes: list[str] = field(default_factory=list)

    @property
    def size(self) -> tuple[int, int]:
        return self.ai.size


def digest(data: bytes) -> str:
    """A short content digest of uploaded bytes (the cache key)."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


@st.cache_resource(max_entries=3, show_spinner=False)
def load_pair_cached(key: str, align: bool, _original_bytes: bytes, original_name: str,
                     _ai_bytes: bytes, ai_name: str, is_demo: bool = False) -> Pair:
    """Decode and align a pair (cached on ``key``, the digests of both files)."""
    original = read_image(_original_bytes, name=original_name)
    ai = read_image(_ai_bytes, name=ai_name)
    # A gray original with a colour retouch (or 16 with 8 bit) is paired in the
    # retouched image's layout, as the command line does.
    original.pixels = match_layout(original.pixels, ai.pixels)
    coverage = None
    summary = None
    # The demo pair is made on one grid: skip the check there.
    alignment = align_if_enabled(original.pixels, ai.pixels, align and not is_demo,
                                 "turn on 'Align the original to the retouched image'")
    on_ai = original.pixels
    if alignment is not None:
        summary = alignment.summary()
        if not alignment.identity:
            on_ai, coverage = alignment.original, alignment.coverage
    small_ai, scale = preview.downscale(ai.pixels, preview.PREVIEW_SIDE)
    small_original, _ = preview.downscale(on_ai, preview.PREVIEW_SIDE)
    display_ai = preview.to_display(small_ai)
    display_original = preview.to_display(small_original)
    w, h = ai.size
    canvas_size = preview.fit_size(w, h, CANVAS_SIDE)
    canvas_photo = preview.resize_to(display_ai, canvas_size)
    notes = [f"{original.name}: {n}" for n in original.notes] + [f"{ai.name}: {n}" for n in ai.notes]
    return Pair(key=key, original=original, ai=ai, original_on_ai=on_ai, coverage=coverage,
                align_summary=summary, is_demo=is_demo, small_original=small_original,
                small_ai=small_ai, scale=scale,
                png_original=preview.encode_png(preview.downscale(display_original, TRIPTYCH_SIDE)[0]),
                png_ai=preview.encode_png(preview.downscale(display_ai, TRIPTYCH_SIDE)[0]),
                display_ai=display_ai,
                canvas_size=canvas_size, canvas_photo=canvas_photo, notes=notes)


def load_pair(original: tuple[str, bytes], ai: tuple[str, bytes], align: bool,
              is_demo: bool = False) -> Pair:
    """Decode (and align) an uploaded pair, or raise :class:`PairError` with one sentence.

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
    except ImageReadError as exc:
        raise PairError(str(exc)) from None
    except AlignmentError as exc:
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
def propose_mask_cached(key: str, forehead: float, feather: float, _pixels: np.ndarray):
    """The automatic skin mask of the AI image (cached on its digest and the two sliders)."""
    return propose_skin_mask(_pixels, forehead=forehead, feather=feather)

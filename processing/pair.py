"""Pair in: decode both photos, put the original on the retouched image's grid, find the faces.

The first stage of the pipeline (:mod:`processing.pipeline`). Whatever the front
end, a pair goes through :func:`prepare_pair` once; the plan and the pixels
come after it. Everything that follows works on the retouched image's pixel
grid: the retouched image is the base, and the output keeps its size, format,
depth and metadata.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from processing.image_io import DEFAULT_MAX_PIXELS, LoadedImage, header_pixels, match_layout, read_image, read_mask
from processing.settings import Preset


@dataclass
class PreparedPair:
    """A pair ready to plan: both photos on the retouched image's grid, the mask, the faces.

    Attributes
    ----------
    retouched : LoadedImage
        The AI-retouched photo: the base, whose format, depth, ICC profile and
        EXIF the output keeps.
    original : ndarray or None
        The original's pixels in the retouched image's layout (channels, depth)
        and on its pixel grid; None when the method does not read it (synthetic grain).
    skin_mask : ndarray float32 (H, W) or None
        Skin weight in [0, 1]; None = the whole image.
    coverage : ndarray float32 (H, W) or None
        Where the aligned original covers the retouched image (0 outside); None = everywhere.
    faces : list of FaceMask
        The faces of the automatic mask (regional strength, loupe, contact sheet).
    landmarks : list of FaceLandmarks
        The faces found, to redraw the automatic mask with other settings.
    mask_source : str
        'auto', 'none', 'file NAME', 'given' or 'edited'.
    mask_message : str or None
        What the face search found, one sentence ("Found 2 faces.").
    alignment : Alignment or None
        The alignment found (None when alignment is off or the original is not read).
    original_name : str
    original_notes : list of str
        Sentences about the original's file worth telling the user (the
        retouched file's are ``retouched.notes``; :attr:`notes` has both).
    original_noise : float or None
        A camera RAW original's sensor noise in flat areas, 8-bit levels (None otherwise).
    stage_seconds : dict
        Wall time of each stage ('read', 'mask', 'align'), s.
    """

    retouched: LoadedImage
    original: np.ndarray | None
    skin_mask: np.ndarray | None
    coverage: np.ndarray | None = None
    faces: list = field(default_factory=list)
    landmarks: list = field(default_factory=list)
    mask_source: str = "none"
    mask_message: str | None = None
    alignment: object | None = None
    original_name: str = "original"
    original_notes: list[str] = field(default_factory=list)
    original_noise: float | None = None
    stage_seconds: dict = field(default_factory=dict)

    @property
    def mask(self) -> np.ndarray | None:
        """What a restore uses: the skin mask times the coverage (None = everywhere)."""
        if self.coverage is None:
            return self.skin_mask
        if self.skin_mask is None:
            return self.coverage
        from processing.dtypes import mask_to_float

        # A mask file stays 8 or 16 bit until used: scale it to [0, 1] before weighting.
        return mask_to_float(self.skin_mask) * self.coverage

    def restore_mask(self):
        """:attr:`mask` as a restore reads it: with a coverage, the product is
        multiplied out band by band (:class:`~processing.row_bands.BandWeight`)
        instead of stored (576 MB at 144 MP)."""
        if self.coverage is None or self.skin_mask is None:
            return self.mask
        from processing.row_bands import BandWeight

        return BandWeight(self.coverage.shape[:2], self.skin_mask, (self.coverage,))

    @property
    def notes(self) -> list[str]:
        """What is worth telling about both files, the original's first."""
        return self.original_notes + list(self.retouched.notes)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the retouched image, px."""
        return self.retouched.size

    def with_skin_mask(self, skin_mask: np.ndarray | None, source: str = "edited") -> "PreparedPair":
        """The same pair with another skin mask (hand-edited, or redrawn); coverage still applies."""
        if skin_mask is not None:
            skin_mask = _as_mask(skin_mask, self.retouched.pixels.shape)
        return dataclasses.replace(self, skin_mask=skin_mask, mask_source=source)

    def with_mask_settings(self, forehead: float, feather: float) -> "PreparedPair":
        """The automatic mask redrawn with another forehead extension and feather
        (fractions of the face height), from the faces already found; it stops
        where the retouched image stops looking like each face's skin (hair)."""
        from processing.skin_mask import skin_mask_from_landmarks

        pixels = self.retouched.pixels
        proposal = skin_mask_from_landmarks(self.landmarks, pixels.shape, forehead, feather, image=pixels)
        return dataclasses.replace(self, skin_mask=proposal.mask, faces=proposal.faces,
                                   mask_source="auto", mask_message=proposal.message)

    def reduced(self, max_side: int, photos_from: "PreparedPair | None" = None) -> tuple["PreparedPair", float]:
        """A copy whose long side is at most ``max_side`` px, for fast previews.

        Returns the copy and its scale (copy width / full width; 1.0 and the pair
        itself when it already fits). Faces and masks are scaled with it.
        ``photos_from``: an earlier reduced copy of the same photos (another mask),
        whose reduced photos are reused: a new mask then costs only its own resize.
        """
        w, h = self.size
        scale = min(1.0, max_side / float(max(w, h)))
        if scale >= 1.0:
            return self, 1.0
        size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
        scale = size[0] / float(w)

        def shrink(a):
            return None if a is None else cv2.resize(a, size, interpolation=cv2.INTER_AREA)

        if photos_from is not None and photos_from.size == size:
            photos = {"retouched": photos_from.retouched, "original": photos_from.original,
                      "coverage": photos_from.coverage}
        else:
            photos = {"retouched": dataclasses.replace(self.retouched, pixels=shrink(self.retouched.pixels),
                                                       alpha=shrink(self.retouched.alpha)),
                      "original": shrink(self.original), "coverage": shrink(self.coverage)}
        small = dataclasses.replace(self, **photos, skin_mask=shrink(self.skin_mask),
                                    faces=scale_faces(self.faces, scale), landmarks=[], stage_seconds={})
        return small, scale


def scale_faces(faces, scale: float) -> list:
    """Face polygons (:class:`processing.skin_mask.FaceMask`) moved onto a copy scaled by ``scale``."""
    if scale == 1.0 or not faces:
        return list(faces)
    s = np.float32(scale)
    out = []
    for f in faces:
        x0, y0, x1, y1 = f.bbox
        out.append(dataclasses.replace(
            f, oval=f.oval * s, holes={k: v * s for k, v in f.holes.items()},
            regions={k: v * s for k, v in f.regions.items()},
            bbox=(int(x0 * scale), int(y0 * scale), int(np.ceil(x1 * scale)), int(np.ceil(y1 * scale))),
            landmarks=f.landmarks * s, height=f.height * scale))
    return out


def _as_mask(mask: np.ndarray, shape) -> np.ndarray:
    from processing.dtypes import mask_to_float

    mask = np.asarray(mask)
    if mask.shape != tuple(shape[:2]):
        raise ValueError(f"The mask is {mask.shape[1]}x{mask.shape[0]} but the retouched image is "
                         f"{shape[1]}x{shape[0]}: make it at the retouched image's size.")
    return mask_to_float(mask)


def _decode(source, max_pixels: int, allow_raw: bool = False) -> LoadedImage:
    """A photo from a path, (name, bytes), bytes, a LoadedImage or an array;
    ``allow_raw`` for the original, which may be a camera RAW file."""
    if isinstance(source, LoadedImage):
        return source
    if isinstance(source, np.ndarray):
        return LoadedImage(pixels=source)
    if isinstance(source, tuple):
        name, data = source
        return read_image(data, name=name, max_pixels=max_pixels, allow_raw=allow_raw)
    return read_image(source, max_pixels=max_pixels, allow_raw=allow_raw)


def _is_file(spec) -> bool:
    return isinstance(spec, (str, Path, tuple, bytes)) and spec not in ("auto", "none")


#: Files are decoded side by side only while each has at most this many pixels:
#: decoding holds about three copies of the image at once (the file, the
#: decoder's buffer, the pixels), which for two 144 MP files is 2.6 GB.
SIDE_BY_SIDE_MAX_PIXELS = 50_000_000


def _same_file(a, b) -> bool:
    """Whether two sources are the very same file (path or bytes): decoded once then."""
    import os

    # Same name too, so that messages about "the original" still name the file given as such.
    if isinstance(a, (str, Path)) and isinstance(b, (str, Path)):
        try:
            return Path(a).name == Path(b).name and os.path.samefile(a, b)
        except OSError:
            return False
    if isinstance(a, tuple) and isinstance(b, tuple):
        return a[0] == b[0] and (a[1] is b[1] or (len(a[1]) == len(b[1]) and a[1] == b[1]))
    if isinstance(a, (bytes, bytearray)) and isinstance(b, (bytes, bytearray)):
        return a is b or a == b
    return False


def _side_by_side(sources: dict) -> bool:
    """Decode side by side only when every file is small enough (see SIDE_BY_SIDE_MAX_PIXELS)."""
    for src in sources.values():
        n = header_pixels(src)
        if n is None or n > SIDE_BY_SIDE_MAX_PIXELS:
            return False
    return True


def prepare_pair(original, retouched, mask="auto", preset: Preset | None = None, *,
                 max_pixels: int = DEFAULT_MAX_PIXELS, align_hint: str = "turn alignment on",
                 align_side: int | None = None, require_face: str | None = None,
                 parallel_decode: bool = True,
                 on_stage: Callable[[str], None] | None = None) -> PreparedPair:
    """Decode, lay out, mask and align a pair: the first stage of every restore.

    Parameters
    ----------
    original, retouched : str, Path, (name, bytes), LoadedImage or ndarray
        The photo before AI retouching and the AI-retouched one. The original is
        not read when the preset's method is synthetic grain (it may be None then).
    mask : 'auto', 'none', None, a mask file (path or (name, bytes)) or ndarray
        'auto' finds every face and masks its skin (eyes, brows, lips left out);
        'none' or None restores the whole image; a file or array is the skin
        mask at the retouched image's size.
    preset : Preset
        Its ``align`` switch and mask settings apply here.
    max_pixels : int
        Refuse larger images (decompression bombs).
    align_hint : str
        How the user turns alignment on in this front end, for the error sentence.
    align_side : int, optional
        Long side of the copies the alignment is estimated on (None: the default).
    require_face : str, optional
        With the automatic mask, raise ValueError with this sentence when no face
        is found (before the original is aligned).
    parallel_decode : bool
        Decode the files side by side (fast for one pair); False decodes one at a
        time, the original last (batch workers, which already fill every core).
    on_stage : callable, optional
        Called with the name of each stage as it starts: ``"read"``, ``"faces"``
        (automatic mask only) and ``"align"`` (alignment on), so a
        front end can say what a large pair is waiting on.

    Returns
    -------
    PreparedPair

    Raises
    ------
    ImageReadError, AlignmentError, ValueError
        With one sentence for the user.
    """
    preset = preset or Preset()
    announce = on_stage or (lambda stage: None)
    stages: dict[str, float] = {}
    clock = [time.perf_counter()]

    def lap(stage: str) -> None:
        now = time.perf_counter()
        stages[stage] = round(stages.get(stage, 0.0) + now - clock[0], 3)
        clock[0] = now

    wants_original = preset.method != "synthetic"  # synthetic grain never reads the original
    announce("read")
    sources = {"retouched": retouched}
    if _is_file(mask):
        sources["mask"] = mask
    # The same file given twice is decoded once: the pixels are the same.
    same = wants_original and _same_file(original, retouched)
    # The face model takes about half a second to load: it loads while the files decode.
    faces_wanted = isinstance(mask, str) and mask == "auto"
    if parallel_decode:
        # Side by side: JPEG and PNG decoding release the GIL, and decoding is a
        # third of a 24 MP run. Submitted in the order problems are reported;
        # one at a time (in that order) when the files are large.
        if wants_original and not same:
            sources = {"original": original, **sources}
        # One file alone is decoded in a thread only to overlap the model's loading.
        threaded = _side_by_side(sources) if len(sources) > 1 else faces_wanted
        if threaded:
            with ThreadPoolExecutor(max_workers=len(sources)) as pool:
                jobs = {name: pool.submit(_decode, src, max_pixels, name == "original")
                        for name, src in sources.items()}
                if faces_wanted:
                    _load_face_model()
                loaded = {name: job.result() for name, job in jobs.items()}
        else:
            loaded = {name: _decode(src, max_pixels, name == "original") for name, src in sources.items()}
        if same:
            loaded["original"] = loaded["retouched"]
    else:
        # One at a time, the original last: it is decoded only once the mask is known.
        loaded = {name: _decode(src, max_pixels) for name, src in sources.items()}
    ai = loaded["retouched"]
    lap("read")
    pair = PreparedPair(retouched=ai, original=None, skin_mask=None)
    early = None
    if isinstance(mask, str) and mask == "auto":
        announce("faces")
        if wants_original and preset.align and (parallel_decode or same):
            # The face search runs on one core: the alignment starts beside it and
            # waits for the faces only where it needs them (each face's own look).
            early = _EarlyAlignment(loaded["original"] if "original" in loaded else ai, ai, align_hint, align_side)
        try:
            # The alignment gets each face as soon as the search confirms it and
            # looks at it while the search and the mask go on.
            pair = _auto_mask(pair, preset, early)
        finally:
            if early is not None:
                early.faces_found(pair.landmarks)
        if require_face and not pair.faces:
            raise ValueError(require_face)
    elif mask is None or (isinstance(mask, str) and mask == "none"):
        pair.mask_source = "none"
    elif isinstance(mask, np.ndarray):
        pair = pair.with_skin_mask(mask, "given")
    else:
        mask_file = loaded["mask"]
        pair.skin_mask = read_mask(mask_file, ai.pixels.shape)
        pair.mask_source = f"file {mask_file.name}"
    lap("mask")

    if wants_original:
        orig = loaded["original"] if parallel_decode else ai if same else _decode(original, max_pixels, True)
        del loaded
        lap("read")
        pair.original_name, pair.original_notes = orig.name, list(orig.notes)
        pair.original_noise = orig.sensor_noise
        pair.original = early.original if early is not None else match_layout(orig.pixels, ai.pixels)
        del orig
        if preset.align:
            announce("align")
        if early is not None:
            _use_alignment(pair, early.result())
        else:
            _align(pair, preset.align, align_hint, align_side)
        lap("align")
    pair.stage_seconds = stages
    return pair


def _load_face_model() -> None:
    """Load the face model now; a model that fails to load is reported by the face search itself."""
    from processing.landmarks import open_models

    try:
        open_models()
    except Exception:  # noqa: BLE001 - reported when the faces are searched
        pass


def _auto_mask(pair: PreparedPair, preset: Preset, early: "_EarlyAlignment | None" = None) -> PreparedPair:
    """The faces and their skin mask; ``early`` is told each face as it is found
    and all of them before the mask is drawn."""
    from processing.landmarks import detect_faces

    pair.landmarks = detect_faces(pair.retouched.pixels, on_face=early.face_found if early is not None else None)
    if early is not None:
        early.faces_found(pair.landmarks)
    return pair.with_mask_settings(preset.mask.forehead, preset.mask.feather)


def _align(pair: PreparedPair, enabled: bool, hint: str, side: int | None) -> None:
    """Put the original on the retouched image's grid (in place); coverage from the alignment."""
    _use_alignment(pair, _alignment(pair.original, pair.retouched.pixels, enabled, hint, side, pair.landmarks))


def _alignment(original: np.ndarray, ai: np.ndarray, enabled: bool, hint: str, side: int | None, faces):
    """:func:`~processing.align.align_if_enabled` with the pair's settings; the
    faces of the automatic mask are each searched for a reshape at their own scale."""
    from processing.align import align_if_enabled

    return align_if_enabled(original, ai, enabled, hint, faces=faces, **({"max_side": side} if side else {}))


class _EarlyAlignment:
    """The alignment of a pair with the automatic mask, started before its faces are found."""

    def __init__(self, original: LoadedImage, ai: LoadedImage, hint: str, side: int | None):
        from processing.row_bands import ArrivingList, on_own_thread

        self.original = match_layout(original.pixels, ai.pixels)
        # Each face is looked at for a reshape as soon as it is found, while the others are searched.
        self._faces = ArrivingList()
        self._job = on_own_thread(_alignment, self.original, ai.pixels, True, hint, side, self._faces)

    def face_found(self, face) -> None:
        """One more face found."""
        self._faces.append(face)

    def faces_found(self, faces) -> None:
        """All the faces found (None: the search failed; the alignment then
        looks at none). Only the first call counts."""
        self._faces.close(faces or [])

    def result(self):
        """The Alignment; its errors (not the same photo) are raised here."""
        return self._job.result()


def _use_alignment(pair: PreparedPair, alignment) -> None:
    """The original on the retouched image's grid (in place), and its coverage."""
    from processing.align.resample import is_full_coverage

    if alignment is None:
        return
    if not alignment.identity:
        pair.original = alignment.original
        # Covered everywhere (a crop): no coverage to multiply in.
        pair.coverage = None if is_full_coverage(alignment.coverage) else alignment.coverage
    pair.alignment = alignment

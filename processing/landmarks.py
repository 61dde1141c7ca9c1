"""Face landmarks for every face in a photo: 478 Face Mesh points per face.

This is the only module of Retexture that imports mediapipe, and it does so
lazily, inside functions, so that ``import processing`` stays light. It uses
mediapipe's Tasks API: ``FaceLandmarker`` for the mesh and ``FaceDetector``
for candidates, both from ``face_landmarker.task``, a file shipped inside
Retexture (``processing/models/``; mediapipe itself ships no models and would
download them) and checked against its sha256 before use.

How faces are found
-------------------
The landmarker alone only sees faces that fill a good part of the frame. So:

1. Work on a downscaled copy (long side ``WORK_SIDE`` px).
2. Collect face *candidates* with the short-range face detector, which finds
   faces 15 % to 50 % of its input wide and tolerates roll: on the whole
   frame (as is, and upside down), then on two levels of overlapping tiles
   (``TILE_LEVELS``) for smaller faces. Tiles are searched at another quarter
   turn only when a face was found lying that way or no face at all (a photo
   shot sideways), which keeps the common upright case cheap.
3. Merge duplicate candidates (non-maximum suppression).
4. Cut an upright, anti-aliased crop around each candidate from the
   full-resolution image and run the landmarker on it. Keep only the faces it
   confirms (its own detector must score ``MIN_CONFIRM_SCORE``, and the
   landmarks must have a plausible geometry and sit on the candidate).
5. Map the landmarks back to full-resolution pixel coordinates.

One landmarker and one detector serve the whole process, behind one lock
(Streamlit serves sessions on threads), and :func:`close` frees them; it runs
at interpreter exit too. Their native log lines are kept off stderr.

Left and right are the *subject's* left and right, as in mediapipe: on an
unmirrored photo the subject's left eye is on the right of the picture.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import hashlib
import io
import math
import os
import re
import sys
import tempfile
import threading
import types
import zipfile
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import cv2
import numpy as np

from processing.dtypes import to_rgb_uint8

#: Long side (px) of the downscaled copy used to look for face candidates.
#: Its tiles are then ~300 px, above the detector's 192 px input: more pixels
#: would only be thrown away by the detector's own resize.
WORK_SIDE = 768
#: Tile levels below the whole frame: (side, overlap) as fractions of the long
#: side. The detector finds faces from 15 % of its input wide, and a face up to
#: the overlap fits whole in some tile: the whole frame covers faces from 15 %
#: of the long side, tiles of 1/2 from 7.5 % to 25 %, tiles of 1/4 from 3.75 %
#: to 10 % (24 tiles on a 3:2 frame; every tile costs ~2.3 ms).
TILE_LEVELS = ((0.5, 0.25), (0.25, 0.1))
#: Side (px) of the upright crop handed to the landmarker, around one candidate.
CROP_SIDE = 320
#: Crop side as a multiple of the detector's face box (room for forehead, chin).
CROP_SCALE = 2.2
#: Minimum detector score for a candidate.
MIN_CANDIDATE_SCORE = 0.5
#: Minimum score of the landmarker's own detector on the upright crop. Real
#: faces, even 5 % ones, score 0.87-0.94 there; what fools the first detector
#: (colour wheels, rocket tips, a spacesuit collar beside a face) 0.5-0.73.
MIN_CONFIRM_SCORE = 0.8
#: Detector box side per mesh height (chin to mesh top), for a crop made from landmarks.
MESH_TO_BOX = 0.9
#: At most this many faces per crop (a neighbour may show at the edge).
FACES_PER_CROP = 3

#: The face model: Google's MediaPipe Face Landmarker bundle (Apache-2.0), with
#: its face detector inside. ``processing/models/README.md`` says where it
#: comes from.
MODEL_PACKAGE = "processing.models"
MODEL_FILE = "face_landmarker.task"
MODEL_SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"

# Named landmarks used for geometry (subject's left/right).
FOREHEAD_TOP = 10
MID_FOREHEAD = 151
BROWS_MIDDLE = 9
CHIN = 152
NOSE_TIP = 1
RIGHT_IRIS_CENTER = 468
LEFT_IRIS_CENTER = 473
RIGHT_EYE_OUTER = 33
LEFT_EYE_OUTER = 263

# Nostril openings. Face Mesh has no nostril edge set: these rings of vertices
# around the dark openings under the alae were read off the mesh on a frontal
# face (subject's right), and the left ring is the mesh's mirror vertices.
RIGHT_NOSTRIL = (79, 237, 239, 238, 20, 241, 242, 97, 99, 60)
LEFT_NOSTRIL = (309, 457, 459, 458, 250, 461, 462, 326, 328, 290)

@dataclass(frozen=True)
class FaceLandmarks:
    """Face Mesh landmarks of one face, in full-resolution pixels.

    Attributes
    ----------
    points : ndarray, float32, shape (478, 2)
        x, y of each landmark in pixels of the input image (iris points included).
    bbox : tuple of int
        x0, y0, x1, y1 bounding box of the points, in pixels (x1, y1 exclusive).
    score : float
        Face detector confidence of the candidate that led to this face, in [0, 1].
    roll : float
        In-plane rotation of the face in degrees: direction of the line from
        the subject's right eye to the left eye, in image axes (y down). 0 is
        upright, 90 has the top of the head towards +x, +-180 upside down.
    """

    points: np.ndarray
    bbox: tuple[int, int, int, int]
    score: float
    roll: float

    @property
    def height(self) -> float:
        """Chin to top-of-mesh distance in pixels (Face Mesh stops below the hairline)."""
        return float(np.linalg.norm(self.points[FOREHEAD_TOP] - self.points[CHIN]))

    @property
    def up(self) -> np.ndarray:
        """Unit vector from the chin towards the top of the head, image x, y."""
        v = self.points[FOREHEAD_TOP] - self.points[CHIN]
        return (v / max(float(np.linalg.norm(v)), 1e-6)).astype(np.float32)


# --------------------------------------------------------------------------
# Index polygons, derived from mediapipe's edge sets.
# --------------------------------------------------------------------------

def _chain_edges(edges) -> list[tuple[list[int], bool]]:
    """Chain an undirected edge set into paths; returns ``(vertices, closed)`` per component."""
    graph: dict[int, set[int]] = defaultdict(set)
    for a, b in edges:
        graph[a].add(b)
        graph[b].add(a)
    seen: set[int] = set()
    chains = []
    # Start open paths at an end (degree 1) so they come out in one piece.
    starts = sorted(graph, key=lambda v: (len(graph[v]) != 1, v))
    for start in starts:
        if start in seen:
            continue
        path, prev, cur = [start], None, start
        seen.add(start)
        while True:
            nxt = [n for n in sorted(graph[cur]) if n != prev and n not in seen]
            if not nxt:
                break
            prev, cur = cur, nxt[0]
            path.append(cur)
            seen.add(cur)
        closed = len(path) > 2 and path[0] in graph[path[-1]]
        chains.append((path, closed))
    return chains


def _hops(graph: dict[int, set[int]], a: int, b: int) -> int:
    """Breadth-first distance between two mesh vertices, in edges."""
    if a == b:
        return 0
    seen, queue = {a}, deque([(a, 0)])
    while queue:
        v, d = queue.popleft()
        for n in graph[v]:
            if n == b:
                return d + 1
            if n not in seen:
                seen.add(n)
                queue.append((n, d + 1))
    return 10**6


def _edges(name: str) -> list[tuple[int, int]]:
    """Mesh edge set ``name`` (``"TESSELATION"``, ``"LIPS"``...) as index pairs."""
    FaceLandmarksConnections = _mediapipe().vision.FaceLandmarksConnections
    return [(c.start, c.end) for c in getattr(FaceLandmarksConnections, f"FACE_LANDMARKS_{name}")]


def _mesh_graph() -> dict[int, set[int]]:
    graph: dict[int, set[int]] = defaultdict(set)
    for a, b in _edges("TESSELATION"):
        graph[a].add(b)
        graph[b].add(a)
    return graph


def _closed_polygon(edges, graph) -> tuple[int, ...]:
    """One closed polygon from an edge set that is a cycle or two open chains.

    Two open chains (upper and lower eyebrow) are joined end to end, pairing the
    ends that are nearest on the mesh, so the outline does not cross itself.
    """
    chains = _chain_edges(edges)
    if len(chains) == 1:
        return tuple(chains[0][0])
    (a, _), (b, _) = chains[:2]
    same = _hops(graph, a[0], b[0]) + _hops(graph, a[-1], b[-1])
    crossed = _hops(graph, a[0], b[-1]) + _hops(graph, a[-1], b[0])
    return tuple(a + (b[::-1] if same <= crossed else b))


@functools.lru_cache(maxsize=1)
def polygon_indices() -> dict[str, tuple[int, ...]]:
    """Landmark indices of the closed outlines used by the skin mask.

    Returns
    -------
    dict
        ``'face_oval'``, ``'left_eye'``, ``'right_eye'``, ``'left_brow'``,
        ``'right_brow'``, ``'lips'`` (outer outline: the whole mouth),
        ``'lips_inner'``, ``'left_iris'``, ``'right_iris'``, ``'left_nostril'``,
        ``'right_nostril'`` and ``'nose'`` (vertices of the nose outline; take
        their convex hull) -> tuple of landmark indices, in outline order.
    """
    graph = _mesh_graph()
    out = {
        "face_oval": _closed_polygon(_edges("FACE_OVAL"), graph),
        "left_eye": _closed_polygon(_edges("LEFT_EYE"), graph),
        "right_eye": _closed_polygon(_edges("RIGHT_EYE"), graph),
        "left_brow": _closed_polygon(_edges("LEFT_EYEBROW"), graph),
        "right_brow": _closed_polygon(_edges("RIGHT_EYEBROW"), graph),
        "left_iris": _closed_polygon(_edges("LEFT_IRIS"), graph),
        "right_iris": _closed_polygon(_edges("RIGHT_IRIS"), graph),
    }
    # The lips edge set is two rings. The outer one borders skin: its vertices
    # have mesh neighbours outside both rings; the inner one only borders the lips.
    rings = [c for c, closed in _chain_edges(_edges("LIPS")) if closed]
    lip_vertices = set().union(*rings)
    outside = [sum(len(graph[v] - lip_vertices) for v in ring) for ring in rings]
    order = np.argsort(outside)[::-1]
    out["lips"] = tuple(rings[order[0]])
    out["lips_inner"] = tuple(rings[order[1]])
    out["nose"] = tuple(sorted({v for e in _edges("NOSE") for v in e}))
    out["left_nostril"] = LEFT_NOSTRIL
    out["right_nostril"] = RIGHT_NOSTRIL
    return out


# --------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------

class FaceModelError(RuntimeError):
    """The face model file is missing or is not the one Retexture shipped."""


def model_bytes(path=None) -> bytes:
    """The face model's bytes, checked against :data:`MODEL_SHA256`.

    Parameters
    ----------
    path : path-like, optional
        Where to read the model; default: the copy inside the installed package.

    Raises
    ------
    FaceModelError
        When the file is missing or its sha256 differs (one sentence).
    """
    source = resources.files(MODEL_PACKAGE).joinpath(MODEL_FILE) if path is None else Path(path)
    try:
        data = source.read_bytes()
    except OSError:
        raise FaceModelError(f"The face model {MODEL_FILE} is missing from {source}: "
                             "reinstall Retexture to get it back.") from None
    if hashlib.sha256(data).hexdigest() != MODEL_SHA256:
        raise FaceModelError(f"The face model {source} is not the file Retexture shipped "
                             "(its sha256 differs): reinstall Retexture to get it back.")
    return data


# Native log lines: glog/absl ("W0000 00:00:17... file.cc:12] ..."), TFLite and
# LiteRT ("INFO: ...") and absl's warning about logging before InitGoogle.
_NATIVE_LOG = re.compile(rb"^([IWEF]\d{4} [\d:.]+\s+\d+ \S+:\d+\]"
                         rb"|(INFO|WARNING|ERROR|VERBOSE): )")


@contextlib.contextmanager
def _native_logs_hidden():
    """Keep mediapipe's and TFLite's log lines off stderr while the block runs.

    They write from C++ straight to file descriptor 2, which no Python setting
    reaches. Descriptor 2 goes to a temporary file for the block; afterwards
    every line that is not a native log line (another thread's message, a
    Python warning) is written to the real stderr, so nothing else is lost.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, AttributeError, ValueError):
        yield  # no stderr to protect (pythonw, closed stream)
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            try:
                sys.stderr.flush()
            except (OSError, ValueError):
                pass
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            kept = [line for line in sink.read().splitlines(keepends=True) if not _NATIVE_LOG.match(line)]
            if kept:
                os.write(2, b"".join(kept))


#: mediapipe's task packages that face finding never uses (see :func:`_mediapipe`).
UNUSED_TASK_PACKAGES = tuple(f"mediapipe.tasks.python.{name}" for name in ("audio", "decision", "retrieval", "text"))


@functools.lru_cache(maxsize=1)
def _mediapipe():
    """What Retexture uses of mediapipe (``Image``, ``ImageFormat``,
    ``BaseOptions``, ``vision``), imported once without matplotlib or sounddevice.

    mediapipe's vision package imports ``matplotlib.pyplot`` for plotting
    helpers this project never calls: half a second of every command's run
    and of every batch worker's start. While mediapipe imports, empty
    stand-ins take the places of ``matplotlib`` and ``matplotlib.pyplot``
    (unless matplotlib is loaded already). Its audio package imports
    ``sounddevice`` (0.1 s: it loads PortAudio) for microphone recording and
    takes an ImportError as "no audio": the import is blocked meanwhile. The
    task packages for sound, text, decisions and retrieval, which mediapipe
    imports with the vision tasks and face finding never uses, are empty
    stand-ins too (a fifth of the import: 0.02 s of every run). All are undone
    afterwards, so a later real import is unaffected.
    """
    stand_ins = {}
    if "matplotlib" not in sys.modules:
        for name in ("matplotlib", "matplotlib.pyplot"):
            stand_ins[name] = sys.modules[name] = types.ModuleType(name)
        stand_ins["matplotlib"].pyplot = stand_ins["matplotlib.pyplot"]
    if "mediapipe" not in sys.modules:
        for name in UNUSED_TASK_PACKAGES:
            stand_ins[name] = sys.modules[name] = types.ModuleType(name)
    if "sounddevice" not in sys.modules:
        stand_ins["sounddevice"] = sys.modules["sounddevice"] = None  # None in sys.modules: ImportError
    try:
        from mediapipe import Image, ImageFormat
        from mediapipe.tasks.python import BaseOptions, vision
    finally:
        for name, module in stand_ins.items():
            if name in sys.modules and sys.modules[name] is module:
                del sys.modules[name]
            parent, _, child = name.rpartition(".")
            if parent and getattr(sys.modules.get(parent), child, None) is module:
                delattr(sys.modules[parent], child)  # a later real import binds the real one
    return types.SimpleNamespace(Image=Image, ImageFormat=ImageFormat, BaseOptions=BaseOptions, vision=vision)


class _Models:
    """The process's landmarker and detector, made on first use."""

    def __init__(self):
        self.landmarker = None
        self.detector = None
        self._buffers: tuple[bytes, ...] = ()  # kept alive while the C side may read them
        self._exit_hook_set = False

    def open(self):
        if self.landmarker is not None:
            return self
        bundle = model_bytes()
        detector = zipfile.ZipFile(io.BytesIO(bundle)).read("face_detector.tflite")
        with _native_logs_hidden():
            mp = _mediapipe()
            BaseOptions, vision = mp.BaseOptions, mp.vision
            self.landmarker = vision.FaceLandmarker.create_from_options(vision.FaceLandmarkerOptions(
                base_options=BaseOptions(model_asset_buffer=bundle),
                num_faces=FACES_PER_CROP, min_face_detection_confidence=MIN_CONFIRM_SCORE))
            self.detector = vision.FaceDetector.create_from_options(vision.FaceDetectorOptions(
                base_options=BaseOptions(model_asset_buffer=detector),
                min_detection_confidence=MIN_CANDIDATE_SCORE))
        self._buffers = (bundle, detector)
        if self._exit_hook_set:
            return self
        self._exit_hook_set = True
        # Before interpreter shutdown stops mediapipe's dispatch threads (they
        # stop in threading's exit hooks, which run before atexit's and in the
        # reverse order of registration): closing later prints tracebacks.
        getattr(threading, "_register_atexit", atexit.register)(close)
        return self

    def close(self):
        with _native_logs_hidden():
            for model in (self.landmarker, self.detector):
                if model is not None:
                    model.close()
        self.landmarker = self.detector = None
        self._buffers = ()


_LOCK = threading.Lock()
_MODELS = _Models()


def open_models() -> None:
    """Load the face model now (it is otherwise loaded by the first search)."""
    with _LOCK:
        _MODELS.open()


def close() -> None:
    """Free the landmarker and detector; the next search loads them again.

    Runs at interpreter exit too: mediapipe's own clean-up at that point
    prints a traceback.
    """
    with _LOCK:
        _MODELS.close()


def _run(which: str, rgb: np.ndarray):
    """Landmarker (``"mesh"``) or detector (``"detect"``) on an RGB uint8 image."""
    mp = _mediapipe()
    image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
    with _LOCK, _native_logs_hidden():
        models = _MODELS.open()
        found = (models.landmarker if which == "mesh" else models.detector).detect(image)
    _forget_audio_import_error()
    return found


def _forget_audio_import_error() -> None:
    """mediapipe keeps the error of its optional audio import (no PortAudio)
    in a module global, traceback and all: every frame running when mediapipe was
    first imported (the caller's whole pipeline call, photos included) would
    stay alive with it for the life of the process."""
    record = sys.modules.get("mediapipe.tasks.python.audio.core.audio_record")
    error = getattr(record, "sd_error", None)
    if error is not None:
        error.__traceback__ = None


# --------------------------------------------------------------------------
# Image helpers
# --------------------------------------------------------------------------

def _downscale(image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """Area-averaged copy with long side ``<= max_side`` and its scale (work px per image px)."""
    h, w = image.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale >= 1.0:
        return image, 1.0
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if image.ndim == 3 and image.shape[2] == 4:
        image = image[..., :3]  # cv2 resizes a 3-channel view fine, and it is less work
    if scale < 0.5:
        # Nearest-neighbour to twice the size first: area averaging over a
        # non-integer factor is ten times slower on 24 MP, and 2x supersampling
        # is anti-aliasing enough for the detectors.
        image = cv2.resize(image, (size[0] * 2, size[1] * 2), interpolation=cv2.INTER_NEAREST)
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return small, size[0] / w


def _rot_point_back(xy: np.ndarray, k: int, w: int, h: int) -> np.ndarray:
    """Map x, y in ``np.rot90(img, k)`` back to x, y in ``img`` of size ``w`` x ``h``."""
    x, y = xy[..., 0], xy[..., 1]
    if k == 0:
        out = (x, y)
    elif k == 1:
        out = (w - y, x)
    elif k == 2:
        out = (w - x, h - y)
    else:
        out = (y, h - x)
    return np.stack(out, axis=-1)


def _tiles(w: int, h: int, side: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """Square tiles of ``side`` px overlapping by at least ``overlap`` px, covering ``w`` x ``h``."""
    def starts(n):
        if n <= side:
            return [0]
        count = math.ceil((n - side) / (side - overlap)) + 1
        return [round(i * (n - side) / (count - 1)) for i in range(count)]
    return [(x, y, min(w, x + side), min(h, y + side)) for y in starts(h) for x in starts(w)]


# --------------------------------------------------------------------------
# Candidates
# --------------------------------------------------------------------------

@dataclass
class _Candidate:
    center: np.ndarray  # x, y in work pixels
    side: float         # detector box side, work pixels
    angle: float        # roll in radians: direction of the subject's right->left eye vector
    score: float


def _detect(rgb: np.ndarray, k: int, offset: tuple[float, float],
            frame: tuple[int, int]) -> list[_Candidate]:
    """Run the detector on ``rgb``: a tile of the frame rotated by ``k`` quarter turns.

    ``offset`` is the tile's corner in the rotated frame and ``frame`` the
    (w, h) of the unrotated frame, in work pixels.
    """
    result = _run("detect", rgb)
    th, tw = rgb.shape[:2]
    fw, fh = frame
    out = []
    for det in result.detections:
        box = det.bounding_box  # pixels of the tile
        kp = np.array([(p.x * tw, p.y * th) for p in det.keypoints[:2]], np.float32)
        corners = np.array([[box.origin_x, box.origin_y],
                            [box.origin_x + box.width, box.origin_y + box.height]], np.float32)
        pts = np.concatenate([corners, kp]) + offset
        pts = _rot_point_back(pts, k, fw, fh) if k else pts
        c = pts[:2].mean(axis=0)
        side = float(max(box.width, box.height))
        eye_r, eye_l = pts[2], pts[3]
        angle = math.atan2(float(eye_l[1] - eye_r[1]), float(eye_l[0] - eye_r[0]))
        out.append(_Candidate(c, side, angle, float(det.categories[0].score)))
    return out


def _suppress(cands: list[_Candidate], overlap: float = 0.3) -> list[_Candidate]:
    """Non-maximum suppression on square boxes (IoU > ``overlap`` is a duplicate)."""
    kept: list[_Candidate] = []
    for c in sorted(cands, key=lambda c: -c.score):
        if all(_iou_sq(c, k) <= overlap for k in kept):
            kept.append(c)
    return kept


def _iou_sq(a: _Candidate, b: _Candidate) -> float:
    return _iou(_box(a.center, a.side), _box(b.center, b.side))


def _box(center, side) -> tuple[float, float, float, float]:
    h = side / 2
    return (center[0] - h, center[1] - h, center[0] + h, center[1] + h)


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _candidates(work: np.ndarray, whole=(0, 2), tiled=(0,)) -> list[_Candidate]:
    """Face candidates in the work image, in work pixels.

    ``whole``: quarter turns at which the whole frame is searched for big faces
    (it tolerates roll, so upright and upside down find faces at any angle).
    ``tiled``: quarter turns at which the tile levels are searched for small
    faces (the detector wants small faces nearer upright).
    """
    h, w = work.shape[:2]
    out: list[_Candidate] = []
    for k in whole:
        out += _detect(np.rot90(work, k), k, (0, 0), (w, h))
    for k in tiled:
        rot = np.rot90(work, k) if k else work
        rh, rw = rot.shape[:2]
        long_side = max(rw, rh)
        for side, overlap in TILE_LEVELS:
            side_px = int(side * long_side)
            for x0, y0, x1, y1 in _tiles(rw, rh, side_px, int(overlap * long_side)):
                out += _detect(rot[y0:y1, x0:x1], k, (x0, y0), (w, h))
    return out


# --------------------------------------------------------------------------
# Landmarks on crops
# --------------------------------------------------------------------------

def _upright_crop(image: np.ndarray, center: np.ndarray, side: float, angle: float,
                  out_side: int) -> tuple[np.ndarray, np.ndarray]:
    """Rotated square crop of ``image``, anti-aliased.

    ``center`` and ``side`` are in pixels of ``image``; ``angle`` (radians) is
    the direction of the crop's x axis in the image.

    Returns the RGB uint8 crop and the 2x3 affine matrix mapping crop pixels to
    image pixels.
    """
    h, w = image.shape[:2]
    scale = out_side / side  # crop px per image px
    # Shrink the axis-aligned region first with area averaging: warpAffine
    # only interpolates, which aliases when shrinking a 24 MP face to 320 px.
    r = side * (abs(math.cos(angle)) + abs(math.sin(angle))) / 2 + 2
    x0, y0 = max(0, int(center[0] - r)), max(0, int(center[1] - r))
    x1, y1 = min(w, int(math.ceil(center[0] + r))), min(h, int(math.ceil(center[1] + r)))
    region = image[y0:y1, x0:x1]
    pre_x = pre_y = 1.0
    if scale < 0.7 and region.size:
        region, _ = _downscale(region, max(1, round(max(region.shape[:2]) * scale * 1.5)))
        pre_x, pre_y = region.shape[1] / (x1 - x0), region.shape[0] / (y1 - y0)
    region = to_rgb_uint8(region)
    # crop pixel u -> image pixel: center + R(angle) @ ((u - out_side/2) / scale)
    c, s = math.cos(angle), math.sin(angle)
    to_image = np.array([[c / scale, -s / scale, 0.0], [s / scale, c / scale, 0.0]], np.float64)
    to_image[:, 2] = np.asarray(center, np.float64) - to_image[:, :2] @ (out_side / 2, out_side / 2)
    # image pixel -> region pixel
    to_region = np.array([[pre_x, 0, -x0 * pre_x], [0, pre_y, -y0 * pre_y]], np.float64)
    crop_to_region = to_region[:, :2] @ to_image
    crop_to_region = np.concatenate([crop_to_region[:, :2],
                                     (to_region[:, :2] @ to_image[:, 2] + to_region[:, 2])[:, None]], 1)
    if region.size == 0:
        return np.zeros((out_side, out_side, 3), np.uint8), to_image
    crop = cv2.warpAffine(region, crop_to_region, (out_side, out_side),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    return crop, to_image


def _plausible(points: np.ndarray) -> bool:
    """Landmark sanity: a face, not a mesh stretched over a pattern."""
    height = float(np.linalg.norm(points[FOREHEAD_TOP] - points[CHIN]))
    if not np.isfinite(points).all() or height < 8.0:
        return False
    eyes = float(np.linalg.norm(points[LEFT_IRIS_CENTER] - points[RIGHT_IRIS_CENTER]))
    # Frontal to three-quarter faces: irises 0.2-0.7 of the mesh height apart.
    if not 0.12 <= eyes / height <= 0.9:
        return False
    up = points[FOREHEAD_TOP] - points[CHIN]
    eyes_mid = (points[LEFT_IRIS_CENTER] + points[RIGHT_IRIS_CENTER]) / 2
    # The eyes sit above the nose tip along the face's own up direction.
    return float(np.dot(eyes_mid - points[NOSE_TIP], up)) > 0


def _mesh_on_candidate(image: np.ndarray, work: np.ndarray, cand: _Candidate, work_scale: float):
    """The landmarker around ``cand``, then again around what it found; full-res points or None.

    The second pass is cut square to the face's own eye line and size, not to
    the detector's coarser box: the same face then gets the same landmarks
    whichever way the photo is turned (skin masks of a group photo and of the
    same photo turned a quarter agree to IoU >= 0.94 per face with it, 0.91
    without it).
    """
    first = _mesh_in_crop(image, work, cand, work_scale)
    if first is None:
        return None
    eye = first[LEFT_EYE_OUTER] - first[RIGHT_EYE_OUTER]
    around = _Candidate(center=(first.min(axis=0) + first.max(axis=0)) / 2 * work_scale,
                        side=MESH_TO_BOX * float(np.linalg.norm(first[FOREHEAD_TOP] - first[CHIN])) * work_scale,
                        angle=math.atan2(float(eye[1]), float(eye[0])), score=cand.score)
    again = _mesh_in_crop(image, work, around, work_scale)
    return first if again is None else again


def _mesh_in_crop(image: np.ndarray, work: np.ndarray, cand: _Candidate, work_scale: float):
    """The landmarker on an upright crop around ``cand``; full-res points or None."""
    side = cand.side * CROP_SCALE
    if side >= CROP_SIDE or work_scale == 1.0:
        # The work copy has all the pixels the crop needs: skip the full-res read.
        crop, to_work = _upright_crop(work, cand.center, side, cand.angle, CROP_SIDE)
        to_image = to_work / work_scale
    else:
        # Small face: cut it from the full-resolution image.
        crop, to_image = _upright_crop(image, cand.center / work_scale, side / work_scale,
                                       cand.angle, CROP_SIDE)
    result = _run("mesh", crop)
    if not result.face_landmarks:
        return None
    best, best_d = None, np.inf
    for face in result.face_landmarks:
        uv = np.array([(p.x, p.y) for p in face], np.float64) * CROP_SIDE
        d = float(np.linalg.norm(uv.mean(axis=0) - CROP_SIDE / 2))
        if d < best_d:
            best, best_d = uv, d
    pts = (best @ to_image[:, :2].T + to_image[:, 2]).astype(np.float32)
    # Must be the candidate's face, not a neighbour in the crop.
    if best_d > CROP_SIDE * 0.25:
        return None
    return pts if _plausible(pts) else None


def _bbox(points: np.ndarray, w: int, h: int) -> tuple[int, int, int, int]:
    x0, y0 = np.floor(points.min(axis=0)).astype(int)
    x1, y1 = np.ceil(points.max(axis=0)).astype(int) + 1
    return (max(0, int(x0)), max(0, int(y0)), min(w, int(x1)), min(h, int(y1)))


def detect_faces(image: np.ndarray, max_side: int = WORK_SIDE,
                 on_face: Callable[[FaceLandmarks], None] | None = None) -> list[FaceLandmarks]:
    """Find every face and its 478 Face Mesh landmarks.

    Parameters
    ----------
    image : ndarray, shape (H, W), (H, W, 3) or (H, W, 4)
        RGB(A) or gray; uint8, uint16 or float in [0, 1]. Alpha is ignored.
    max_side : int
        Long side in pixels of the downscaled copy searched for candidates.
        Faces at least ~5 % of the long side wide are found.
    on_face : callable, optional
        Called with each face as soon as it is confirmed (before the others
        are searched), so other work can start on it.

    Returns
    -------
    list of FaceLandmarks
        Largest face first; empty when there is no face (not an error).
    """
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    h, w = image.shape[:2]
    work, scale = _downscale(image, max_side)
    work = to_rgb_uint8(work)

    faces: list[FaceLandmarks] = []

    def confirm(cands):
        for cand in _suppress(cands):
            c = cand.center / scale
            # Already confirmed: skip the mesh run.
            if any(f.bbox[0] <= c[0] <= f.bbox[2] and f.bbox[1] <= c[1] <= f.bbox[3] for f in faces):
                continue
            pts = _mesh_on_candidate(image, work, cand, scale)
            if pts is None:
                continue
            box = _bbox(pts, w, h)
            if any(_iou(box, f.bbox) > 0.3 for f in faces):
                continue
            eye = pts[LEFT_EYE_OUTER] - pts[RIGHT_EYE_OUTER]
            roll = math.degrees(math.atan2(float(eye[1]), float(eye[0])))
            faces.append(FaceLandmarks(pts, box, cand.score, roll))
            if on_face is not None:
                on_face(faces[-1])

    # Upright whole frame and tiles, plus the whole frame upside down (the
    # short-range detector finds big faces lying at +-90 degrees as they are,
    # but not upside down ones). Small faces are searched at another
    # quarter turn only when a big face was found lying that way, or when
    # nothing was found at all: then the photo is probably sideways.
    confirm(_candidates(work, whole=(0, 2), tiled=(0,)))
    turns = {round(f.roll / 90) % 4 for f in faces} - {0} if faces else {1, 2, 3}
    if turns:
        confirm(_candidates(work, whole=(), tiled=tuple(sorted(turns))))
    faces.sort(key=lambda f: -(f.bbox[2] - f.bbox[0]) * (f.bbox[3] - f.bbox[1]))
    return faces

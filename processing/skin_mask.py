"""Automatic skin mask: the face, minus eyes, brows, mouth and nostrils, and minus hair.

For each face found by :mod:`processing.landmarks` the mask is the Face Mesh
face oval, with its upper part raised towards the hairline (Face Mesh stops
short of it), minus the eyes (with a margin for lids and lashes), the brows,
the whole mouth and the nostrils. The edge is feathered by a blur whose width
follows the face size, so a group photo gets the same look on every face.

Given the picture, each face's polygons are then multiplied by how much the
picture looks like that face's own skin (:mod:`processing.skin_likeness`):
a fringe over the forehead, a beard or glasses frames drop out, so the
forehead extension is an upper bound that stops at the hair.

Everything is computed as polygons in full-resolution pixel coordinates first;
rasterizing happens only inside each face's box, at a reduced scale when the
feather is wide enough to hide it. Pure numpy and OpenCV: no mediapipe here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from processing import landmarks as lm
from processing.memory import sparse_zeros
from processing.row_bands import map_items
from processing.skin_likeness import LikenessRegions, likeness_on_grid, skin_likeness

#: Outward margins of the holes, as fractions of the face height (chin to mesh top).
EYE_MARGIN = 0.035
BROW_MARGIN = 0.03
LIPS_MARGIN = 0.015
NOSTRIL_MARGIN = 0.008
#: Raster scale floor: keep at least this many pixels across a face box.
MIN_RASTER_SIDE = 400
#: Gaussian sigma (px, at raster scale) above which we shrink the raster instead.
RASTER_SIGMA = 3.0
#: Inset of the inner face (where hair is rare) from the oval, fraction of the face height.
INNER_INSET = 0.08
#: The cheeks' skin samples end this far below the nose tip (fraction of the
#: face height, about the upper lip): above most beards, and enough skin.
CHEEK_SAMPLE_DROP = 0.15
#: Sigma of a Gaussian whose 10 %-90 % edge ramp is 1 px wide.
_RAMP_PER_SIGMA = 2.563

REGION_NAMES = ("forehead", "left_cheek", "right_cheek", "nose", "chin")


@dataclass
class FaceMask:
    """Polygons of one face's skin, in full-resolution pixels (x, y).

    Attributes
    ----------
    oval : ndarray, float32, shape (N, 2)
        Face outline, forehead extension included.
    holes : dict of str to ndarray
        Areas cut out of the oval: ``'left_eye'``, ``'right_eye'``,
        ``'left_brow'``, ``'right_brow'``, ``'lips'`` (the whole mouth),
        ``'left_nostril'``, ``'right_nostril'``. Left/right are the subject's.
    regions : dict of str to ndarray
        ``'forehead'``, ``'left_cheek'``, ``'right_cheek'``, ``'nose'``,
        ``'chin'``: polygons to weight parts of the face differently. They do
        not overlap but need not cover the whole oval (temples, upper lip).
    bbox : tuple of int
        x0, y0, x1, y1 of the oval in pixels, clipped to the image (x1, y1 exclusive).
    landmarks : ndarray, float32, shape (478, 2)
        Face Mesh points.
    height : float
        Face height in pixels, chin to the top of the mesh (before the
        forehead extension): the unit of the margins and of the feather.
    """

    oval: np.ndarray
    holes: dict[str, np.ndarray]
    regions: dict[str, np.ndarray]
    bbox: tuple[int, int, int, int]
    landmarks: np.ndarray
    height: float = field(default=0.0)


@dataclass
class SkinMaskProposal:
    """What :func:`propose_skin_mask` found.

    Attributes
    ----------
    mask : ndarray, float32, shape (H, W)
        Skin weight in [0, 1] at full resolution, feathered; maximum over faces.
    faces : list of FaceMask
        One per face, largest first.
    message : str
        One sentence for the user.
    """

    mask: np.ndarray
    faces: list[FaceMask]
    message: str


# --------------------------------------------------------------------------
# Polygon helpers
# --------------------------------------------------------------------------

def grow_polygon(poly: np.ndarray, distance: float) -> np.ndarray:
    """Move every edge of a polygon outwards by ``distance`` pixels.

    Vertices move along the bisector of their two edge normals (mitred, with
    the miter capped at 2x so sharp eye corners do not spike out).
    """
    p = np.asarray(poly, np.float64)
    if distance == 0 or len(p) < 3:
        return p.astype(np.float32)
    # The right-hand edge normal points outwards for one winding only: flip it
    # for the other (sign of the shoelace sum).
    signed = float(np.dot(p[:, 0], np.roll(p[:, 1], -1)) - np.dot(p[:, 1], np.roll(p[:, 0], -1)))
    edges = np.roll(p, -1, axis=0) - p
    normals = np.stack([edges[:, 1], -edges[:, 0]], axis=1)  # right-hand normal
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-9)
    if signed < 0:
        normals = -normals
    # Vertex i joins edge i-1 and edge i.
    n_prev, n_next = np.roll(normals, 1, axis=0), normals
    bisector = n_prev + n_next
    norm = np.linalg.norm(bisector, axis=1, keepdims=True)
    bisector = np.where(norm > 1e-9, bisector / np.maximum(norm, 1e-9), n_next)
    cos_half = np.clip(np.sum(bisector * n_next, axis=1, keepdims=True), 0.5, 1.0)
    return (p + bisector * (distance / cos_half)).astype(np.float32)


def clip_polygon(poly: np.ndarray, point: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """Part of a polygon on the side of a line where ``normal . (p - point) >= 0``.

    One Sutherland-Hodgman pass; returns an (M, 2) float32 array, possibly empty.
    """
    p = np.asarray(poly, np.float64)
    if len(p) == 0:
        return p.astype(np.float32).reshape(0, 2)
    d = (p - point) @ normal
    out = []
    for i in range(len(p)):
        j = (i + 1) % len(p)
        if d[i] >= 0:
            out.append(p[i])
        if (d[i] >= 0) != (d[j] >= 0):
            t = d[i] / (d[i] - d[j])
            out.append(p[i] + t * (p[j] - p[i]))
    return np.asarray(out, np.float32).reshape(-1, 2)


def _hull(points: np.ndarray) -> np.ndarray:
    return cv2.convexHull(np.asarray(points, np.float32)).reshape(-1, 2)


def _face_axes(pts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Middle of the eye line, the face's up (chin to mesh top) and its subject's
    right-to-left direction square to up, from Face Mesh points (float64)."""
    pts = np.asarray(pts, np.float64)
    up = pts[lm.FOREHEAD_TOP] - pts[lm.CHIN]
    up /= max(np.linalg.norm(up), 1e-6)
    across = pts[lm.LEFT_EYE_OUTER] - pts[lm.RIGHT_EYE_OUTER]
    across -= np.dot(across, up) * up
    across /= max(np.linalg.norm(across), 1e-9)
    return (pts[lm.LEFT_EYE_OUTER] + pts[lm.RIGHT_EYE_OUTER]) / 2, up, across


# --------------------------------------------------------------------------
# Face polygons
# --------------------------------------------------------------------------

def face_mask(face: lm.FaceLandmarks, shape: tuple[int, int], forehead: float = 0.25) -> FaceMask:
    """Skin polygons of one face.

    Parameters
    ----------
    face : FaceLandmarks
    shape : tuple of int
        (H, W) of the image, to clip the bounding box.
    forehead : float
        Raise the top of the oval by this fraction of the face height, along
        the face's own up direction (so rotated faces work too).

    Returns
    -------
    FaceMask
    """
    idx = lm.polygon_indices()
    pts = np.asarray(face.points, np.float32)
    height = face.height
    eye_line, up, across = _face_axes(pts)

    def rise(p):  # height above the eye line, px
        return (np.asarray(p, np.float64) - eye_line) @ up

    def side(p):  # towards the subject's left, px
        return (np.asarray(p, np.float64) - eye_line) @ across

    # Forehead: lift the oval's upper vertices along `up`, fully from 60 % of
    # the way to the top, fading to nothing at the eye line (temples).
    oval = pts[list(idx["face_oval"])].astype(np.float64)
    h = rise(oval)
    weight = np.clip(h / max(0.6 * h.max(), 1e-6), 0.0, 1.0)
    oval = (oval + np.outer(weight * forehead * height, up)).astype(np.float32)

    holes = {
        "left_eye": grow_polygon(pts[list(idx["left_eye"])], EYE_MARGIN * height),
        "right_eye": grow_polygon(pts[list(idx["right_eye"])], EYE_MARGIN * height),
        "left_brow": grow_polygon(pts[list(idx["left_brow"])], BROW_MARGIN * height),
        "right_brow": grow_polygon(pts[list(idx["right_brow"])], BROW_MARGIN * height),
        "lips": grow_polygon(pts[list(idx["lips"])], LIPS_MARGIN * height),
        "left_nostril": grow_polygon(_hull(pts[list(idx["left_nostril"])]), NOSTRIL_MARGIN * height),
        "right_nostril": grow_polygon(_hull(pts[list(idx["right_nostril"])]), NOSTRIL_MARGIN * height),
    }

    nose = _hull(pts[list(idx["nose"])])
    brow_top = max(rise(holes["left_brow"]).max(), rise(holes["right_brow"]).max())
    eye_low = min(rise(holes["left_eye"]).min(), rise(holes["right_eye"]).min())
    mouth_low = rise(holes["lips"]).min()
    nose_left, nose_right = side(nose).max(), side(nose).min()

    def band(poly, low, high):  # keep low <= rise <= high
        poly = clip_polygon(poly, eye_line + low * up, up)
        return clip_polygon(poly, eye_line + high * up, -up)

    def lateral(poly, at, left):  # keep the subject's left (or right) of `at`
        return clip_polygon(poly, eye_line + at * across, across if left else -across)

    below_eyes = band(oval, mouth_low, eye_low)
    regions = {
        "forehead": band(oval, brow_top, 1e9),
        "left_cheek": lateral(below_eyes, nose_left, True),
        "right_cheek": lateral(below_eyes, nose_right, False),
        "nose": nose.astype(np.float32),
        "chin": band(oval, -1e9, mouth_low),
    }

    hgt, wid = shape[:2]
    x0, y0 = np.floor(oval.min(axis=0)).astype(int)
    x1, y1 = np.ceil(oval.max(axis=0)).astype(int) + 1
    bbox = (max(0, int(x0)), max(0, int(y0)), min(wid, int(x1)), min(hgt, int(y1)))
    return FaceMask(oval=oval, holes=holes, regions=regions, bbox=bbox, landmarks=pts, height=height)


def likeness_regions(face: FaceMask) -> LikenessRegions:
    """Where a face's own skin is sampled for :mod:`processing.skin_likeness`.

    Samples: each cheek region down to :data:`CHEEK_SAMPLE_DROP` below the
    nose tip (below any fringe, above most beards) without its outer third
    (where hair or background may reach), and a strip up the middle of the
    forehead from between the brows (Face Mesh point 9) to mid-forehead (point
    151), 0.14 face heights wide. Left out of them: the holes. Inner face,
    where the cut is lenient: the oval inset by :data:`INNER_INSET` of the
    face height, below the eye line.
    """
    pts = np.asarray(face.landmarks, np.float64)
    eye_line, up, across = _face_axes(pts)
    low_end = eye_line + ((pts[lm.NOSE_TIP] - eye_line) @ up - CHEEK_SAMPLE_DROP * face.height) * up
    samples = []
    for name, sign in (("left_cheek", 1.0), ("right_cheek", -1.0)):
        poly = clip_polygon(face.regions[name], low_end, up)
        if len(poly) < 3:
            continue
        reach = sign * ((poly - eye_line) @ across)  # outwards from the nose, px
        near, far = reach.min(), reach.max()
        cut = eye_line + sign * (near + 2.0 / 3.0 * (far - near)) * across
        samples.append(clip_polygon(poly, cut, -sign * across))
    low, high = pts[lm.BROWS_MIDDLE], pts[lm.MID_FOREHEAD]
    half = 0.07 * face.height * across
    samples.append(np.array([low - half, low + half, high + half, high - half], np.float32))
    inner = clip_polygon(grow_polygon(face.oval, -INNER_INSET * face.height), eye_line, -up)
    return LikenessRegions(samples=samples, exclude=list(face.holes.values()), inner=[inner])


# --------------------------------------------------------------------------
# Raster
# --------------------------------------------------------------------------

def _fill(canvas: np.ndarray, poly: np.ndarray, value: float, origin, scale: float) -> None:
    """fillPoly with 1/16 px precision; ``poly`` in image px, canvas pixel centres at integers."""
    if len(poly) < 3:
        return
    q = (np.asarray(poly, np.float64) - origin) * scale - 0.5
    cv2.fillPoly(canvas, [np.round(q * 16).astype(np.int32)], value, lineType=cv2.LINE_8, shift=4)


def _padded_box(face: FaceMask, shape, feather_px: float) -> tuple[int, int, int, int]:
    """The face box grown by the feather's reach (3 sigma), clipped to the image."""
    hgt, wid = shape[:2]
    pad = int(np.ceil(3 * max(0.0, feather_px) / _RAMP_PER_SIGMA)) + 1
    x0, y0, x1, y1 = face.bbox
    return max(0, x0 - pad), max(0, y0 - pad), min(wid, x1 + pad), min(hgt, y1 + pad)


def _boxes_touch(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _face_tile(face: FaceMask, shape, feather_px: float, image=None):
    """Feathered mask of one face over its padded box, possibly at reduced scale.

    With ``image``, the tile is multiplied by the face's skin likeness in it
    (:mod:`processing.skin_likeness`): hair, beard, frames are cut out.
    Returns the tile and the box (x0, y0, x1, y1) in full-res pixels that it
    covers; resize the tile to the box size to use it.
    """
    sigma = max(0.0, feather_px) / _RAMP_PER_SIGMA
    x0, y0, x1, y1 = _padded_box(face, shape, feather_px)
    bw, bh = x1 - x0, y1 - y0
    if bw <= 0 or bh <= 0:
        return np.zeros((0, 0), np.float32), (x0, y0, x0, y0)
    # Rasterize small when a wide feather would hide the detail anyway.
    scale = 1.0
    if sigma > RASTER_SIGMA:
        scale = min(1.0, max(RASTER_SIGMA / sigma, MIN_RASTER_SIDE / max(bw, bh)))
    sw, sh = max(1, round(bw * scale)), max(1, round(bh * scale))
    sx, sy = sw / bw, sh / bh
    tile = np.zeros((sh, sw), np.float32)
    origin = np.array([x0, y0], np.float64)
    scl = np.array([sx, sy])
    _fill(tile, face.oval, 1.0, origin, scl)
    for poly in face.holes.values():
        _fill(tile, poly, 0.0, origin, scl)
    if sigma > 0:
        s = sigma * sx
        k = 2 * int(np.ceil(3 * s)) + 1
        tile = cv2.GaussianBlur(tile, (k, k), s, borderType=cv2.BORDER_CONSTANT)
    if image is not None:
        likeness, factor = skin_likeness(image, (x0, y0, x1, y1), face.height, likeness_regions(face))
        tile *= likeness_on_grid(likeness, factor, (sw, sh), (sx, sy))
    return tile, (x0, y0, x1, y1)


def _paint_tile(mask: np.ndarray, tile: np.ndarray, box: tuple, keep_max: bool) -> tuple:
    """Write one face's feathered mask (:func:`_face_tile`) into ``mask`` (in place); returns its box.

    ``keep_max`` takes the maximum with what is there (overlapping faces);
    otherwise the box is overwritten, which saves a full-res pass.
    """
    x0, y0, x1, y1 = box
    if x1 <= x0 or y1 <= y0:
        return box
    view = mask[y0:y1, x0:x1]
    if keep_max:
        if tile.shape != view.shape:
            tile = cv2.resize(tile, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        np.maximum(view, tile, out=view)
    elif tile.shape != view.shape:
        # Upsample straight into the output: no full-res temporary.
        out = cv2.resize(tile, (x1 - x0, y1 - y0), dst=view, interpolation=cv2.INTER_LINEAR)
        if not np.shares_memory(out, view):
            view[...] = out
    else:
        view[...] = tile
    return box


# --------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------

def _check_image(image) -> np.ndarray:
    image = np.asarray(image)
    ok = image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (1, 3, 4))
    if not ok or image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"Expected an (H, W) gray or (H, W, 3/4) RGB(A) image, got shape {image.shape}.")
    return image


def propose_skin_mask(image, forehead: float = 0.25, feather: float = 0.04) -> SkinMaskProposal:
    """Propose a skin mask covering every face in the picture.

    Parameters
    ----------
    image : ndarray, shape (H, W, 3), (H, W, 4) or (H, W)
        RGB, RGBA (alpha ignored) or gray; uint8, uint16 or float in [0, 1].
    forehead : float
        Extend the forehead above the Face Mesh top by this fraction of the
        face height (Face Mesh stops short of the hairline). 0 disables it.
        An upper bound: the mask stops earlier where hair covers the forehead.
    feather : float
        Width of the soft edge, as a fraction of the face height.

    Returns
    -------
    SkinMaskProposal
        A face-less photo gives an all-zero mask and says so: not an error.
    """
    image = _check_image(image)
    return skin_mask_from_landmarks(lm.detect_faces(image), image.shape[:2], forehead, feather, image=image)


def skin_mask_from_landmarks(found: list, shape, forehead: float = 0.25,
                             feather: float = 0.04, image=None) -> SkinMaskProposal:
    """The skin mask of faces already found (:func:`processing.landmarks.detect_faces`).

    Finding faces is the slow part; a new forehead or feather only redraws.

    Parameters
    ----------
    found : list of FaceLandmarks
    shape : (H, W)
        Size of the image the landmarks are in, px.
    forehead, feather : float
        Fractions of the face height, as in :func:`propose_skin_mask`.
    image : ndarray, optional
        The picture the landmarks were found in (as :func:`propose_skin_mask`
        takes it). With it, each face's mask stops where the picture stops
        looking like that face's skin (:mod:`processing.skin_likeness`): hair
        over the forehead, a beard, glasses frames. Without it, the mask is the
        landmarks' polygons alone (the upper bound of the mask with it).
    """
    if forehead < 0 or feather < 0:
        raise ValueError(f"forehead and feather must be >= 0 (got {forehead}, {feather}).")
    shape = tuple(shape[:2])
    if image is not None:
        image = _check_image(image)
        if image.shape[:2] != shape:
            raise ValueError(f"The image is {image.shape[1]}x{image.shape[0]} but the landmarks' "
                             f"shape is {shape[1]}x{shape[0]}.")
    faces = [face_mask(f, shape, forehead) for f in found]
    mask = sparse_zeros(shape, np.float32)  # resident only around the faces
    # The faces' tiles are independent: made on the band threads, painted in turn.
    tiles = map_items(lambda face: _face_tile(face, shape, feather * face.height, image), faces)
    painted: list[tuple[int, int, int, int]] = []
    for face, (tile, box) in zip(faces, tiles):
        tile_box = _padded_box(face, shape, feather * face.height)
        overlaps = any(_boxes_touch(tile_box, b) for b in painted)
        painted.append(_paint_tile(mask, tile, box, keep_max=overlaps))
    if not faces:
        message = "No face found: paint the skin mask by hand."
    elif len(faces) == 1:
        message = "Found 1 face."
    else:
        message = f"Found {len(faces)} faces."
    return SkinMaskProposal(mask=mask, faces=faces, message=message)

"""Face landmarks and the automatic skin mask.

The reference points below were picked BY EYE on a 4x / 8x enlarged crop of
``skimage.data.astronaut()`` with a 5 px grid drawn on it, not from the code's
output. Coordinates are (x, y) pixels of the 512 x 512 picture.
"""

from __future__ import annotations

import subprocess
import sys
import threading

import cv2
import numpy as np
import pytest
import skimage.data
from skimage.measure import points_in_poly

from tests.face_scenes import (BROW_LINE, bald_forehead, face_crop, fringe_of_strands, glasses_and_beard,
                               group_photo, textured_canvas, toned)
from processing.landmarks import detect_faces
from processing.skin_mask import (FaceMask, SkinMaskProposal, clip_polygon, grow_polygon,
                                  propose_skin_mask, skin_mask_from_landmarks)

SKIN = {
    "right_cheek": (197, 125),  # picture's left cheek, between nose and jaw, at nose height
    "left_cheek": (255, 126),   # picture's right cheek, same height
    "forehead": (224, 82),      # between the fringe (y ~ 76) and the brows (y ~ 90)
    "chin": (222, 168),         # between the lower lip (y ~ 157) and the jaw edge (y ~ 179)
}
NOT_SKIN = {
    "right_pupil": (203, 101),  # dark centre of the picture's left eye
    "left_pupil": (246, 103),   # dark centre of the picture's right eye
    "right_brow": (205, 91),    # middle of the picture's left brow
    "left_brow": (248, 93),     # middle of the picture's right brow
    "mouth": (222, 146),        # teeth, centre of the open smile
}
FACE_CENTER = (224, 124)        # nose, roughly the middle of the face
#: In her fringe (x 185-265, y 42-78): locks dark and blond, all painted as
#: skin by the landmarks' forehead extension (mask >= 0.98 there).
FRINGE = [(205, 55), (224, 55), (224, 68), (245, 62), (210, 72), (255, 70), (235, 48), (195, 62)]
#: Forehead skin between the fringe's lowest tips (y ~ 79) and the brows (y ~ 87).
BELOW_FRINGE = [(212, 81), (216, 82), (224, 82), (230, 83), (222, 85)]
#: Forehead centre and cheeks, for the faces without hair over them.
SKIN_CENTRE = [(197, 125), (255, 126), (224, 82), (226, 95), (222, 168)]
ASTRONAUT_SIZE = 512


@pytest.fixture(scope="module")
def astronaut():
    return skimage.data.astronaut()


@pytest.fixture(scope="module")
def astronaut_proposal(astronaut):
    return propose_skin_mask(astronaut)


@pytest.fixture(scope="module")
def astronaut_polygons(astronaut):
    """The landmarks' polygons alone: the mask before the hair cut."""
    return skin_mask_from_landmarks(detect_faces(astronaut), astronaut.shape)


def _check_points(mask, transform=lambda x, y: (x, y)):
    for name, (x, y) in SKIN.items():
        u, v = transform(x, y)
        assert mask[v, u] > 0.9, f"{name} at {(u, v)} should be skin, mask is {mask[v, u]:.2f}"
    for name, (x, y) in NOT_SKIN.items():
        u, v = transform(x, y)
        assert mask[v, u] < 0.1, f"{name} at {(u, v)} should be excluded, mask is {mask[v, u]:.2f}"


# --------------------------------------------------------------------------
# The astronaut, as is and transformed
# --------------------------------------------------------------------------

def test_astronaut_mask(astronaut_proposal):
    p = astronaut_proposal
    assert isinstance(p, SkinMaskProposal)
    assert len(p.faces) == 1
    assert p.message == "Found 1 face."
    assert p.mask.dtype == np.float32 and p.mask.shape == (512, 512)
    assert 0.0 <= p.mask.min() and p.mask.max() <= 1.0
    _check_points(p.mask)


def test_astronaut_face_mask_fields(astronaut_proposal):
    face = astronaut_proposal.faces[0]
    assert isinstance(face, FaceMask)
    assert face.landmarks.shape == (478, 2) and face.landmarks.dtype == np.float32
    assert face.oval.ndim == 2 and face.oval.shape[1] == 2
    assert {"left_eye", "right_eye", "left_brow", "right_brow", "lips"} <= set(face.holes)
    assert {"forehead", "left_cheek", "right_cheek", "nose", "chin"} == set(face.regions)
    x0, y0, x1, y1 = face.bbox
    assert x0 < FACE_CENTER[0] < x1 and y0 < FACE_CENTER[1] < y1
    # The subject's left eye is on the right of an unmirrored picture.
    assert face.holes["left_eye"][:, 0].mean() > face.holes["right_eye"][:, 0].mean()


def test_forehead_extends_along_face_up(astronaut):
    short = propose_skin_mask(astronaut, forehead=0.0).faces[0]
    tall = propose_skin_mask(astronaut, forehead=0.4).faces[0]
    # Upright face: up is -y, so the extension lowers the top of the oval.
    height = short.bbox[3] - short.bbox[1]
    assert tall.oval[:, 1].min() < short.oval[:, 1].min() - 0.25 * height
    assert abs(tall.oval[:, 1].max() - short.oval[:, 1].max()) < 1.0  # chin unchanged


@pytest.mark.parametrize("k", [1, 2, 3])
def test_rotated_astronaut(astronaut, k):
    image = np.ascontiguousarray(np.rot90(astronaut, k))
    n = ASTRONAUT_SIZE - 1

    def transform(x, y):  # np.rot90 turns counter-clockwise
        for _ in range(k):
            x, y = y, n - x
        return x, y

    p = propose_skin_mask(image)
    assert len(p.faces) == 1
    _check_points(p.mask, transform)


def test_mirrored_astronaut(astronaut):
    p = propose_skin_mask(np.ascontiguousarray(astronaut[:, ::-1]))
    assert len(p.faces) == 1
    _check_points(p.mask, lambda x, y: (ASTRONAUT_SIZE - 1 - x, y))


def test_small_face_in_large_canvas(astronaut):
    # The face crop is 15 % of the frame's width, on a textured background.
    x0, y0, x1, y1 = 150, 30, 300, 210
    canvas = textured_canvas(750, 1000)
    ox, oy = 610, 420
    canvas[oy:oy + y1 - y0, ox:ox + x1 - x0] = astronaut[y0:y1, x0:x1]
    p = propose_skin_mask(canvas)
    assert len(p.faces) == 1
    _check_points(p.mask, lambda x, y: (x - x0 + ox, y - y0 + oy))


@pytest.mark.parametrize("convert", ["uint16", "float32", "gray", "rgba"])
def test_input_types(astronaut, astronaut_proposal, convert):
    image = {
        "uint16": astronaut.astype(np.uint16) * 257,
        "float32": astronaut.astype(np.float32) / 255,
        "gray": cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY),
        "rgba": np.dstack([astronaut, np.zeros((512, 512), np.uint8)]),  # transparent: ignored
    }[convert]
    p = propose_skin_mask(image)
    assert len(p.faces) == 1
    assert p.mask.shape == (512, 512)
    if convert != "gray":
        np.testing.assert_allclose(p.faces[0].landmarks, astronaut_proposal.faces[0].landmarks, atol=1.0)
    _check_points(p.mask)


def test_bad_input():
    with pytest.raises(ValueError):
        propose_skin_mask(np.zeros((10, 10, 2), np.uint8))
    with pytest.raises(ValueError, match="landmarks' shape"):
        skin_mask_from_landmarks([], (10, 10), image=np.zeros((10, 12, 3), np.uint8))


# --------------------------------------------------------------------------
# Many faces, no face, patterns
# --------------------------------------------------------------------------

def _match_faces(faces, centers):
    """Each pasted face's middle lies in exactly one found face's box, one to one."""
    assert len(faces) == len(centers)
    unmatched = list(range(len(faces)))
    for x, y in centers:
        hit = [i for i in unmatched if faces[i].bbox[0] <= x <= faces[i].bbox[2]
               and faces[i].bbox[1] <= y <= faces[i].bbox[3]]
        assert len(hit) == 1, f"pasted face at {(x, y)} matched faces {hit}"
        unmatched.remove(hit[0])


def test_group_of_faces(astronaut):
    canvas, centers = group_photo(astronaut)
    p = propose_skin_mask(canvas)
    assert len(p.faces) == len(centers), p.message
    assert p.message == f"Found {len(centers)} faces."
    _match_faces(p.faces, centers)


def test_sideways_group_photo(astronaut):
    # The whole photo turned a quarter: the small faces are found too.
    canvas, centers = group_photo(astronaut)
    p = propose_skin_mask(np.ascontiguousarray(np.rot90(canvas, 1)))
    assert len(p.faces) == len(centers), p.message
    _match_faces(p.faces, [(y, canvas.shape[1] - x) for x, y in centers])


@pytest.mark.parametrize("where", [(40, 40), (700, 450), (1400, 900)])
def test_face_five_percent_wide(astronaut, where):
    crop, _ = face_crop(astronaut)
    s = 0.05 * 1600 / 95
    face = cv2.resize(crop, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    canvas = textured_canvas(1067, 1600, seed=2)
    x, y = where
    canvas[y:y + face.shape[0], x:x + face.shape[1]] = face
    p = propose_skin_mask(canvas)
    assert len(p.faces) == 1, p.message


def test_no_face_is_not_an_error():
    p = propose_skin_mask(skimage.data.coffee())
    assert p.faces == []
    assert p.mask.shape == skimage.data.coffee().shape[:2]
    assert not p.mask.any()
    assert p.message.startswith("No face found")


@pytest.mark.parametrize("pattern", ["brick", "checkerboard", "noise", "colorwheel", "rocket"])
def test_patterns_give_no_face(pattern):
    if pattern == "brick":
        tile = skimage.data.brick()
        image = np.repeat(np.tile(tile, (2, 3))[..., None], 3, axis=2)
    elif pattern == "checkerboard":
        image = np.repeat(np.tile(skimage.data.checkerboard(), (5, 7))[..., None], 3, axis=2)
    elif pattern == "noise":
        image = textured_canvas(900, 1200, seed=3)
    else:  # these two fooled the first face detector once
        image = getattr(skimage.data, pattern)()
    p = propose_skin_mask(image)
    assert p.faces == [], p.message
    assert not p.mask.any()


# --------------------------------------------------------------------------
# Geometry and raster agree
# --------------------------------------------------------------------------

def polygon_area(poly: np.ndarray) -> float:
    """Shoelace area, square pixels (the test's own reference)."""
    p = np.asarray(poly, np.float64)
    x, y = p[:, 0], p[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def region_masks(faces, shape) -> dict:
    """Each named region filled (cv2.fillPoly), cut to the skin (oval minus holes)."""
    out = {}
    for face in faces:
        skin = np.zeros(shape[:2], np.uint8)
        cv2.fillPoly(skin, [np.round(face.oval).astype(np.int32)], 1)
        for hole in face.holes.values():
            cv2.fillPoly(skin, [np.round(hole).astype(np.int32)], 0)
        for name, poly in face.regions.items():
            part = np.zeros(shape[:2], np.uint8)
            cv2.fillPoly(part, [np.round(poly).astype(np.int32)], 1)
            out[name] = out.get(name, np.zeros(shape[:2], bool)) | (part & skin).astype(bool)
    return out


def _skin_area(face: FaceMask) -> float:
    """Oval area (shoelace) minus the holes' union inside it, without any rasterizer.

    Holes may overlap each other (brow and eye margins): their union inside the
    oval is measured by point-in-polygon tests on a 1/4 px grid.
    """
    oval_area = polygon_area(face.oval)
    holes = list(face.holes.values())
    lo = np.floor(np.min([h.min(axis=0) for h in holes], axis=0))
    hi = np.ceil(np.max([h.max(axis=0) for h in holes], axis=0))
    step = 0.25
    xs, ys = np.meshgrid(np.arange(lo[0], hi[0], step) + step / 2, np.arange(lo[1], hi[1], step) + step / 2)
    grid = np.stack([xs.ravel(), ys.ravel()], axis=1)
    in_hole = np.zeros(len(grid), bool)
    for hole in holes:
        in_hole |= points_in_poly(grid, hole)
    in_hole &= points_in_poly(grid, face.oval)
    return oval_area - in_hole.sum() * step * step


def test_polygon_helpers():
    square = np.array([(0, 0), (4, 0), (4, 4), (0, 4)], np.float32)
    for winding in (square, square[::-1]):  # outwards whatever the winding
        grown = grow_polygon(winding, 1.0)
        np.testing.assert_allclose(grown.min(axis=0), (-1, -1), atol=1e-5)
        np.testing.assert_allclose(grown.max(axis=0), (5, 5), atol=1e-5)
    assert polygon_area(square) == pytest.approx(16.0)
    left = clip_polygon(square, np.array([1.0, 0.0]), np.array([-1.0, 0.0]))
    assert polygon_area(left) == pytest.approx(4.0)


@pytest.mark.parametrize("feather", [0.0, 0.04])
def test_polygons_and_raster_agree(astronaut, feather):
    # Without the picture the mask is the polygons alone (the hair cut aside).
    found = detect_faces(astronaut)
    p = skin_mask_from_landmarks(found, astronaut.shape, 0.25, feather)
    face = p.faces[0]
    assert abs(polygon_area(face.oval) - abs(cv2.contourArea(face.oval))) < 1e-2
    expected = _skin_area(face)
    measured = float((p.mask >= 0.5).sum())
    assert abs(measured - expected) / expected < 0.03, (measured, expected)
    # Redrawn from the landmarks already found, with the picture, the mask is the proposal's.
    again = skin_mask_from_landmarks(found, astronaut.shape, 0.25, feather, image=astronaut)
    np.testing.assert_array_equal(again.mask, propose_skin_mask(astronaut, feather=feather).mask)


def test_region_masks(astronaut_proposal, astronaut_polygons, astronaut):
    regions = region_masks(astronaut_proposal.faces, astronaut.shape)
    assert set(regions) == {"forehead", "left_cheek", "right_cheek", "nose", "chin"}
    total = np.zeros(astronaut.shape[:2], int)
    for name, m in regions.items():
        assert m.dtype == bool and m.any(), name
        total += m
    assert (total > 1).mean() < 0.002  # regions do not overlap (shared edges aside)
    # They lie on the polygons' skin; the forehead region also holds her fringe, which the hair cut removes.
    assert (astronaut_polygons.mask[total > 0] > 0.3).mean() > 0.97
    for name, point in [("forehead", SKIN["forehead"]), ("chin", SKIN["chin"]),
                        ("left_cheek", SKIN["left_cheek"]), ("right_cheek", SKIN["right_cheek"])]:
        assert regions[name][point[1], point[0]], name


# --------------------------------------------------------------------------
# Hair: the mask stops where the picture stops looking like the face's skin
# --------------------------------------------------------------------------

def _masks(picture):
    """The landmarks' polygons alone, and the mask cut to the skin, for one face."""
    found = detect_faces(picture)
    assert len(found) == 1
    before = skin_mask_from_landmarks(found, picture.shape)
    after = skin_mask_from_landmarks(found, picture.shape, image=picture)
    return before.mask, after.mask, before.faces[0]


def _inner(face: FaceMask, shape) -> np.ndarray:
    """The oval inset by 6 % of the face height: none of her temple hair nor the background."""
    inner = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(inner, [np.round(grow_polygon(face.oval, -0.06 * face.height)).astype(np.int32)], 1)
    return inner.astype(bool)


def test_astronaut_fringe_is_cut(astronaut_proposal, astronaut_polygons):
    before, after = astronaut_polygons.mask, astronaut_proposal.mask
    for x, y in FRINGE:
        assert before[y, x] > 0.9, f"{(x, y)} was not in the landmarks' mask to begin with"
        assert after[y, x] <= 0.2, f"hair at {(x, y)} is still in the mask: {after[y, x]:.2f}"
    for x, y in BELOW_FRINGE + SKIN_CENTRE:
        assert after[y, x] >= 0.8 and after[y, x] >= before[y, x] - 0.05, (x, y, after[y, x], before[y, x])
    # The cut only takes away; most of what it takes is above the fringe's lowest tips.
    assert (after <= before + 1e-6).all()
    removed = before - after
    assert removed[:BROW_LINE - 7].sum() > 0.6 * removed.sum()


@pytest.mark.parametrize("forehead", [0.0, 0.25, 0.4])
def test_forehead_setting_is_an_upper_bound(astronaut, forehead):
    found = detect_faces(astronaut)
    bound = skin_mask_from_landmarks(found, astronaut.shape, forehead).mask
    mask = skin_mask_from_landmarks(found, astronaut.shape, forehead, image=astronaut).mask
    assert (mask <= bound + 1e-6).all() and mask.sum() < bound.sum()
    for x, y in FRINGE:
        assert mask[y, x] <= 0.2


def test_a_fringe_of_dark_strands_is_cut():
    picture, cores = fringe_of_strands()
    before, after, _ = _masks(picture)
    on = cores & (before > 0.5)
    assert on.sum() > 150
    assert after[on].mean() <= 0.2, after[on].mean()
    # The skin between the lowest strands (y <= 73) and the brows stays.
    for x, y in BELOW_FRINGE:
        assert after[y, x] >= 0.8, (x, y, after[y, x])


@pytest.mark.parametrize("look", ["as is", "brighter and warmer"])
def test_a_face_without_hair_over_it_keeps_its_skin(look):
    picture = bald_forehead() if look == "as is" else toned(bald_forehead())
    before, after, face = _masks(picture)
    inner = _inner(face, picture.shape)
    assert after[inner].sum() >= 0.96 * before[inner].sum(), after[inner].sum() / before[inner].sum()
    # Cheeks, forehead centre, chin, and the repainted forehead up to the extension's top.
    for x, y in SKIN_CENTRE + [(224, 55), (205, 65), (245, 65)]:
        assert after[y, x] >= 0.95, (x, y, after[y, x])


def _lit(look: str) -> np.ndarray:
    picture = bald_forehead().astype(np.float32)
    yy, xx = np.mgrid[0:512, 0:512].astype(np.float32)
    if look == "shadow on a cheek":  # the picture's left cheek at 55 %
        picture *= (1 - 0.45 * np.exp(-((xx - 200) / 22) ** 2 - ((yy - 130) / 30) ** 2))[..., None]
    elif look == "side light":  # the picture's right half at 40 %
        t = np.clip((xx - 215) / 40, 0, 1)
        picture *= (1 - 0.6 * t * t * (3 - 2 * t))[..., None]
    elif look == "darker skin":
        picture *= np.array([0.5, 0.42, 0.36], np.float32)
    else:
        return cv2.cvtColor(bald_forehead(), cv2.COLOR_RGB2GRAY)
    return np.clip(picture, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("look", ["shadow on a cheek", "side light", "darker skin", "gray"])
def test_shadows_darker_skin_and_gray_keep_the_skin(look):
    picture = _lit(look)
    before, after, face = _masks(picture)
    inner = _inner(face, picture.shape)
    assert after[inner].sum() >= 0.96 * before[inner].sum(), after[inner].sum() / before[inner].sum()
    for x, y in SKIN_CENTRE:
        assert after[y, x] >= 0.9, (x, y, after[y, x])


def test_glasses_frames_and_a_beard_are_cut():
    picture, frames, beard = glasses_and_beard()
    before, after, _ = _masks(picture)
    for part in (frames, beard):
        on = part & (before > 0.5)
        assert on.sum() > 100 and after[on].mean() <= 0.2, after[on].mean()
    for x, y in SKIN["right_cheek"], SKIN["left_cheek"], SKIN["forehead"]:
        assert after[y, x] >= 0.9, (x, y, after[y, x])


# --------------------------------------------------------------------------
# Threads and imports
# --------------------------------------------------------------------------

def test_threads_give_identical_results(astronaut):
    images = [astronaut, np.ascontiguousarray(np.rot90(astronaut)), astronaut[:, ::-1].copy(), astronaut]
    serial = [propose_skin_mask(im).mask for im in images]
    results: list = [None] * 4
    errors = []
    barrier = threading.Barrier(4)

    def work(i):
        try:
            barrier.wait()
            for _ in range(2):
                results[i] = propose_skin_mask(images[i]).mask
        except Exception as exc:  # reported below, in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for got, want in zip(results, serial):
        assert np.array_equal(got, want)


def test_import_is_light():
    code = "import sys, processing.skin_mask, processing.landmarks; print('mediapipe' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

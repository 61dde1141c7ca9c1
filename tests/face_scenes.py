"""Pictures with faces for the landmark and skin-mask tests, made in code.

Every face is ``skimage.data.astronaut()``'s, pasted, scaled, turned or
recoloured here: nothing is downloaded. ``SCENES`` names the pictures whose
Face Mesh landmarks were recorded with the legacy landmarker
(``tests/data/legacy_landmarks.npz``) so a new landmarker can be compared.
"""

from __future__ import annotations

import cv2
import numpy as np
import skimage.data

FACE_CENTER = (224, 124)  # nose, roughly the middle of the astronaut's face
GROUP_SIZE = (1067, 1600)  # h, w


def astronaut() -> np.ndarray:
    return skimage.data.astronaut()


def textured_canvas(h, w, seed=0):
    """Smooth colour gradient plus fine noise: neither flat nor face-like."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([120 + 60 * xx / w, 140 + 40 * yy / h, 150 - 30 * xx / w], axis=-1)
    noise = cv2.GaussianBlur(rng.normal(0, 12, (h, w, 3)).astype(np.float32), (0, 0), 1.5)
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def face_crop(image=None):
    """The astronaut's head: the face is ~95 px wide inside this 185 px crop."""
    image = astronaut() if image is None else image
    return image[20:215, 135:320], (FACE_CENTER[0] - 135, FACE_CENTER[1] - 20)


def group_photo(image=None):
    """Six heads, faces 5.5 % to 20 % of the long side wide, on a textured canvas.

    Returns the canvas and the (x, y) of each pasted face's middle.
    """
    crop, (cx, cy) = face_crop(image)
    h, w = GROUP_SIZE
    canvas = textured_canvas(h, w, seed=1)
    # (face width / long side, x, y, look): the crops do not overlap; one
    # mirrored, one warmer, one darker.
    placements = [(0.055, 80, 120, "plain"), (0.06, 1100, 800, "warm"), (0.07, 600, 700, "mirror"),
                  (0.10, 560, 60, "dark"), (0.15, 20, 540, "plain"), (0.20, 960, 20, "plain")]
    centers = []
    for frac, x, y, look in placements:
        s = frac * w / 95
        face = cv2.resize(crop, None, fx=s, fy=s, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
        fcx = cx * s
        if look == "mirror":
            face, fcx = face[:, ::-1], face.shape[1] - cx * s
        elif look == "warm":
            face = np.clip(face * np.array([1.1, 0.95, 0.85]), 0, 255).astype(np.uint8)
        elif look == "dark":
            face = (face * 0.6).astype(np.uint8)
        fh, fw = face.shape[:2]
        canvas[y:y + fh, x:x + fw] = face
        centers.append((x + fcx, y + cy * s))
    return canvas, centers


def small_face_canvas(image=None):
    """The astronaut's face crop, 15 % of a 1000 px frame's width, and its offset."""
    image = astronaut() if image is None else image
    x0, y0, x1, y1 = 150, 30, 300, 210
    canvas = textured_canvas(750, 1000)
    ox, oy = 610, 420
    canvas[oy:oy + y1 - y0, ox:ox + x1 - x0] = image[y0:y1, x0:x1]
    return canvas, (ox - x0, oy - y0)


def five_percent_face(where):
    """One face 5 % of a 1600 px frame's long side wide, its crop's corner at ``where``."""
    crop, _ = face_crop()
    s = 0.05 * GROUP_SIZE[1] / 95
    face = cv2.resize(crop, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    canvas = textured_canvas(*GROUP_SIZE, seed=2)
    x, y = where
    canvas[y:y + face.shape[0], x:x + face.shape[1]] = face
    return canvas


FIVE_PERCENT_PLACES = [(40, 40), (700, 450), (1400, 900)]

#: Name -> picture, for the pictures whose legacy landmarks are on record.
SCENES = {
    "astronaut": lambda: astronaut(),
    "astronaut_rot1": lambda: np.ascontiguousarray(np.rot90(astronaut(), 1)),
    "astronaut_rot2": lambda: np.ascontiguousarray(np.rot90(astronaut(), 2)),
    "astronaut_rot3": lambda: np.ascontiguousarray(np.rot90(astronaut(), 3)),
    "astronaut_mirrored": lambda: np.ascontiguousarray(astronaut()[:, ::-1]),
    "small_face": lambda: small_face_canvas()[0],
    "group": lambda: group_photo()[0],
    "group_sideways": lambda: np.ascontiguousarray(np.rot90(group_photo()[0], 1)),
    **{f"five_percent_{x}_{y}": (lambda x=x, y=y: five_percent_face((x, y)))
       for x, y in FIVE_PERCENT_PLACES},
}

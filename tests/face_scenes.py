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


#: Where hair is and is not in the pictures below (x, y of the 512 px astronaut).
FOREHEAD_FILL = ((226, 82), (54, 46))  # centre and half axes of the upper half-ellipse repainted as skin
BROW_LINE = 86  # the brows' tops are at y 86-90 between x 200 and 255


def bald_forehead(image=None) -> np.ndarray:
    """The astronaut with her fringe repainted as plain forehead skin.

    The upper half of an ellipse over the forehead (``FOREHEAD_FILL``, down to
    y 82, just above the brows) is filled with the median colour of the skin
    between her brows, a faint darkening upwards and fine noise (sigma 3
    levels), with a soft 1.5 px edge. The hair at the temples and above the
    ellipse is left as it is.
    """
    a = astronaut() if image is None else image
    colour = np.median(a[82:88, 220:230].reshape(-1, 3), axis=0).astype(np.float32)
    h, w = a.shape[:2]
    yy = np.mgrid[0:h, 0:w][0].astype(np.float32)
    (cx, cy), axes = FOREHEAD_FILL
    region = np.zeros((h, w), np.uint8)
    cv2.ellipse(region, (cx, cy), axes, 0, 180, 360, 1, -1)
    noise = cv2.GaussianBlur(np.random.default_rng(0).normal(0, 3, (h, w)).astype(np.float32), (0, 0), 0.8)
    fill = colour * (1.0 - 0.002 * np.maximum(0, cy - yy))[..., None] + noise[..., None]
    soft = cv2.GaussianBlur(region.astype(np.float32), (0, 0), 1.5)[..., None]
    return np.clip(a * (1 - soft) + fill * soft, 0, 255).astype(np.uint8)


def fringe_of_strands(image=None) -> tuple[np.ndarray, np.ndarray]:
    """Eight dark brown curved strands drawn down the bald forehead.

    Strands 2, 3 and 4 px thick (anti-aliased), 9 px apart with skin between,
    from y 38 down to y 66-73, each swaying sideways as it falls.

    Returns
    -------
    picture : ndarray, uint8, (512, 512, 3)
    cores : ndarray, bool, (512, 512)
        The strands' centre lines, 1 px wide.
    """
    out = bald_forehead() if image is None else image.copy()
    cores = np.zeros(out.shape[:2], np.uint8)
    t = np.linspace(0.0, 1.0, 20)
    for i, x in enumerate(range(192, 262, 9)):
        bottom = 66 + (5 * i) % 8
        xs = x + 8 * np.sin(2.2 * t + i) * t + 10 * t - 5
        ys = 38 + (bottom - 38) * t
        line = np.round(np.stack([xs, ys], axis=1)).astype(np.int32)
        cv2.polylines(out, [line], False, (70, 45, 28), 2 + i % 3, lineType=cv2.LINE_AA)
        cv2.polylines(cores, [line], False, 1, 1, lineType=cv2.LINE_8)
    return out, cores.astype(bool)


def glasses_and_beard(image=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Near-black glasses frames (3 px) round the eyes and a short dark beard on the chin.

    Returns the picture and the frames' and the beard's pixels (bool masks).
    """
    out = (astronaut() if image is None else image).copy()
    frames = np.zeros(out.shape[:2], np.uint8)
    for cx in (203, 247):
        cv2.ellipse(frames, (cx, 102), (17, 11), 0, 0, 360, 1, 3, lineType=cv2.LINE_AA)
    cv2.line(frames, (220, 100), (230, 100), 1, 3)
    out[frames > 0] = (30, 25, 25)
    beard = np.zeros(out.shape[:2], np.uint8)
    cv2.ellipse(beard, (222, 168), (32, 16), 0, 0, 360, 1, -1)
    beard[:158] = 0
    hairs = out.copy()
    rng = np.random.default_rng(2)
    for _ in range(900):  # short dark hairs, mostly downwards
        x, y = int(rng.integers(188, 256)), int(rng.integers(155, 186))
        if beard[y, x]:
            cv2.line(hairs, (x, y), (x + int(rng.integers(-2, 3)), y + int(rng.integers(1, 4))), (45, 32, 24), 1)
    out[beard > 0] = hairs[beard > 0]
    return out, frames.astype(bool), beard.astype(bool)


def toned(image: np.ndarray) -> np.ndarray:
    """Brighter (gamma 0.85) and warmer (green x 0.97, blue x 0.88), without clipping."""
    x = image.astype(np.float32) * np.array([1.0, 0.97, 0.88], np.float32) / 255
    return np.clip(255 * x ** 0.85 + 0.5, 0, 255).astype(np.uint8)


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

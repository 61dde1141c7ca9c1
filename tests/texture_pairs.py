"""Test pairs made in code: a face with pore-like texture and painted blemishes, and
AI-style versions with the blemishes inpainted and the skin smoothed."""

from __future__ import annotations

import cv2
import numpy as np

CROP = (slice(40, 200), slice(150, 320))  # the astronaut's face in skimage.data.astronaut()
UPSCALE = 4


def to_face(x, y):
    """Astronaut (512 px) coordinates -> coordinates in the upscaled face crop."""
    return int(round((x - CROP[1].start) * UPSCALE)), int(round((y - CROP[0].start) * UPSCALE))


# Clean skin ellipses (centre, axes) picked by eye on the astronaut: forehead, both cheeks.
SKIN = [((225, 85), (90, 26)), ((193, 128), (30, 40)), ((262, 125), (36, 46))]
# Blemishes: (x, y) in astronaut coordinates, diameter in face-crop pixels (4-8 px).
BLEMISHES = [((205, 84), 6), ((240, 84), 8), ((190, 130), 5), ((265, 118), 7), ((262, 131), 4)]


def skin_mask(shape) -> np.ndarray:
    m = np.zeros(shape[:2], np.float32)
    for (x, y), (ax, ay) in SKIN:
        cv2.ellipse(m, to_face(x, y), (ax, ay), 0, 0, 360, 1.0, -1)
    return m


def blemish_disks(shape, grow: float = 0.0) -> list[np.ndarray]:
    out = []
    for (x, y), d in BLEMISHES:
        m = np.zeros(shape[:2], np.uint8)
        cv2.circle(m, to_face(x, y), int(round(d / 2 + grow)), 1, -1)
        out.append(m.astype(bool))
    return out


def textured_face(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(original with pores and blemishes, the same without blemishes), uint8 RGB."""
    from skimage import data

    face = data.astronaut()[CROP]
    face = cv2.resize(face, (face.shape[1] * UPSCALE, face.shape[0] * UPSCALE),
                      interpolation=cv2.INTER_CUBIC).astype(np.float32)
    rng = np.random.default_rng(seed)
    pores = cv2.GaussianBlur(rng.normal(0, 14, face.shape[:2]).astype(np.float32), (0, 0), 1.0)
    clean = np.clip(face + pores[..., None], 0, 255)
    spotted = clean.copy()
    yy, xx = np.mgrid[:face.shape[0], :face.shape[1]]
    for (x, y), d in BLEMISHES:
        cx, cy = to_face(x, y)
        r = np.hypot(xx - cx, yy - cy)
        profile = np.clip(1.0 - (r - d / 2 + 1) / 2, 0, 1)  # flat core, 2 px soft edge
        spotted -= profile[..., None] * np.array([25.0, 45.0, 40.0])  # dark, reddish
    return np.clip(spotted, 0, 255).astype(np.uint8), np.clip(clean, 0, 255).astype(np.uint8)


def inpaint_blemishes(img: np.ndarray) -> np.ndarray:
    hole = np.zeros(img.shape[:2], np.uint8)
    for disk in blemish_disks(img.shape, grow=2):
        hole[disk] = 255
    return cv2.inpaint(img, hole, 5, cv2.INPAINT_TELEA)


def smoothers() -> dict:
    """name -> (function, actual scale in px or None where a filter has no single sigma)."""
    gauss = lambda s: (lambda im: cv2.GaussianBlur(im, (0, 0), s))
    return {
        "gauss1": (gauss(1.0), 1.0), "gauss2": (gauss(2.0), 2.0), "gauss3": (gauss(3.0), 3.0),
        "gauss4": (gauss(4.0), 4.0),
        "bilateral": (lambda im: cv2.bilateralFilter(im, 0, 30, 3), None),
        "edge_preserving": (lambda im: cv2.edgePreservingFilter(im, flags=1, sigma_s=10, sigma_r=0.2), None),
        "blend50": (lambda im: ((im.astype(np.float32) + cv2.GaussianBlur(im, (0, 0), 3.0)) / 2 + 0.5)
                    .astype(np.uint8), 3.0),
    }


def ai_version(original: np.ndarray, name: str) -> np.ndarray:
    fn, _ = smoothers()[name]
    return fn(inpaint_blemishes(original))


def restored(original, ai, mask, settings):
    """Restore arrays through the pipeline with a method's settings (in %, px); no alignment."""
    from processing.pipeline import restore_pair
    from processing.settings import Preset

    return restore_pair(original, ai, mask, Preset(align=False).with_settings(settings))[0]

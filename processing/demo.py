"""The built-in demo pair: a real portrait and an "AI-retouched" version made in code.

The original is ``skimage.data.astronaut()`` (public domain, shipped inside
scikit-image, so nothing is downloaded), enlarged 2x so a 1:1 loupe has room,
with fine pore-like luminance texture and a few small blemishes added to the
skin. The retouched partner imitates what AI skin smoothing does: an
edge-preserving smoothing blended in through the feathered Face Mesh skin
mask (:mod:`processing.skin_mask`), which
removes the blemishes and the pores and leaves eyes, hair and background
untouched. Both are deterministic. Pure numpy and OpenCV (plus the mask).
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from processing.image_io import encode_image

#: Enlargement of the 512 x 512 astronaut.
DEMO_SCALE = 2
DEMO_NAMES = ("astronaut_original.png", "astronaut_ai_retouched.png")


def _skin_weight(rgb: np.ndarray) -> np.ndarray:
    """A rough, feathered skin weight from colour (YCrCb box), float32 in [0, 1]."""
    ycc = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)
    y, cr, cb = ycc[..., 0], ycc[..., 1], ycc[..., 2]
    skin = ((cr >= 138) & (cr <= 180) & (cb >= 85) & (cb <= 130) & (y >= 60)).astype(np.uint8)
    k = max(3, (rgb.shape[0] // 200) | 1)
    skin = cv2.morphologyEx(skin, cv2.MORPH_OPEN, np.ones((k, k), np.uint8))
    skin = cv2.morphologyEx(skin, cv2.MORPH_CLOSE, np.ones((3 * k, 3 * k), np.uint8))
    # Keep the largest blob (the face and neck), drop stray skin-coloured bits.
    n, labels, stats, _ = cv2.connectedComponentsWithStats(skin)
    if n > 1:
        biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        skin = (labels == biggest).astype(np.uint8)
    w = cv2.GaussianBlur(skin.astype(np.float32), (0, 0), rgb.shape[0] / 250.0)
    return np.clip(w, 0, 1)


def _face_weight(rgb: np.ndarray) -> np.ndarray:
    """Skin of the face (eyes, brows, mouth left out) from the Face Mesh mask,
    with the colour box as a fallback should no face be found."""
    from processing.skin_mask import propose_skin_mask

    proposal = propose_skin_mask(rgb, forehead=0.08, feather=0.03)
    if proposal.faces:
        return proposal.mask
    return _skin_weight(rgb)


@functools.lru_cache(maxsize=2)
def demo_pair(seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """The demo original and its over-smoothed "AI" version.

    Parameters
    ----------
    seed : int
        Seed of the added texture and blemishes (the default is what the app shows).

    Returns
    -------
    (original, ai) : two uint8 RGB arrays of shape (1024, 1024, 3)
        Read-only (cached): copy before changing them.
    """
    from skimage import data

    base = data.astronaut()
    h, w = base.shape[:2]
    base = cv2.resize(base, (w * DEMO_SCALE, h * DEMO_SCALE), interpolation=cv2.INTER_CUBIC)
    skin = _face_weight(base)
    rng = np.random.default_rng(seed)
    hh, ww = base.shape[:2]

    # Pores: fine band-limited luminance texture, stronger in the midtones.
    fine = cv2.GaussianBlur(rng.normal(0, 1, (hh, ww)).astype(np.float32), (0, 0), 0.7)
    pores = cv2.GaussianBlur(rng.normal(0, 1, (hh, ww)).astype(np.float32), (0, 0), 1.6)
    texture = 5.0 * fine / fine.std() + 4.5 * pores / pores.std()
    img = base.astype(np.float32) + (texture * skin)[..., None]

    # A few small blemishes (reddish-brown spots, 2-4 px) on the skin.
    ys, xs = np.nonzero(skin > 0.9)
    spots = np.zeros((hh, ww), np.float32)
    if len(ys):
        for i in rng.choice(len(ys), size=min(14, len(ys)), replace=False):
            r = float(rng.uniform(2.0, 4.0))
            cv2.circle(spots, (int(xs[i]), int(ys[i])), int(round(r)), 1.0, -1, cv2.LINE_AA)
        spots = cv2.GaussianBlur(spots, (0, 0), 1.0)
        img -= spots[..., None] * np.array([30.0, 55.0, 55.0], np.float32)
    original = np.clip(img + 0.5, 0, 255).astype(np.uint8)

    # "AI" retouch: blemishes healed (inpainted), then edge-preserving
    # smoothing through the skin mask.
    healed = original
    if spots.max() > 0:
        spot_mask = cv2.dilate((spots > 0.05).astype(np.uint8), np.ones((5, 5), np.uint8))
        healed = cv2.inpaint(original, spot_mask, 4, cv2.INPAINT_TELEA)
    smooth = cv2.bilateralFilter(healed, 9, 40, 6)
    smooth = cv2.GaussianBlur(smooth, (0, 0), 1.8)
    smooth = cv2.bilateralFilter(smooth, 7, 20, 4)
    a = skin[..., None]
    ai = np.clip(original.astype(np.float32) * (1 - a) + smooth.astype(np.float32) * a + 0.5,
                 0, 255).astype(np.uint8)
    original.setflags(write=False)
    ai.setflags(write=False)
    return original, ai


@functools.lru_cache(maxsize=1)
def demo_files() -> tuple[bytes, bytes]:
    """The demo pair as PNG file bytes (original, ai), as if the user had uploaded them."""
    original, ai = demo_pair()
    return encode_image(np.ascontiguousarray(original), "PNG"), encode_image(np.ascontiguousarray(ai), "PNG")

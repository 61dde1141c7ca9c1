"""Pairs of an original portrait and AI-style edits of it, made in code.

Every picture is ``skimage.data.astronaut()``'s, upscaled to the frame size,
with pore-like texture and a few blemishes painted on at the frame's own
scale: nothing is downloaded. The edits are what AI retouching does on the
same pixel grid (smoothing of many kinds, tone and colour, inpainted
blemishes) and a landmark-guided liquify whose displacement field is known.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

#: Frame sizes (width, height): a web-sized image, a 1.5 MP crop, a 24 MP camera file.
SIZES = {"600px": (600, 400), "1.5MP": (1500, 1000), "24MP": (6000, 4000)}

# The astronaut's head in skimage's 512 px picture: the crop (x0, y0, x1, y1),
# 3:2 like the frames, and the face inside it as an ellipse (centre, semi-axes)
# from the hairline to the chin, picked by eye over the Face Mesh landmarks
# (irises at (203, 101) and (247, 103), chin at (221, 178)).
ASTRONAUT_CROP = (72, 0, 456, 256)
FACE_CENTER = (224.0, 120.0)
FACE_AXES = (52.0, 66.0)
# Blemishes: (x, y) in astronaut px on forehead, cheeks and chin, and the
# diameter as a fraction of the face width (a 5-8 px spot at 600 px).
BLEMISHES = [((206, 80), 0.035), ((241, 82), 0.05), ((196, 132), 0.04), ((258, 126), 0.045),
             ((225, 168), 0.03)]
#: Standard deviation of the pore texture, 8-bit levels, and its correlation length, px.
PORE_LEVELS = 6.0
PORE_SIGMA = 1.0


def frame_scale(size) -> float:
    """Frame px per astronaut px for a frame of ``size`` = (width, height)."""
    return size[0] / float(ASTRONAUT_CROP[2] - ASTRONAUT_CROP[0])


def to_frame(xy, size) -> np.ndarray:
    """Astronaut (x, y) -> frame (x, y), pixel centres as cv2.resize maps them."""
    s = frame_scale(size)
    xy = np.asarray(xy, np.float64)
    return (xy - ASTRONAUT_CROP[:2] + 0.5) * s - 0.5


def face_ellipse(size) -> tuple[tuple[float, float], tuple[float, float]]:
    """The face (hairline to chin) in a frame of ``size``: centre (x, y) and semi-axes, px."""
    cx, cy = to_frame(FACE_CENTER, size)
    s = frame_scale(size)
    return (float(cx), float(cy)), (FACE_AXES[0] * s, FACE_AXES[1] * s)


def face_width(size) -> float:
    """Width of the face ellipse in a frame of ``size``, px (162 px at 600 px, 1625 px at 24 MP)."""
    return 2 * face_ellipse(size)[1][0]


def skin_region(size, grow: float = 1.0, feather: float = 0.08) -> np.ndarray:
    """Feathered face ellipse, float32 (H, W) in [0, 1]: where AI tools smooth skin.

    Parameters
    ----------
    grow : float
        Semi-axes times this (1.15 also takes the jaw line and the hairline).
    feather : float
        Gaussian sigma of the edge, as a fraction of the face width.
    """
    w, h = size
    # Drawn where the face is ~150 px wide and scaled up: the same shape at
    # every frame size, and no 100 px blur on a 24 MP frame (10 s).
    k = min(1.0, 150.0 / face_width(size))
    small = (max(1, int(round(w * k))), max(1, int(round(h * k))))
    (cx, cy), (ax, ay) = face_ellipse(small)
    mask = np.zeros(small[::-1], np.float32)
    cv2.ellipse(mask, (int(round(cx * 16)), int(round(cy * 16))),
                (int(round(ax * grow * 16)), int(round(ay * grow * 16))), 0, 0, 360, 1.0, -1,
                cv2.LINE_8, 4)  # 4 fractional bits: sub-pixel centre and axes
    mask = cv2.GaussianBlur(mask, (0, 0), feather * face_width(small), borderType=cv2.BORDER_CONSTANT)
    if small != tuple(size):
        mask = cv2.resize(mask, tuple(size), interpolation=cv2.INTER_LINEAR)
    # Exactly 0 far from the face, so "outside the region" means untouched.
    mask[mask < 1e-3] = 0
    return np.clip(mask, 0, 1)


def region_box(region: np.ndarray, pad: int = 0) -> tuple[slice, slice]:
    """Rows and columns of the bounding box of ``region > 0``, grown by ``pad`` px."""
    rows, cols = np.flatnonzero(region.any(axis=1)), np.flatnonzero(region.any(axis=0))
    h, w = region.shape[:2]
    return (slice(max(0, rows[0] - pad), min(h, rows[-1] + 1 + pad)),
            slice(max(0, cols[0] - pad), min(w, cols[-1] + 1 + pad)))


def blemish_spots(size) -> list[tuple[float, float, float]]:
    """(x, y, radius) of each painted blemish in a frame of ``size``, px."""
    fw = face_width(size)
    return [(*to_frame(xy, size), d * fw / 2) for xy, d in BLEMISHES]


def luma(x) -> np.ndarray:
    """Rec. 709 luminance of an RGB image, float64 (a measurement, independent of processing/)."""
    x = np.asarray(x, np.float64)
    return x[..., 0] * 0.2126 + x[..., 1] * 0.7152 + x[..., 2] * 0.0722


def octave_band(y: np.ndarray, s: float) -> np.ndarray:
    """Difference of Gaussians ``G_s(y) - G_2s(y)`` (scipy, mirrored edges): the band s to 2 s px."""
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(y, s, truncate=4, mode="mirror") - gaussian_filter(y, 2 * s, truncate=4, mode="mirror")


# Clean skin picked by eye on the astronaut (centre, semi-axes in astronaut px):
# forehead and both cheeks, away from eyes, brows, nose and mouth.
CLEAN_SKIN = [((225, 85), (22.5, 6.5)), ((193, 128), (7.5, 10)), ((262, 125), (9, 11.5))]


def clean_skin(size, margin: float = 0.0) -> np.ndarray:
    """The CLEAN_SKIN ellipses in a frame of ``size``, bool (H, W): more than
    three ``margin`` px from every blemish's edge, and eroded by ``margin`` px."""
    from scipy.ndimage import binary_erosion

    size = SIZES.get(size, size)
    w, h = size
    k = frame_scale(size)
    out = np.zeros((h, w), np.uint8)
    for centre, (ax, ay) in CLEAN_SKIN:
        x, y = to_frame(centre, size)
        cv2.ellipse(out, (int(x), int(y)), (int(ax * k), int(ay * k)), 0, 0, 360, 1, -1)
    out = out.astype(bool)
    yy, xx = np.mgrid[:h, :w]
    for x, y, r in blemish_spots(size):
        out &= np.hypot(xx - x, yy - y) > r + 3 * margin
    # scipy erodes until nothing changes when iterations < 1.
    return binary_erosion(out, iterations=int(margin)) if margin >= 1 else out


def pores(shape, seed: int = 0) -> np.ndarray:
    """Fine texture: white noise blurred by PORE_SIGMA px, PORE_LEVELS std, float32 (H, W)."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(shape[:2], dtype=np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), PORE_SIGMA)
    # Blurring white noise by sigma divides its std by 2 sigma sqrt(pi).
    return noise * np.float32(PORE_LEVELS * 2 * PORE_SIGMA * np.sqrt(np.pi))


@functools.lru_cache(maxsize=2)
def _portrait(size: tuple[int, int], seed: int) -> np.ndarray:
    from skimage import data

    x0, y0, x1, y1 = ASTRONAUT_CROP
    base = cv2.resize(data.astronaut()[y0:y1, x0:x1], size, interpolation=cv2.INTER_CUBIC)
    # Texture everywhere, at the frame's pixel scale (skin pores, fabric, grain):
    # the astronaut's own detail is too coarse once upscaled.
    out = base.astype(np.float32)
    out += pores(out.shape, seed)[..., None]
    yy, xx = np.ogrid[:size[1], :size[0]]
    for x, y, r in blemish_spots(size):
        # Dark reddish spots, flat core, soft 1 px edge; drawn in their own box.
        b = int(np.ceil(r + 2))
        ys, xs = slice(max(0, int(y) - b), int(y) + b + 2), slice(max(0, int(x) - b), int(x) + b + 2)
        dist = np.hypot(xx[:, xs] - x, yy[ys] - y)
        profile = np.clip(r + 0.5 - dist, 0, 1)
        out[ys, xs] -= profile[..., None] * np.float32([22, 40, 36])
    out = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    out.flags.writeable = False  # shared by the cache: copy before editing
    return out


def portrait(size, seed: int = 0) -> np.ndarray:
    """The original: the astronaut's head filling a frame of ``size``, with pores and blemishes.

    Parameters
    ----------
    size : (int, int) or str
        (width, height) in px, or a key of :data:`SIZES`.
    seed : int
        Seed of the pore texture.

    Returns
    -------
    ndarray, uint8, (height, width, 3), read-only
        RGB. The face is the ellipse :func:`face_ellipse` (its centre 40 % of
        the way across, 47 % down; 27 % of the frame's width wide), the
        blemishes are at :func:`blemish_spots`. Pore texture of std
        PORE_LEVELS levels and ~1 px correlation covers the whole frame.
    """
    size = SIZES.get(size, size)
    return _portrait(tuple(int(v) for v in size), seed)


def inpaint_blemishes(image: np.ndarray, size=None, grow: float = 2.0) -> np.ndarray:
    """The blemishes removed with cv2.inpaint (Telea), as a retouching tool's healing brush.

    Each spot (grown by ``grow`` px) is inpainted in a small window around it,
    so a 24 MP frame costs no more than a small one; pixels outside the spots
    are untouched.
    """
    size = size or (image.shape[1], image.shape[0])
    out = np.array(image)
    for x, y, r in blemish_spots(size):
        rad = r + grow
        b = int(np.ceil(rad)) + 8
        ys = slice(max(0, int(y) - b), min(out.shape[0], int(y) + b + 1))
        xs = slice(max(0, int(x) - b), min(out.shape[1], int(x) + b + 1))
        hole = np.zeros((ys.stop - ys.start, xs.stop - xs.start), np.uint8)
        cv2.circle(hole, (int(round((x - xs.start) * 16)), int(round((y - ys.start) * 16))),
                   int(round(rad * 16)), 255, -1, cv2.LINE_8, 4)
        out[ys, xs] = cv2.inpaint(np.ascontiguousarray(out[ys, xs]), hole, 3, cv2.INPAINT_TELEA)
    return out


def tone_and_colour(image: np.ndarray, region: np.ndarray, brighten: float = 0.08,
                    warm: float = 0.04) -> np.ndarray:
    """Brighter, warmer skin inside ``region``, as AI tools even out and warm the complexion.

    Multiplies R, G, B by (1 + brighten + warm, 1 + brighten, 1 + brighten - warm)
    and lifts the shadows a little (gamma 0.95), weighted by ``region``;
    pixels where ``region`` is 0 are left as they are.
    """
    box = region_box(region)
    out = np.array(image)
    src = image[box].astype(np.float32) / 255
    gains = np.float32([1 + brighten + warm, 1 + brighten, 1 + brighten - warm])
    toned = np.power(src, np.float32(0.95)) * gains
    wgt = region[box][..., None]
    mixed = src + wgt * (toned - src)
    out[box] = np.where(wgt > 0, np.clip(mixed * 255 + 0.5, 0, 255), image[box]).astype(np.uint8)
    return out


# --------------------------------------------------------------------------
# Smoothers: what AI skin retouching does to texture, on the same pixel grid.
# --------------------------------------------------------------------------

#: Frame long side (px) the smoothers' spatial settings are given for; they
#: grow with the frame, as a tool's "smoothing" follows the face's size.
BASE_SIDE = 600
#: The slow (skimage, bilateral) smoothers run at full resolution up to this
#: long side; above it on a reduced copy of the face's box (see :func:`smooth`).
SLOW_MAX_SIDE = 1500


def _u8(x: np.ndarray) -> np.ndarray:
    return np.clip(x * 255 + 0.5, 0, 255).astype(np.uint8)


def _unit(img: np.ndarray) -> np.ndarray:
    """uint8 -> float32 in [0, 1], as skimage's filters take it."""
    return img.astype(np.float32) / 255


def _tv(x, s):
    from skimage.restoration import denoise_tv_chambolle

    return denoise_tv_chambolle(_unit(x), weight=0.15, channel_axis=-1)


def _nl_means(x, s):
    from skimage.restoration import denoise_nl_means

    # fast_mode with 5x5 patches searched +-5 px: ~0.2 s per 0.1 MP.
    return denoise_nl_means(_unit(x), h=0.14, fast_mode=True, patch_size=5, patch_distance=5, channel_axis=-1)


def _wavelet(x, s):
    from skimage.restoration import denoise_wavelet

    # Haar (the default) leaves blocks; sym4 soft thresholds smooth like a plug-in does.
    return denoise_wavelet(_unit(x), sigma=0.03, wavelet="sym4", method="VisuShrink", mode="soft",
                           channel_axis=-1, convert2ycbcr=True, rescale_sigma=True)


def _bilateral_skimage(x, s):
    from skimage.restoration import denoise_bilateral

    return denoise_bilateral(_unit(x), sigma_color=0.12, sigma_spatial=2.0, channel_axis=-1)


def _edge_preserving(x, s):
    # OpenCV's domain transform (recursive filter): its cost does not grow with sigma_s.
    return cv2.edgePreservingFilter(x, flags=cv2.RECURS_FILTER, sigma_s=min(200.0, 15.0 * s),
                                    sigma_r=0.4)


def _bilateral_cv2(x, s):
    return cv2.bilateralFilter(x, 0, 60, 2.5 * s)


def _gaussian_6px(x, s):
    # The bound: a 6 px Gaussian whatever the frame size.
    return cv2.GaussianBlur(x, (0, 0), 6.0)


#: name -> (function(uint8 RGB, spatial scale) -> RGB uint8 or float in [0, 1],
#: slow: whether it runs on a reduced copy above SLOW_MAX_SIDE).
SMOOTHERS = {
    "tv_chambolle": (_tv, True),
    "nl_means": (_nl_means, True),
    "wavelet": (_wavelet, True),
    "bilateral_skimage": (_bilateral_skimage, True),
    "edge_preserving": (_edge_preserving, False),
    "bilateral_cv2": (_bilateral_cv2, True),
    "gaussian_6px": (_gaussian_6px, False),
}


def _guided(x, s):
    # He et al.'s guided filter, each channel guided by itself: box filters only.
    img = _unit(x)
    r, eps = max(2, int(round(4 * s))), 0.02 ** 2

    def box(v):
        return cv2.boxFilter(v, -1, (2 * r + 1, 2 * r + 1))

    mean = box(img)
    var = box(img * img) - mean * mean
    a = var / (var + eps)
    b = mean - a * mean
    return box(a) * img + box(b)


def _edge_preserving_normconv(x, s):
    return cv2.edgePreservingFilter(x, flags=cv2.NORMCONV_FILTER, sigma_s=min(200.0, 15.0 * s), sigma_r=0.4)


def _gaussian(sigma):
    return lambda x, s: cv2.GaussianBlur(x, (0, 0), sigma)


#: Smoothers the match-mode fidelity tests add to :data:`SMOOTHERS` (the
#: alignment tests keep to those): a guided filter, OpenCV's normalized
#: convolution edge-preserving filter and Gaussians of 1-4 px.
MORE_SMOOTHERS = {
    "guided": (_guided, False),
    "edge_preserving_normconv": (_edge_preserving_normconv, False),
    **{f"gaussian_{k}px": (_gaussian(float(k)), False) for k in (1, 2, 3, 4)},
}


def smooth(image: np.ndarray, family: str, where: str = "skin", region: np.ndarray | None = None) -> np.ndarray:
    """``image`` smoothed by one of :data:`SMOOTHERS`, on its own pixel grid.

    Parameters
    ----------
    image : ndarray, uint8, (H, W, 3)
    family : str
        A key of :data:`SMOOTHERS` or :data:`MORE_SMOOTHERS`.
    where : 'skin' or 'frame'
        'skin': inside ``region`` only, blended over its feathered edge (pixels
        where it is 0 are the image's, bit for bit); 'frame': everywhere.
    region : ndarray float32 (H, W), optional
        The skin region; default :func:`skin_region` of the frame.

    Returns
    -------
    ndarray, uint8, like ``image``

    Notes
    -----
    Spatial settings are given for a BASE_SIDE px frame and scaled with the
    long side. The slow filters (skimage's, the bilateral ones) are too slow for
    a 24 MP face (~7 MP box): above SLOW_MAX_SIDE they run on a copy of the
    box reduced to that long side's scale (INTER_AREA), with the settings of
    that scale, and come back by bicubic upscaling. The result is still a
    smoothing of the original - a low-pass plus the filter, the way tools that
    work on a 1-2 MP copy export a 24 MP file - and, inside the region, the
    fine texture is gone at every frequency the full resolution has.
    """
    fn, slow = {**SMOOTHERS, **MORE_SMOOTHERS}[family]
    h, w = image.shape[:2]
    scale = max(h, w) / BASE_SIDE
    if where == "frame":
        box, weight = (slice(0, h), slice(0, w)), None
    elif where == "skin":
        region = skin_region((w, h)) if region is None else region
        # Padded so the filter's own border handling falls where the weight is 0.
        box = region_box(region, pad=int(np.ceil(8 * scale)) + 8)
        weight = region[box][..., None]
    else:
        raise ValueError(f"where must be 'skin' or 'frame' (got {where!r})")
    crop = image[box]
    reduce = slow and max(h, w) > SLOW_MAX_SIDE
    if reduce:
        k = SLOW_MAX_SIDE / max(h, w)
        small_size = (max(1, round(crop.shape[1] * k)), max(1, round(crop.shape[0] * k)))
        work = cv2.resize(crop, small_size, interpolation=cv2.INTER_AREA)
        done = fn(work, SLOW_MAX_SIDE / BASE_SIDE)
        done = done if done.dtype == np.uint8 else _u8(np.asarray(done, np.float32))
        smoothed = cv2.resize(done, (crop.shape[1], crop.shape[0]), interpolation=cv2.INTER_CUBIC)
    else:
        done = fn(crop, scale)
        smoothed = done if done.dtype == np.uint8 else _u8(np.asarray(done, np.float32))
    out = np.array(image)
    if weight is None:
        out[box] = smoothed
    else:
        mixed = crop + weight * (smoothed.astype(np.float32) - crop)
        out[box] = np.where(weight > 0, np.clip(mixed + 0.5, 0, 255), crop).astype(np.uint8)
    return out


def retouch(original: np.ndarray, family: str, where: str = "skin", tone: bool = False,
            inpaint: bool = False) -> np.ndarray:
    """An AI-style version of ``original`` on its pixel grid, in the order tools apply edits.

    Blemishes healed (:func:`inpaint_blemishes`, when ``inpaint``), then the
    skin or the frame smoothed (:func:`smooth`), then the complexion brightened
    and warmed (:func:`tone_and_colour` on :func:`skin_region`, when ``tone``).
    ``original`` must be a :func:`portrait` (the blemishes and the face are
    where that puts them).
    """
    size = (original.shape[1], original.shape[0])
    out = inpaint_blemishes(original, size) if inpaint else original
    out = smooth(out, family, where)
    if tone:
        out = tone_and_colour(out, skin_region(size, grow=1.1))
    return out


# --------------------------------------------------------------------------
# Liquify: a landmark-guided reshape with a known displacement field.
# --------------------------------------------------------------------------

# Face Mesh indices (subject's left/right; see processing/landmarks.py).
IRIS_CENTERS = (468, 473)
# The lower jaw line on both sides, chin excluded (slimming leaves the chin in place).
JAW_LINE = (132, 58, 172, 136, 150, 149, 361, 288, 397, 365, 379, 378)
# The nostril wings (alae), both sides.
NOSE_WINGS = (48, 64, 98, 129, 278, 294, 327, 358)
FACE_SIDES = (234, 454)  # the face oval's widest points
EYE_OUTER = (33, 263)  # subject's right eye outer corner, left eye outer corner
NOSE_TIP = 1
# Radius of each tool's brush, as a fraction of the face width: the eyes' and
# the nose's keep to their feature, the jaw's reaches over the lower cheek.
BRUSH = {"eyes": 0.25, "jaw": 0.25, "nose": 0.18}
# Default amounts as fractions of the face width (clipped to 2-10 px): a
# visible but plausible reshape; the eyes grow ~1.3x at their centre.
AMOUNTS = {"eyes": 0.017, "jaw": 0.035, "nose": 0.02}


def default_amounts(points: np.ndarray) -> dict:
    """Reshape amounts (px, 2-10) for a face of landmarks ``points``: see AMOUNTS."""
    fw = float(np.linalg.norm(points[FACE_SIDES[1]] - points[FACE_SIDES[0]]))
    return {k: float(np.clip(v * fw, 2.0, 10.0)) for k, v in AMOUNTS.items()}


def _bump(u: np.ndarray) -> np.ndarray:
    """Smooth bump (1 - u^2)^3 on u < 1, exactly 0 beyond: a brush with a hard limit."""
    return np.where(u < 1, (1 - np.minimum(u, 1) ** 2) ** 3, 0).astype(np.float32)


def reshape_field(shape, points, amounts: dict) -> np.ndarray:
    """The liquify's backward map: reshaped(q) = original(q + d(q)), float32 (H, W, 2).

    Parameters
    ----------
    shape : tuple
        Frame shape (H, W, ...).
    points : ndarray (478, 2)
        Face Mesh landmarks (x, y) of the face to reshape, px.
    amounts : dict
        'eyes', 'jaw', 'nose' -> largest displacement of that tool, px (0 or
        missing: not applied).

    Notes
    -----
    Each tool is a smooth field with compact support (:func:`_bump`), scaled
    so its largest |d| on the pixel grid is its amount:

    - eyes: radial, around each iris centre, d = -a rho(r/R) (q - c)/r with
      rho(u) ~ u (1 - u^2)^2; sampling nearer the centre enlarges the eye;
    - jaw: along the face's horizontal axis, outwards, centred on the jaw
      line points: sampling farther out pulls the jaw line in (slimmer);
    - nose: the same on the nostril wings (narrower nose).

    The fields add; where no tool reaches, d is exactly 0.
    """
    h, w = shape[:2]
    pts = np.asarray(points, np.float64)
    fw = float(np.linalg.norm(pts[FACE_SIDES[1]] - pts[FACE_SIDES[0]]))
    right = pts[EYE_OUTER[1]] - pts[EYE_OUTER[0]]  # image direction of the subject's left
    right /= np.linalg.norm(right)
    centre = pts.mean(axis=0)
    field = np.zeros((h, w, 2), np.float32)
    xx, yy = np.arange(w, dtype=np.float32)[None, :], np.arange(h, dtype=np.float32)[:, None]

    def add(amount, parts):
        """Sum of (centre, radius, kind, direction) bumps, scaled to ``amount`` px at most."""
        if not amount:
            return
        total = np.zeros_like(field)
        for c, radius, kind, direction in parts:
            r = int(np.ceil(radius)) + 1
            ys = slice(max(0, int(c[1]) - r), min(h, int(c[1]) + r + 2))
            xs = slice(max(0, int(c[0]) - r), min(w, int(c[0]) + r + 2))
            dx, dy = np.broadcast_arrays(xx[:, xs] - np.float32(c[0]), yy[ys] - np.float32(c[1]))
            dist = np.hypot(dx, dy)
            u = dist / np.float32(radius)
            if kind == "radial":  # inwards sampling: u (1 - u^2)^2, 0 at the centre
                prof = np.where(u < 1, u * (1 - np.minimum(u, 1) ** 2) ** 2, 0)
                unit = np.stack([dx, dy], -1) / np.maximum(dist, 1e-6)[..., None]
                total[ys, xs] -= (prof[..., None] * unit).astype(np.float32)
            else:
                total[ys, xs] += _bump(u)[..., None] * np.float32(direction)
        peak = float(np.linalg.norm(total, axis=2).max())
        field[...] += total * np.float32(amount / peak)

    def side(p, origin):
        """The face's horizontal axis, pointing from ``origin`` towards ``p``'s side."""
        return np.sign(np.dot(p - origin, right)) * right

    add(amounts.get("eyes", 0), [(pts[i], BRUSH["eyes"] * fw, "radial", None) for i in IRIS_CENTERS])
    add(amounts.get("jaw", 0), [(pts[i], BRUSH["jaw"] * fw, "shift", side(pts[i], centre))
                                for i in JAW_LINE])
    add(amounts.get("nose", 0), [(pts[i], BRUSH["nose"] * fw, "shift", side(pts[i], pts[NOSE_TIP]))
                                 for i in NOSE_WINGS])
    return field


def reshape_face(image: np.ndarray, points, amounts: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A liquify of the face with landmarks ``points``: bigger eyes, slimmer jaw, narrower nose.

    Parameters
    ----------
    image : ndarray, uint8, (H, W, 3)
    points : ndarray (478, 2) or FaceLandmarks
        The face's Face Mesh landmarks (``detect_faces(image)[0]``).
    amounts : dict, optional
        'eyes', 'jaw', 'nose' -> px (see :func:`reshape_field`); default
        :func:`default_amounts`.

    Returns
    -------
    reshaped : ndarray, uint8, like ``image``
        ``image`` resampled once (bicubic ``cv2.remap``) through the backward
        map of :func:`reshape_field`: the true reshape, with a known field.
        Where the field is 0 the pixels are ``image``'s, bit for bit.
    moved : ndarray, float32, (H, W)
        |d|, px, on the reshaped image's grid: the reshaped region is
        ``moved > 0`` (``> 0.05`` for a visible move).
    """
    points = np.asarray(getattr(points, "points", points), np.float64)
    amounts = default_amounts(points) if amounts is None else amounts
    field = reshape_field(image.shape, points, amounts)
    return warp_by(image, field), np.linalg.norm(field, axis=2)


def warp_by(image: np.ndarray, field: np.ndarray) -> np.ndarray:
    """``image`` resampled through a backward map: out(q) = image(q + field(q)).

    Bicubic ``cv2.remap``, in the box where the field moves anything; pixels
    where it is exactly 0 are copied, bit for bit.
    """
    moved = np.any(field != 0, axis=2)
    out = np.array(image)
    if not moved.any():
        return out
    box = region_box(moved)
    yy, xx = np.mgrid[box].astype(np.float32)
    warped = cv2.remap(image, xx + field[box][..., 0], yy + field[box][..., 1], cv2.INTER_CUBIC,
                       borderMode=cv2.BORDER_REFLECT_101)
    out[box] = np.where(moved[box][..., None], warped, image[box])
    return out


# (size, smoother family, where, tone and colour, mask): the liquified portrait,
# then smoothed; the mask a feathered ellipse (array) or the automatic one
# from the AI image's landmarks ('auto', as the CLI runs by default).
# skimage's denoise_bilateral is left out: it moves fine texture by itself
# (test_align_edits.test_skimage_bilateral_moves_fine_texture), so the reshaped original is not
# where the AI image's texture came from.
def liquified_retouch(reshaped: np.ndarray, family: str, where: str, tone: bool,
                      mask_kind: str) -> tuple[np.ndarray, np.ndarray | str]:
    """One of :data:`LIQUIFY_CASES` made from the reshaped portrait: the AI image
    (smoothed by ``family`` on ``where``, then toned when ``tone``) and the mask to
    restore with ('array': the face ellipse grown past the jaw line; 'auto')."""
    size = (reshaped.shape[1], reshaped.shape[0])
    ai = smooth(reshaped, family, where)
    if tone:
        ai = tone_and_colour(ai, skin_region(size, grow=1.1))
    # The jaw line lies at the face's edge: an ellipse grown past it.
    mask = skin_region(size, grow=1.25) if mask_kind == "array" else "auto"
    return ai, mask


#: The liquify pairs the tests and benchmarks/bench_liquify.py measure.
LIQUIFY_CASES = [
    ("600px", "bilateral_cv2", "skin", True, "auto"),
    ("600px", "nl_means", "skin", True, "auto"),
    ("600px", "wavelet", "skin", False, "array"),
    ("600px", "edge_preserving", "skin", False, "array"),
    ("600px", "gaussian_6px", "frame", False, "array"),
    ("1.5MP", "tv_chambolle", "skin", False, "array"),
    ("1.5MP", "nl_means", "skin", True, "array"),
    ("1.5MP", "wavelet", "skin", False, "auto"),
    ("1.5MP", "bilateral_cv2", "skin", True, "array"),
    ("1.5MP", "tv_chambolle", "frame", True, "auto"),
    ("1.5MP", "edge_preserving", "skin", True, "auto"),
    ("1.5MP", "gaussian_6px", "skin", False, "array"),
    ("24MP", "tv_chambolle", "skin", False, "array"),
]
#: How far from the reshaped region a pixel must be to count as untouched by
#: the alignment's local warp: 4 % of the frame's long side (24 px at 600 px,
#: 60 px at 1.5 MP). It leaves room for the warp's feathered edge, and for the
#: restore's own reach (a 3 px blur sees ~12 px), as a fraction of the frame
#: because the alignment estimates its warp on a reduced copy.
MARGIN_FRACTION = 0.04


def beyond_reshape(moved: np.ndarray, margin_fraction: float = MARGIN_FRACTION,
                   level: float = 0.05) -> np.ndarray:
    """Pixels farther than ``margin_fraction`` of the long side from ``moved > level``, bool (H, W)."""
    margin = margin_fraction * max(moved.shape[:2])
    still = (moved <= level).astype(np.uint8)
    # Distance of each still pixel to the nearest moved one (0 on moved pixels).
    return cv2.distanceTransform(still, cv2.DIST_L2, cv2.DIST_MASK_PRECISE) > margin

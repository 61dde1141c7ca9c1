"""The fixed development of a Bayer-sensor RAW: white balance, demosaicing, sRGB, tone curve.

LibRaw (rawpy) unpacks the file and reads what the camera recorded (mosaic,
black and white levels, white balance, colour matrix, orientation); the
development itself is done here, band by band, with OpenCV. LibRaw's own
development (``postprocess``) gives the same picture but spends most of its
time copying the frame between its stages: 0.87-1.0 s for 24 MP on one core,
then 0.3 s of colour-noise smoothing, against 0.58-0.66 s for both here; a
batch with RAW originals spent most of its time developing. Sensors that are
not a 2 x 2 Bayer pattern (Fujifilm X-Trans, four-colour, linear DNG) keep
LibRaw's development (:mod:`.raw`).

The steps, as LibRaw takes them (docs/METHODS.md, section 13):

1. black level subtracted per colour, the camera's white balance applied so
   that the weakest multiplier is 1 and the file's white level is 65535,
   values above white clipped (LibRaw's ``highlight_mode`` Clip);
2. demosaicing by gradient-corrected bilinear interpolation (Malvar, He and
   Cutler 2004): on the test portraits its finest pore band (0.5-1 px) follows
   the picture's as closely as LibRaw's PPG does (correlation 0.914-0.923
   against 0.915-0.931), where OpenCV's own edge-aware demosaicing loses a
   quarter of it;
3. the camera's colours to linear sRGB (the matrix LibRaw would use);
4. the sRGB tone curve, LibRaw's ``gamma=(2.4, 12.92)``, into 16 bit;
5. colour noise smoothed (:func:`chroma_smoothed`).
"""

from __future__ import annotations

import cv2
import numpy as np

#: Rows developed at a time (even: each band starts on the pattern's first row); a band's
#: float copies stay in the processor's cache.
BAND_ROWS = 128
#: Gaussian sigma (px) of the colour-noise smoothing: a converter's default
#: colour noise reduction, far below any skin tone's scale.
CHROMA_SMOOTHING_PX = 1.0

#: Rows of mosaic the demosaicing reads above and below a row (its kernels are 5 x 5).
_DEMOSAIC_REACH = 2
# Malvar-He-Cutler kernels (eighths): the missing colour at a site from its
# neighbours, corrected by the known colour's own curvature there.
_GREEN_AT_RED_OR_BLUE = np.array([[0, 0, -1, 0, 0],
                                  [0, 0, 2, 0, 0],
                                  [-1, 2, 4, 2, -1],
                                  [0, 0, 2, 0, 0],
                                  [0, 0, -1, 0, 0]], np.float32) / 8
#: At a green site, the colour of its left and right neighbours.
_ROW_NEIGHBOURS_AT_GREEN = np.array([[0, 0, 0.5, 0, 0],
                                     [0, -1, 0, -1, 0],
                                     [-1, 4, 5, 4, -1],
                                     [0, -1, 0, -1, 0],
                                     [0, 0, 0.5, 0, 0]], np.float32) / 8
#: At a green site, the colour of its upper and lower neighbours.
_COLUMN_NEIGHBOURS_AT_GREEN = np.ascontiguousarray(_ROW_NEIGHBOURS_AT_GREEN.T)
#: At a red site blue, at a blue site red: the diagonal neighbours' colour.
_DIAGONAL_AT_RED_OR_BLUE = np.array([[0, 0, -1.5, 0, 0],
                                     [0, 2, 0, 2, 0],
                                     [-1.5, 0, 6, 0, -1.5],
                                     [0, 2, 0, 2, 0],
                                     [0, 0, -1.5, 0, 0]], np.float32) / 8

#: Linear sRGB -> XYZ (D65), as LibRaw (dcraw) has it.
_XYZ_FROM_SRGB = np.array([[0.412453, 0.357580, 0.180423],
                           [0.212671, 0.715160, 0.072169],
                           [0.019334, 0.119193, 0.950227]])
#: The orientation flags LibRaw reports (``sizes.flip``) as OpenCV rotations.
_ROTATIONS = {3: cv2.ROTATE_180, 5: cv2.ROTATE_90_COUNTERCLOCKWISE, 6: cv2.ROTATE_90_CLOCKWISE}


def bayer_pattern(raw) -> str | None:
    """The colours of the mosaic's top-left 2 x 2 sites, 'RGGB', 'BGGR', 'GRBG' or 'GBRG'.

    None when the sensor is not a three-colour Bayer sensor that this module
    develops: X-Trans (6 x 6 pattern), four-colour sensors, a linear DNG, a
    non-square pixel.
    """
    try:
        if getattr(raw.raw_type, "name", "") != "Flat" or raw.num_colors != 3:
            return None
        if np.asarray(raw.raw_pattern).shape != (2, 2) or float(raw.sizes.pixel_aspect) != 1.0:
            return None
        desc = raw.color_desc.decode("ascii", "replace")
        letters = "".join(desc[i] for i in _top_left_colours(raw).ravel())
    except Exception:  # noqa: BLE001 - anything LibRaw cannot tell us: its own development
        return None
    return letters if letters in ("RGGB", "BGGR", "GRBG", "GBRG") else None


def _top_left_colours(raw) -> np.ndarray:
    """Colour indices (into ``color_desc``) of the visible area's top-left 2 x 2 sites.

    rawpy's ``raw_colors_visible`` tiles the pattern over the whole frame (25 ms at 24 MP).
    """
    pattern = np.asarray(raw.raw_pattern)
    return np.roll(pattern, (-int(raw.sizes.top_margin), -int(raw.sizes.left_margin)), axis=(0, 1))


def demosaic(mosaic: np.ndarray, pattern: str) -> np.ndarray:
    """Full-colour picture of a Bayer mosaic, by gradient-corrected bilinear interpolation.

    Malvar, He and Cutler, "High-quality linear interpolation for demosaicing
    of Bayer-patterned color images", ICASSP 2004: each missing colour is the
    bilinear estimate plus a fraction of the known colour's Laplacian at the
    site, with 5 x 5 kernels.

    Parameters
    ----------
    mosaic : ndarray float32 (H, W)
        One value per site, in linear light; H and W even. The frame's edges
        are mirrored (which keeps each site's colour).
    pattern : str
        Colours of the top-left 2 x 2 sites, row by row ('RGGB', ...).

    Returns
    -------
    ndarray float32 (H, W, 3)
        R, G, B; not clipped (the interpolation may overshoot at edges).
    """
    def filtered(kernel):
        return cv2.filter2D(mosaic, cv2.CV_32F, kernel, borderType=cv2.BORDER_REFLECT_101)

    green_at_rb = filtered(_GREEN_AT_RED_OR_BLUE)
    row = filtered(_ROW_NEIGHBOURS_AT_GREEN)
    column = filtered(_COLUMN_NEIGHBOURS_AT_GREEN)
    diagonal = filtered(_DIAGONAL_AT_RED_OR_BLUE)
    sites = {pattern[2 * i + j]: (i, j) for i in range(2) for j in range(2) if pattern[2 * i + j] != "G"}
    (ri, rj), (bi, bj) = sites["R"], sites["B"]
    red, blue = diagonal, diagonal.copy()  # right at the other colour's sites; the rest is written over
    green = mosaic.copy()
    red[ri::2, rj::2] = mosaic[ri::2, rj::2]
    blue[bi::2, bj::2] = mosaic[bi::2, bj::2]
    green[ri::2, rj::2] = green_at_rb[ri::2, rj::2]
    green[bi::2, bj::2] = green_at_rb[bi::2, bj::2]
    # Green sites: red's row is where red's neighbours are left and right.
    red[ri::2, bj::2] = row[ri::2, bj::2]
    red[bi::2, rj::2] = column[bi::2, rj::2]
    blue[bi::2, rj::2] = row[bi::2, rj::2]
    blue[ri::2, bj::2] = column[ri::2, bj::2]
    return cv2.merge([red, green, blue])


def tone_curve(power: float = 1 / 2.4, toe_slope: float = 12.92) -> np.ndarray:
    """LibRaw's (dcraw's) output curve: linear 16 bit -> 16 bit, a power law with a linear toe.

    ``gamma=(2.4, 12.92)`` in rawpy is the sRGB curve: the toe's end is solved
    so that the line and the power curve meet smoothly, as LibRaw's
    ``gamma_curve`` does (48 bisections).

    Returns
    -------
    ndarray uint16 (65536,)
    """
    lo, hi = (0.0, 1.0) if toe_slope >= 1 else (1.0, 0.0)
    knee = 0.0
    for _ in range(48):
        knee = (lo + hi) / 2
        if ((knee / toe_slope) ** -power - 1) / power - 1 / knee > -1:
            hi = knee
        else:
            lo = knee
    toe_end = knee / toe_slope
    offset = knee * (1 / power - 1)
    r = np.arange(0x10000) / 0x10000
    curve = np.where(r < toe_end, r * toe_slope, np.power(r, power) * (1 + offset) - offset)
    return np.clip(curve * 0x10000, 0, 0xFFFF).astype(np.uint16)


def camera_to_srgb(raw) -> np.ndarray | None:
    """The 3 x 3 matrix from the camera's white-balanced colours to linear sRGB, as LibRaw has it.

    The matrix embedded in the file where there is one (LibRaw uses it with the
    camera's white balance, which this development always asks for), else
    LibRaw's table entry for the camera (its XYZ -> camera matrix), turned
    round by :func:`srgb_from_camera_xyz`. None when LibRaw knows neither
    (it then leaves the camera's colours as they are).
    """
    embedded = np.asarray(raw.color_matrix, np.float64)[:3, :3]
    if embedded[0, 0] > 0.125:
        return embedded.astype(np.float32)
    camera_xyz = np.asarray(raw.rgb_xyz_matrix, np.float64)[:3, :3]
    if not camera_xyz.any():
        return None
    return srgb_from_camera_xyz(camera_xyz).astype(np.float32)


def srgb_from_camera_xyz(camera_xyz: np.ndarray) -> np.ndarray:
    """Linear sRGB from white-balanced camera RGB, given the camera's XYZ -> camera matrix.

    dcraw's ``cam_xyz_coeff``: camera from sRGB is ``camera_xyz @ XYZ_from_sRGB``
    with each row scaled to sum to 1 (white balance makes white (1, 1, 1)),
    and the result is its inverse.

    Parameters
    ----------
    camera_xyz : ndarray (3, 3)

    Returns
    -------
    ndarray float64 (3, 3)
    """
    camera_from_srgb = camera_xyz @ _XYZ_FROM_SRGB
    camera_from_srgb = camera_from_srgb / camera_from_srgb.sum(axis=1, keepdims=True)
    return np.linalg.pinv(camera_from_srgb)


def white_balance_scale(raw) -> tuple[np.ndarray, np.ndarray, bool]:
    """Per colour index (R, G, B, G2): black level and the factor to 16-bit white-balanced values.

    Returns
    -------
    black : ndarray float32 (4,)
    scale : ndarray float32 (4,)
    camera : bool
        Whether the camera's white balance was there (else daylight's).
    """
    multipliers = np.asarray(raw.camera_whitebalance, np.float64)[:4].copy()
    camera = bool((multipliers[:3] > 0).any())
    if not camera:
        multipliers = np.asarray(raw.daylight_whitebalance, np.float64)[:4].copy()
    if multipliers[1] <= 0:
        multipliers[1] = 1.0
    if multipliers[3] <= 0:
        multipliers[3] = multipliers[1]
    if (multipliers <= 0).any():
        multipliers[:] = 1.0
    black = np.asarray(raw.black_level_per_channel, np.float64)[:4]
    white = float(raw.white_level) - black.min()
    # The weakest channel's multiplier is 1, so white stays white where that one clips.
    scale = multipliers / multipliers.min() * 65535.0 / max(white, 1.0)
    return black.astype(np.float32), scale.astype(np.float32), camera


def _chroma_reach(sigma: float) -> int:
    """Rows above and below that a Gaussian of ``sigma`` reads (OpenCV's kernel for 16-bit and float)."""
    return int(np.ceil(4 * sigma))


def chroma_smoothed(rgb: np.ndarray, sigma: float = CHROMA_SMOOTHING_PX) -> np.ndarray:
    """``rgb`` with its chroma (Cr, Cb of OpenCV's YCrCb) blurred by a Gaussian of ``sigma`` px, luma kept.

    The frame's edges are mirrored, so rows given with :func:`_chroma_reach`
    rows of context on each side come back exact where the context is real.

    Parameters
    ----------
    rgb : ndarray uint16 (H, W, 3)

    Returns
    -------
    ndarray uint16 (H, W, 3)
        A new array.
    """
    ycc = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)
    for c in (1, 2):  # Cr, Cb: blurred in float (twice as fast as OpenCV's 16-bit Gaussian), rounded back
        chroma = cv2.extractChannel(ycc, c).astype(np.float32)
        blurred = cv2.GaussianBlur(chroma, (0, 0), sigma, borderType=cv2.BORDER_REFLECT_101)
        cv2.insertChannel(to_uint16(blurred), ycc, c)
    return cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB)


def smooth_colour_noise(rgb: np.ndarray, sigma: float = CHROMA_SMOOTHING_PX, band_rows: int = 256) -> np.ndarray:
    """The picture with its chroma smoothed over a Gaussian of ``sigma`` px and its luma kept.

    Sensor noise is partly colour noise, which no export keeps; grafted back it
    would show as coloured speckle on skin. Luma (Rec. 601, as OpenCV's YCrCb)
    is left as it is: that is where pores live. :func:`develop_bayer` does the
    same on its way; this is for pictures LibRaw developed.

    Parameters
    ----------
    rgb : ndarray uint16 (H, W, 3)
        Smoothed in place, ``band_rows`` rows at a time: a 24 MP picture needs
        no second 144 MB copy.
    sigma : float
        Gaussian sigma, px.
    band_rows : int
        Rows per band.

    Returns
    -------
    ndarray uint16 (H, W, 3)
        ``rgb`` itself.
    """
    # Not row_bands.map_bands: its bands write to a second frame; here each band
    # keeps the rows the next one's blur reads (``above``) and overwrites its own.
    h = rgb.shape[0]
    reach = _chroma_reach(sigma)
    band_rows = max(band_rows, reach)
    above = np.empty((0,) + rgb.shape[1:], rgb.dtype)  # the band above's last rows, as they were
    for y0 in range(0, h, band_rows):
        y1 = min(h, y0 + band_rows)
        below = min(h, y1 + reach)
        src = np.concatenate([above, rgb[y0:below]])
        skip = len(above)
        above = rgb[max(y0, y1 - reach):y1].copy()
        rgb[y0:y1] = chroma_smoothed(src, sigma)[skip:skip + y1 - y0]
    return rgb


def develop_bayer(raw) -> tuple[np.ndarray, bool] | None:
    """Develop an unpacked Bayer RAW (a ``rawpy.RawPy``) with the fixed development, upright.

    The colour noise is smoothed on the way (:func:`chroma_smoothed`), band by
    band, with the same pixels as :func:`smooth_colour_noise` afterwards.

    Returns
    -------
    (ndarray uint16 (H, W, 3), bool) or None
        The sRGB picture and whether the camera's white balance was used;
        None when the sensor is not one this module develops (see :func:`bayer_pattern`), or
        its visible area is not whole 2 x 2 cells.
    """
    pattern = bayer_pattern(raw)
    if pattern is None:
        return None
    mosaic = raw.raw_image_visible
    h, w = mosaic.shape
    if h % 2 or w % 2 or h < 4 or w < 4:  # whole 2 x 2 cells only (LibRaw's development takes the rest)
        return None
    black, scale, camera = white_balance_scale(raw)
    colour_index = _top_left_colours(raw)
    chroma = _chroma_reach(CHROMA_SMOOTHING_PX)
    # One band's offsets and factors, tiled from the 2 x 2 pattern (bands start on even rows).
    rows = BAND_ROWS + 2 * (_DEMOSAIC_REACH + chroma)
    offsets = np.tile(black[colour_index], (rows // 2, w // 2))
    factors = np.tile(scale[colour_index], (rows // 2, w // 2))
    matrix = camera_to_srgb(raw)
    curve = tone_curve()
    rotation = _ROTATIONS.get(int(raw.sizes.flip))
    out_shape = (w, h, 3) if rotation in (cv2.ROTATE_90_CLOCKWISE, cv2.ROTATE_90_COUNTERCLOCKWISE) else (h, w, 3)
    out = np.empty(out_shape, np.uint16)
    for y0 in range(0, h, BAND_ROWS):
        y1 = min(h, y0 + BAND_ROWS)
        # sRGB rows a:b feed the chroma blur of rows y0:y1; mosaic rows top:bottom their demosaicing.
        a, b = max(0, y0 - chroma), min(h, y1 + chroma)
        top, bottom = max(0, a - _DEMOSAIC_REACH), min(h, b + _DEMOSAIC_REACH)
        n = bottom - top  # top is even (so are BAND_ROWS and both reaches): the tiled pattern lines up
        linear = cv2.subtract(mosaic[top:bottom], offsets[:n], dtype=cv2.CV_32F)
        cv2.multiply(linear, factors[:n], dst=linear)
        np.clip(linear, 0.0, 65535.0, out=linear)  # negative after black, or above white
        linear16 = to_uint16(demosaic(linear, pattern)[a - top:b - top])
        if matrix is not None:  # as LibRaw: on the clipped 16-bit picture, clipped again
            linear16 = cv2.transform(linear16, matrix)
        srgb = chroma_smoothed(through_curve(linear16, curve))[y0 - a:y1 - a]
        if rotation is None:
            out[y0:y1] = srgb
        else:
            _place(out, srgb, y0, y1, h, rotation)
    return out, camera


def to_uint16(values: np.ndarray) -> np.ndarray:
    """float32 values rounded and clipped to 0..65535, as uint16.

    OpenCV's saturating conversion, reached through ``addWeighted`` (20 ms
    for 24 MP); ``cv2.add`` with a scalar takes a slow path (170 ms) and
    numpy's clip-then-cast two passes (38 ms).
    """
    return cv2.addWeighted(values, 1.0, values, 0.0, 0.0, dtype=cv2.CV_16U)


def through_curve(values: np.ndarray, curve: np.ndarray) -> np.ndarray:
    """``curve[values]`` for uint16 values and a 65536-entry uint16 curve.

    OpenCV 5 looks up 16-bit values (``cv2.LUT``, 51 ms for 24 MP on one core);
    numpy's ``take`` widens every index to 64 bits first (166 ms, and more when
    a batch's two workers share the memory bus). OpenCV 4 has only numpy's.
    """
    global _CV_LUT_16
    if _CV_LUT_16:
        try:
            return cv2.LUT(values, curve)
        except cv2.error:
            _CV_LUT_16 = False
    return np.take(curve, values)


_CV_LUT_16 = True  # until OpenCV says it cannot


def _place(out: np.ndarray, band: np.ndarray, y0: int, y1: int, h: int, rotation) -> None:
    """Write stored rows y0:y1, developed, where they go in the upright picture."""
    if rotation == cv2.ROTATE_180:
        out[h - y1:h - y0] = cv2.rotate(band, rotation)
    elif rotation == cv2.ROTATE_90_CLOCKWISE:  # stored row y is upright column h - 1 - y
        out[:, h - y1:h - y0] = cv2.rotate(band, rotation)
    else:  # anticlockwise: stored row y is upright column y
        out[:, y0:y1] = cv2.rotate(band, rotation)

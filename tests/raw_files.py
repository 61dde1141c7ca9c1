"""Camera RAW files made in code: a known picture mosaicked into a DNG (pidng).

There is no camera file to ship, so the tests make one. The picture is taken
as what the camera saw, in sRGB; the DNG stores it as a linear-light Bayer
mosaic (RGGB unless asked otherwise), 14 bit, with the colour matrix and
as-shot white balance of the camera it describes: by default one whose
primaries are sRGB's and whose white is neutral. Developed with the camera's
white balance into sRGB, such a file gives the picture back (within what
demosaicing loses), so a test can "develop the same image itself" by using the
picture.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: EXIF orientations as (how the sensor stored the view, as numpy turns).
#: 6: the camera held rotated (stored 90 degrees anticlockwise, shown turned clockwise).
STORED_AS = {1: lambda a: a, 3: lambda a: np.rot90(a, 2), 6: lambda a: np.rot90(a, 1), 8: lambda a: np.rot90(a, -1)}
WHITE = (1 << 14) - 1
BLACK = 256
# XYZ (D65) -> linear sRGB: a DNG's ColorMatrix1 maps XYZ to the camera's RGB.
XYZ_TO_SRGB = np.array([[3.2406, -1.5372, -0.4986], [-0.9689, 1.8758, 0.0415], [0.0557, -0.2040, 1.0570]])


def to_linear(srgb: np.ndarray) -> np.ndarray:
    """sRGB values in [0, 1] -> linear light (IEC 61966-2-1)."""
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)


def mosaic(linear: np.ndarray, pattern: str = "RGGB") -> np.ndarray:
    """A Bayer mosaic of a linear RGB picture (H, W, 3), float (H, W).

    ``pattern`` names the colours of the top-left 2 x 2 sites, row by row.
    """
    out = np.empty(linear.shape[:2], linear.dtype)
    for k, colour in enumerate(pattern):
        i, j = divmod(k, 2)
        out[i::2, j::2] = linear[i::2, j::2, "RGB".index(colour)]
    return out


def write_dng(path, picture: np.ndarray, orientation: int = 1, noise: float = 0.0, seed: int = 0,
              pattern: str = "RGGB", camera_from_srgb: np.ndarray | None = None) -> Path:
    """Write ``picture`` (uint8 sRGB, (H, W, 3), H and W even) as the DNG a camera would.

    Parameters
    ----------
    path : str or Path
        File to write (its suffix is kept; pidng adds ``.dng`` to the stem).
    picture : ndarray uint8 (H, W, 3)
        What the camera saw, upright, in sRGB.
    orientation : int
        EXIF orientation tag (1, 3, 6 or 8); the mosaic is stored turned so
        that applying it gives ``picture`` upright.
    noise : float
        Standard deviation of sensor noise added to the mosaic, in 14-bit counts.
    seed : int
        Seed of that noise.
    pattern : str
        The sensor's Bayer pattern ('RGGB', 'BGGR', 'GRBG' or 'GBRG').
    camera_from_srgb : ndarray (3, 3), optional
        The camera's linear response to linear sRGB (default: the identity, a
        camera with sRGB's primaries). Its row sums are the camera's response to
        white, written as the as-shot white balance; its colour matrix follows.

    Returns
    -------
    Path
        The file written.
    """
    from pidng.core import RAW2DNG
    from pidng.defs import (CalibrationIlluminant, CFAPattern, DNGVersion, PhotometricInterpretation)
    from pidng.dng import DNGTags, Tag

    path = Path(path)
    linear = to_linear(picture.astype(np.float64) / 255.0)
    camera = np.eye(3) if camera_from_srgb is None else np.asarray(camera_from_srgb, np.float64)
    neutral = camera.sum(axis=1)
    linear = np.clip(linear @ camera.T, 0.0, 1.0)
    stored = np.ascontiguousarray(STORED_AS[orientation](linear))
    counts = mosaic(stored, pattern) * (WHITE - BLACK) + BLACK
    if noise:
        counts = counts + np.random.default_rng(seed).normal(0.0, noise, counts.shape)
    counts = np.clip(np.round(counts), 0, WHITE).astype(np.uint16)
    h, w = counts.shape
    tags = DNGTags()
    for tag, value in [
            (Tag.ImageWidth, w), (Tag.ImageLength, h), (Tag.TileWidth, w), (Tag.TileLength, h),
            (Tag.Orientation, orientation), (Tag.SamplesPerPixel, 1), (Tag.BitsPerSample, 16),
            (Tag.PhotometricInterpretation, PhotometricInterpretation.Color_Filter_Array),
            (Tag.CFARepeatPatternDim, [2, 2]), (Tag.CFAPattern, getattr(CFAPattern, pattern)),
            (Tag.BlackLevel, BLACK), (Tag.WhiteLevel, WHITE),
            (Tag.ColorMatrix1, [[int(round(v * 10000)), 10000] for v in (camera @ XYZ_TO_SRGB).ravel()]),
            (Tag.CalibrationIlluminant1, CalibrationIlluminant.D65),
            (Tag.AsShotNeutral, [[int(round(v * 10000)), 10000] for v in neutral]),
            (Tag.Make, "Retexture"), (Tag.Model, "Test camera"),
            (Tag.DNGVersion, DNGVersion.V1_4), (Tag.DNGBackwardVersion, DNGVersion.V1_2)]:
        tags.set(tag, value)
    writer = RAW2DNG()
    writer.options(tags, path=str(path.parent) + "/")
    writer.convert(counts, filename=path.stem)
    written = path.with_suffix(".dng")
    if written != path:
        written.replace(path)
    return path

"""What a read and a write share: format tables, limits, the decoded image and the errors."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DEFAULT_MAX_PIXELS = 150_000_000
READABLE = "JPEG, PNG, TIFF, WebP or HEIC"
FORMAT_SUFFIX = {"JPEG": ".jpg", "PNG": ".png", "TIFF": ".tif", "WEBP": ".webp", "HEIF": ".heic"}
SUFFIX_FORMAT = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".tif": "TIFF",
                 ".tiff": "TIFF", ".webp": "WEBP", ".heic": "HEIF", ".heif": "HEIF", ".hif": "HEIF"}
JPEG_QUALITY = 95
EXIF_ORIENTATION = 0x0112

# tifffile reports oddities (a tag it will not write, a bad page offset) through
# logging, which Python prints on stderr when nobody configured it. What matters
# to the user becomes one of our sentences; an application that configures
# logging still gets the records.
logging.getLogger("tifffile").addHandler(logging.NullHandler())


def display_name(path) -> str:
    """The file name of ``path`` for messages, or the path as given when it has
    none ('.', '/', '..')."""
    path = Path(path)
    return path.name if path.name not in ("", ".", "..") else str(path)


class ImageReadError(ValueError):
    """An input cannot be read; the message says what is wrong and what to do."""


class ImageWriteError(OSError):
    """An output cannot be written; the message says what is wrong and what to do."""


def check_pixel_limit(name: str, width: int, height: int, max_pixels: int) -> None:
    """Refuse a picture over ``max_pixels`` (a decompression bomb, or a setting), before decoding it."""
    if width * height > max_pixels:
        raise ImageReadError(
            f"{name} has {width * height / 1e6:.0f} MP, over the limit of {max_pixels / 1e6:.0f} MP: "
            "downscale it or raise the pixel limit.")


@dataclass
class LoadedImage:
    """A decoded photograph with what must be carried to the output.

    Attributes
    ----------
    pixels : ndarray
        (H, W, 3) RGB or (H, W) gray; uint8, uint16, or float32 in [0, 1].
    alpha : ndarray or None
        (H, W) alpha of the same dtype, set aside to be restored on write.
    format : str
        'JPEG', 'PNG', 'TIFF', 'WEBP' or 'HEIF': the format outputs default to.
    icc_profile, exif : bytes or None
        Carried over to the output. EXIF orientation is already applied to the
        pixels and reset to 1 here.
    notes : list of str
        Sentences worth telling the user (first frame used, CMYK converted...).
    name : str
        File name, for messages.
    sensor_noise : float or None
        A camera RAW's luminance noise in flat areas, 8-bit levels (None for
        developed pictures, whose noise an export may already have reduced).
    """

    pixels: np.ndarray
    alpha: np.ndarray | None = None
    format: str = "PNG"
    icc_profile: bytes | None = None
    exif: bytes | None = None
    notes: list[str] = field(default_factory=list)
    name: str = "image"
    sensor_noise: float | None = None

    @property
    def bit_depth(self) -> int:
        """8, 16, or 32 (float) bits per channel."""
        return {np.dtype(np.uint8): 8, np.dtype(np.uint16): 16}.get(self.pixels.dtype, 32)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return self.pixels.shape[1], self.pixels.shape[0]


def output_format(path, like: LoadedImage | None = None) -> str:
    """The format to write: from the suffix of ``path``, else the input's."""
    suffix = Path(path).suffix.lower()
    if suffix in SUFFIX_FORMAT:
        return SUFFIX_FORMAT[suffix]
    if like is not None:
        return like.format
    raise ImageWriteError(
        f"{display_name(path)}: unknown file type; end the name with .jpg, .png, .tif, .webp or .heic.")

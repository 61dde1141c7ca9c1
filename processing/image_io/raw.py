"""Camera RAW originals: recognised by their bytes, unpacked by LibRaw (rawpy), developed in a fixed way.

A RAW file is the photographer's real original: no export sharpening, noise
reduction or JPEG loss in its texture. It is only ever an original; the AI
tools' output is a developed picture. The development is fixed, so the same
file always gives the same pixels (docs/METHODS.md, section 13):

- Bayer sensors (nearly every camera): :mod:`.development`, LibRaw's steps
  done band by band (Malvar-He-Cutler demosaicing) in half the time of
  LibRaw's own development and the colour-noise smoothing, without its
  four-channel copy of the frame;
- other sensors (X-Trans, four-colour, linear DNG): LibRaw's development with
  PPG demosaicing (:func:`development`);
- either way: the camera's white balance (daylight where the file has none),
  sRGB primaries and the sRGB tone curve, 16 bit, no automatic brightening and
  no rescaling to the brightest pixel (the file's white level is white), the
  file's orientation applied, colour noise smoothed (chroma over a Gaussian
  of 1 px; luminance untouched).
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import cv2
import numpy as np

from processing.image_io.development import develop_bayer, smooth_colour_noise
from processing.image_io.formats import ImageReadError, LoadedImage, check_pixel_limit

#: What a RAW file is called by its extension; TIFF-based kinds (NEF, ARW...) are
#: known from their extension, the others from their bytes too.
RAW_SUFFIX_KIND = {".dng": "DNG", ".cr2": "CR2", ".cr3": "CR3", ".nef": "NEF", ".nrw": "NRW",
                   ".arw": "ARW", ".srf": "SRF", ".sr2": "SR2", ".raf": "RAF", ".orf": "ORF",
                   ".rw2": "RW2", ".pef": "PEF", ".srw": "SRW", ".3fr": "3FR", ".iiq": "IIQ"}
RAW_READABLE = "DNG, CR2, CR3, NEF, ARW, RAF, ORF or RW2"
#: Side (px) of the tiles the sensor noise is measured on, and how many.
NOISE_TILE = 256
NOISE_TILES = 16

_TIFF_MAGIC = (b"II*\x00", b"MM\x00*")
_DNG_VERSION = 50706
_PHOTOMETRIC = 262
_CFA, _LINEAR_RAW = 32803, 34892


def raw_kind(data: bytes, name: str = "") -> str | None:
    """The RAW format ``data`` holds ('DNG', 'CR3', ...), or None for a developed picture.

    The bytes decide where they can (a JPEG named .CR3 is a JPEG); TIFF-based
    RAW files without a DNG tag or a mosaic in their first directory (NEF,
    ARW...) are known by their extension. A file named like a RAW whose bytes
    are not an image at all is reported as that RAW kind, so the sentence the
    user gets names what the file should have been.
    """
    suffix_kind = RAW_SUFFIX_KIND.get(Path(name).suffix.lower())
    if data[:15] == b"FUJIFILMCCD-RAW":
        return "RAF"
    if data[:4] in (b"IIRO", b"IIRS", b"MMOR"):
        return "ORF"
    if data[:4] == b"IIU\x00":
        return "RW2"
    if data[4:8] == b"ftyp" and data[8:12] == b"crx ":
        return "CR3"
    if data[:4] in _TIFF_MAGIC:
        if data[8:10] == b"CR":
            return "CR2"
        tags = _first_directory_tags(data)
        if tags is None:  # cut short before its first directory ends: damaged, whatever it was
            return suffix_kind
        if _DNG_VERSION in tags:
            return "DNG"
        if tags.get(_PHOTOMETRIC) in (_CFA, _LINEAR_RAW):
            return suffix_kind or "RAW"
        # DNG and CR2 always say so in their bytes: a plain TIFF named .dng is a TIFF.
        return None if suffix_kind in ("DNG", "CR2") else suffix_kind
    if suffix_kind and not _looks_like_picture(data):
        return suffix_kind
    return None


def _looks_like_picture(data: bytes) -> bool:
    """Whether the bytes start like a developed picture format (JPEG, PNG, WebP, ISO media)."""
    return (data[:3] == b"\xff\xd8\xff" or data[:8] == b"\x89PNG\r\n\x1a\n"
            or (data[:4] == b"RIFF" and data[8:12] == b"WEBP") or data[4:8] == b"ftyp")


def _first_directory_tags(data: bytes) -> dict[int, int] | None:
    """Tag -> first value of a classic TIFF's first directory (None when it is cut short)."""
    order = "<" if data[:2] == b"II" else ">"
    try:
        (offset,) = struct.unpack(order + "I", data[4:8])
        (count,) = struct.unpack(order + "H", data[offset:offset + 2])
        tags = {}
        for i in range(min(count, 4096)):
            at = offset + 2 + 12 * i
            tag, kind = struct.unpack(order + "HH", data[at:at + 4])
            value = data[at + 8:at + 12]
            # SHORT values sit at the start of the value field, LONG ones fill it.
            tags[tag] = struct.unpack(order + ("H" if kind == 3 else "I"), value[:2 if kind == 3 else 4])[0]
        return tags
    except struct.error:
        return None


def development(rawpy) -> dict:
    """LibRaw's settings of the fixed development (see the module's docstring), as
    keyword arguments of rawpy's ``postprocess``."""
    return dict(demosaic_algorithm=rawpy.DemosaicAlgorithm.PPG, use_camera_wb=True,
                output_color=rawpy.ColorSpace.sRGB, output_bps=16, gamma=(2.4, 12.92),
                no_auto_bright=True, bright=1.0, adjust_maximum_thr=0.0,
                highlight_mode=rawpy.HighlightMode.Clip)


def raw_pixels(source) -> int | None:
    """Width x height of a RAW file's developed picture, from its header (None when unknown).

    ``source`` is a path or bytes that :func:`raw_kind` recognised.
    """
    try:
        import rawpy

        raw = rawpy.RawPy()
        try:
            if isinstance(source, (bytes, bytearray, memoryview)):
                raw.open_buffer(io.BytesIO(bytes(source)))
            else:
                raw.open_file(str(source))
            return int(raw.sizes.width) * int(raw.sizes.height)
        finally:
            raw.close()
    except Exception:  # noqa: BLE001 - unreadable here: decode_raw says why
        return None


def decode_raw(data: bytes, name: str, kind: str, max_pixels: int) -> LoadedImage:
    """Develop a camera RAW file with the fixed development of this module.

    Parameters
    ----------
    data : bytes
        The whole file.
    name : str
        File name, for messages.
    kind : str
        What :func:`raw_kind` said the file is ('DNG', 'CR3', ...).
    max_pixels : int
        Refuse larger sensors.

    Returns
    -------
    LoadedImage
        (H, W, 3) uint16 sRGB pixels, upright; ``format`` is ``kind``, and the
        first note says how it was developed.

    Raises
    ------
    ImageReadError
        Not RAW data, damaged, from a camera LibRaw does not know, too large.
    """
    try:
        import rawpy
    except ImportError:
        raise ImageReadError(f"{name} is a {kind} file and rawpy, which develops RAW files, is not installed: "
                             "install it, or export the original as a 16-bit TIFF.") from None
    if not _looks_like_kind(data, kind):
        raise ImageReadError(f"{name} is named like a {kind} file but does not hold camera RAW data: "
                             "copy the original from the camera card again.")
    if data[:4] in _TIFF_MAGIC:
        _check_tiff_raw(data, name, kind)
    raw = rawpy.RawPy()
    try:
        try:
            raw.open_buffer(io.BytesIO(data))
            sizes = raw.sizes
            check_pixel_limit(name, sizes.width, sizes.height, max_pixels)
            raw.unpack()
            try:
                developed = develop_bayer(raw)
            except (cv2.error, ValueError, IndexError):  # a mosaic it cannot take: LibRaw says what it makes of it
                developed = None
            if developed is not None:  # colour noise smoothed on the way
                rgb, has_camera_wb = developed
                how = "Malvar-He-Cutler demosaicing"
            else:  # X-Trans, four-colour and linear sensors: LibRaw's own development
                has_camera_wb = any(v > 0 for v in raw.camera_whitebalance[:3])
                rgb = smooth_colour_noise(raw.postprocess(**development(rawpy)))
                how = "LibRaw's PPG demosaicing"
        except rawpy.LibRawFileUnsupportedError:
            raise ImageReadError(
                f"{name} is a {kind} file from a camera that LibRaw {_version(rawpy)} "
                "does not know: export the original from your RAW converter as a 16-bit TIFF.") from None
        except (rawpy.LibRawUnsufficientMemoryError, rawpy.LibRawMemPoolOverflowError,
                rawpy.LibRawTooBigError, MemoryError):
            raise ImageReadError(f"{name} is too large to develop with the memory free here: "
                                 "close other programs, or export the original as a 16-bit TIFF.") from None
        except rawpy.LibRawError as exc:  # I/O and data errors: the file stops short or is corrupt
            raise ImageReadError(f"{name} is a damaged or incomplete {kind} file ({_libraw_reason(exc)}): "
                                 "copy the original from the camera card again.") from None
    finally:
        raw.close()
    height, width = rgb.shape[:2]
    wb = "camera white balance" if has_camera_wb else "daylight white balance (the file holds no camera one)"
    note = (f"original: {kind}, {width} x {height}, {wb}, developed with {how} "
            "(sRGB, 16 bit, no auto-brightening, colour noise smoothed).")
    return LoadedImage(rgb, None, kind, None, None, [note], name, sensor_noise(rgb))


def _looks_like_kind(data: bytes, kind: str) -> bool:
    """Whether the bytes start as a file of that RAW kind would (TIFF-based kinds: a TIFF)."""
    if raw_kind(data) == kind:
        return True
    return data[:4] in _TIFF_MAGIC and kind not in ("CR3", "RAF", "ORF", "RW2")


def _version(rawpy) -> str:
    return ".".join(str(v) for v in rawpy.libraw_version)


def _libraw_reason(exc: Exception) -> str:
    """LibRaw's own words for a failure (rawpy passes them as bytes), lower case."""
    text = exc.args[0] if exc.args else ""
    text = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
    text = text.strip().splitlines()[0][:80] if text.strip() else type(exc).__name__
    return "LibRaw: " + text[:1].lower() + text[1:]


def _check_tiff_raw(data: bytes, name: str, kind: str) -> None:
    """A TIFF-based RAW whose image data runs past the end of the file is cut short:
    LibRaw would fill the missing rows with black and call it a picture."""
    import tifffile

    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tif:
            pages = list(tif.pages) + [sub for page in tif.pages for sub in (page.pages or [])]
            ends = [offset + count for page in pages
                    for offset, count in zip(page.dataoffsets, page.databytecounts) if count]
    except Exception:  # noqa: BLE001 - unparseable directories: LibRaw says what it makes of them
        return
    if ends and max(ends) > len(data):
        raise ImageReadError(f"{name} is a damaged or incomplete {kind} file (its image data stops short): "
                             "copy the original from the camera card again.")


def sensor_noise(rgb: np.ndarray) -> float:
    """The luminance noise of a developed RAW in flat areas, in 8-bit levels.

    Donoho's estimator, as scikit-image's ``estimate_sigma``: the median
    absolute value of the finest diagonal wavelet band over 0.6745, here the
    Haar band of 2 x 2 blocks (importing scikit-image's restoration module
    costs half a second per process, the estimate a few milliseconds). It is
    taken on tiles spread over the frame and the lower quartile over tiles is
    kept, so the flat ones decide (pores and hair raise the others).

    Parameters
    ----------
    rgb : ndarray uint16 or uint8 (H, W, 3)

    Returns
    -------
    float
        Standard deviation of the noise, 8-bit levels.
    """
    h, w = rgb.shape[:2]
    t = min(NOISE_TILE, h, w) // 2 * 2
    side = int(np.ceil(np.sqrt(NOISE_TILES)))
    weights = np.array([0.299, 0.587, 0.114], np.float32) * (255.0 / np.iinfo(rgb.dtype).max)
    sigmas = []
    for y in np.linspace(0, h - t, side).astype(int):
        for x in np.linspace(0, w - t, side).astype(int):
            luma = rgb[y:y + t, x:x + t].astype(np.float32) @ weights
            diagonal = (luma[0::2, 0::2] - luma[0::2, 1::2] - luma[1::2, 0::2] + luma[1::2, 1::2]) / 2
            sigmas.append(np.median(np.abs(diagonal)) / 0.6745)
    return float(np.percentile(sigmas, 25))


#: Sensor noise (8-bit levels) below which it does not show, and above which it
#: shows as grain of its own on skin.
FAINT_NOISE, VISIBLE_NOISE = 0.5, 2.0


def describe_noise(sigma: float) -> str:
    """How a RAW original's sensor noise is treated, in one sentence for the plan message.

    The noise is kept: in a single picture it cannot be told from pores (both
    are fine, noise-like texture), so taking it out would take pores with it.
    Its colour part was smoothed in the development.
    """
    if sigma < FAINT_NOISE:
        return f"The RAW's sensor noise ({sigma:.1f} levels in flat areas) is too faint to show."
    if sigma <= VISIBLE_NOISE:
        return (f"The RAW's sensor noise ({sigma:.1f} levels in flat areas) comes back with the texture "
                "as the photo's grain; its colour noise was smoothed.")
    return (f"The RAW's sensor noise ({sigma:.1f} levels in flat areas) comes back with the texture and "
            "will show as grain: lower the strength, or export the original with noise reduction.")

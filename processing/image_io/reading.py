"""Decoding photographs: imagecodecs, OpenCV, tifffile, pillow-heif or Pillow, whichever keeps
the pixels intact; EXIF orientation applied, ICC profile and EXIF kept, alpha set aside.
Camera RAW originals are developed by :mod:`.raw` (LibRaw)."""

from __future__ import annotations

import contextlib
import io
import re
import struct
import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from processing.filters import largest_channel
from processing.image_io.formats import (DEFAULT_MAX_PIXELS, EXIF_ORIENTATION, FORMAT_SUFFIX, READABLE,
                                         ImageReadError, LoadedImage, check_pixel_limit, display_name)
from processing.image_io.raw import RAW_READABLE, decode_raw, raw_kind, raw_pixels

# We enforce our own pixel limit (a setting) and want a clear sentence, not
# Pillow's DecompressionBombError.
Image.MAX_IMAGE_PIXELS = None
ImageFile.LOAD_TRUNCATED_IMAGES = False


def read_image(source, name: str | None = None,
               max_pixels: int = DEFAULT_MAX_PIXELS, allow_raw: bool = False) -> LoadedImage:
    """Decode a photograph from a path or bytes.

    Parameters
    ----------
    source : str, Path or bytes
    name : str, optional
        Name used in messages (defaults to the file name).
    max_pixels : int
        Refuse images with more pixels than this (decompression bombs).
    allow_raw : bool
        Develop a camera RAW file (:mod:`.raw`); False refuses one with a
        sentence saying where it belongs: RAW files are only ever originals.

    Returns
    -------
    LoadedImage

    Raises
    ------
    ImageReadError
        With one sentence saying what is wrong and what to do.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        name = name or "the uploaded file"
    else:
        path = Path(source)
        name = name or display_name(path)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ImageReadError(f"{name}: the file does not exist; check the path.") from None
        except IsADirectoryError:
            raise ImageReadError(f"{name} is a folder, not an image file.") from None
        except OSError as exc:
            raise ImageReadError(f"{name} cannot be read ({exc.strerror}); check its permissions.") from None
    if not data:
        raise ImageReadError(f"{name} is empty (0 bytes): export the image again.")
    try:
        # Pillow warns about oddities it reads past (corrupt EXIF...); what
        # matters becomes an error or a note, the rest must not reach stderr.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            kind = raw_kind(data, name)
            if kind is None:
                return _decode(data, name, max_pixels, allow_raw)
            if not allow_raw:
                raise ImageReadError(
                    f"{name} is a camera RAW file ({kind}); Retexture takes RAW files only as the original: "
                    "give the developed, AI-retouched export (JPEG, PNG, TIFF...) here.")
            return decode_raw(data, name, kind, max_pixels)
    except ImageReadError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, cv2.error, MemoryError) as exc:
        raise ImageReadError(f"{name} is damaged or incomplete ({_short(exc)}): export it again.") from None


def header_pixels(source) -> int | None:
    """Width x height of a photo from its file's header, without decoding it.

    ``source`` is a path, bytes or (name, bytes); a LoadedImage, an array or
    None counts as 0 (nothing to decode). None when the header cannot be read:
    :func:`read_image` says why when the file is decoded.
    """
    if isinstance(source, (LoadedImage, np.ndarray)) or source is None:
        return 0
    try:
        if isinstance(source, tuple):
            name, source = source
        else:
            name = str(source) if isinstance(source, (str, Path)) else ""
        in_memory = isinstance(source, (bytes, bytearray, memoryview))
        if raw_kind(bytes(source[:65536]) if in_memory else _head(source), name):
            # A RAW's first picture may be a thumbnail: the sensor's size is in its own header.
            return raw_pixels(source)
        if in_memory:
            source = io.BytesIO(source)
        with warnings.catch_warnings():  # a truncated file is reported by read_image, not here
            warnings.simplefilter("ignore")
            with Image.open(source) as im:
                w, h = im.size
        return w * h
    except Exception:  # unreadable here: read_image says why, one file at a time
        return None


def _head(path, n: int = 65536) -> bytes:
    with open(path, "rb") as f:
        return f.read(n)


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:120]


def _frames_notes(name: str, n_frames: int) -> list[str]:
    return [f"{name} holds {n_frames} frames or pages; the first one is used."] if n_frames > 1 else []


def _unsupported_depth(name: str, dtype) -> ImageReadError:
    return ImageReadError(f"{name} uses {dtype} samples: save it as 8 or 16 bit.")


def _damaged(name: str, exc: Exception | str | None = None) -> ImageReadError:
    detail = f" ({exc if isinstance(exc, str) else _short(exc)})" if exc else ""
    return ImageReadError(f"{name} is damaged or incomplete{detail}: export it again.")


_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic TIFF and BigTIFF
_JPEG_MAGIC = b"\xff\xd8\xff"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _decode(data: bytes, name: str, max_pixels: int, allow_raw: bool = False) -> LoadedImage:
    if _is_heif(data):
        return _decode_heif(data, name, max_pixels)
    is_tiff = data[:4] in _TIFF_MAGIC
    if is_tiff:
        # Before Pillow, which would call a missing codec damage or quietly
        # decode a file that stops short.
        _check_tiff(data, name)
    try:
        im = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        if is_tiff:
            # TIFFs Pillow cannot open (float or 16-bit RGB): tifffile reads them.
            return _decode_tiff_only(data, name, max_pixels)
        if data.startswith((_JPEG_MAGIC, _PNG_MAGIC)):  # cut short in its first headers
            raise _damaged(name) from None
        readable = f"{READABLE} or a camera RAW file ({RAW_READABLE})" if allow_raw else READABLE
        raise ImageReadError(f"{name} is not an image Retexture can read: use {readable}.") from None
    fmt = im.format or ""
    if fmt == "MPO":  # multi-picture JPEG from some cameras: the first frame is a JPEG
        fmt = "JPEG"
    width, height = im.size
    check_pixel_limit(name, width, height, max_pixels)
    _check_min_size(name, width, height)
    notes = _frames_notes(name, getattr(im, "n_frames", 1))
    icc = im.info.get("icc_profile") or None
    # Pillow's PNG getexif() decodes the whole image to look for an
    # eXIf chunk after the pixels (+550 MB and 5 s at 144 MP): walk the chunks instead.
    exif_obj = _png_exif(data) if fmt == "PNG" and "exif" not in im.info else im.getexif()
    orientation = int(exif_obj.get(EXIF_ORIENTATION, 1) or 1)

    if fmt == "JPEG" and im.mode in ("RGB", "L"):
        pixels, alpha = _split_channels(_decode_jpeg(data, name), name)
    elif fmt == "PNG":
        pixels, alpha = _decode_cv2(data, name)
    elif fmt == "TIFF":
        pixels, alpha = _decode_tiff(data, im, name)
    else:
        pixels, alpha, icc, more = _decode_pil(im, icc, name)
        notes += more
    if fmt not in FORMAT_SUFFIX:
        notes.append(f"{name} is {fmt or 'an unusual format'}; the result is written as PNG.")
        fmt = "PNG"

    if orientation != 1:
        pixels = apply_orientation(pixels, orientation)
        alpha = None if alpha is None else apply_orientation(alpha, orientation)
    return LoadedImage(np.ascontiguousarray(pixels), alpha, fmt, icc, _upright_exif(exif_obj), notes, name)


def _check_min_size(name: str, width: int, height: int) -> None:
    if width < 2 or height < 2:
        raise ImageReadError(f"{name} is only {width}x{height} pixels: use the full-size photo.")


def _upright_exif(exif_obj: Image.Exif) -> bytes | None:
    """EXIF to carry over, its orientation reset: the pixels are already upright."""
    if not len(exif_obj):
        return None
    exif_obj[EXIF_ORIENTATION] = 1
    return exif_obj.tobytes()


def _png_exif(data: bytes) -> Image.Exif:
    """The EXIF of a PNG's eXIf chunk, found by walking chunk headers (nothing inflated)."""
    exif = Image.Exif()
    pos = 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"eXIf":
            body = data[pos + 8:pos + 8 + length]
            exif.load(body if body.startswith(b"Exif\x00\x00") else b"Exif\x00\x00" + body)
            break
        if kind == b"IEND":
            break
        pos += 12 + length
    return exif


def _split_channels(arr: np.ndarray, name: str):
    """(H, W, C) -> RGB or gray pixels and an optional alpha."""
    if arr.ndim == 2:
        return arr, None
    if arr.ndim != 3:
        raise ImageReadError(f"{name} has an image layout Retexture does not handle: save it as RGB.")
    c = arr.shape[2]
    if c == 1:
        return arr[..., 0], None
    if c == 2:
        return arr[..., 0], arr[..., 1]
    if c == 3:
        return arr, None
    if c == 4:
        return arr[..., :3], arr[..., 3]
    raise ImageReadError(f"{name} has {c} channels: save it as RGB or grayscale.")


#: Where a scan's entropy-coded data ends: a marker, i.e. FF followed by
#: anything but a stuffed zero, a restart (D0-D7) or another fill byte.
_SCAN_END = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


def jpeg_is_whole(data: bytes) -> bool:
    """Whether a JPEG's segments reach its end-of-image marker.

    libjpeg takes a file that stops short for a warning and fills the missing
    rows with grey. Segments are walked by their lengths; a scan's data runs
    to the next marker (:data:`_SCAN_END`). What follows the end marker (a
    second picture, a maker's trailer) is not looked at.
    """
    pos, n = 2, len(data)
    while pos + 1 < n:
        if data[pos] != 0xFF:  # stray bytes between segments: libjpeg skips them too
            pos = data.find(b"\xff", pos)
            if pos < 0:
                return False
            continue
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker == 0xD9:
            return True
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            pos += 2
            continue
        if pos + 4 > n:
            return False
        pos += 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
        if marker == 0xDA:  # start of scan: its data follows the header
            end = _SCAN_END.search(data, pos)
            if end is None:
                return False
            pos = end.start()
    return False


def _decode_jpeg(data: bytes, name: str) -> np.ndarray:
    """An RGB or grey JPEG's pixels, through imagecodecs' libjpeg-turbo.

    The same pixels as OpenCV's decoder, which first fills a second frame of
    its own: on a 24 MP photo imagecodecs touches 70 MB less memory and takes
    0.05 s instead of 0.08. A file that stops short is refused
    (:func:`jpeg_is_whole`): libjpeg alone would fill it with grey.
    """
    import imagecodecs

    if not jpeg_is_whole(data):
        raise _damaged(name, "it stops before its end")
    try:
        arr = imagecodecs.jpeg8_decode(data)
    except imagecodecs.Jpeg8Error as exc:
        raise _damaged(name, exc) from None
    if arr.dtype != np.uint8:  # a 12-bit JPEG
        raise _unsupported_depth(name, arr.dtype)
    return arr


def _decode_cv2(data: bytes, name: str):
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
    if arr is None:
        raise ImageReadError(f"{name} is damaged or incomplete: export it again.")
    if arr.dtype not in (np.uint8, np.uint16):
        raise _unsupported_depth(name, arr.dtype)
    if arr.ndim == 3 and arr.shape[2] == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)
    elif arr.ndim == 3 and arr.shape[2] == 4:
        arr = cv2.cvtColor(arr, cv2.COLOR_BGRA2RGBA)
    return _split_channels(arr, name)


# Compression names a photographer would recognise in an export dialog.
_TIFF_COMPRESSION_NAMES = {
    5: "LZW", 6: "old-style JPEG", 7: "JPEG", 8: "ZIP (Deflate)", 32946: "ZIP (Deflate)",
    32773: "PackBits", 34925: "LZMA", 34926: "ZSTD", 50000: "ZSTD", 34927: "WebP", 50001: "WebP",
    33003: "JPEG 2000", 33004: "JPEG 2000", 33005: "JPEG 2000", 34712: "JPEG 2000",
    34933: "PNG", 34934: "JPEG XR", 50002: "JPEG XL", 52546: "JPEG XL", 34661: "JBIG", 34715: "JBIG2",
}


def _tiff_compression_name(code: int) -> str:
    import tifffile

    if code in _TIFF_COMPRESSION_NAMES:
        return _TIFF_COMPRESSION_NAMES[code]
    try:
        return tifffile.COMPRESSION(code).name.replace("_", " ").title()
    except ValueError:
        return f"an unknown scheme ({code})"


def _missing_codec_hint() -> str:
    try:
        import imagecodecs  # noqa: F401
    except ImportError:
        return " (the imagecodecs package is not installed)"
    return ""


@contextlib.contextmanager
def _tiff_errors(name: str):
    """tifffile's and imagecodecs' failures in our words: a TIFF feature they
    lack is not damage; a codec that chokes on the data, or a missing first page, is."""
    try:
        yield
    except ImageReadError:
        raise
    except NotImplementedError as exc:
        raise ImageReadError(f"{name} uses a TIFF layout Retexture cannot read ({_short(exc)}): "
                             "save it as an RGB or grayscale TIFF.") from None
    except RuntimeError as exc:  # imagecodecs' errors: the codec choked on the data
        raise _damaged(name, exc) from None
    except (IndexError, KeyError):  # no first page, or a broken page directory
        raise _damaged(name, "no readable picture in it") from None


def _check_tiff(data: bytes, name: str) -> None:
    """Refuse a TIFF whose first page cannot be decoded here, saying why: a
    compression or sample format without a decoder, or image data cut short."""
    import tifffile

    with _tiff_errors(name), tifffile.TiffFile(io.BytesIO(data)) as tif:
        page = tif.pages[0]
        code = int(page.compression)
        if code != 1 and code not in tifffile.TIFF.DECOMPRESSORS:
            raise ImageReadError(
                f"{name} is a TIFF compressed with {_tiff_compression_name(code)}, which is not supported "
                f"here{_missing_codec_hint()}: save it uncompressed or with ZIP compression.")
        predictor = int(page.predictor)
        if predictor != 1 and predictor not in tifffile.TIFF.UNPREDICTORS \
                and code not in tifffile.TIFF.IMAGE_COMPRESSIONS:
            raise ImageReadError(
                f"{name} is a TIFF with a predictor ({predictor}) that is not supported "
                f"here{_missing_codec_hint()}: save it uncompressed or with ZIP compression.")
        if page.dtype is None:
            raise ImageReadError(f"{name} uses {page.bitspersample}-bit samples Retexture cannot read: "
                                 "save it as 8 or 16 bit.")
        ends = [offset + count for offset, count in zip(page.dataoffsets, page.databytecounts) if count]
        if not ends or max(ends) > len(data):
            raise _damaged(name, "its image data stops short")


def _decode_tiff_only(data: bytes, name: str, max_pixels: int) -> LoadedImage:
    """A TIFF that only tifffile reads: pixels, ICC profile and page count."""
    import tifffile

    with _tiff_errors(name), tifffile.TiffFile(io.BytesIO(data)) as tif:
        page = tif.pages[0]
        n_pages = len(tif.pages)
        h, w = page.shape[:2] if page.planarconfig != 2 or page.ndim < 3 else page.shape[1:3]
        icc = page.tags.get(34675)
        icc = bytes(icc.value) if icc is not None else None
    check_pixel_limit(name, w, h, max_pixels)
    pixels, alpha = _decode_tiff(data, None, name)
    notes = _frames_notes(name, n_pages)
    return LoadedImage(np.ascontiguousarray(pixels), alpha, "TIFF", icc, None, notes, name)


def _decode_tiff(data: bytes, im: Image.Image | None, name: str):
    import tifffile

    P = tifffile.PHOTOMETRIC
    with _tiff_errors(name), tifffile.TiffFile(io.BytesIO(data)) as tif:
        page = tif.pages[0]
        photometric = page.photometric
        # tifffile turns JPEG's YCbCr into RGB itself; other colour models it
        # returns as stored, so Pillow (libtiff) converts them.
        as_stored = photometric in (P.MINISWHITE, P.MINISBLACK, P.RGB) or (
            photometric == P.YCBCR and int(page.compression) in (6, 7, 33007))
        arr = page.asarray() if as_stored else None
    if arr is None:
        if im is None:
            raise ImageReadError(f"{name} is a {photometric.name} TIFF Retexture cannot convert: save it as RGB.")
        pixels, alpha, _, _ = _decode_pil(im, None, name)
        return pixels, alpha
    if arr.ndim == 3 and arr.shape[0] in (3, 4) and arr.shape[2] not in (3, 4):
        arr = np.moveaxis(arr, 0, -1)  # planar configuration
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * 255
    elif arr.dtype.kind == "f":
        arr = np.nan_to_num(arr.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
        arr = np.clip(arr, 0.0, 1.0)
    elif arr.dtype not in (np.uint8, np.uint16):
        if arr.dtype.kind in "iu" and arr.dtype.itemsize <= 4:
            arr = np.clip(arr, 0, None).astype(np.float64) / float(np.iinfo(arr.dtype).max)
            arr = (arr * 65535 + 0.5).astype(np.uint16)
        else:
            raise _unsupported_depth(name, arr.dtype)
    if photometric == P.MINISWHITE:
        full = 1.0 if arr.dtype.kind == "f" else np.iinfo(arr.dtype).max
        arr = (full - arr).astype(arr.dtype)
    return _split_channels(arr, name)


# HEIF brands of HEVC-coded stills and sequences; AVIF (AV1) is left to Pillow.
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1"}
_HEIF_CODECS = {b"hvc1": "HEVC", b"av01": "AV1", b"vvc1": "VVC (H.266)", b"j2k1": "JPEG 2000",
                b"jpeg": "JPEG", b"unci": "uncompressed", b"evc1": "EVC", b"avc1": "AVC (H.264)"}


def _ftyp_brands(data: bytes) -> set[bytes]:
    """The major and compatible brands of an ISO media file (HEIC, AVIF...)."""
    if data[4:8] != b"ftyp":
        return set()
    size = min(int.from_bytes(data[:4], "big"), len(data), 4096)
    body = data[8:size]
    return {body[i:i + 4] for i in range(0, len(body) - 3, 4) if i != 4}  # 4: minor version


def _is_heif(data: bytes) -> bool:
    brands = _ftyp_brands(data)
    return bool(brands & _HEIF_BRANDS) and not brands & {b"avif", b"avis"}


def _heif_codec(data: bytes) -> str:
    """The coding of the HEIF's picture, read from its first 'infe' box naming
    one (the others hold EXIF, XMP or a grid of tiles)."""
    start = data.find(b"infe")
    while start != -1:
        version = data[start + 4] if start + 4 < len(data) else 0
        at = start + 8 + (4 if version >= 3 else 2) + 2  # after version and flags, item ID, protection index
        kind = data[at:at + 4] if version >= 2 else b""
        if kind in _HEIF_CODECS:
            return _HEIF_CODECS[kind]
        start = data.find(b"infe", start + 4)
    return "an unknown coding"


def _decode_heif(data: bytes, name: str, max_pixels: int) -> LoadedImage:
    """A HEIC/HEIF photo through pillow-heif (libheif): 8 bit as uint8, 10 and
    12 bit as uint16. libheif applies the file's rotation and mirroring, so the
    EXIF orientation only describes that and is reset."""
    try:
        import pillow_heif
    except ImportError:
        raise ImageReadError(f"{name} is a HEIC photo and pillow-heif, which reads them, is not installed: "
                             "install it, or export the photo as JPEG or TIFF.") from None
    try:
        heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=False)
        if len(heif) == 0:
            # libheif skips images it has no decoder for.
            codec = _heif_codec(data)
            if codec == "HEVC":
                raise _damaged(name, "no picture could be found in it")
            raise ImageReadError(f"{name} is a HEIF image with {codec} compression, which is not supported "
                                 "here: export it as JPEG or TIFF.")
        image = heif[heif.primary_index]
        width, height = image.size
        check_pixel_limit(name, width, height, max_pixels)
        _check_min_size(name, width, height)
        arr = np.asarray(image)  # decodes
        mode = image.mode
        info = dict(image.info)
        n_images = len(heif)
    except (SyntaxError, RuntimeError) as exc:  # pillow-heif: an unsupported feature, or another failure
        raise ImageReadError(f"{name} is a HEIF image Retexture cannot decode ({_short(exc)}): "
                             "export it as JPEG or TIFF.") from None
    bits = int(info.get("bit_depth") or 8)
    if arr.dtype == np.uint16 and 8 < bits < 16:
        # pillow-heif shifts 10 and 12 bit samples to the top of 16 bits; spread
        # them over the full range so white is 65535 as everywhere else.
        top = (1 << bits) - 1
        arr = ((arr >> (16 - bits)).astype(np.uint32) * 65535 + top // 2) // top
        arr = arr.astype(np.uint16)
    pixels, alpha = _split_channels(arr, name)
    if alpha is not None and mode.split(";")[0][-1] == "a":  # premultiplied alpha
        full = float(np.iinfo(arr.dtype).max)
        a = alpha.astype(np.float32)[..., None] if pixels.ndim == 3 else alpha.astype(np.float32)
        straight = np.where(a > 0, pixels.astype(np.float32) * full / np.maximum(a, 1), 0)
        pixels = np.clip(straight + 0.5, 0, full).astype(arr.dtype)
    notes = [f"{name} holds {n_images} images; its main one is used."] if n_images > 1 else []
    icc = info.get("icc_profile") or None
    nclx = info.get("nclx_profile") or {}
    if icc is None and (nclx.get("color_primaries", 1) not in (1, 2)
                        or nclx.get("transfer_characteristics", 13) not in (1, 2, 6, 13)):
        notes.append(f"{name} describes its colours without an ICC profile; they are treated as sRGB.")
    exif_obj = Image.Exif()
    if info.get("exif"):
        try:
            exif_obj.load(info["exif"])
        except Exception:  # unreadable EXIF must not stop the restore
            exif_obj = Image.Exif()
    return LoadedImage(np.ascontiguousarray(pixels), alpha, "HEIF", icc, _upright_exif(exif_obj), notes, name)


def _decode_pil(im: Image.Image, icc, name: str):
    """Everything Pillow decodes best: CMYK, palette, WebP, GIF, 16-bit gray."""
    notes: list[str] = []
    im.seek(0)
    mode = im.mode
    if mode == "CMYK":
        # The CMYK profile no longer describes the pixels: convert through it when
        # we can, else drop it so the RGB result is read as sRGB.
        converted = None
        if icc:
            try:
                from PIL import ImageCms
                src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
                dst = ImageCms.createProfile("sRGB")
                converted = ImageCms.profileToProfile(im, src, dst, outputMode="RGB")
            except Exception:  # a broken profile must not stop the restore
                converted = None
        im = converted if converted is not None else im.convert("RGB")
        icc = None
        notes.append(f"{name} is CMYK; it was converted to RGB.")
    elif mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif mode == "PA":
        im = im.convert("RGBA")
    elif mode in ("1",):
        im = im.convert("L")
    elif mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        arr = np.asarray(im).astype(np.uint16)
        return arr, None, icc, notes
    elif mode == "I":
        arr = np.clip(np.asarray(im), 0, 65535).astype(np.uint16)
        return arr, None, icc, notes
    elif mode == "F":
        arr = np.clip(np.nan_to_num(np.asarray(im, dtype=np.float32)), 0, 1)
        return arr, None, icc, notes
    elif mode in ("LAB", "HSV", "YCbCr"):
        im = im.convert("RGB")
    elif mode not in ("RGB", "RGBA", "L", "LA"):
        im = im.convert("RGBA" if "A" in mode else "RGB")
    arr = np.asarray(im)
    pixels, alpha = _split_channels(arr, name)
    return pixels, alpha, icc, notes


_ORIENT_OPS = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1, :],
    5: lambda a: np.swapaxes(a, 0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: np.swapaxes(a, 0, 1)[::-1, ::-1],
    8: lambda a: np.rot90(a, 1),
}


def apply_orientation(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Turn stored pixels upright according to an EXIF orientation value (1-8)."""
    op = _ORIENT_OPS.get(int(orientation))
    return pixels if op is None else np.ascontiguousarray(op(pixels))


def match_layout(pixels: np.ndarray, like: np.ndarray) -> np.ndarray:
    """``pixels`` in the colour layout (gray or RGB) and depth of ``like``, so an
    original can be paired with a retouched image saved differently."""
    from processing.filters import luminance
    from processing.dtypes import from_float, to_float

    if like.ndim == 2 and pixels.ndim == 3:
        pixels = from_float(luminance(to_float(pixels)), pixels.dtype)
    elif like.ndim == 3 and pixels.ndim == 2:
        pixels = np.repeat(pixels[..., None], like.shape[2], axis=2)
    if pixels.dtype == np.uint16 and like.dtype == np.uint8:
        # A 16-bit original (a developed RAW) with an 8-bit export: round(x / 257)
        # directly, the same bytes as through float32 without its two 24 MP copies.
        return cv2.convertScaleAbs(pixels, alpha=1.0 / 257.0)
    if pixels.dtype != like.dtype:
        pixels = from_float(to_float(pixels), like.dtype)
    return pixels


def read_mask(source, shape) -> np.ndarray:
    """A mask image (H, W) checked against an image's ``shape``; ``source`` is
    anything :func:`read_image` takes, or an already decoded LoadedImage.

    Kept in its stored depth (uint8 0-255 is a valid mask everywhere):
    converting 24 MP to float here would cost more than the restore needs.
    A coloured mask counts any channel.

    Raises
    ------
    ImageReadError
        Unreadable, or not the size of the image.
    """
    img = source if isinstance(source, LoadedImage) else read_image(source)
    m = img.pixels if img.pixels.ndim == 2 else largest_channel(img.pixels)
    if m.shape != tuple(shape[:2]):
        raise ImageReadError(f"The mask {img.name} is {m.shape[1]}x{m.shape[0]} but the retouched image is "
                             f"{shape[1]}x{shape[0]}: make the mask from the retouched image.")
    return m

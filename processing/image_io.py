"""Reading and writing photographs without losing what makes them the user's.

Pixels stay in their native depth (uint8, uint16, or float32 for float TIFF), EXIF
orientation is applied on read, and the ICC profile and EXIF travel to the output.
Every failure raises :class:`ImageReadError` or :class:`ImageWriteError` carrying one
sentence a photographer can act on; nothing here prints a traceback at the user.
"""

from __future__ import annotations

import io
import os
import struct
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

# We enforce our own pixel limit (a setting) and want a clear sentence, not
# Pillow's DecompressionBombError.
Image.MAX_IMAGE_PIXELS = None
ImageFile.LOAD_TRUNCATED_IMAGES = False

DEFAULT_MAX_PIXELS = 150_000_000
READABLE = "JPEG, PNG, TIFF or WebP"
FORMAT_SUFFIX = {"JPEG": ".jpg", "PNG": ".png", "TIFF": ".tif", "WEBP": ".webp"}
SUFFIX_FORMAT = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".tif": "TIFF",
                 ".tiff": "TIFF", ".webp": "WEBP"}
JPEG_QUALITY = 95
EXIF_ORIENTATION = 0x0112


class ImageReadError(ValueError):
    """An input cannot be read; the message says what is wrong and what to do."""


class ImageWriteError(OSError):
    """An output cannot be written; the message says what is wrong and what to do."""


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
        'JPEG', 'PNG', 'TIFF' or 'WEBP': the format outputs default to.
    icc_profile, exif : bytes or None
        Carried over to the output. EXIF orientation is already applied to the
        pixels and reset to 1 here.
    notes : list of str
        Sentences worth telling the user (first frame used, CMYK converted...).
    name : str
        File name, for messages.
    """

    pixels: np.ndarray
    alpha: np.ndarray | None = None
    format: str = "PNG"
    icc_profile: bytes | None = None
    exif: bytes | None = None
    notes: list[str] = field(default_factory=list)
    name: str = "image"

    @property
    def bit_depth(self) -> int:
        """8, 16, or 32 (float) bits per channel."""
        return {np.dtype(np.uint8): 8, np.dtype(np.uint16): 16}.get(self.pixels.dtype, 32)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return self.pixels.shape[1], self.pixels.shape[0]

    @property
    def is_gray(self) -> bool:
        return self.pixels.ndim == 2


def read_image(source, name: str | None = None,
               max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Decode a photograph from a path or bytes.

    Parameters
    ----------
    source : str, Path or bytes
    name : str, optional
        Name used in messages (defaults to the file name).
    max_pixels : int
        Refuse images with more pixels than this (decompression bombs).

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
        name = name or path.name
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
        return _decode(data, name, max_pixels)
    except ImageReadError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, cv2.error, MemoryError) as exc:
        raise ImageReadError(f"{name} is damaged or incomplete ({_short(exc)}): export it again.") from None


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:120]


def _decode(data: bytes, name: str, max_pixels: int) -> LoadedImage:
    try:
        im = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        if data[:4] in (b"II*\x00", b"MM\x00*"):
            # TIFFs Pillow cannot open (float or 16-bit RGB): tifffile reads them.
            return _decode_tiff_only(data, name, max_pixels)
        raise ImageReadError(f"{name} is not an image Retexture can read: use {READABLE}.") from None
    fmt = im.format or ""
    if fmt == "MPO":  # multi-picture JPEG from some cameras: the first frame is a JPEG
        fmt = "JPEG"
    width, height = im.size
    if width * height > max_pixels:
        raise ImageReadError(
            f"{name} has {width * height / 1e6:.0f} MP, over the limit of {max_pixels / 1e6:.0f} MP: "
            "downscale it or raise the pixel limit.")
    if width < 2 or height < 2:
        raise ImageReadError(f"{name} is only {width}x{height} pixels: use the full-size photo.")
    notes: list[str] = []
    n_frames = getattr(im, "n_frames", 1)
    if n_frames > 1:
        notes.append(f"{name} holds {n_frames} frames or pages; the first one is used.")
    icc = im.info.get("icc_profile") or None
    exif_obj = im.getexif()
    orientation = int(exif_obj.get(EXIF_ORIENTATION, 1) or 1)

    if fmt == "PNG":
        pixels, alpha = _decode_cv2(data, name)
    elif fmt == "JPEG" and im.mode in ("RGB", "L"):
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
    exif = None
    if len(exif_obj):
        exif_obj[EXIF_ORIENTATION] = 1
        exif = exif_obj.tobytes()
    return LoadedImage(np.ascontiguousarray(pixels), alpha, fmt, icc, exif, notes, name)


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


def _decode_cv2(data: bytes, name: str):
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
    if arr is None:
        raise ImageReadError(f"{name} is damaged or incomplete: export it again.")
    if arr.dtype not in (np.uint8, np.uint16):
        raise ImageReadError(f"{name} uses {arr.dtype} samples: save it as 8 or 16 bit.")
    if arr.ndim == 3 and arr.shape[2] == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)
    elif arr.ndim == 3 and arr.shape[2] == 4:
        arr = cv2.cvtColor(arr, cv2.COLOR_BGRA2RGBA)
    return _split_channels(arr, name)


def _decode_tiff_only(data: bytes, name: str, max_pixels: int) -> LoadedImage:
    """A TIFF that only tifffile reads: pixels, ICC profile and page count."""
    import tifffile

    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        page = tif.pages[0]
        n_pages = len(tif.pages)
        h, w = page.shape[:2] if page.planarconfig != 2 or page.ndim < 3 else page.shape[1:3]
        icc = page.tags.get(34675)
        icc = bytes(icc.value) if icc is not None else None
    if w * h > max_pixels:
        raise ImageReadError(
            f"{name} has {w * h / 1e6:.0f} MP, over the limit of {max_pixels / 1e6:.0f} MP: "
            "downscale it or raise the pixel limit.")
    pixels, alpha = _decode_tiff(data, None, name)
    notes = [f"{name} holds {n_pages} frames or pages; the first one is used."] if n_pages > 1 else []
    return LoadedImage(np.ascontiguousarray(pixels), alpha, "TIFF", icc, None, notes, name)


def _decode_tiff(data: bytes, im: Image.Image | None, name: str):
    import tifffile

    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        page = tif.pages[0]
        arr = page.asarray()
        photometric = page.photometric
    if photometric == tifffile.PHOTOMETRIC.SEPARATED and im is not None:
        pixels, alpha, _, _ = _decode_pil(im, None, name)
        return pixels, alpha
    if photometric == tifffile.PHOTOMETRIC.PALETTE and im is not None:
        pixels, alpha, _, _ = _decode_pil(im, None, name)
        return pixels, alpha
    if photometric in (tifffile.PHOTOMETRIC.SEPARATED, tifffile.PHOTOMETRIC.PALETTE):
        raise ImageReadError(f"{name} is a CMYK or palette TIFF Retexture cannot convert: save it as RGB.")
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
            raise ImageReadError(f"{name} uses {arr.dtype} samples: save it as 8 or 16 bit.")
    if photometric == tifffile.PHOTOMETRIC.MINISWHITE:
        full = 1.0 if arr.dtype.kind == "f" else np.iinfo(arr.dtype).max
        arr = (full - arr).astype(arr.dtype)
    return _split_channels(arr, name)


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


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------

def match_layout(pixels: np.ndarray, like: np.ndarray) -> np.ndarray:
    """``pixels`` in the colour layout (gray or RGB) and depth of ``like``, so an
    original can be paired with a retouched image saved differently."""
    from processing.filters import luminance
    from processing.tiles import from_float, to_float

    if like.ndim == 2 and pixels.ndim == 3:
        pixels = from_float(luminance(to_float(pixels)), pixels.dtype)
    elif like.ndim == 3 and pixels.ndim == 2:
        pixels = np.repeat(pixels[..., None], like.shape[2], axis=2)
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
    m = img.pixels if img.pixels.ndim == 2 else img.pixels.max(axis=2)
    if m.shape != tuple(shape[:2]):
        raise ImageReadError(f"The mask {img.name} is {m.shape[1]}x{m.shape[0]} but the retouched image is "
                             f"{shape[1]}x{shape[0]}: make the mask from the retouched image.")
    return m


def output_format(path, like: LoadedImage | None = None) -> str:
    """The format to write: from the suffix of ``path``, else the input's."""
    suffix = Path(path).suffix.lower()
    if suffix in SUFFIX_FORMAT:
        return SUFFIX_FORMAT[suffix]
    if like is not None:
        return like.format
    raise ImageWriteError(f"{Path(path).name}: unknown file type; end the name with .jpg, .png, .tif or .webp.")


def encode_image(pixels: np.ndarray, fmt: str, alpha: np.ndarray | None = None,
                 icc_profile: bytes | None = None, exif: bytes | None = None) -> bytes:
    """Encode pixels to bytes in ``fmt`` keeping depth, alpha, ICC and EXIF.

    Parameters
    ----------
    pixels : ndarray
        (H, W, 3) RGB or (H, W) gray; uint8, uint16 or float32 in [0, 1].
    fmt : {'JPEG', 'PNG', 'TIFF', 'WEBP'}
        JPEG and WebP are 8-bit formats: deeper pixels are rounded to 8 bit.
    """
    fmt = fmt.upper()
    if fmt in ("JPEG", "WEBP"):
        pixels = to_uint8(pixels)
        alpha = None if alpha is None or fmt == "JPEG" else to_uint8(alpha)
        return _encode_pil(pixels, alpha, fmt, icc_profile, exif)
    if fmt == "PNG":
        if pixels.dtype not in (np.uint8, np.uint16):
            pixels = to_uint16(pixels)
        return _encode_png(pixels, alpha, icc_profile, exif)
    if fmt == "TIFF":
        return _encode_tiff(pixels, alpha, icc_profile, exif)
    raise ImageWriteError(f"Retexture cannot write {fmt}; use JPEG, PNG, TIFF or WebP.")


def to_uint8(a: np.ndarray) -> np.ndarray:
    if a.dtype == np.uint8:
        return a
    if a.dtype == np.uint16:
        return ((a.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    return (np.clip(a, 0, 1) * 255 + 0.5).astype(np.uint8)


def to_uint16(a: np.ndarray) -> np.ndarray:
    if a.dtype == np.uint16:
        return a
    if a.dtype == np.uint8:
        return a.astype(np.uint16) * 257
    return (np.clip(a, 0, 1) * 65535 + 0.5).astype(np.uint16)


def _with_alpha(pixels, alpha):
    if alpha is None:
        return pixels
    alpha = alpha.astype(pixels.dtype) if alpha.dtype == pixels.dtype else (
        to_uint8(alpha) if pixels.dtype == np.uint8 else to_uint16(alpha) if pixels.dtype == np.uint16
        else alpha.astype(np.float32))
    return np.dstack([pixels, alpha])


def _encode_pil(pixels, alpha, fmt, icc, exif) -> bytes:
    im = Image.fromarray(_with_alpha(pixels, alpha))
    kw = {"quality": JPEG_QUALITY}
    if icc:
        kw["icc_profile"] = icc
    if exif:
        kw["exif"] = exif
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def _encode_png(pixels, alpha, icc, exif) -> bytes:
    arr = _with_alpha(pixels, alpha)
    if arr.ndim == 3:
        arr = cv2.cvtColor(arr, cv2.COLOR_RGBA2BGRA if arr.shape[2] == 4 else cv2.COLOR_RGB2BGR) \
            if arr.shape[2] in (3, 4) else arr
    ok, buf = cv2.imencode(".png", arr, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise ImageWriteError("The PNG encoder failed; try TIFF instead.")
    data = buf.tobytes()
    extra = b""
    if icc:
        # iCCP: name, NUL, compression method 0, zlib stream. Must precede IDAT.
        extra += _png_chunk(b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(icc))
    if exif:
        body = exif[6:] if exif.startswith(b"Exif\x00\x00") else exif
        extra += _png_chunk(b"eXIf", body)
    if extra:
        ihdr_end = 8 + 8 + 13 + 4  # signature + IHDR header, body, CRC
        data = data[:ihdr_end] + extra + data[ihdr_end:]
    return data


# TIFF tags we copy out of the EXIF main IFD; the EXIF sub-IFD itself does not
# survive tifffile, so the camera's identity and the rights travel as plain tags.
_TIFF_TEXT_TAGS = {0x010F: "Make", 0x0110: "Model", 0x0131: "Software", 0x0132: "DateTime",
                   0x013B: "Artist", 0x8298: "Copyright", 0x010E: "ImageDescription"}


def _encode_tiff(pixels, alpha, icc, exif) -> bytes:
    import tifffile

    arr = _with_alpha(pixels, alpha)
    extratags = []
    if exif:
        try:
            ex = Image.Exif()
            ex.load(exif)
            for tag in _TIFF_TEXT_TAGS:
                value = ex.get(tag)
                if isinstance(value, str) and value:
                    extratags.append((tag, "s", 0, value, True))
        except Exception:  # unreadable EXIF must not stop the write
            extratags = []
    photometric = "minisblack" if arr.ndim == 2 or arr.shape[2] == 2 else "rgb"
    extrasamples = (2,) if alpha is not None else None  # unassociated alpha
    buf = io.BytesIO()
    tifffile.imwrite(buf, arr, photometric=photometric, compression="zlib",
                     compressionargs={"level": 3}, iccprofile=icc, extratags=extratags,
                     extrasamples=extrasamples, metadata=None)
    return buf.getvalue()


def same_file(a, b) -> bool:
    """True when two paths name the same file (existing or not)."""
    a, b = Path(a), Path(b)
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def check_output_path(path, inputs=()) -> Path:
    """Refuse an output path that is an input, a folder, or in a missing or
    read-only folder, before any work is done. Returns the path."""
    path = Path(path)
    for src in inputs:
        if src is not None and same_file(path, src):
            raise ImageWriteError(
                f"The output {path.name} is one of the input files; choose another name, inputs are never overwritten.")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ImageWriteError(f"The output folder {folder} does not exist; create it or choose another.")
    if path.is_dir():
        raise ImageWriteError(f"The output {path} is a folder; give a file name such as {path / 'restored.jpg'}.")
    if not os.access(folder, os.W_OK):
        raise ImageWriteError(f"The output folder {folder} is not writable; choose another.")
    return path


def write_bytes_safely(path, data: bytes, inputs=()) -> Path:
    """Write ``data`` to ``path`` atomically, refusing to touch any of ``inputs``.

    A temporary file in the target folder is renamed over the target at the end,
    so a failed or interrupted run never leaves a half-written image.
    """
    path = check_output_path(path, inputs)
    folder = path.parent
    fd, tmp = tempfile.mkstemp(prefix=".retexture-", suffix=path.suffix, dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        # mkstemp makes the file private (0600); a studio's shared drive wants the
        # usual permissions a new file gets.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise ImageWriteError(f"Writing {path.name} failed ({exc.strerror}); check free space and permissions.") from None
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def write_image(path, pixels: np.ndarray, like: LoadedImage, fmt: str | None = None,
                inputs=()) -> Path:
    """Write a result like ``like``: its format (unless ``fmt`` or the suffix says
    otherwise), depth, alpha, ICC profile and EXIF. Never overwrites ``inputs``."""
    fmt = fmt or output_format(path, like)
    data = encode_image(pixels, fmt, like.alpha, like.icc_profile, like.exif)
    return write_bytes_safely(path, data, inputs)

"""Encoding photographs (depth, alpha, ICC and EXIF kept) and writing them
atomically, never over an input."""

from __future__ import annotations

import io
import os
import struct
import tempfile
import zlib
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from processing.dtypes import to_uint8, to_uint16
from processing.image_io.formats import JPEG_QUALITY, ImageWriteError, LoadedImage, output_format
from processing.image_io.jpeg_strips import encode_jpeg, fits_in_a_segment


def encode_image(pixels: np.ndarray, fmt: str, alpha: np.ndarray | None = None,
                 icc_profile: bytes | None = None, exif: bytes | None = None) -> bytes:
    """Encode pixels to bytes in ``fmt`` keeping depth, alpha, ICC and EXIF.

    Parameters
    ----------
    pixels : ndarray
        (H, W, 3) RGB or (H, W) gray; uint8, uint16 or float32 in [0, 1].
    fmt : {'JPEG', 'PNG', 'TIFF', 'WEBP', 'HEIF'}
        JPEG and WebP are 8-bit formats: deeper pixels are rounded to 8 bit.
        HEIF (HEIC) keeps 8 bit as 8 and writes deeper pixels as 10 bit.
    """
    fmt = fmt.upper()
    if fmt == "HEIC":
        fmt = "HEIF"
    if fmt in ("JPEG", "WEBP"):
        pixels = to_uint8(pixels)
        alpha = None if alpha is None or fmt == "JPEG" else to_uint8(alpha)
        if fmt == "JPEG" and (pixels.ndim == 2 or pixels.shape[2] == 3) and fits_in_a_segment(exif):
            return encode_jpeg(pixels, JPEG_QUALITY, icc_profile, exif)
        return _encode_pil(pixels, alpha, fmt, icc_profile, exif)
    if fmt == "PNG":
        if pixels.dtype not in (np.uint8, np.uint16):
            pixels = to_uint16(pixels)
        return _encode_png(pixels, alpha, icc_profile, exif)
    if fmt == "TIFF":
        return _encode_tiff(pixels, alpha, icc_profile, exif)
    if fmt == "HEIF":
        if pixels.dtype != np.uint8:
            pixels = to_uint16(pixels)
        return _encode_heif(pixels, alpha, icc_profile, exif)
    raise ImageWriteError(f"Retexture cannot write {fmt}; use JPEG, PNG, TIFF, WebP or HEIC.")


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
    # tifffile writes Software (305) itself and drops, with a logged warning, an
    # extra tag of the same number: hand it the camera's or editor's value instead.
    software = next((t[3] for t in extratags if t[0] == 0x0131), None)
    extratags = [t for t in extratags if t[0] != 0x0131]
    photometric = "minisblack" if arr.ndim == 2 or arr.shape[2] == 2 else "rgb"
    extrasamples = (2,) if alpha is not None else None  # unassociated alpha
    buf = io.BytesIO()
    tifffile.imwrite(buf, arr, photometric=photometric, compression="zlib",
                     compressionargs={"level": 3}, iccprofile=icc, extratags=extratags,
                     extrasamples=extrasamples, metadata=None, software=software)
    return buf.getvalue()


# pillow-heif's quality (0-100) for HEVC; 90 keeps skin grain, which is the point
# of a restore. x265's "fast" preset: libheif's default ("slow") took 2 to 5 times
# as long on a 6 MP photo for the same file size and PSNR.
HEIF_QUALITY = 90
_HEIF_ENCODER = {"preset": "fast"}


def _encode_heif(pixels, alpha, icc, exif) -> bytes:
    """HEIC through pillow-heif (libheif with x265); uint16 pixels become 10 bit."""
    try:
        import pillow_heif
    except ImportError:
        raise ImageWriteError("Writing HEIC needs the pillow-heif package, which is not installed: "
                              "install it, or write JPEG or TIFF.") from None
    arr = np.ascontiguousarray(_with_alpha(pixels, alpha))
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[1 if arr.ndim == 2 else arr.shape[2]]
    if arr.dtype == np.uint16:
        mode += ";16"
    kw = {"quality": HEIF_QUALITY, "enc_params": dict(_HEIF_ENCODER)}
    if icc:
        kw["icc_profile"] = icc
    if exif:
        kw["exif"] = exif
    buf = io.BytesIO()
    try:
        pillow_heif.encode(mode, (arr.shape[1], arr.shape[0]), arr.tobytes(), buf, **kw)
    except (RuntimeError, ValueError) as exc:
        raise ImageWriteError(f"The HEIC encoder failed ({str(exc).strip()[:120]}); write JPEG or TIFF instead.") \
            from None
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


def _stage_beside(path: Path, data: bytes) -> str:
    """Write ``data`` to a new temporary file in ``path``'s folder (the same file
    system, so renaming it over ``path`` is atomic); returns its name."""
    fd, tmp = tempfile.mkstemp(prefix=".retexture-", suffix=path.suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        # mkstemp makes the file private (0600); a studio's shared drive wants the
        # usual permissions a new file gets.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp


def write_all_or_nothing(contents: dict) -> list[Path]:
    """Write ``{path: bytes}``: every file in full to a temporary name beside its
    target first, then all renamed into place. A failure or an interrupt before
    the renames leaves no output and no temporary file (paths are not checked
    here: see :func:`check_output_path` and :mod:`processing.command_files`)."""
    staged: list[tuple[str, Path]] = []
    path = Path()
    try:
        for path, data in contents.items():
            path = Path(path)
            staged.append((_stage_beside(path, data), path))
        for tmp, path in staged:
            os.replace(tmp, path)
    except BaseException as exc:
        for tmp, _ in staged:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        if isinstance(exc, OSError):
            name = path.name or str(path)
            raise ImageWriteError(f"Writing {name} failed ({exc.strerror}); check free space and permissions. "
                                  "Nothing was written.") from None
        raise
    return [path for _, path in staged]


def write_bytes_safely(path, data: bytes, inputs=()) -> Path:
    """Write ``data`` to ``path`` atomically, refusing to touch any of ``inputs``.

    A temporary file in the target folder is renamed over the target at the end,
    so a failed or interrupted run never leaves a half-written image.
    """
    path = check_output_path(path, inputs)
    write_all_or_nothing({path: data})
    return path


def write_image(path, pixels: np.ndarray, like: LoadedImage, fmt: str | None = None,
                inputs=()) -> Path:
    """Write a result like ``like``: its format (unless ``fmt`` or the suffix says
    otherwise), depth, alpha, ICC profile and EXIF. Never overwrites ``inputs``."""
    fmt = fmt or output_format(path, like)
    data = encode_image(pixels, fmt, like.alpha, like.icc_profile, like.exif)
    return write_bytes_safely(path, data, inputs)

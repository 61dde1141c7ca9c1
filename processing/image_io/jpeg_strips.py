"""JPEG encoding on every core: the frame in strips, joined by restart markers.

A JPEG's entropy-coded data may restart every N MCUs (a DRI segment gives N,
RSTn markers mark the places): the DC predictions start again from zero there,
so the data between two restarts depends only on those MCUs' pixels. A frame
cut into strips of whole MCU rows and encoded strip by strip with the same
settings (the same quantisation tables and, without optimised coding,
libjpeg's standard Huffman tables) gives exactly the pieces of the whole
frame's JPEG with restarts at the cuts: the same DCT coefficients, so every
decoder returns the same pixels as from one encode of the whole frame.

The strips are encoded by OpenCV's libjpeg-turbo on the band threads (it
releases the GIL): a 24 MP frame in 0.026-0.029 s on two cores instead of
0.050 s, or 0.09-0.10 s through Pillow when the file carries an ICC profile or EXIF. Those
are written into the joined header as Pillow writes them (APP1, APP2 chunks).
"""

from __future__ import annotations

import cv2
import numpy as np

from processing.image_io.formats import ImageWriteError
from processing.row_bands import band_threads, map_items

#: Rows and columns of an MCU: 4:2:0 chroma (libjpeg's default) and grey.
MCU_COLOUR, MCU_GREY = 16, 8
#: A strip has at least this many pixels; smaller frames are one strip.
MIN_STRIP_PIXELS = 1 << 20
#: Largest segment payload (its 16-bit length counts itself), bytes.
SEGMENT_MAX = 65533
_ICC_HEADER = b"ICC_PROFILE\x00"
_SOI, _EOI = b"\xff\xd8", b"\xff\xd9"
_APP0, _SOS, _DRI = 0xE0, 0xDA, 0xDD
#: Frame headers (SOF0-SOF15 but DHT, JPG and DAC): where the height is.
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def fits_in_a_segment(exif: bytes | None) -> bool:
    """Whether EXIF (with or without its ``Exif\\0\\0`` header) fits in one APP1 segment."""
    return exif is None or len(_exif_payload(exif)) <= SEGMENT_MAX


def encode_jpeg(pixels: np.ndarray, quality: int, icc_profile: bytes | None = None,
                exif: bytes | None = None) -> bytes:
    """A baseline JPEG (4:2:0 chroma, standard Huffman tables) of ``pixels``.

    Parameters
    ----------
    pixels : ndarray, uint8, shape (H, W, 3) RGB or (H, W) grey
    quality : int
        libjpeg's quality, 1-100.
    icc_profile, exif : bytes, optional
        Written as APP2 chunks and an APP1 segment (EXIF must fit in one:
        :func:`fits_in_a_segment`).

    Returns
    -------
    bytes
        With more than one strip, restart markers at the strips' seams.
    """
    h, w = pixels.shape[:2]
    mcu = MCU_GREY if pixels.ndim == 2 else MCU_COLOUR
    rows = strip_rows(h, w, mcu)

    def encode(y0: int) -> bytes:
        strip = pixels[y0:y0 + rows]
        if strip.ndim == 3:
            strip = cv2.cvtColor(strip, cv2.COLOR_RGB2BGR)
        # 4:2:0 said, not assumed: the strips' height and the restart interval count its MCUs.
        ok, buf = cv2.imencode(".jpg", strip, [cv2.IMWRITE_JPEG_QUALITY, int(quality),
                                               cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420])
        if not ok:
            raise ImageWriteError("OpenCV could not encode the result as JPEG.")
        return buf.tobytes()

    pieces = [_split(piece) for piece in map_items(encode, list(range(0, h, rows)))]
    header = pieces[0][0]
    if any(_tables(more) != _tables(header) for more, _ in pieces[1:]):  # libjpeg's tables are fixed by the quality
        raise ImageWriteError("The JPEG encoder changed its tables between strips.")
    scans = [scan for _, scan in pieces]
    return _joined(header, scans, h, rows // mcu * -(-w // mcu), icc_profile, exif)


def strip_rows(h: int, w: int, mcu: int) -> int:
    """Rows per strip: whole MCU rows, about two strips per band thread, at
    least MIN_STRIP_PIXELS each, and at most 65535 MCUs (the restart interval's limit)."""
    count = max(1, min(2 * band_threads(), h * w // MIN_STRIP_PIXELS))
    rows = -(-h // count)
    rows = -(-rows // mcu) * mcu
    return max(mcu, min(rows, 65535 // -(-w // mcu) * mcu))


def _segments(data: bytes) -> tuple[list[tuple[int, bytes]], int]:
    """The segments before the scan data, as (marker, whole segment), and where the data starts."""
    if not data.startswith(_SOI):
        raise ImageWriteError("The JPEG encoder wrote something that is not a JPEG.")
    pos, found = 2, []
    while True:
        marker = data[pos + 1]
        end = pos + 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
        found.append((marker, data[pos:end]))
        if marker == _SOS:
            return found, end
        pos = end


def _split(data: bytes) -> tuple[list[tuple[int, bytes]], bytes]:
    """(segments up to and with the scan header, entropy-coded data) of a one-scan JPEG."""
    header, start = _segments(data)
    if not data.endswith(_EOI):
        raise ImageWriteError("The JPEG encoder wrote an incomplete file.")
    return header, data[start:-2]


def _tables(header: list[tuple[int, bytes]]) -> list[bytes]:
    """What must match between strips: every segment but the frame header (its height)."""
    return [segment for marker, segment in header if marker not in _SOF]


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + (len(payload) + 2).to_bytes(2, "big") + payload


def _exif_payload(exif: bytes) -> bytes:
    return exif if exif.startswith(b"Exif\x00\x00") else b"Exif\x00\x00" + exif


def _metadata(icc_profile: bytes | None, exif: bytes | None) -> bytes:
    """APP1 (EXIF) and APP2 (ICC profile, in numbered chunks), as Pillow writes them."""
    out = b""
    if exif:
        payload = _exif_payload(exif)
        if len(payload) > SEGMENT_MAX:
            raise ImageWriteError("The EXIF data is too long for a JPEG (over 64 KB).")
        out += _segment(0xE1, payload)
    if icc_profile:
        size = SEGMENT_MAX - len(_ICC_HEADER) - 2
        chunks = [icc_profile[i:i + size] for i in range(0, len(icc_profile), size)]
        if len(chunks) > 255:
            raise ImageWriteError("The ICC profile is too large for a JPEG (over 16 MB).")
        for i, chunk in enumerate(chunks):
            out += _segment(0xE2, _ICC_HEADER + bytes((i + 1, len(chunks))) + chunk)
    return out


def _joined(header: list[tuple[int, bytes]], scans: list[bytes], height: int, interval: int,
            icc_profile: bytes | None, exif: bytes | None) -> bytes:
    """One JPEG: the first strip's header (the whole height, a restart interval
    when there are several strips, the metadata after JFIF), the strips'
    data with RST0-RST7 between them, the end marker."""
    parts = [_SOI]
    extra = _metadata(icc_profile, exif)
    if not header or header[0][0] != _APP0:
        parts.append(extra)
        extra = b""
    for marker, segment in header:
        if marker in _SOF:
            segment = segment[:5] + height.to_bytes(2, "big") + segment[7:]
        if marker == _SOS and len(scans) > 1:
            parts.append(_segment(_DRI, interval.to_bytes(2, "big")))
        parts.append(segment)
        if marker == _APP0:
            parts.append(extra)
    for i, scan in enumerate(scans):
        if i:
            parts.append(bytes((0xFF, 0xD0 + (i - 1) % 8)))
        parts.append(scan)
    parts.append(_EOI)
    return b"".join(parts)

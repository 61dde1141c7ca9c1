"""Reading and writing photographs without losing what makes them the user's.

Pixels stay in their native depth (uint8, uint16, or float32 for float TIFF; 10- and
12-bit HEIC read as uint16), EXIF orientation is applied on read, and the ICC profile
and EXIF travel to the output.
Every failure raises :class:`ImageReadError` or :class:`ImageWriteError` carrying one
sentence a photographer can act on; nothing here prints a traceback at the user.

- :mod:`.formats`: format tables and limits, :class:`LoadedImage`, the errors, :func:`output_format`.
- :mod:`.reading`: :func:`read_image` and its decoders, :func:`header_pixels`, orientation, :func:`match_layout`, :func:`read_mask`.
- :mod:`.raw`: camera RAW originals, recognised and developed (:func:`raw_kind`, :func:`decode_raw`).
- :mod:`.development`: the fixed development of a Bayer RAW (demosaicing, colour, tone, colour noise).
- :mod:`.writing`: :func:`encode_image` and its encoders, output-path checks, atomic writes.
"""

from processing.image_io.formats import (DEFAULT_MAX_PIXELS, EXIF_ORIENTATION, FORMAT_SUFFIX, JPEG_QUALITY,
                                         READABLE, SUFFIX_FORMAT, ImageReadError, ImageWriteError,
                                         LoadedImage, display_name, output_format)
from processing.image_io.raw import RAW_READABLE, RAW_SUFFIX_KIND, raw_kind, raw_pixels
from processing.image_io.reading import apply_orientation, header_pixels, match_layout, read_image, read_mask
from processing.image_io.writing import (check_output_path, encode_image, same_file, write_all_or_nothing,
                                         write_bytes_safely, write_image)

__all__ = [
    "DEFAULT_MAX_PIXELS", "EXIF_ORIENTATION", "FORMAT_SUFFIX", "JPEG_QUALITY", "READABLE", "SUFFIX_FORMAT",
    "ImageReadError", "ImageWriteError", "LoadedImage", "display_name", "output_format",
    "RAW_READABLE", "RAW_SUFFIX_KIND", "raw_kind", "raw_pixels",
    "apply_orientation", "header_pixels", "match_layout", "read_image", "read_mask",
    "check_output_path", "encode_image", "same_file", "write_all_or_nothing",
    "write_bytes_safely", "write_image",
]

"""Image I/O: depths, formats, orientation, ICC/EXIF, alpha, gray, safe writes."""

import io

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps

from processing.image_io import (ImageReadError, ImageWriteError, JPEG_QUALITY, apply_orientation, encode_image,
                                 read_image, write_image)


@pytest.fixture(scope="module")
def srgb_icc():
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


@pytest.fixture(scope="module")
def exif_bytes():
    ex = Image.Exif()
    ex[0x010F] = "RetextureCam"     # Make
    ex[0x0110] = "Model R1"         # Model
    ex[0x013B] = "A. Photographer"  # Artist
    return ex.tobytes()


def gradient16(h=40, w=56):
    yy, xx = np.mgrid[:h, :w]
    r = (xx * 1171 + yy * 13) % 65536
    return np.dstack([r, (r * 7) % 65536, (yy * 1500) % 65536]).astype(np.uint16)


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_16_bit_goes_in_and_comes_out_16_bit(tmp_path, fmt):
    px = gradient16()
    src = tmp_path / f"in.{fmt.lower()}"
    src.write_bytes(encode_image(px, fmt))
    img = read_image(src)
    assert img.pixels.dtype == np.uint16 and img.bit_depth == 16
    np.testing.assert_array_equal(img.pixels, px)
    out = write_image(tmp_path / f"out.{fmt.lower()}", img.pixels, img)
    back = read_image(out)
    assert back.pixels.dtype == np.uint16
    np.testing.assert_array_equal(back.pixels, px)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF"])
def test_icc_and_exif_survive_a_round_trip(tmp_path, fmt, srgb_icc, exif_bytes):
    px = (gradient16() >> 8).astype(np.uint8)
    im = Image.fromarray(px)
    buf = io.BytesIO()
    im.save(buf, fmt, icc_profile=srgb_icc, exif=exif_bytes, **({"quality": 95} if fmt != "PNG" else {}))
    src = tmp_path / f"in.{fmt.lower()}"
    src.write_bytes(buf.getvalue())
    img = read_image(src)
    assert img.icc_profile == srgb_icc
    out = write_image(tmp_path / f"out.{fmt.lower()}", img.pixels, img)
    with Image.open(out) as back:
        assert back.format == fmt
        assert back.info.get("icc_profile") == srgb_icc
        exif = back.getexif()
        assert exif.get(0x010F) == "RetextureCam"
        assert exif.get(0x013B) == "A. Photographer"


@pytest.mark.parametrize("shape", [(97, 131, 3), (64, 50), (33, 1001, 3)])
def test_a_jpeg_without_metadata_is_the_jpeg_pillow_writes(shape):
    """The fast JPEG path (OpenCV's libjpeg-turbo) writes Pillow's bytes: same
    quality, subsampling and channel order (swapped channels would differ)."""
    rng = np.random.default_rng(sum(shape))
    px = rng.integers(0, 256, shape, dtype=np.uint8)
    px[:, :shape[1] // 2] //= 3  # a dark half
    if px.ndim == 3:
        px[..., 0] //= 2  # a weaker red: swapped channels would give other bytes
    buf = io.BytesIO()
    Image.fromarray(px).save(buf, "JPEG", quality=JPEG_QUALITY)
    assert encode_image(px, "JPEG") == buf.getvalue()


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_a_jpeg_is_read_as_pillow_decodes_it(tmp_path, mode):
    """The JPEG fast path (libjpeg-turbo writing RGB itself) keeps the channel
    order: a red-orange picture whose channels differ by 100+ LSB matches
    Pillow's own decode within the decoders' rounding."""
    yy, xx = np.mgrid[0:96, 0:128]
    px = np.dstack([200 + xx % 40, 60 + yy % 30, 10 + (xx + yy) % 20]).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(px).convert(mode).save(buf, "JPEG", quality=95)
    src = tmp_path / "in.jpg"
    src.write_bytes(buf.getvalue())
    with Image.open(src) as im:
        reference = np.asarray(im).astype(int)
    img = read_image(src)
    assert img.pixels.shape == reference.shape
    assert np.abs(img.pixels.astype(int) - reference).max() <= 3


def test_16_bit_png_keeps_icc(tmp_path, srgb_icc, exif_bytes):
    px = gradient16()
    out = tmp_path / "o.png"
    out.write_bytes(encode_image(px, "PNG", icc_profile=srgb_icc, exif=exif_bytes))
    img = read_image(out)
    assert img.pixels.dtype == np.uint16 and img.icc_profile == srgb_icc
    with Image.open(out) as back:
        assert back.getexif().get(0x0110) == "Model R1"


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_rotated_input_comes_out_upright(tmp_path, orientation):
    # An asymmetric picture: a bright block in the top-left corner.
    upright = np.zeros((30, 50, 3), np.uint8)
    upright[2:8, 3:15] = 250
    upright[20:, 40:] = (0, 0, 200)
    # Store it the way a camera would for this orientation: Pillow's exif_transpose
    # (an independent implementation) must turn the stored file back upright.
    stored = Image.fromarray(upright)
    inverse = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
               4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
               6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_270}
    if orientation in inverse:
        stored = stored.transpose(inverse[orientation])
    ex = Image.Exif()
    ex[0x0112] = orientation
    path = tmp_path / "rot.png"
    stored.save(path, exif=ex.tobytes())
    with Image.open(path) as check:
        np.testing.assert_array_equal(np.asarray(ImageOps.exif_transpose(check)), upright)
    img = read_image(path)
    np.testing.assert_array_equal(img.pixels, upright)
    out = write_image(tmp_path / "out.png", img.pixels, img)
    with Image.open(out) as back:
        assert back.getexif().get(0x0112, 1) == 1  # not rotated a second time by viewers
        np.testing.assert_array_equal(np.asarray(back), upright)


def test_gray_stays_gray_and_alpha_is_restored(tmp_path):
    gray = (np.arange(64 * 48) % 251).reshape(48, 64).astype(np.uint8)
    Image.fromarray(gray).save(tmp_path / "g.png")
    img = read_image(tmp_path / "g.png")
    assert img.pixels.ndim == 2
    with Image.open(write_image(tmp_path / "g_out.png", img.pixels, img)) as back:
        assert back.mode == "L"
    rgba = np.dstack([np.full((48, 64, 3), 90, np.uint8), gray])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    img = read_image(tmp_path / "a.png")
    assert img.pixels.shape == (48, 64, 3)
    np.testing.assert_array_equal(img.alpha, gray)
    with Image.open(write_image(tmp_path / "a_out.png", img.pixels, img)) as back:
        assert back.mode == "RGBA"
        np.testing.assert_array_equal(np.asarray(back)[..., 3], gray)


def test_cmyk_jpeg_is_converted_to_rgb(tmp_path):
    Image.new("CMYK", (40, 30), (0, 255, 255, 0)).save(tmp_path / "c.jpg")  # pure red
    img = read_image(tmp_path / "c.jpg")
    assert img.pixels.shape == (30, 40, 3)
    r, g, b = img.pixels[15, 20].astype(int)
    assert r > 200 and g < 60 and b < 60
    assert any("CMYK" in n for n in img.notes)


@pytest.mark.parametrize("content, words", [
    (b"", "empty"),
    (b"hello, this is text", "not an image"),
])
def test_unreadable_input_is_one_clear_sentence(tmp_path, content, words):
    p = tmp_path / "bad.jpg"
    p.write_bytes(content)
    with pytest.raises(ImageReadError) as err:
        read_image(p)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_truncated_jpeg_is_refused(tmp_path):
    buf = io.BytesIO()
    Image.fromarray((gradient16() >> 8).astype(np.uint8)).save(buf, "JPEG")
    with pytest.raises(ImageReadError, match="damaged or incomplete"):
        read_image(buf.getvalue()[: len(buf.getvalue()) // 2])


def test_pixel_limit(tmp_path):
    Image.new("RGB", (300, 200)).save(tmp_path / "big.png")
    with pytest.raises(ImageReadError, match="over the limit"):
        read_image(tmp_path / "big.png", max_pixels=50_000)


def test_never_overwrites_an_input(tmp_path):
    p = tmp_path / "in.png"
    Image.new("RGB", (20, 20), (10, 20, 30)).save(p)
    before = p.read_bytes()
    img = read_image(p)
    with pytest.raises(ImageWriteError, match="never overwritten"):
        write_image(tmp_path / "." / "in.png", img.pixels, img, inputs=[p])
    assert p.read_bytes() == before


def test_missing_output_folder_is_a_clear_error(tmp_path):
    img = read_image(encode_image(np.zeros((4, 4, 3), np.uint8), "PNG"))
    with pytest.raises(ImageWriteError, match="does not exist"):
        write_image(tmp_path / "nope" / "o.png", img.pixels, img)
    assert list(tmp_path.iterdir()) == []


def test_apply_orientation_matches_pillow():
    a = np.arange(12, dtype=np.uint8).reshape(3, 4)
    for o in range(1, 9):
        ex = Image.Exif()
        ex[0x0112] = o
        im = Image.fromarray(a)
        im.info["exif"] = ex.tobytes()
        im.getexif()[0x0112] = o
        np.testing.assert_array_equal(apply_orientation(a, o), np.asarray(ImageOps.exif_transpose(im)))


def _png_with_exif_chunk(pixels, exif_body: bytes, after_pixels: bool) -> bytes:
    """A PNG whose eXIf chunk sits before or after the image data (both are allowed)."""
    import struct
    import zlib

    data = encode_image(pixels, "PNG")
    chunk = struct.pack(">I", len(exif_body)) + b"eXIf" + exif_body
    chunk += struct.pack(">I", zlib.crc32(b"eXIf" + exif_body) & 0xFFFFFFFF)
    at = data.rindex(b"IEND") - 4 if after_pixels else 8 + 8 + 13 + 4
    return data[:at] + chunk + data[at:]


@pytest.mark.parametrize("after_pixels", [False, True])
def test_png_exif_found_by_chunk_headers_equals_pillows(tmp_path, after_pixels):
    from PIL import Image

    from processing.image_io import reading

    exif = Image.Exif()
    exif[0x0112] = 6  # rotated: the orientation must come through
    exif[0x0110] = "Camera"
    body = exif.tobytes()[6:]  # eXIf holds the TIFF structure without the 'Exif' header
    pixels = np.arange(12 * 20 * 3, dtype=np.uint8).reshape(12, 20, 3)
    data = _png_with_exif_chunk(pixels, body, after_pixels)
    reference = Image.open(io.BytesIO(data)).getexif()  # Pillow, decoding the whole image
    found = reading._png_exif(data)
    assert dict(found) == dict(reference) and found[0x0112] == 6
    path = tmp_path / "rotated.png"
    path.write_bytes(data)
    assert read_image(path).pixels.shape[:2] == (20, 12)  # turned upright by orientation 6


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_a_coloured_mask_counts_its_largest_channel(tmp_path, dtype):
    """A mask painted in colour reads as each pixel's largest channel (numpy's max over channels)."""
    import cv2

    from processing.image_io import read_mask

    rng = np.random.default_rng(4)
    pixels = rng.integers(0, np.iinfo(dtype).max + 1, (40, 50, 3), dtype=dtype)
    for c in range(3):  # one channel painted alone in each of three squares
        pixels[5:10, 5 + 10 * c:10 + 10 * c] = 0
        pixels[5:10, 5 + 10 * c:10 + 10 * c, c] = 200
    path = tmp_path / "mask.png"
    cv2.imwrite(str(path), pixels)
    mask = read_mask(path, (40, 50, 3))
    assert mask.dtype == dtype and mask.flags.c_contiguous
    np.testing.assert_array_equal(mask, pixels.max(axis=2))  # the channel order does not matter
    assert all((mask[5:10, 5 + 10 * c:10 + 10 * c] == 200).all() for c in range(3))


def test_header_pixels_reads_the_size_without_decoding(tmp_path):
    from processing.image_io import header_pixels

    pixels = np.zeros((37, 53, 3), np.uint8)
    path = tmp_path / "photo.png"
    Image.fromarray(pixels).save(path)
    data = path.read_bytes()
    assert header_pixels(path) == header_pixels(str(path)) == 37 * 53
    assert header_pixels(data) == header_pixels(("photo.png", data)) == 37 * 53
    # A file cut after its header still has a size; what cannot be opened has none.
    assert header_pixels(data[:100]) == 37 * 53
    assert header_pixels(b"not a picture") is None
    assert header_pixels(tmp_path / "missing.png") is None
    # Nothing to decode: an array or no file at all.
    assert header_pixels(pixels) == 0 and header_pixels(None) == 0


def test_header_pixels_of_a_raw_file_is_the_sensors_size(tmp_path):
    import raw_files
    from processing.image_io import header_pixels

    path = raw_files.write_dng(tmp_path / "camera.dng", np.full((64, 96, 3), 128, np.uint8), orientation=6)
    # The developed picture's size, whichever way it is turned; not its thumbnail's.
    assert header_pixels(path) == 64 * 96


def _jpeg_variants():
    """JPEGs as cameras and editors write them: baseline, progressive, optimised
    tables, 4:4:4, grey, with restart markers, progressive with restarts."""
    import cv2

    rng = np.random.default_rng(5)
    rgb = cv2.GaussianBlur((rng.random((213, 347, 3)) * 255).astype(np.uint8), (0, 0), 1.5)
    for kw in ({}, {"progressive": True}, {"optimize": True}, {"subsampling": 0}):
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, "JPEG", **kw)
        yield f"pillow {kw}", buf.getvalue()
    buf = io.BytesIO()
    Image.fromarray(rgb[..., 1]).save(buf, "JPEG")
    yield "grey", buf.getvalue()
    for flags in ([cv2.IMWRITE_JPEG_RST_INTERVAL, 3], [cv2.IMWRITE_JPEG_PROGRESSIVE, 1, cv2.IMWRITE_JPEG_RST_INTERVAL, 2]):
        yield f"opencv {flags}", cv2.imencode(".jpg", rgb, flags)[1].tobytes()


@pytest.mark.parametrize("kind, data", list(_jpeg_variants()), ids=[k for k, _ in _jpeg_variants()])
def test_a_jpeg_reads_as_pillow_decodes_it(kind, data):
    im = read_image(data)
    reference = Image.open(io.BytesIO(data))
    assert np.array_equal(im.pixels, np.asarray(reference.convert(reference.mode)))
    assert im.format == "JPEG"


def _segments(data: bytes):
    """(marker, offset) of each segment up to the first scan's data, by their lengths."""
    pos, found = 2, []
    while True:
        marker = data[pos + 1]
        found.append((marker, pos))
        if marker == 0xDA:
            return found
        pos += 2 + int.from_bytes(data[pos + 2:pos + 4], "big")


@pytest.mark.parametrize("kind, data", list(_jpeg_variants()), ids=[k for k, _ in _jpeg_variants()])
def test_a_jpeg_cut_short_anywhere_is_refused(kind, data):
    """libjpeg alone fills a file that stops short with grey: every cut is refused,
    in a header, in the scan header, in the data (after a restart marker, between
    a progressive JPEG's scans) and just before the end marker."""
    from processing.image_io.reading import jpeg_is_whole

    scan = [pos for marker, pos in _segments(data) if marker == 0xDA][0]
    cuts = {pos + 3 for _, pos in _segments(data)} | {scan + 6, (scan + len(data)) // 2, len(data) - 2, len(data) - 1}
    markers = [i for i in range(scan, len(data) - 2) if data[i] == 0xFF and data[i + 1] not in (0x00, 0xFF)]
    cuts |= {i + 2 for i in markers}  # just after each restart or (progressive) scan marker
    assert jpeg_is_whole(data)
    for cut in sorted(cuts):
        assert not jpeg_is_whole(data[:cut]), cut
    for cut in sorted(cuts):
        with pytest.raises(ImageReadError, match="damaged or incomplete"):
            read_image(data[:cut], name="cut.jpg")


def test_what_follows_a_jpegs_end_is_left_alone():
    """A maker's trailer or a second picture after the end marker does not change the picture."""
    kind, data = next(_jpeg_variants())
    plain = read_image(data).pixels
    for tail in (b"\x00" * 10, b"trailer", data):
        assert np.array_equal(read_image(data + tail).pixels, plain)


def test_stray_bytes_between_a_jpegs_segments_are_skipped_as_libjpeg_skips_them(capfd):
    """Some writers leave padding after a segment: libjpeg skips it (with a warning
    the user must not see), and so does the check that the file is whole."""
    kind, data = next(_jpeg_variants())
    after_app0 = 4 + int.from_bytes(data[4:6], "big")
    padded = data[:after_app0] + b"\x00\x00\x00" + data[after_app0:]
    capfd.readouterr()
    assert np.array_equal(read_image(padded).pixels, np.asarray(Image.open(io.BytesIO(data))))
    assert capfd.readouterr().err == ""
    with pytest.raises(ImageReadError, match="damaged or incomplete"):
        read_image(padded[:-40])

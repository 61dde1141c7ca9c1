"""JPEG in strips joined by restart markers: the pixels of one whole-frame encode, metadata as Pillow writes it."""

import io

import cv2
import imagecodecs
import numpy as np
import pytest
from PIL import Image, ImageCms

from processing.image_io import jpeg_strips
from processing.image_io.jpeg_strips import encode_jpeg, strip_rows


def photo(h, w, grey=False, seed=3):
    rng = np.random.default_rng(seed)
    base = cv2.resize((rng.random((h // 8 + 2, w // 8 + 2, 3)) * 255).astype(np.uint8), (w, h),
                      interpolation=cv2.INTER_CUBIC)
    pixels = np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)
    return pixels[..., 1].copy() if grey else pixels


def whole_frame_jpeg(pixels, quality):
    """The reference: libjpeg-turbo (OpenCV) encoding the frame in one piece."""
    bgr = pixels if pixels.ndim == 2 else cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)
    return cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()


def pillow_pixels(data):
    return np.asarray(Image.open(io.BytesIO(data)))


def markers(data):
    """Markers in the entropy-coded data (RSTn) and segments before it."""
    pos, segments = 2, []
    while data[pos + 1] != 0xDA:
        segments.append(data[pos + 1])
        pos += 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
    scan = data[pos:]
    rst = [scan[i + 1] for i in range(len(scan) - 1) if scan[i] == 0xFF and 0xD0 <= scan[i + 1] <= 0xD7]
    return segments, rst


@pytest.fixture
def small_strips(monkeypatch):
    """Strips of a few thousand pixels, so small test frames are cut many times."""
    monkeypatch.setattr(jpeg_strips, "MIN_STRIP_PIXELS", 4096)


@pytest.mark.parametrize("h, w, grey", [(333, 517, False), (256, 200, False), (97, 1003, False),
                                        (333, 517, True), (40, 24, False), (17, 9, True)])
@pytest.mark.parametrize("quality", [95, 60])
def test_strips_decode_to_the_pixels_of_one_whole_frame_encode(small_strips, h, w, grey, quality):
    pixels = photo(h, w, grey)
    data = encode_jpeg(pixels, quality)
    reference = whole_frame_jpeg(pixels, quality)
    # Three decoders: Pillow's, imagecodecs' and OpenCV's libjpeg-turbo.
    assert np.array_equal(pillow_pixels(data), pillow_pixels(reference))
    assert np.array_equal(imagecodecs.jpeg8_decode(data), imagecodecs.jpeg8_decode(reference))
    flag = cv2.IMREAD_UNCHANGED if grey else cv2.IMREAD_COLOR
    assert np.array_equal(cv2.imdecode(np.frombuffer(data, np.uint8), flag),
                          cv2.imdecode(np.frombuffer(reference, np.uint8), flag))


def test_a_frame_in_strips_restarts_at_each_seam(small_strips):
    h, w = 333, 517
    pixels = photo(h, w)
    data = encode_jpeg(pixels, 95)
    rows = strip_rows(h, w, 16)
    strips = -(-h // rows)
    assert strips > 2 and rows % 16 == 0
    segments, rst = markers(data)
    assert 0xDD in segments  # the restart interval
    pos = data.index(b"\xff\xdd")
    assert int.from_bytes(data[pos + 4:pos + 6], "big") == rows // 16 * -(-w // 16)
    assert rst == [0xD0 + i % 8 for i in range(strips - 1)]
    assert Image.open(io.BytesIO(data)).size == (w, h)


def test_a_large_frame_is_cut_a_small_one_is_not():
    assert strip_rows(4000, 6000, 16) < 4000  # 24 MP: shared by the band threads
    assert strip_rows(300, 400, 16) >= 300  # one strip: nothing to share
    # The restart interval has 16 bits: at most 65535 MCUs per strip.
    assert strip_rows(20000, 65000, 16) // 16 * -(-65000 // 16) <= 65535


def test_icc_profile_and_exif_come_back_as_pillow_reads_them(small_strips):
    pixels = photo(200, 300)
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    large = srgb + bytes(range(256)) * 600  # over one segment: written in numbered chunks
    exif = Image.Exif()
    exif[0x010F] = "RetextureCam"
    exif[0x013B] = "A. Photographer"
    for icc in (srgb, large):
        im = Image.open(io.BytesIO(encode_jpeg(pixels, 95, icc, exif.tobytes())))
        assert im.info["icc_profile"] == icc
        assert im.getexif()[0x010F] == "RetextureCam" and im.getexif()[0x013B] == "A. Photographer"
        assert np.array_equal(np.asarray(im), pillow_pixels(whole_frame_jpeg(pixels, 95)))
    segments, _ = markers(encode_jpeg(pixels, 95, large, exif.tobytes()))
    assert segments[:5] == [0xE0, 0xE1, 0xE2, 0xE2, 0xE2]  # JFIF, EXIF, three ICC chunks


def test_exif_beyond_one_segment_does_not_fit():
    assert jpeg_strips.fits_in_a_segment(None) and jpeg_strips.fits_in_a_segment(b"Exif\x00\x00" + bytes(65527))
    assert not jpeg_strips.fits_in_a_segment(bytes(65528))

"""TIFF in every compression photographers meet, HEIC from phones, and the
sentences for files that are damaged, use a codec we lack, or are not files.

HEIC files are made here with pillow-heif; TIFFs with tifffile, OpenCV and Pillow.
"""

import hashlib
import io
import logging
import struct
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pillow_heif
import pytest
import tifffile
from PIL import Image, ImageCms

from processing.cli import main
from processing.image_io import (ImageReadError, ImageWriteError, display_name, encode_image, output_format,
                                 read_image, write_image)
from tests.test_bad_input import H, W, face_like, smooth

ROOT = Path(__file__).resolve().parents[1]


def smooth_rgb(h=48, w=64, dtype=np.uint8):
    """A smooth colour picture (lossy codecs keep it closely) in ``dtype``."""
    yy, xx = np.mgrid[:h, :w] / np.array([h - 1, w - 1])[:, None, None]
    rgb = np.dstack([xx, yy, 0.5 + 0.4 * np.sin(6 * xx + 3 * yy)])
    if dtype == np.float32:
        return rgb.astype(np.float32)
    full = np.iinfo(dtype).max
    return np.round(rgb * full).astype(dtype)


def tiff_bytes(arr, **kw):
    buf = io.BytesIO()
    tifffile.imwrite(buf, arr, photometric="minisblack" if arr.ndim == 2 else "rgb", **kw)
    return buf.getvalue()


def with_tiff_compression_code(data: bytes, code: int) -> bytes:
    """``data`` with its first page's Compression tag (259) set to ``code``."""
    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        tag = tif.pages[0].tags[259]
        offset = tag.offset + 8  # the entry: code, type, count, then the value
    out = bytearray(data)
    struct.pack_into("<H", out, offset, code)
    return bytes(out)


# --------------------------------------------------------------------------
# TIFF: every compression reads, in 8 and 16 bit and float
# --------------------------------------------------------------------------

LOSSLESS = ["lzw", "zlib", "adobe_deflate", "packbits", "zstd", "lzma"]


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32], ids=["8bit", "16bit", "float"])
@pytest.mark.parametrize("compression", LOSSLESS)
def test_lossless_tiff_compressions_read_exactly(compression, dtype):
    px = smooth_rgb(dtype=dtype)
    data = tiff_bytes(px, compression=compression)
    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        assert tif.pages[0].compression != 1  # really compressed
    img = read_image(data, name="x.tif")
    assert img.format == "TIFF" and img.pixels.dtype == px.dtype
    np.testing.assert_array_equal(img.pixels, px)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32], ids=["8bit", "16bit", "float"])
@pytest.mark.parametrize("compression", ["lzw", "zlib"])
def test_compression_with_a_predictor_reads_exactly(compression, dtype):
    # Photoshop's LZW and ZIP TIFFs use the horizontal (float: floating-point) predictor.
    px = smooth_rgb(dtype=dtype)
    data = tiff_bytes(px, compression=compression, predictor=True)
    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        assert tif.pages[0].predictor in (2, 3)
    np.testing.assert_array_equal(read_image(data).pixels, px)


def test_webp_compressed_tiff_reads_exactly():
    px = smooth_rgb()
    data = tiff_bytes(px, compression="webp", compressionargs={"lossless": True})
    np.testing.assert_array_equal(read_image(data).pixels, px)


def test_gray_lzw_tiff_stays_gray():
    px = smooth_rgb(dtype=np.uint16)[..., 0]
    img = read_image(tiff_bytes(px, compression="lzw"))
    assert img.pixels.ndim == 2
    np.testing.assert_array_equal(img.pixels, px)


def test_opencv_default_tiff_reads():
    rgb = face_like()
    ok, buf = cv2.imencode(".tif", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    with tifffile.TiffFile(io.BytesIO(buf.tobytes())) as tif:
        assert tif.pages[0].compression == 5  # OpenCV's default is LZW
    np.testing.assert_array_equal(read_image(buf.tobytes()).pixels, rgb)


def libtiff_rgb(data: bytes) -> np.ndarray:
    """An independent decode: OpenCV's libtiff and libjpeg."""
    return cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


@pytest.mark.parametrize("how", ["ycbcr-pillow", "rgb-tifffile"])
def test_jpeg_compressed_tiff_reads_like_libtiff(how):
    px = smooth(face_like())
    if how == "ycbcr-pillow":  # libtiff, as Photoshop saves JPEG TIFF: YCbCr, subsampled
        buf = io.BytesIO()
        Image.fromarray(px).convert("YCbCr").save(buf, "TIFF", compression="jpeg", quality=92)
        data = buf.getvalue()
    else:  # imagecodecs' libjpeg
        data = tiff_bytes(px, compression="jpeg", compressionargs={"level": 92})
    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        assert tif.pages[0].compression == 7 and tif.pages[0].photometric in (2, 6)
    got = read_image(data).pixels.astype(int)
    assert got.shape == px.shape
    assert np.abs(got - libtiff_rgb(data)).max() <= 3  # the same decode, up to IDCT rounding
    assert np.abs(got - px).mean() < 3  # and the right colours


def test_truncated_tiff_is_damaged_not_quietly_read():
    # The last strip is cut: decoders fill it in without complaint unless asked.
    data = tiff_bytes(smooth_rgb(), compression="jpeg", rowsperstrip=8)
    with pytest.raises(ImageReadError, match="damaged or incomplete") as err:
        read_image(data[:-40], name="cut.tif")
    assert "not supported" not in str(err.value)


# --------------------------------------------------------------------------
# HEIC: read wherever an image is read, written when the retouched file is HEIC
# --------------------------------------------------------------------------

def heic_bytes(arr, mode=None, **kw):
    """HEIC of ``arr`` (uint8, or uint16 holding 10/12-bit samples in the top
    bits as pillow-heif takes them); full-resolution colour unless told."""
    kw.setdefault("chroma", 444)
    if mode is None:
        mode = {1: "L", 3: "RGB", 4: "RGBA"}[1 if arr.ndim == 2 else arr.shape[2]]
        mode += ";16" if arr.dtype == np.uint16 else ""
    buf = io.BytesIO()
    pillow_heif.encode(mode, (arr.shape[1], arr.shape[0]), np.ascontiguousarray(arr).tobytes(), buf, **kw)
    return buf.getvalue()


@pytest.fixture(scope="module")
def srgb_icc():
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def exif_with(**tags):
    ex = Image.Exif()
    for tag, value in tags.items():
        ex[{"make": 0x010F, "orientation": 0x0112, "software": 0x0131}[tag]] = value
    return ex.tobytes()


INVERSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
           4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
           6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_270}


@pytest.mark.parametrize("orientation", range(1, 9))
def test_heic_comes_out_upright(orientation):
    upright = np.zeros((30, 50, 3), np.uint8)
    upright[2:8, 3:15] = 250
    upright[20:, 40:] = (0, 0, 200)
    stored = Image.fromarray(upright)
    if orientation in INVERSE:
        stored = stored.transpose(INVERSE[orientation])
    # pillow-heif stores the orientation as the container's rotation and mirror,
    # as phones do; the EXIF copy only describes it.
    data = heic_bytes(np.asarray(stored), quality=-1, exif=exif_with(orientation=orientation, make="Phone"))
    img = read_image(data, name="p.heic")
    assert img.format == "HEIF" and img.pixels.shape == upright.shape
    assert np.abs(img.pixels.astype(int) - upright).max() <= 3
    ex = Image.Exif()
    ex.load(img.exif)
    assert ex.get(0x0112) == 1 and ex.get(0x010F) == "Phone"  # not turned a second time by viewers


@pytest.mark.parametrize("bits", [10, 12])
def test_deep_heic_reads_as_full_range_16_bit(bits):
    top = (1 << bits) - 1
    ramp = (np.arange(32 * 96).reshape(32, 96) * 7 % (top + 1)).astype(np.int64)
    ramp[0, :4] = top  # white
    ramp[1, :4] = 0
    samples = np.dstack([ramp, top - ramp, ramp // 2])
    data = heic_bytes((samples << (16 - bits)).astype(np.uint16), quality=-1, bit_depth=bits)
    img = read_image(data)
    assert img.pixels.dtype == np.uint16 and img.bit_depth == 16
    expect = samples * 65535.0 / top
    step = 65535.0 / top
    assert np.abs(img.pixels - expect).max() <= 2 * step  # libheif's RGB round trip is within a sample
    assert img.pixels[0, :4, 0].min() >= 65535 - 2 * step and img.pixels[1, :4, 0].max() <= 2 * step


def test_heic_keeps_icc_exif_alpha_and_gray(srgb_icc):
    px = smooth_rgb()
    img = read_image(heic_bytes(px, quality=-1, icc_profile=srgb_icc, exif=exif_with(make="Phone")))
    assert img.icc_profile == srgb_icc and img.pixels.dtype == np.uint8
    assert np.abs(img.pixels.astype(int) - px).max() <= 3
    alpha = np.full(px.shape[:2], 255, np.uint8)
    alpha[:, :20] = 0
    img = read_image(heic_bytes(np.dstack([px, alpha]), quality=-1))
    np.testing.assert_array_equal(img.alpha, alpha)
    gray = read_image(heic_bytes(px[..., 1], quality=-1))
    assert gray.pixels.ndim == 2 and np.abs(gray.pixels.astype(int) - px[..., 1]).max() <= 3


def test_premultiplied_heic_alpha_is_undone():
    rgb = np.zeros((16, 24, 3), np.uint8)
    rgb[...] = (200, 100, 40)
    alpha = np.full((16, 24), 255, np.uint8)
    alpha[:, :12] = 128
    premultiplied = np.round(rgb * (alpha[..., None] / 255.0)).astype(np.uint8)
    img = read_image(heic_bytes(np.dstack([premultiplied, alpha]), mode="RGBa", quality=-1))
    np.testing.assert_array_equal(img.alpha, alpha)
    assert np.abs(img.pixels.astype(int) - rgb).max() <= 3  # straight colour on both halves


def test_multi_image_heic_uses_its_main_image():
    first, main_one = smooth_rgb(), 255 - smooth_rgb()
    heif = pillow_heif.from_bytes("RGB", (first.shape[1], first.shape[0]), first.tobytes())
    heif.add_frombytes("RGB", (main_one.shape[1], main_one.shape[0]), main_one.tobytes())
    buf = io.BytesIO()
    heif.save(buf, quality=-1, chroma=444, primary_index=1)
    img = read_image(buf.getvalue(), name="burst.heic")
    assert np.abs(img.pixels.astype(int) - main_one).max() <= 3
    assert any("2 images" in n and "main one" in n for n in img.notes)


def test_heic_pixel_limit():
    data = heic_bytes(smooth_rgb(), quality=50)
    with pytest.raises(ImageReadError, match="over the limit"):
        read_image(data, max_pixels=1000)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32], ids=["8bit", "16bit", "float"])
def test_heic_output_keeps_depth_icc_and_exif(tmp_path, dtype, srgb_icc):
    src = read_image(heic_bytes(smooth_rgb(), quality=-1, icc_profile=srgb_icc,
                                exif=exif_with(make="Phone", orientation=6)))
    px = smooth_rgb(dtype=dtype)
    out = write_image(tmp_path / "out.heic", px, src)
    back = read_image(out)
    assert back.format == "HEIF" and back.icc_profile == srgb_icc
    ex = Image.Exif()
    ex.load(back.exif)
    assert ex.get(0x010F) == "Phone" and ex.get(0x0112) == 1
    # 8 bit stays 8 bit; deeper pixels are written as 10 bit and read back as 16.
    assert back.pixels.dtype == (np.uint8 if dtype == np.uint8 else np.uint16)
    as_float = back.pixels / float(np.iinfo(back.pixels.dtype).max)
    reference = px / (1.0 if dtype == np.float32 else float(np.iinfo(dtype).max))
    assert np.abs(as_float - reference).mean() < 0.01


def test_heic_original_with_jpeg_retouched_writes_jpeg(tmp_path, capsys):
    (tmp_path / "o.heic").write_bytes(heic_bytes(face_like(), quality=95))
    Image.fromarray(smooth(face_like())).save(tmp_path / "a.jpg", quality=95)
    code = main(["restore", str(tmp_path / "o.heic"), str(tmp_path / "a.jpg"), "-o", str(tmp_path / "r"),
                 "--mask", "none"])
    assert code == 0, capsys.readouterr().err
    [out] = [p for p in tmp_path.iterdir() if p.name.startswith("r")]
    with Image.open(out) as im:
        assert im.format == "JPEG"


# --------------------------------------------------------------------------
# Bad and unusual input through the CLI: one sentence, nothing touched
# --------------------------------------------------------------------------

def digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def lzw_pair(d):
    (d / "o.tif").write_bytes(tiff_bytes(face_like(), compression="lzw"))
    (d / "a.tif").write_bytes(tiff_bytes(smooth(face_like()), compression="lzw"))
    return d / "o.tif", d / "a.tif"


def heic_pair(d, deep=False):
    def make(arr):
        if deep:  # 10-bit samples, as an iPhone's HDR photo
            arr = (np.round(arr.astype(np.float64) * 1023 / 255).astype(np.uint16) << 6)
        return heic_bytes(arr, quality=95, exif=exif_with(make="Phone"))
    (d / "o.heic").write_bytes(make(face_like()))
    (d / "a.heic").write_bytes(make(smooth(face_like())))
    return d / "o.heic", d / "a.heic"


CASES = {}


def case(fn):
    CASES[fn.__name__] = fn
    return fn


# Each case returns (argv, expectation): ("error", words, words-not-wanted) or ("ok", check(out)).

@case
def damaged_lzw_tiff(d):
    o, a = lzw_pair(d)
    data = a.read_bytes()
    a.write_bytes(data[: len(data) * 2 // 3])
    return ["restore", o, a, "-o", d / "out.tif", "--mask", "none"], ("error", ["damaged or incomplete"], ["supported"])


@case
def garbled_lzw_tiff(d):
    o, a = lzw_pair(d)
    data = bytearray(a.read_bytes())
    with tifffile.TiffFile(a) as tif:
        start = tif.pages[0].dataoffsets[0]
    data[start:start + 400] = bytes(range(200)) * 2  # complete, but not LZW any more
    a.write_bytes(bytes(data))
    return ["restore", o, a, "-o", d / "out.tif", "--mask", "none"], ("error", ["damaged or incomplete"], ["supported"])


@case
def tiff_with_unsupported_compression(d):
    o, a = lzw_pair(d)
    a.write_bytes(with_tiff_compression_code(a.read_bytes(), 32809))  # ThunderScan: no decoder anywhere
    return (["restore", o, a, "-o", d / "out.tif", "--mask", "none"],
            ("error", ["Thunderscan", "not supported"], ["damaged"]))


@case
def lzw_tiff_pair(d):
    o, a = lzw_pair(d)

    def check(out):
        img = read_image(out)
        assert img.format == "TIFF" and img.pixels.shape == (H, W, 3)
    return ["restore", o, a, "-o", d / "out.tif", "--mask", "none"], ("ok", check)


@case
def damaged_heic(d):
    o, a = heic_pair(d)
    data = a.read_bytes()
    a.write_bytes(data[: len(data) // 2])
    return (["restore", o, a, "-o", d / "out.heic", "--mask", "none"],
            ("error", ["damaged or incomplete"], ["supported"]))


@case
def heic_with_unsupported_codec(d):
    o, a = heic_pair(d)
    a.write_bytes(a.read_bytes().replace(b"hvc1", b"vvc1"))  # H.266: libheif here has no decoder
    return (["restore", o, a, "-o", d / "out.heic", "--mask", "none"],
            ("error", ["VVC", "not supported"], ["damaged"]))


@case
def heic_pair_writes_heic(d):
    o, a = heic_pair(d)

    def check(out):
        img = read_image(out)
        assert img.format == "HEIF" and img.pixels.dtype == np.uint8 and img.pixels.shape == (H, W, 3)
        ex = Image.Exif()
        ex.load(img.exif)
        assert ex.get(0x010F) == "Phone"
    return ["restore", o, a, "-o", d / "out.heic", "--mask", "none"], ("ok", check)


@case
def ten_bit_heic_pair(d):
    o, a = heic_pair(d, deep=True)

    def check(out):
        img = read_image(out)
        assert img.format == "HEIF" and img.pixels.dtype == np.uint16
        reference = read_image(a).pixels.astype(float)
        assert np.abs(img.pixels - reference).mean() < 0.03 * 65535  # the photo, restored
    return ["restore", o, a, "-o", d / "out.heic", "--mask", "none"], ("ok", check)


@case
def dot_as_original(d):
    _, a = lzw_pair(d)
    return ["restore", ".", a.name, "-o", "out.jpg", "--mask", "none"], ("error", [". is a folder"], [])


@case
def root_as_retouched(d):
    o, _ = lzw_pair(d)
    return ["restore", o.name, "/", "-o", "out.jpg", "--mask", "none"], ("error", ["/ is a folder"], [])


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_and_unusual_input(name, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # '.' is the folder the files are in
    argv, expectation = CASES[name](tmp_path)
    out_path = Path(tmp_path / argv[argv.index("-o") + 1])
    before = digest(tmp_path)
    code = main([str(a) for a in argv])
    stdout, stderr = capsys.readouterr()
    assert "Traceback" not in stdout + stderr
    after = digest(tmp_path)
    assert {k: v for k, v in after.items() if k in before} == before  # inputs untouched
    assert not list(tmp_path.glob(".retexture-*"))
    if expectation[0] == "error":
        _, words, unwanted = expectation
        assert code != 0, stdout
        assert stderr.count("\n") == 1 and stderr.startswith("retexture: error:"), stderr
        for w in words:
            assert w.lower() in stderr.lower(), stderr
        for w in unwanted:
            assert w.lower() not in stderr.lower(), stderr
        assert set(after) == set(before)  # nothing written
    else:
        assert code == 0, stderr
        expectation[1](out_path)


def test_missing_codec_is_named_not_called_damage(tmp_path):
    """Without imagecodecs (a broken install) an LZW TIFF is refused for its
    compression, in a real process as the user runs it."""
    o, a = lzw_pair(tmp_path)
    before = digest(tmp_path)
    code = ("import sys; sys.modules['imagecodecs'] = None\n"
            "from processing.cli import main\n"
            f"sys.exit(main(['restore', {str(o)!r}, {str(a)!r}, '-o', {str(tmp_path / 'out.tif')!r},"
            " '--mask', 'none']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("retexture: error:"), done.stderr
    assert "LZW" in lines[0] and "not supported" in lines[0] and "imagecodecs" in lines[0]
    assert "damaged" not in lines[0]
    assert digest(tmp_path) == before


# --------------------------------------------------------------------------
# Names in messages, and the TIFF writer's silence
# --------------------------------------------------------------------------

@pytest.mark.parametrize("path, shown", [(".", "."), ("/", "/"), ("..", ".."), ("shoot/a.jpg", "a.jpg"),
                                         ("shoot/.", "shoot")])
def test_display_name_is_never_empty(path, shown):
    assert display_name(path) == shown


def test_folder_messages_name_the_folder(tmp_path):
    with pytest.raises(ImageReadError) as err:
        read_image(Path("."))
    assert str(err.value).startswith(". is a folder")
    with pytest.raises(ImageWriteError) as err:
        output_format(Path("/"))
    assert str(err.value).startswith("/: unknown file type")


def test_tiff_writer_carries_software_without_a_warning(caplog):
    caplog.set_level(logging.DEBUG, logger="tifffile")
    data = encode_image(smooth_rgb(), "TIFF", exif=exif_with(make="Cam", software="Capture One 23"))
    assert [r.getMessage() for r in caplog.records if r.name.startswith("tifffile")] == []
    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        tags = tif.pages[0].tags
        assert tags[305].value == "Capture One 23" and tags[271].value == "Cam"


def test_tiff_restore_prints_nothing_on_stderr(tmp_path):
    """As the user runs it: a TIFF pair whose EXIF names the editor (tag 305)."""
    for name, px in (("o.tif", face_like()), ("a.tif", smooth(face_like()))):
        Image.fromarray(px).save(tmp_path / name, exif=exif_with(make="Cam", software="Photoshop"))
    done = subprocess.run([sys.executable, "-m", "processing", "restore", str(tmp_path / "o.tif"),
                           str(tmp_path / "a.tif"), "-o", str(tmp_path / "out.tif"), "--mask", "none"],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    with tifffile.TiffFile(tmp_path / "out.tif") as tif:
        assert tif.pages[0].tags[305].value == "Photoshop"

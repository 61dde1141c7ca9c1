"""Camera RAW originals (issue 16): recognised by their bytes, developed in a fixed way,
restored from like any original, paired in a batch by stem.

The RAW files are DNGs made here (:mod:`raw_files`): a known picture, mosaicked in
linear light, whose development must give that picture back.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

import retouch_edits as edits
from processing import cli
from processing.batch import pair_names
from processing.image_io import ImageReadError, raw_kind, read_image
from processing.image_io.development import chroma_smoothed, smooth_colour_noise
from processing.image_io.raw import sensor_noise
from raw_files import STORED_AS, write_dng

ROOT = Path(__file__).resolve().parent.parent


def astronaut(side=512):
    from skimage import data

    return cv2.resize(data.astronaut(), (side, side), interpolation=cv2.INTER_AREA)


def mean_abs_levels(a: np.ndarray, b: np.ndarray) -> float:
    """Mean |a - b| in 8-bit levels, a and b uint8 or uint16."""
    def eight(x):
        return x.astype(np.float64) / (257.0 if x.dtype == np.uint16 else 1.0)
    return float(np.abs(eight(a) - eight(b)).mean())


# --- Recognising a RAW file ---------------------------------------------------------------

def test_a_dng_is_known_by_its_bytes_whatever_its_name(tmp_path):
    dng = write_dng(tmp_path / "shot.dng", astronaut(64))
    data = dng.read_bytes()
    assert raw_kind(data, "shot.dng") == "DNG"
    assert raw_kind(data, "shot.tif") == "DNG"  # renamed: still a mosaic, never a gray picture
    assert raw_kind(data, "") == "DNG"


def test_developed_pictures_named_like_raws_are_read_as_what_they_hold(tmp_path):
    import tifffile

    tif = tmp_path / "x.tif"
    tifffile.imwrite(tif, astronaut(64))
    jpeg = cv2.imencode(".jpg", astronaut(64))[1].tobytes()
    assert raw_kind(tif.read_bytes(), "x.dng") is None  # a DNG always carries its version tag
    assert raw_kind(jpeg, "x.cr3") is None
    assert raw_kind(b"not a photo at all", "x.cr3") == "CR3"  # refused as a CR3 by decode_raw


# --- The development -----------------------------------------------------------------------

@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_the_development_gives_the_picture_back_upright(tmp_path, orientation):
    """sRGB primaries, neutral white balance, the file's white is white: the fixed
    development of a DNG made from a picture is that picture, turned upright."""
    picture = astronaut(512)
    dng = write_dng(tmp_path / "p.dng", picture, orientation=orientation)
    developed = read_image(dng, allow_raw=True)
    assert developed.pixels.shape == picture.shape and developed.pixels.dtype == np.uint16
    assert developed.format == "DNG"
    got = developed.pixels.astype(np.float32) / 257
    # Tone and white balance: each channel's mean within half a level.
    assert np.abs((got - picture).mean(axis=(0, 1))).max() < 0.5
    # Demosaicing loses some of the finest detail (a few levels at the astronaut's
    # sharpest edges): close through a 1 px blur, and on the whole.
    blurred = [cv2.GaussianBlur(x.astype(np.float32), (0, 0), 1.0) for x in (got, picture)]
    assert np.abs(blurred[0] - blurred[1]).mean() < 1.5
    assert mean_abs_levels(developed.pixels, picture) < 3.0
    # Turned the wrong way it would be far off.
    wrong = STORED_AS[orientation](picture) if orientation != 1 else picture[::-1]
    assert mean_abs_levels(developed.pixels, wrong) > 20
    assert developed.notes[0].startswith("original: DNG, 512 x 512, camera white balance")


def _not_a_bayer_sensor(raw):
    return None


def _a_mosaic_it_cannot_take(raw):
    raise cv2.error("unexpected mosaic")


@pytest.mark.parametrize("ours_says", [_not_a_bayer_sensor, _a_mosaic_it_cannot_take])
def test_a_sensor_left_to_libraw_gives_the_picture_back_too(tmp_path, monkeypatch, ours_says):
    """X-Trans, four-colour and linear sensors, and a mosaic our development cannot
    take, go through LibRaw's own development: the same picture (as the test above
    asks), and the note says how it was developed."""
    import processing.image_io.raw as raw_module

    picture = astronaut(256)
    dng = write_dng(tmp_path / "p.dng", picture, orientation=8)
    ours = read_image(dng, allow_raw=True)
    monkeypatch.setattr(raw_module, "develop_bayer", ours_says)
    libraw = read_image(dng, allow_raw=True)
    assert "Malvar-He-Cutler" in ours.notes[0] and "LibRaw's PPG" in libraw.notes[0]
    assert libraw.pixels.shape == picture.shape and libraw.pixels.dtype == np.uint16
    got = libraw.pixels.astype(np.float32) / 257
    assert np.abs((got - picture).mean(axis=(0, 1))).max() < 0.5
    assert mean_abs_levels(libraw.pixels, picture) < 3.0
    assert mean_abs_levels(libraw.pixels, ours.pixels) < 3.0


def test_the_development_is_the_same_every_time(tmp_path):
    dng = write_dng(tmp_path / "p.dng", astronaut(128), noise=30)
    a, b = (read_image(dng, allow_raw=True).pixels for _ in range(2))
    np.testing.assert_array_equal(a, b)


def test_colour_noise_is_smoothed_and_luma_kept():
    rng = np.random.default_rng(0)
    grey = np.full((200, 200, 3), 30000, np.float64) + rng.normal(0, 800, (200, 200, 3))
    rgb = np.clip(grey, 0, 65535).astype(np.uint16)
    out = smooth_colour_noise(rgb.copy())

    def ycrcb(x):
        return cv2.cvtColor(x, cv2.COLOR_RGB2YCrCb).astype(np.float64)
    before, after = ycrcb(rgb), ycrcb(out)
    # Luma within the round trip's rounding; chroma noise down by the blur's factor (1/(2 sigma sqrt(pi)) = 0.28).
    assert np.abs(after[..., 0] - before[..., 0]).max() <= 2
    for c in (1, 2):
        assert after[..., c].std() < 0.4 * before[..., c].std()


@pytest.mark.parametrize("band_rows", [1, 7, 64, 500])
def test_colour_noise_smoothed_in_bands_is_smoothed_as_a_whole(band_rows):
    """Row bands are a memory saving only: the same pixels as one pass over the picture."""
    rgb = (np.random.default_rng(2).random((300, 170, 3)) * 65535).astype(np.uint16)
    np.testing.assert_array_equal(smooth_colour_noise(rgb.copy(), band_rows=band_rows), chroma_smoothed(rgb))


@pytest.mark.parametrize("sigma", [0.8, 2.5])
def test_sensor_noise_is_the_noise_of_flat_areas(sigma):
    """White noise of a known sigma on a flat frame, with a textured quarter that must not count."""
    rng = np.random.default_rng(1)
    luma = np.full((512, 512), 120.0) + rng.normal(0, sigma, (512, 512))
    luma[:256, :256] += 12 * rng.standard_normal((256, 256))  # texture, as hair or pores
    rgb = np.repeat((luma * 257).clip(0, 65535).astype(np.uint16)[..., None], 3, axis=2)
    assert sensor_noise(rgb) == pytest.approx(sigma, rel=0.1)
    # scikit-image's estimator (Donoho, db2 wavelet) on a flat tile: the independent reference.
    from skimage.restoration import estimate_sigma

    assert sensor_noise(rgb) == pytest.approx(estimate_sigma(luma[256:, 256:]), rel=0.1)


def test_sensor_noise_is_measured_and_the_plan_says_how_it_is_treated(tmp_path):
    from processing.pipeline import plan, prepare_pair
    from processing.settings import Preset

    flat = np.full((256, 256, 3), 118, np.uint8)
    quiet = read_image(write_dng(tmp_path / "quiet.dng", flat), allow_raw=True)
    noisy = read_image(write_dng(tmp_path / "noisy.dng", flat, noise=150), allow_raw=True)
    assert quiet.sensor_noise < 0.5 < 1.0 < noisy.sensor_noise
    assert read_image(cv2.imencode(".png", flat)[1].tobytes()).sensor_noise is None

    def plan_message(original, method="match"):
        ai = cv2.GaussianBlur(flat, (0, 0), 2)
        return plan(prepare_pair(original, ai, "none", Preset(method=method, align=False)),
                    Preset(method=method)).summary() or ""
    assert "too faint to show" in plan_message(tmp_path / "quiet.dng")
    assert f"sensor noise ({noisy.sensor_noise:.1f} levels in flat areas) comes back" in \
        plan_message(tmp_path / "noisy.dng")
    assert "sensor noise" in plan_message(tmp_path / "noisy.dng", "graft")
    assert "sensor noise" not in plan_message(tmp_path / "noisy.dng", "synthetic")  # never reads it
    assert "sensor noise" not in plan_message(flat)


def test_a_raw_is_refused_where_only_a_developed_picture_belongs(tmp_path):
    dng = write_dng(tmp_path / "p.dng", astronaut(64))
    with pytest.raises(ImageReadError, match="takes RAW files only as the original"):
        read_image(dng)


# --- A RAW original restores an AI export --------------------------------------------------

SIZE = "1.5MP"
#: The export: cropped (3 % left and top, 8 % right, 5 % bottom) and reduced to 0.7.
CROP = (0.03, 0.03, 0.92, 0.95)
EXPORT_SCALE = 0.7


def to_export(img: np.ndarray, interpolation=cv2.INTER_AREA) -> np.ndarray:
    """What the photographer's export does to the developed picture: crop, then reduce."""
    h, w = img.shape[:2]
    x0, y0, x1, y1 = (int(CROP[0] * w), int(CROP[1] * h), int(CROP[2] * w), int(CROP[3] * h))
    size = (round((x1 - x0) * EXPORT_SCALE), round((y1 - y0) * EXPORT_SCALE))
    return cv2.resize(img[y0:y1, x0:x1], size, interpolation=interpolation)


def write_ai_version(export: np.ndarray, smoother: str, path: Path, quality: int) -> Path:
    """What the AI tool does to the export: skin smoothed by ``smoother``, brightened and
    warmed; saved as JPEG at ``quality``."""
    w, h = edits.SIZES[SIZE]
    region = to_export(edits.skin_region((w, h), grow=1.1), cv2.INTER_LINEAR)
    ai = edits.tone_and_colour(edits.smooth(export, smoother, "skin", region=region), region)
    cv2.imwrite(str(path), cv2.cvtColor(ai, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return path


@pytest.fixture(scope="module")
def raw_pair(tmp_path_factory):
    """A DNG of the portrait held on its side (orientation 6), and the AI's version of its
    export: cropped, reduced, skin smoothed (scikit-image's TV) and brightened and warmed."""
    d = tmp_path_factory.mktemp("raw-pair")
    scene = edits.portrait(SIZE)
    dng = write_dng(d / "IMG_0001.dng", scene, orientation=6)
    ai_path = write_ai_version(to_export(scene), "tv_chambolle", d / "IMG_0001.jpg", quality=95)
    return d, dng, ai_path


def run_cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "processing", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True)


def clean_skin_in_export() -> np.ndarray:
    """Blemish-free skin of the portrait, in the export's frame (bool)."""
    return to_export(edits.clean_skin(SIZE, margin=2).astype(np.uint8), cv2.INTER_NEAREST).astype(bool)


def pore_band(x: np.ndarray, s: float, where: np.ndarray) -> float:
    """RMS of the luma octave band at ``s`` px over ``where``, in 8-bit levels."""
    return float(np.sqrt(np.mean(edits.octave_band(edits.luma(x), s)[where] ** 2)))


def restore_from_raw(dng: Path, ai_path: Path, tmp_path: Path):
    """Restore through the CLI; give back the run, the AI picture, the result, the clean
    skin the automatic mask restores in full, and the RAW as developed here, in the
    export's frame (8-bit levels, float)."""
    out = tmp_path / "restored.png"
    proc = run_cli("restore", dng, ai_path, "-o", out)
    assert proc.returncode == 0, proc.stderr
    ai = read_image(ai_path).pixels
    result = read_image(out).pixels
    assert result.shape == ai.shape
    mask_file = tmp_path / "mask.png"
    assert run_cli("mask", ai_path, "-o", mask_file).returncode == 0
    full = clean_skin_in_export() & (read_image(mask_file).pixels == 255)
    assert full.sum() > 1000
    developed = to_export(read_image(dng, allow_raw=True).pixels.astype(np.float32) / 257)
    return proc, ai, result, full, developed


def test_a_dng_original_gives_the_export_its_texture_back(raw_pair, tmp_path):
    d, dng, ai_path = raw_pair
    proc, ai, result, full, developed = restore_from_raw(dng, ai_path, tmp_path)
    assert proc.stderr == ""
    assert "original: DNG, 1500 x 1000, camera white balance" in proc.stdout
    assert "Aligned: scale 0.700" in proc.stdout  # upright: the reduction, no quarter turn
    for s in (0.5, 1.0):
        assert pore_band(ai, s, full) < 0.5 * pore_band(developed, s, full)  # the AI did wipe the pores
        assert 0.9 <= pore_band(result, s, full) / pore_band(developed, s, full) <= 1.1
    # The AI's tone, as a viewer reads it (through an 8 px Gaussian), within a level.
    tone = [gaussian_filter(edits.luma(x), 8) for x in (result, ai)]
    assert np.abs(tone[0] - tone[1])[full].mean() < 1.0


def test_an_export_developed_elsewhere_gets_the_raw_texture_back(tmp_path):
    """The export comes from another developer (LibRaw's AHD demosaicing, its own camera
    matrix and curve, 8 bit), of a BGGR sensor held the other way up (orientation 8), with
    sensor noise; the AI smoothed its skin with wavelet denoising. The texture that comes
    back is the RAW's as this project develops it, at the pore scales."""
    import rawpy

    scene = edits.portrait(SIZE)
    dng = write_dng(tmp_path / "IMG_0007.dng", scene, orientation=8, pattern="BGGR", noise=0.004)
    with rawpy.imread(str(dng)) as raw:
        elsewhere = raw.postprocess(use_camera_wb=True, output_bps=8,
                                    demosaic_algorithm=rawpy.DemosaicAlgorithm.AHD)
    assert elsewhere.shape == scene.shape  # upright, as LibRaw turns it
    export = to_export(elsewhere)
    ai_path = write_ai_version(export, "wavelet", tmp_path / "IMG_0007.jpg", quality=92)

    proc, ai, result, full, developed = restore_from_raw(dng, ai_path, tmp_path)
    assert "Aligned: scale 0.700" in proc.stdout
    truth = to_export(scene)
    for s in (0.5, 1.0):
        assert pore_band(ai, s, full) < 0.5 * pore_band(export, s, full)  # the AI did wipe the pores
        assert 0.9 <= pore_band(result, s, full) / pore_band(developed, s, full) <= 1.1
        # The pores come back where they are in the picture, not just as much of them.
        bands = [edits.octave_band(edits.luma(x), s)[full] for x in (result, truth)]
        assert np.corrcoef(*bands)[0, 1] > 0.85


# --- Batch -----------------------------------------------------------------------------------

def test_a_raw_and_the_camera_jpeg_of_one_shot_pair_by_the_raw():
    pairing = pair_names(["IMG_0001.CR3", "IMG_0001.JPG", "IMG_0002.nef", "IMG_0003.jpg", "notes.txt"],
                         ["IMG_0001.jpg", "IMG_0002.jpg", "IMG_0003.jpg", "IMG_0004.dng"])
    assert pairing.pairs == [("img_0001", "IMG_0001.CR3", "IMG_0001.jpg"),
                             ("img_0002", "IMG_0002.nef", "IMG_0002.jpg"),
                             ("img_0003", "IMG_0003.jpg", "IMG_0003.jpg")]
    assert not pairing.conflicts
    assert pairing.unmatched_retouched == []  # a RAW is never a retouched file


def test_batch_restores_from_raw_originals(raw_pair, tmp_path, capsys):
    d, dng, ai_path = raw_pair
    originals, retouched = tmp_path / "originals", tmp_path / "retouched"
    originals.mkdir()
    retouched.mkdir()
    (originals / dng.name).write_bytes(dng.read_bytes())
    (retouched / ai_path.name).write_bytes(ai_path.read_bytes())
    code = cli.main(["batch", str(originals), str(retouched), "-o", str(tmp_path / "out"), "--jobs", "1"])
    assert code == 0, capsys.readouterr()
    single = tmp_path / "single.jpg"
    assert run_cli("restore", dng, ai_path, "-o", single).returncode == 0
    # The batch's result is the single restore's, byte for byte.
    assert (tmp_path / "out" / ai_path.name).read_bytes() == single.read_bytes()
    import json

    record, = json.loads((tmp_path / "out" / "report.json").read_text())["images"]
    notes = " ".join(record["notes"])
    assert "original: DNG, 1500 x 1000" in notes and "sensor noise" in notes


def test_the_web_batch_takes_raw_originals_from_uploads_and_zips(tmp_path):
    import io
    import zipfile

    from webapp import batch_uploads

    dest = tmp_path / "up"
    dest.mkdir()
    files, _ = batch_uploads.expand_upload("IMG_0001.CR3", b"raw bytes", dest)
    assert [name for name, _ in files] == ["IMG_0001.CR3"]
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as zf:
        zf.writestr("originals/IMG_0002.NEF", b"raw")
        zf.writestr("originals/IMG_0002.JPG", b"jpeg")
        zf.writestr("originals/notes.txt", b"text")
    (tmp_path / "zip").mkdir()
    files, _ = batch_uploads.expand_upload("shoot.zip", packed.getvalue(), tmp_path / "zip")
    assert sorted(name for name, _ in files) == ["originals/IMG_0002.JPG", "originals/IMG_0002.NEF"]


@pytest.mark.parametrize("command", ["restore", "batch", "metrics"])
def test_help_says_the_original_may_be_a_camera_raw(command, capsys):
    with pytest.raises(SystemExit) as done:
        cli.main([command, "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "RAW file" in text
    if command == "restore":
        assert "DNG, CR2, CR3, NEF, ARW, RAF, ORF or RW2" in text

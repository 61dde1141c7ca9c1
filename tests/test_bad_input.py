"""A corpus of bad and unusual inputs through the CLI: each is handled correctly or
refused with one clear sentence and a non-zero exit; never a traceback, never an
input changed, never a half-written file left behind."""

import hashlib
import io
import json

import numpy as np
import pytest
from PIL import Image

from processing.cli import main
from processing.image_io import read_image

H, W = 96, 128


def face_like(seed=0):
    """A smooth image with texture, enough for the methods and the alignment."""
    from skimage import data

    img = data.astronaut()[100:100 + H, 170:170 + W].astype(np.float32)
    rng = np.random.default_rng(seed)
    return np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8)


def save(path, arr, fmt=None, **kw):
    Image.fromarray(arr).save(path, fmt, **kw)
    return path


def jpeg_bytes(arr):
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=95)
    return buf.getvalue()


def png_bytes(arr):
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG")
    return buf.getvalue()


def smooth(a):
    import cv2

    return cv2.GaussianBlur(a, (0, 0), 1.5)


def std_pair(d, fmt="png"):
    o = save(d / f"o.{fmt}", face_like())
    a = save(d / f"a.{fmt}", smooth(face_like()))
    return o, a


# Each case builds files in a folder and returns (argv, expectation). An
# expectation is ("error", words-in-the-message) or ("ok", check(out_path, stdout)).
CASES = {}


def case(fn):
    CASES[fn.__name__] = fn
    return fn


def ok(check=None):
    return ("ok", check or (lambda out, stdout: None))


@case
def empty_file(d):
    _, a = std_pair(d)
    (d / "o.jpg").write_bytes(b"")
    return ["restore", d / "o.jpg", a, "-o", d / "out.png", "--mask", "none"], ("error", "empty")


@case
def text_renamed_jpg(d):
    (d / "a.jpg").write_text("Dear client, here are your photos.")
    o, _ = std_pair(d)
    return ["restore", o, d / "a.jpg", "-o", d / "out.png", "--mask", "none"], ("error", "not an image")


@case
def truncated_jpeg(d):
    data = jpeg_bytes(face_like())
    (d / "a.jpg").write_bytes(data[: len(data) // 3])
    o, _ = std_pair(d)
    return ["restore", o, d / "a.jpg", "-o", d / "out.png", "--mask", "none"], ("error", "damaged or incomplete")


@case
def truncated_png(d):
    _, a = std_pair(d)
    data = png_bytes(face_like())
    (d / "o.png").write_bytes(data[: len(data) // 2])
    return ["restore", d / "o.png", a, "-o", d / "out.png", "--mask", "none"], ("error", "damaged or incomplete")


@case
def one_by_one(d):
    o, _ = std_pair(d)
    save(d / "a.png", np.zeros((1, 1, 3), np.uint8))
    return ["restore", o, d / "a.png", "-o", d / "out.png", "--mask", "none"], ("error", "1x1 pixels")


@case
def over_pixel_limit(d):
    o, a = std_pair(d)
    return ["restore", o, a, "-o", d / "out.png", "--mask", "none", "--max-pixels", "0.01"], ("error", "over the limit")


@case
def cmyk_jpeg(d):
    o, _ = std_pair(d)
    Image.fromarray(smooth(face_like())).convert("CMYK").save(d / "a.jpg", quality=95)

    def check(out, stdout):
        assert "CMYK" in stdout
        assert read_image(out).pixels.shape == (H, W, 3)
    return ["restore", o, d / "a.jpg", "-o", d / "out.jpg", "--mask", "none"], ok(check)


@case
def grayscale_pair(d):
    o = save(d / "o.png", face_like()[..., 1])
    a = save(d / "a.png", smooth(face_like())[..., 1])

    def check(out, stdout):
        assert read_image(out).pixels.shape == (H, W)
    return ["restore", o, a, "-o", d / "out.png", "--mask", "none"], ok(check)


@case
def gray_original_rgb_retouched(d):
    o = save(d / "o.png", face_like()[..., 1])
    _, a = std_pair(d)

    def check(out, stdout):
        assert read_image(out).pixels.shape == (H, W, 3)
    return ["restore", o, a, "-o", d / "out.png", "--mask", "none"], ok(check)


@case
def palette_png(d):
    o, _ = std_pair(d)
    Image.fromarray(smooth(face_like())).convert("P", palette=Image.Palette.ADAPTIVE).save(d / "a.png")

    def check(out, stdout):
        assert read_image(out).pixels.shape == (H, W, 3)
    return ["restore", o, d / "a.png", "-o", d / "out.png", "--mask", "none"], ok(check)


@case
def rgba_with_transparency(d):
    o, _ = std_pair(d)
    alpha = np.full((H, W), 255, np.uint8)
    alpha[:, : W // 3] = 0
    save(d / "a.png", np.dstack([smooth(face_like()), alpha]), "PNG")

    def check(out, stdout):
        img = read_image(out)
        assert img.alpha is not None and np.array_equal(img.alpha, alpha)
    return ["restore", o, d / "a.png", "-o", d / "out.png", "--mask", "none"], ok(check)


def _sixteen(d, fmt):
    from processing.image_io import encode_image

    o16 = face_like().astype(np.uint16) * 257
    (d / f"o.{fmt}").write_bytes(encode_image(o16, fmt.upper().replace("TIF", "TIFF")))
    (d / f"a.{fmt}").write_bytes(encode_image(smooth(o16), fmt.upper().replace("TIF", "TIFF")))

    def check(out, stdout):
        assert read_image(out).pixels.dtype == np.uint16
    return ["restore", d / f"o.{fmt}", d / f"a.{fmt}", "-o", d / f"out.{fmt}", "--mask", "none"], ok(check)


@case
def sixteen_bit_png(d):
    return _sixteen(d, "png")


@case
def sixteen_bit_tiff(d):
    return _sixteen(d, "tif")


@case
def float_tiff(d):
    import tifffile

    tifffile.imwrite(d / "o.tif", face_like().astype(np.float32) / 255)
    tifffile.imwrite(d / "a.tif", smooth(face_like()).astype(np.float32) / 255)

    def check(out, stdout):
        px = tifffile.imread(out)
        assert px.dtype == np.float32 and px.shape == (H, W, 3)
    return ["restore", d / "o.tif", d / "a.tif", "-o", d / "out.tif", "--mask", "none"], ok(check)


@case
def multipage_tiff(d):
    import tifffile

    o, _ = std_pair(d)
    with tifffile.TiffWriter(d / "a.tif") as tw:
        tw.write(smooth(face_like()), photometric="rgb")
        tw.write(np.zeros((H, W, 3), np.uint8), photometric="rgb")

    def check(out, stdout):
        assert "first one is used" in stdout
        assert read_image(out).pixels.mean() > 20  # the picture, not the black page
    return ["restore", o, d / "a.tif", "-o", d / "out.tif", "--mask", "none"], ok(check)


@case
def animated_gif(d):
    o, _ = std_pair(d)
    frames = [Image.fromarray(smooth(face_like())), Image.new("RGB", (W, H))]
    frames[0].save(d / "a.gif", save_all=True, append_images=frames[1:], duration=100)

    def check(out, stdout):
        assert "first one is used" in stdout
        assert read_image(out).format == "PNG"
    return ["restore", o, d / "a.gif", "-o", d / "out.png", "--mask", "none"], ok(check)


def _orientation_case(n):
    def build(d):
        o, a = std_pair(d)
        inverse = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
                   4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
                   6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_270}
        ex = Image.Exif()
        ex[0x0112] = n
        for name in ("o", "a"):
            im = Image.open(d / f"{name}.png").convert("RGB")
            if n in inverse:
                im = im.transpose(inverse[n])
            im.save(d / f"{name}.jpg", quality=95, exif=ex.tobytes())
        upright = np.asarray(Image.open(a)).astype(int)

        def check(out, stdout):
            px = read_image(out).pixels.astype(int)
            assert px.shape == upright.shape  # not turned on its side
            # Closer to the upright picture than to any flip of it.
            err = lambda ref: np.abs(px - ref).mean()
            assert err(upright) < min(err(upright[::-1]), err(upright[:, ::-1]), err(upright[::-1, ::-1]))
        return ["restore", d / "o.jpg", d / "a.jpg", "-o", d / "out.jpg", "--mask", "none"], ok(check)
    build.__name__ = f"exif_orientation_{n}"
    return build


for _n in range(1, 9):
    case(_orientation_case(_n))


@case
def different_sizes_without_alignment(d):
    o = save(d / "o.png", face_like())
    a = save(d / "a.png", smooth(face_like())[:80, :100])
    return ["restore", o, a, "-o", d / "out.png", "--mask", "none", "--no-align"], ("error", "same size")


@case
def different_images(d):
    from skimage import data

    _, a = std_pair(d)
    o = save(d / "o.png", data.coffee()[:H * 3:3, :W * 3:3])
    return ["restore", o, a, "-o", d / "out.png", "--mask", "none"], ("error", "do not show the same photo")


@case
def mask_of_wrong_size(d):
    o, a = std_pair(d)
    save(d / "m.png", np.full((50, 50), 255, np.uint8))
    return ["restore", o, a, "-o", d / "out.png", "--mask", d / "m.png"], ("error", "the mask")


@case
def empty_mask_changes_nothing(d):
    o, a = std_pair(d)
    save(d / "m.png", np.zeros((H, W), np.uint8))

    def check(out, stdout):
        assert np.array_equal(read_image(out).pixels, read_image(a).pixels)
    return ["restore", o, a, "-o", d / "out.png", "--mask", d / "m.png"], ok(check)


@case
def preset_unknown_key(d):
    o, a = std_pair(d)
    (d / "p.json").write_text(json.dumps({"graft": {"radius": 2, "clarity": 5}}))
    return ["restore", o, a, "-o", d / "out.png", "--mask", "none", "--preset", d / "p.json"], ("error", "Unknown setting")


@case
def preset_out_of_range(d):
    o, a = std_pair(d)
    (d / "p.json").write_text(json.dumps({"freqsep": {"blur": 500}}))
    return ["restore", o, a, "-o", d / "out.png", "--mask", "none", "--preset", d / "p.json"], ("error", "between 1 and 30")


@case
def preset_not_json(d):
    o, a = std_pair(d)
    (d / "p.json").write_text("method = graft")
    return ["restore", o, a, "-o", d / "out.png", "--mask", "none", "--preset", d / "p.json"], ("error", "not valid JSON")


@case
def output_is_an_input(d):
    o, a = std_pair(d)
    return ["restore", o, a, "-o", a, "--mask", "none"], ("error", "never overwritten")


@case
def output_folder_missing(d):
    o, a = std_pair(d)
    return ["restore", o, a, "-o", d / "no" / "out.png", "--mask", "none"], ("error", "does not exist")


@case
def output_parent_is_a_file(d):
    o, a = std_pair(d)
    return ["restore", o, a, "-o", o / "out.png", "--mask", "none"], ("error", "not a folder")


@case
def missing_input(d):
    _, a = std_pair(d)
    return ["restore", d / "nothere.jpg", a, "-o", d / "out.png", "--mask", "none"], ("error", "does not exist")


@case
def folder_as_input(d):
    _, a = std_pair(d)
    (d / "folder.jpg").mkdir()
    return ["restore", d / "folder.jpg", a, "-o", d / "out.png", "--mask", "none"], ("error", "folder")


@case
def webp_pair(d):
    o = save(d / "o.webp", face_like(), quality=95)
    a = save(d / "a.webp", smooth(face_like()), quality=95)

    def check(out, stdout):
        assert read_image(out).format == "WEBP"
    return ["restore", o, a, "-o", d / "out.webp", "--mask", "none"], ok(check)


@case
def sixteen_bit_original_eight_bit_retouched(d):
    from processing.image_io import encode_image

    (d / "o.png").write_bytes(encode_image(face_like().astype(np.uint16) * 257, "PNG"))
    a = save(d / "a.png", smooth(face_like()))

    def check(out, stdout):
        assert read_image(out).pixels.dtype == np.uint8
    return ["restore", d / "o.png", a, "-o", d / "out.png", "--mask", "none"], ok(check)


@case
def unknown_output_extension(d):
    o, a = std_pair(d)
    return ["restore", o, a, "-o", d / "out.bmpx", "--mask", "none"], ("error", "unknown file type")


# --- Every output checked against every input and the other outputs, before any write ---------

def _preset(d, name="p.json"):
    (d / name).write_text(json.dumps({"method": "graft", "graft": {"radius": 2}}))
    return d / name


@case
def save_preset_over_the_original(d):
    o, a = std_pair(d)
    return (["restore", o, a, "-o", d / "out.png", "--mask", "none", "--save-preset", o],
            ("error", "is the original you gave"))


@case
def save_preset_over_the_result(d):
    o, a = std_pair(d)
    return (["restore", o, a, "-o", d / "out.png", "--mask", "none", "--save-preset", d / "out.png"],
            ("error", "both be written to out.png"))


@case
def save_preset_over_the_preset_read(d):
    o, a = std_pair(d)
    p = _preset(d)
    return (["restore", o, a, "-o", d / "out.png", "--preset", p, "--save-preset", p],
            ("error", "is the preset you gave"))


@case
def result_over_the_mask(d):
    o, a = std_pair(d)
    save(d / "mask.png", np.full((H, W), 255, np.uint8))
    return ["restore", o, a, "-o", d / "mask.png", "--mask", d / "mask.png"], ("error", "is the mask you gave")


@case
def result_over_the_preset_read(d):
    o, a = std_pair(d)
    p = _preset(d, "p.png")  # a preset under an image's name is still an input
    return ["restore", o, a, "-o", p, "--mask", "none", "--preset", p], ("error", "is the preset you gave")


@case
def result_through_a_symlink_to_the_original(d):
    o, a = std_pair(d)
    (d / "link.png").symlink_to(o)
    return ["restore", o, a, "-o", d / "link.png", "--mask", "none"], ("error", "is the original you gave")


@case
def result_on_a_hard_link_to_the_retouched(d):
    o, a = std_pair(d)
    (d / "hard.png").hardlink_to(a)
    return ["restore", o, a, "-o", d / "hard.png", "--mask", "none"], ("error", "is the retouched photo you gave")


@case
def result_through_a_linked_folder(d):
    o, a = std_pair(d)
    (d / "same").symlink_to(d, target_is_directory=True)
    return (["restore", o, a, "-o", d / "same" / "o.png", "--mask", "none"],
            ("error", "is the original you gave"))


@case
def save_preset_through_a_symlink_to_the_mask(d):
    o, a = std_pair(d)
    save(d / "mask.png", np.full((H, W), 255, np.uint8))
    (d / "p.json").symlink_to(d / "mask.png")
    return (["restore", o, a, "-o", d / "out.png", "--mask", d / "mask.png", "--save-preset", d / "p.json"],
            ("error", "is the mask you gave"))


@case
def save_preset_in_a_missing_folder(d):
    o, a = std_pair(d)  # the result must not be written either
    return (["restore", o, a, "-o", d / "out.png", "--mask", "none", "--save-preset", d / "nodir" / "p.json"],
            ("error", "does not exist"))


@case
def save_preset_is_a_folder(d):
    o, a = std_pair(d)
    (d / "presets").mkdir()
    return (["restore", o, a, "-o", d / "out.png", "--mask", "none", "--save-preset", d / "presets"],
            ("error", "is a folder"))


@case
def save_preset_not_json_name(d):
    o, a = std_pair(d)
    return (["restore", o, a, "-o", d / "out.png", "--mask", "none", "--save-preset", d / "settings.jpg"],
            ("error", ".json name"))


@case
def save_preset_with_the_result(d):
    o, a = std_pair(d)
    (d / "presets").mkdir()

    def check(out, stdout):
        from processing.settings import Preset

        saved = Preset.load(d / "presets" / "used.json")
        assert saved.method == "graft" and saved.graft.radius == 3
        assert "used.json" in stdout
    return (["restore", o, a, "-o", d / "out.png", "--mask", "none", "--method", "graft", "--radius", "3",
             "--save-preset", d / "presets" / "used.json"], ok(check))


@case
def mask_output_is_a_folder(d):
    _, a = std_pair(d)
    (d / "sub").mkdir()
    return ["mask", a, "-o", d / "sub"], ("error", "is a folder")


@case
def mask_output_over_its_photo(d):
    _, a = std_pair(d)
    return ["mask", a, "-o", a], ("error", "is the photo you gave")


@case
def mask_output_bare_name_over_its_photo(d):
    _, a = std_pair(d)  # 'a' becomes 'a.png', the photo itself
    return ["mask", a, "-o", d / "a"], ("error", "is the photo you gave")


# --- Numbers and presets that only a hostile file would hold -----------------------------------

@case
def max_pixels_infinite(d):
    o, a = std_pair(d)
    return ["restore", o, a, "-o", d / "out.png", "--max-pixels", "inf"], ("usage", "not a finite number")


@case
def max_pixels_not_a_number(d):
    o, a = std_pair(d)
    return ["restore", o, a, "-o", d / "out.png", "--max-pixels", "nan"], ("usage", "not a finite number")


@case
def max_pixels_zero(d):
    o, a = std_pair(d)
    return ["restore", o, a, "-o", d / "out.png", "--max-pixels", "0"], ("usage", "above 0")


@case
def seed_of_5000_digits(d):
    o, a = std_pair(d)
    return (["restore", o, a, "-o", d / "out.png", "--method", "synthetic", "--seed", "9" * 5000],
            ("usage", "not a whole number"))


@case
def radius_infinite(d):
    o, a = std_pair(d)
    return (["restore", o, a, "-o", d / "out.png", "--method", "graft", "--radius", "inf"],
            ("usage", "not a finite number"))


@case
def preset_nested_100000_deep(d):
    o, a = std_pair(d)
    (d / "p.json").write_text("[" * 100_000)
    return ["restore", o, a, "-o", d / "out.png", "--preset", d / "p.json"], ("error", "nested too deeply")


@case
def preset_seed_of_5000_digits(d):
    o, a = std_pair(d)
    (d / "p.json").write_text('{"method": "synthetic", "synthetic": {"seed": ' + "9" * 5000 + "}}")
    return ["restore", o, a, "-o", d / "out.png", "--preset", d / "p.json"], ("error", "number too long")


@case
def preset_seed_infinite(d):
    o, a = std_pair(d)
    (d / "p.json").write_text('{"method": "synthetic", "synthetic": {"amount": Infinity}}')
    return ["restore", o, a, "-o", d / "out.png", "--preset", d / "p.json"], ("error", "must be a number")


@case
def metrics_with_an_all_black_mask(d):
    o, a = std_pair(d)
    save(d / "mask.png", np.zeros((H, W), np.uint8))
    return ["metrics", o, a, a, "--mask", d / "mask.png"], ("error", "selects no pixels")


def _strict_json(text):
    def refuse(name):
        raise AssertionError(f"{name} is not JSON")
    return json.loads(text, parse_constant=refuse)


def dng_of(d, name="IMG_0001.dng"):
    from raw_files import write_dng

    return write_dng(d / name, face_like())


@case
def raw_original_cut_short(d):
    dng = dng_of(d)
    data = dng.read_bytes()
    dng.write_bytes(data[: len(data) * 2 // 3])  # a copy from the card that stopped
    _, a = std_pair(d)
    return ["restore", dng, a, "-o", d / "out.png"], ("error", "is a damaged or incomplete DNG file")


@case
def raw_original_without_its_first_directory(d):
    dng = dng_of(d)
    dng.write_bytes(dng.read_bytes()[:100])
    _, a = std_pair(d)
    return ["restore", dng, a, "-o", d / "out.png"], ("error", "is a damaged or incomplete DNG file")


@case
def raw_original_over_the_pixel_limit(d):
    dng = dng_of(d)  # 128 x 96: 0.012 MP
    _, a = std_pair(d)
    return ["restore", dng, a, "-o", d / "out.png", "--max-pixels", "0.01"], ("error", "over the limit")


@case
def text_file_named_like_a_raw(d):
    fake = d / "IMG_0001.CR3"
    fake.write_text("camera settings: ISO 100, 1/250 s\n")
    _, a = std_pair(d)
    return ["restore", fake, a, "-o", d / "out.png"], ("error", "is named like a CR3 file but does not hold")


@case
def jpeg_named_like_a_raw(d):
    # The bytes decide: a JPEG is read as the JPEG it is.
    o, a = std_pair(d)
    named = d / "o.NEF"
    named.write_bytes(jpeg_bytes(face_like()))
    return ["restore", named, a, "-o", d / "out.png", "--mask", "none"], ok()


@case
def raw_as_the_retouched_photo(d):
    o, _ = std_pair(d)
    dng = dng_of(d)
    return ["restore", o, dng, "-o", d / "out.png"], ("error", "takes RAW files only as the original")


@case
def raw_as_the_mask(d):
    o, a = std_pair(d)
    dng = dng_of(d)
    return ["restore", o, a, "-o", d / "out.png", "--mask", dng], ("error", "takes RAW files only as the original")


@case
def metrics_of_a_raw_original(d):
    # The original may be the RAW there too; the three must still share one grid.
    dng = dng_of(d)
    _, a = std_pair(d)

    def check(out, stdout):
        assert _strict_json(stdout)["bands"]["pores"]["ai_ratio"] is not None
    return ["metrics", dng, a, a], ok(check)


@case
def metrics_of_a_2x2_image(d):
    tiny = save(d / "t.png", face_like()[:2, :2])

    def check(out, stdout):
        report = _strict_json(stdout)  # strict JSON: no NaN literal
        assert None in report["spectrum"]["result"]  # octaves coarser than 2 px are undefined: null
    return ["metrics", tiny, tiny, tiny], ok(check)


@case
def metrics_of_a_flat_original(d):
    flat = save(d / "flat.png", np.full((H, W, 3), 128, np.uint8))
    _, a = std_pair(d)

    def check(out, stdout):
        report = _strict_json(stdout)
        assert report["bands"]["pores"]["ai_ratio"] is None  # a ratio to zero energy
        assert report["bands"]["pores"]["ai"] > 0
    return ["metrics", flat, a, a], ok(check)


def digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input(name, tmp_path, capsys):
    argv, (kind, expect) = CASES[name](tmp_path)
    out_path = None  # metrics writes nothing
    for i, arg in enumerate(argv):
        if arg == "-o":
            out_path = argv[i + 1]
    inputs_before = digest(tmp_path)
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's own exit for a usage mistake
        code = exc.code
    stdout, stderr = capsys.readouterr()
    assert "Traceback" not in stdout + stderr
    # Inputs untouched, nothing half-written next to them.
    after = digest(tmp_path)
    assert {k: v for k, v in after.items() if k in inputs_before} == inputs_before
    assert not list(tmp_path.glob(".retexture-*"))
    if kind in ("error", "usage"):
        # A mistake in the command itself (usage) is status 2 and names the subcommand.
        assert code == (2 if kind == "usage" else 1), stdout
        prefix = f"retexture {argv[0]}: error:" if kind == "usage" else "retexture: error:"
        assert stderr.count("\n") == 1 and stderr.startswith(prefix), stderr
        assert len(stderr) < 400, stderr  # one sentence, not a wall of digits
        assert expect.lower() in stderr.lower(), stderr
        assert set(after) == set(inputs_before)  # no output written
        assert not [p for p in tmp_path.rglob("*") if p.is_file() and p.name not in inputs_before
                    and not p.is_symlink()]
    else:
        assert code == 0, stderr
        assert out_path is None or out_path.exists()
        expect(out_path, stdout)

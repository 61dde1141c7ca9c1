"""The command line: restore, metrics, errors as one line, inputs never touched."""

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from processing.cli import describe, main
from processing.image_io import read_image
from processing.settings import Preset


@pytest.fixture()
def pair(tmp_path, textured_face):
    ai = cv2.bilateralFilter(textured_face, 9, 40, 5)
    o, a = tmp_path / "original.png", tmp_path / "retouched.jpg"
    Image.fromarray(textured_face).save(o)
    Image.fromarray(ai).save(a, quality=97)
    return o, a


def run(argv, capsys):
    code = main([str(x) for x in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_restore_writes_the_retouched_images_format(pair, tmp_path, capsys):
    o, a = pair
    code, out, err = run(["restore", o, a, "-o", tmp_path / "out", "--mask", "none", "--method", "graft"], capsys)
    assert code == 0, err
    assert "high-pass graft" in out
    written = tmp_path / "out"
    img = read_image(written)
    assert img.format == "JPEG" and img.pixels.shape == (512, 512, 3)


def test_restore_with_mask_file_leaves_outside_untouched(pair, tmp_path, capsys):
    o, a = pair
    mask = np.zeros((512, 512), np.uint8)
    mask[200:300, 150:350] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    out = tmp_path / "out.png"
    code, _, err = run(["restore", o, a, "-o", out, "--mask", tmp_path / "mask.png",
                        "--method", "freqsep", "--mode", "replace", "--strength", "80"], capsys)
    assert code == 0, err
    r, ai = read_image(out).pixels, read_image(a).pixels
    assert np.array_equal(r[mask == 0], ai[mask == 0])
    assert not np.array_equal(r[mask > 0], ai[mask > 0])


def test_preset_and_overrides(pair, tmp_path, capsys):
    o, a = pair
    (tmp_path / "p.json").write_text(json.dumps({"method": "synthetic", "synthetic": {"amount": 4, "seed": 5}}))
    code, out, err = run(["restore", o, a, "-o", tmp_path / "s.png", "--mask", "none", "--preset",
                          tmp_path / "p.json", "--seed", "6", "--save-preset", tmp_path / "used.json"], capsys)
    assert code == 0, err
    used = json.loads((tmp_path / "used.json").read_text())
    assert used["method"] == "synthetic" and used["synthetic"]["amount"] == 4 and used["synthetic"]["seed"] == 6


def test_metrics_prints_json(pair, tmp_path, capsys):
    o, _ = pair
    plastic = tmp_path / "plastic.png"
    Image.fromarray(cv2.GaussianBlur(np.asarray(Image.open(o)), (0, 0), 2.0)).save(plastic)
    code, out, err = run(["metrics", o, plastic, o], capsys)
    assert code == 0, err
    rep = json.loads(out)
    assert rep["bands"]["pores"]["restored_ratio"] == pytest.approx(1.0)
    assert rep["bands"]["pores"]["ai_ratio"] < 0.5


@pytest.mark.parametrize("make_args, words", [
    (lambda d, o, a: ["restore", d / "text.jpg", a, "-o", d / "x.jpg"], "not an image"),
    (lambda d, o, a: ["restore", o, a, "-o", a], "never overwritten"),
    (lambda d, o, a: ["restore", o, a, "-o", d / "missing" / "x.jpg", "--mask", "none"], "does not exist"),
    (lambda d, o, a: ["restore", o, a, "-o", d / "x.jpg", "--radius", "40", "--mask", "none"], "between 0.5 and 10"),
    (lambda d, o, a: ["restore", o, a, "-o", d / "x.jpg", "--mask", d / "small.png"], "the mask"),
    (lambda d, o, a: ["restore", o, d / "nofile.jpg", "-o", d / "x.jpg"], "does not exist"),
])
def test_errors_are_one_line_and_leave_inputs_alone(pair, tmp_path, capsys, make_args, words):
    o, a = pair
    (tmp_path / "text.jpg").write_text("just some text")
    Image.new("L", (20, 20)).save(tmp_path / "small.png")
    before = {p: p.read_bytes() for p in (o, a)}
    code, out, err = run(make_args(tmp_path, o, a), capsys)
    assert code != 0
    assert err.count("\n") == 1 and err.startswith("retexture: error:") and words.lower() in err.lower()
    assert "Traceback" not in err
    assert all(p.read_bytes() == b for p, b in before.items())
    assert not (tmp_path / "x.jpg").exists()
    assert not list(tmp_path.glob(".retexture-*"))  # nothing half-written


def test_python_dash_m_and_console_script_agree(pair, tmp_path):
    o, a = pair
    script = Path(sys.executable).with_name("retexture")  # installed beside the interpreter
    for cmd in ([sys.executable, "-m", "processing"], [str(script)]):
        res = subprocess.run(cmd + ["restore", str(o), str(tmp_path / "text.txt"), "-o", str(tmp_path / "y.jpg")],
                             capture_output=True, text=True)
        assert res.returncode == 1 and "Traceback" not in res.stderr and "does not exist" in res.stderr


def test_the_console_script_ends_with_every_word_said_and_every_file_whole(pair, tmp_path):
    """The script ends the process without the interpreter's teardown: what it
    printed into a pipe (block-buffered) and the file it wrote are all there,
    for a restore, a mask and a refused command alike."""
    o, a = pair
    script = Path(sys.executable).with_name("retexture")
    for cmd in ([sys.executable, "-m", "processing"], [str(script)]):
        out = tmp_path / "r.png"
        done = subprocess.run(cmd + ["restore", str(o), str(a), "-o", str(out), "--mask", "none", "--method", "graft"],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        said = describe(Preset(method="graft"))
        assert done.stdout.splitlines()[-1] == f"Restored with {said}; wrote {out} (8-bit PNG)."
        expected = main_restore_pixels(o, a)
        assert np.array_equal(read_image(out).pixels, expected)
        done = subprocess.run(cmd + ["mask", str(a), "-o", str(tmp_path / "m.png")], capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0 and done.stdout.splitlines() == ["Found 1 face.", f"Wrote {tmp_path / 'm.png'}."]
        done = subprocess.run(cmd + ["restore", str(o), str(a), "-o", str(o)], capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 1 and done.stdout == "" and len(done.stderr.splitlines()) == 1
        out.unlink()


def main_restore_pixels(o, a):
    """The same restore through the library, in this process."""
    from processing.pipeline import restore_pair

    preset = Preset(method="graft")
    pixels, _ = restore_pair(str(o), str(a), "none", preset)
    return pixels


def test_mask_command_and_auto_mask_default(pair, tmp_path, capsys):
    o, a = pair
    code, out, err = run(["mask", a, "-o", tmp_path / "m.png"], capsys)
    assert code == 0, err
    assert "Found 1 face" in out
    m = np.asarray(Image.open(tmp_path / "m.png"))
    assert m.dtype == np.uint8 and m.shape == (512, 512)
    assert m[125, 197] > 230 and m[101, 203] < 25  # cheek in, pupil out (astronaut, by eye)
    code, out, err = run(["restore", o, a, "-o", tmp_path / "r.png"], capsys)  # --mask auto, --method match
    assert code == 0, err
    assert "Found 1 face" in out and "Match: cut-off" in out
    r, ai = read_image(tmp_path / "r.png").pixels, read_image(a).pixels
    assert np.array_equal(r[m == 0], ai[m == 0])
    assert not np.array_equal(r[m > 128], ai[m > 128])


def test_no_face_is_not_an_error(tmp_path, capsys):
    from skimage import data

    Image.fromarray(data.coffee()).save(tmp_path / "o.png")
    Image.fromarray(cv2.GaussianBlur(data.coffee(), (0, 0), 2)).save(tmp_path / "a.png")
    code, out, err = run(["restore", tmp_path / "o.png", tmp_path / "a.png", "-o", tmp_path / "r.png"], capsys)
    assert code == 0, err
    assert "No face found" in out
    assert np.array_equal(read_image(tmp_path / "r.png").pixels, read_image(tmp_path / "a.png").pixels)


HELP_OPTIONS = {
    None: ["restore", "metrics", "mask", "batch", "--version"],
    "restore": ["--output", "--method", "--mask", "--preset", "--save-preset", "--no-align", "--max-pixels",
                "--cutoff", "--strength", "--blemish", "--region-forehead", "--region-cheeks", "--region-nose",
                "--region-chin", "--shadows", "--highlights", "--amount", "--grain-size", "--color-grain",
                "--seed", "--opacity", "--radius", "--blur", "--mode", "--forehead", "--feather"],
    "batch": ["--output", "--preset", "--jobs", "--overwrite", "--suffix", "--fast-align", "--masks"],
    "mask": ["--output", "--forehead", "--feather"],
    "metrics": ["--mask"],
}


@pytest.mark.parametrize("command", list(HELP_OPTIONS))
def test_help_of_every_command_lists_every_option(command):
    """--help is run as a user runs it: a real process, exit 0, no traceback."""
    argv = [sys.executable, "-m", "processing"] + ([command] if command else []) + ["--help"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    for option in HELP_OPTIONS[command]:
        assert option in done.stdout, f"{option} missing from {command} --help"


def test_every_setting_has_an_option_with_its_range_in_the_help(capsys):
    """The options are generated from the settings: each one, with its range, is in restore --help."""
    from processing.settings import SECTIONS

    with pytest.raises(SystemExit) as exit_:
        main(["restore", "--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for section in SECTIONS.values():
        for spec in section.specs():
            flag = "--" + (spec.flag or spec.name.replace("_", "-"))
            assert flag in text
            if spec.lo is not None:
                assert spec.range_text() in text, f"{flag}: {spec.range_text()}"


@pytest.mark.parametrize("argv, words", [
    (["restore", "a.jpg", "b.jpg", "-o", "c.jpg", "--bogus"], "unrecognized arguments: --bogus"),
    (["restore", "a.jpg"], "required"),
    (["restore", "a.jpg", "b.jpg", "-o", "c.jpg", "--strength", "lots"], "'lots' is not a number"),
    (["frobnicate"], "invalid choice"),
    ([], "required"),
])
def test_command_line_mistakes_are_one_line_and_exit_2(argv, words, tmp_path):
    done = subprocess.run([sys.executable, "-m", "processing", *argv], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and lines[0].startswith("retexture")
    assert not list(tmp_path.iterdir())


def test_version():
    from importlib.metadata import version

    done = subprocess.run([sys.executable, "-m", "processing", "--version"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == f"retexture {version('retexture')}"


def test_a_shared_option_applies_to_the_chosen_method_only(pair, tmp_path, capsys):
    o, a = pair
    code, _, err = run(["restore", o, a, "-o", tmp_path / "g.png", "--mask", "none", "--method", "synthetic",
                        "--strength", "50"], capsys)
    assert code == 1 and "--strength does not apply to synthetic grain" in err
    assert not (tmp_path / "g.png").exists()

"""Batch restoration: pairing, outputs, the report, skipping, interruption, refusals."""

from __future__ import annotations

import hashlib
import io
import json
import re
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image, ImageCms

from processing import batch, cli
from processing.image_io import read_image
from webapp import batch_uploads

ROOT = Path(__file__).resolve().parent.parent
ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
DONE = {"a1.jpg", "a2_retouched.png", "a3.TIF"}


def _smooth(img8: np.ndarray) -> np.ndarray:
    """A plausible 'AI' version: edge-preserving smoothing that wipes the pores."""
    return cv2.bilateralFilter(img8, 9, 40, 5)


def _to16(img8: np.ndarray) -> np.ndarray:
    return img8.astype(np.uint16) * 257


def make_inputs(root: Path, textured: np.ndarray) -> tuple[Path, Path]:
    o, r = root / "originals", root / "retouched"
    o.mkdir()
    r.mkdir()
    ai = _smooth(textured)
    exif = Image.Exif()
    exif[0x013B] = "Jane Photographer"  # Artist
    # 1: 8-bit JPEG pair with ICC and EXIF
    Image.fromarray(textured).save(o / "a1.jpg", quality=95, icc_profile=ICC)
    Image.fromarray(ai).save(r / "a1.jpg", quality=95, icc_profile=ICC, exif=exif.tobytes())
    # 2: 16-bit PNG pair, retouched name with a suffix and another case
    cv2.imwrite(str(o / "A2.png"), cv2.cvtColor(_to16(textured), cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(r / "a2_retouched.png"), cv2.cvtColor(_to16(ai), cv2.COLOR_RGB2BGR))
    # 3: 8-bit TIFF original, 16-bit TIFF retouched exported 90 % smaller (alignment)
    tifffile.imwrite(o / "a3.tiff", textured, photometric="rgb")
    small = cv2.resize(ai, (461, 461), interpolation=cv2.INTER_AREA)
    tifffile.imwrite(r / "a3.TIF", _to16(small), photometric="rgb")
    # no face
    coffee = _coffee()
    Image.fromarray(coffee).save(o / "coffee.jpg", quality=95)
    Image.fromarray(cv2.GaussianBlur(coffee, (0, 0), 1.5)).save(r / "coffee.jpg", quality=95)
    # corrupt retouched file (its original is fine)
    Image.fromarray(textured).save(o / "broken.jpg", quality=90)
    (r / "broken.jpg").write_bytes((o / "broken.jpg").read_bytes()[:3000])
    # unmatched on both sides, and a non-image
    Image.fromarray(ai).save(r / "lonely.png")
    Image.fromarray(textured).save(o / "not_selected.jpg", quality=90)
    (o / "notes.txt").write_text("client wants natural skin")
    return o, r


def _coffee() -> np.ndarray:
    from skimage import data

    return data.coffee()[:320, :480].copy()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, textured_face):
    root = tmp_path_factory.mktemp("batch")
    o, r = make_inputs(root, textured_face)
    return root, o, r


def checksums(*folders: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest()
            for f in folders for p in sorted(f.rglob("*")) if p.is_file()}


def run_cli(args, capsys=None) -> tuple[int, str, str]:
    code = cli.main(["batch", *map(str, args)])
    out, err = capsys.readouterr() if capsys else ("", "")
    return code, out, err


def outputs(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and p.name in DONE}


def assert_same_outputs(out: Path, ref: Path, names=None) -> None:
    """Byte-identical outputs (only ``names`` when given)."""
    got, want = outputs(out), outputs(ref)
    names = set(want) if names is None else set(names)
    assert set(got) & names == names
    differ = sorted(n for n in names if got[n] != want[n])
    assert not differ, f"outputs differ from the uninterrupted run: {differ}"


def report(out: Path) -> dict[str, dict]:
    doc = json.loads((out / "report.json").read_text())
    return {r["name"]: r for r in doc["images"]}


@pytest.fixture(scope="module")
def reference(inputs, tmp_path_factory):
    """One uninterrupted run on two workers."""
    root, o, r = inputs
    before = checksums(o, r)
    out = tmp_path_factory.mktemp("ref") / "out"
    code = cli.main(["batch", str(o), str(r), "-o", str(out), "--suffix", "_retouched", "--jobs", "2"])
    return out, code, before


def test_subcommand_fits_the_cli_parser():
    """``retexture batch`` is in the real command line, with all its options."""
    import argparse

    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert "batch" in sub.choices, "retexture has no batch subcommand"
    options = {s for a in sub.choices["batch"]._actions for s in a.option_strings}
    assert options >= {"-o", "--output", "--preset", "--jobs", "--overwrite", "--suffix", "--fast-align", "--masks"}
    args = parser.parse_args(["batch", "o", "r", "-o", "x", "--jobs", "2", "--suffix", "_ai", "--overwrite"])
    assert (args.command, args.originals, args.retouched, args.output) == ("batch", "o", "r", "x")
    assert args.jobs == 2 and args.suffix == "_ai" and args.overwrite and args.masks is None
    assert args.preset is None and not args.fast_align
    args = parser.parse_args(["batch", "o", "r", "--output", "x", "--masks", "m", "--fast-align", "--preset", "p.json"])
    assert (args.masks, args.fast_align, args.preset, args.jobs, args.overwrite) == ("m", True, "p.json", None, False)


def test_pair_names_by_stem_suffix_and_case():
    p = batch.pair_names(["IMG_1.JPG", "img_2.tif", "img_3.jpg", "img_4.png", "img_4.jpg", "x.txt"],
                         ["img_1_retouched.png", "IMG_2.jpeg", "img_5.jpg", "img_4.tif", "a.jpg", "A.tif"],
                         suffix="_Retouched")
    assert [(k, a, b) for k, a, b in p.pairs] == [("img_1", "IMG_1.JPG", "img_1_retouched.png"),
                                                  ("img_2", "img_2.tif", "IMG_2.jpeg")]
    assert p.unmatched_retouched == ["img_5.jpg"]
    assert p.unmatched_originals == ["img_3.jpg"]
    conflicts = dict(p.conflicts)
    assert set(conflicts) == {"a.jpg", "A.tif", "img_4.tif"}
    assert "Several originals" in conflicts["img_4.tif"]


def test_batch_writes_outputs_report_and_contact_sheet(reference, inputs):
    out, code, before = reference
    root, o, r = inputs
    assert code == 1  # failures present
    assert checksums(o, r) == before, "inputs changed"
    names = {p.name for p in out.iterdir() if p.is_file()}
    assert names == DONE | {"report.csv", "report.json", "contact_sheet.png"}
    assert not [p for p in out.rglob(".retexture-*")], "temp files left behind"

    # format, depth and size of the retouched file; ICC and EXIF kept
    a1 = read_image(out / "a1.jpg")
    assert a1.format == "JPEG" and a1.icc_profile == ICC
    assert Image.open(out / "a1.jpg").getexif().get(0x013B) == "Jane Photographer"
    a2 = read_image(out / "a2_retouched.png")
    assert a2.format == "PNG" and a2.pixels.dtype == np.uint16
    a3 = read_image(out / "a3.TIF")
    assert a3.format == "TIFF" and a3.pixels.dtype == np.uint16 and a3.pixels.shape == (461, 461, 3)

    rep = report(out)
    assert set(rep) == DONE | {"coffee.jpg", "broken.jpg", "lonely.png"}
    for name in DONE:
        rec = rep[name]
        assert rec["status"] == "done" and rec["error"] is None and rec["faces"] == 1, rec
        assert rec["output"] == name and rec["seconds"] > 0
        al = rec["alignment"]
        assert set(al) >= {"scale", "rotation_deg", "shift", "residual_px", "identity"}
        tex = rec["texture"]
        for band in ("fine", "pores", "mid"):
            assert tex[band]["ai_ratio"] is not None and tex[band]["restored_ratio"] is not None
        assert tex["pores"]["restored_ratio"] > tex["pores"]["ai_ratio"]  # texture came back
    assert rep["a3.TIF"]["alignment"]["identity"] is False
    assert rep["a3.TIF"]["alignment"]["scale"] == pytest.approx(461 / 512, abs=0.01)
    assert rep["a1.jpg"]["original"] == "a1.jpg" and rep["a2_retouched.png"]["original"] == "A2.png"
    assert rep["coffee.jpg"]["status"] == "failed" and rep["coffee.jpg"]["faces"] == 0
    assert "No face found" in rep["coffee.jpg"]["error"]
    assert rep["broken.jpg"]["status"] == "failed" and "broken.jpg" in rep["broken.jpg"]["error"]
    assert rep["lonely.png"]["status"] == "failed" and "No original named lonely" in rep["lonely.png"]["error"]
    doc = json.loads((out / "report.json").read_text())
    assert doc["unmatched_originals"] == ["not_selected.jpg"]
    assert doc["counts"] == {"done": 3, "skipped": 0, "failed": 3}

    import csv

    rows = {row["name"]: row for row in csv.DictReader(io.StringIO((out / "report.csv").read_text()))}
    assert set(rows) == set(rep)
    assert rows["a1.jpg"]["status"] == "done" and float(rows["a1.jpg"]["pores_restored_ratio"]) > 0
    assert rows["coffee.jpg"]["error"].startswith("No face found")

    sheet = np.asarray(Image.open(out / "contact_sheet.png"))
    assert sheet.ndim == 3 and sheet.shape[0] > batch.TILE and sheet.shape[1] >= 3 * 2 * batch.TILE


def test_second_run_skips_and_overwrite_redoes(reference, inputs, tmp_path, capsys):
    ref_out, _, before = reference
    root, o, r = inputs
    out = tmp_path / "out"
    code, _, _ = run_cli([o, r, "-o", out, "--suffix", "_retouched", "--jobs", "1"], capsys)
    assert code == 1
    first = {n: (out / n).stat().st_mtime_ns for n in DONE}
    assert_same_outputs(out, ref_out)  # 1 worker and 2 workers agree

    code, stdout, err = run_cli([o, r, "-o", out, "--suffix", "_retouched", "--jobs", "1"], capsys)
    assert code == 1  # the failures are still failures
    # not a terminal: one progress line per image, with count, rate and time left
    lines = [ln for ln in err.splitlines() if ln.startswith("[")]
    assert len(lines) == 6 and "6/6" in lines[-1] and re.search(r"(pair/s|s/pair), \S+ left", lines[-1])
    rep = report(out)
    assert all(rep[n]["status"] == "skipped" for n in DONE)
    assert rep["a1.jpg"]["texture"] is not None  # carried over from the first run
    assert {n: (out / n).stat().st_mtime_ns for n in DONE} == first
    assert "3 already done" in stdout

    time.sleep(0.01)
    code, _, _ = run_cli([o, r, "-o", out, "--suffix", "_retouched", "--jobs", "1", "--overwrite"], capsys)
    assert code == 1
    rep = report(out)
    assert all(rep[n]["status"] == "done" for n in DONE)
    assert all((out / n).stat().st_mtime_ns > first[n] for n in DONE)
    assert_same_outputs(out, ref_out)
    assert checksums(o, r) == before


def test_interrupted_run_resumes_to_identical_outputs(reference, inputs, tmp_path, capsys, monkeypatch):
    ref_out, _, before = reference
    root, o, r = inputs
    out = tmp_path / "out"
    monkeypatch.setenv(batch.INTERRUPT_ENV, "1")
    code, _, err = run_cli([o, r, "-o", out, "--suffix", "_retouched", "--jobs", "2"], capsys)
    assert code == 130
    assert err.strip().splitlines()[-1].startswith("retexture: interrupted;")
    assert "Traceback" not in err
    assert not list(out.rglob(".retexture-*"))
    partial = outputs(out)
    assert len(partial) < len(DONE)
    assert_same_outputs(out, ref_out, partial)  # what was finished is whole
    assert json.loads((out / "report.json").read_text())["interrupted"] is True

    monkeypatch.delenv(batch.INTERRUPT_ENV)
    code, _, _ = run_cli([o, r, "-o", out, "--suffix", "_retouched"], capsys)
    assert code == 1
    assert_same_outputs(out, ref_out)
    assert checksums(o, r) == before


def test_sigint_stops_cleanly_and_a_rerun_completes(reference, inputs, tmp_path):
    ref_out, _, before = reference
    root, o, r = inputs
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "processing", "batch", str(o), str(r), "-o", str(out),
           "--suffix", "_retouched", "--jobs", "1"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if out.is_dir() and any(p.name in DONE for p in out.iterdir()):
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the batch finished before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("retexture: interrupted") and "Traceback" not in stderr
    assert not list(out.rglob(".retexture-*"))
    assert_same_outputs(out, ref_out, outputs(out))

    rerun = subprocess.run(cmd[:-2] + ["--jobs", "2"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 1, rerun.stderr
    assert_same_outputs(out, ref_out)
    assert checksums(o, r) == before


def test_progress_in_a_log_is_one_line_per_pair(tmp_path, textured_face):
    """stderr to a log (not a terminal): a plain line per pair with the count, the
    rate and the time left, a failure with its reason, and no carriage returns."""
    o, r = tmp_path / "o", tmp_path / "r"
    o.mkdir()
    r.mkdir()
    Image.fromarray(textured_face).save(o / "p1.png")
    Image.fromarray(_smooth(textured_face)).save(r / "p1.png")
    Image.fromarray(textured_face).save(o / "p2.jpg", quality=90)
    (r / "p2.jpg").write_bytes((o / "p2.jpg").read_bytes()[:3000])  # cut short: this pair fails
    log = tmp_path / "batch.log"
    with open(log, "w") as stderr:
        proc = subprocess.run([sys.executable, "-m", "processing", "batch", str(o), str(r),
                               "-o", str(tmp_path / "out"), "--jobs", "1"],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr, text=True, timeout=300)
    err = log.read_text()
    assert proc.returncode == 1, err
    assert "\r" not in err
    lines = [ln for ln in err.splitlines() if ln.startswith("[")]
    assert len(lines) == 2, err
    assert "] 1/2," in lines[0] and lines[0].endswith("| p1.png: done")
    assert "] 2/2, 1 failed," in lines[1] and "| p2.jpg: failed: " in lines[1] and "p2.jpg" in lines[1].split("failed: ")[1]
    for ln in lines:
        assert re.search(r"\d(pair/s|s/pair), \d\d:\d\d left", ln), ln


@pytest.mark.parametrize("where", ["same", "inside"])
def test_output_folder_inside_an_input_is_refused(inputs, capsys, where):
    root, o, r = inputs
    before = checksums(o, r)
    out = r if where == "same" else r / "restored"
    code, _, err = run_cli([o, r, "-o", out], capsys)
    assert code == 1
    assert err.startswith("retexture: error: The output folder") and "never writes into them" in err
    assert err.strip().count("\n") == 0
    assert not (r / "restored").exists()
    assert checksums(o, r) == before


def test_mask_folder_restores_a_face_less_photo(inputs, tmp_path, capsys):
    root, o, r = inputs
    masks = tmp_path / "masks"
    masks.mkdir()
    m = np.zeros((320, 480), np.uint8)
    m[100:220, 150:330] = 255
    Image.fromarray(m).save(masks / "coffee_mask.png")
    sub_o, sub_r = tmp_path / "o", tmp_path / "r"
    sub_o.mkdir(), sub_r.mkdir()
    # PNG: lossless, so 'untouched outside the mask' can be checked bit for bit
    Image.open(o / "coffee.jpg").save(sub_o / "coffee.png")
    Image.open(r / "coffee.jpg").save(sub_r / "coffee.png")
    out = tmp_path / "out"
    code, _, err = run_cli([sub_o, sub_r, "-o", out, "--masks", masks, "--jobs", "1"], capsys)
    assert code == 0, err
    rec = report(out)["coffee.png"]
    assert rec["status"] == "done" and rec["mask"] == "file coffee_mask.png"
    res, ai = read_image(out / "coffee.png").pixels, read_image(sub_r / "coffee.png").pixels
    assert np.array_equal(res[m == 0], ai[m == 0]) and not np.array_equal(res[m > 0], ai[m > 0])


def test_uploads_zip_of_two_folders_round_trip(inputs):
    root, o, r = inputs
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.write(o / "a1.jpg", "shoot/Before/a1.jpg")
        zf.write(r / "a1.jpg", "shoot/Retouched/a1.jpg")
        zf.writestr("__MACOSX/._a1.jpg", b"junk")
    uploads = batch_uploads.UploadFolder()
    files = uploads.collect([("pairs.zip", "id-1", io.BytesIO(buf.getvalue()))])
    assert sorted(p for p, _ in files) == ["shoot/Before/a1.jpg", "shoot/Retouched/a1.jpg"]
    assert all(path.parent.parent == uploads.root for _, path in files)  # on disk, not in memory
    origs, rets = batch_uploads.split_uploads(files, [])
    assert [n for n, _ in origs] == ["a1.jpg"] and [n for n, _ in rets] == ["a1.jpg"]
    assert origs[0][1].read_bytes() == (o / "a1.jpg").read_bytes()
    seen = []
    data, result = batch_uploads.run_batch_on_uploads(origs, rets, progress=lambda d, t, rec: seen.append((d, t)))
    assert seen == [(1, 1)] and result.exit_code == 0
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert sorted(zf.namelist()) == ["a1.jpg", "contact_sheet.png", "report.csv", "report.json"]
    assert not result.out_dir.parent.exists(), "the private temporary folder was not removed"
    assert origs[0][1].read_bytes() == (o / "a1.jpg").read_bytes(), "an upload was changed"
    uploads.cleanup()
    assert not uploads.root.exists()


def test_regional_strength_reaches_the_batch(tmp_path, textured_face):
    """Match mode's per-region strength needs the faces the batch found."""
    from processing.settings import Preset

    o, r = tmp_path / "o", tmp_path / "r"
    o.mkdir()
    r.mkdir()
    Image.fromarray(textured_face).save(o / "p.png")
    Image.fromarray(_smooth(textured_face)).save(r / "p.png")
    plain = Preset()
    no_cheeks = plain.replace(match=plain.match.replace(cheeks=0.0))
    outs = {}
    for name, preset in (("plain", plain), ("no_cheeks", no_cheeks)):
        res = batch.run_batch(o, r, tmp_path / name, preset, jobs=0, show_progress=False)
        assert res.exit_code == 0
        outs[name] = read_image(tmp_path / name / "p.png").pixels.astype(int)
    ai = np.asarray(Image.open(r / "p.png")).astype(int)
    cheek = (slice(120, 131), slice(192, 203))  # the astronaut's left cheek, by eye
    assert np.abs(outs["plain"][cheek] - ai[cheek]).mean() > 1.0
    assert np.abs(outs["no_cheeks"][cheek] - ai[cheek]).mean() < 0.25 * np.abs(outs["plain"][cheek] - ai[cheek]).mean()

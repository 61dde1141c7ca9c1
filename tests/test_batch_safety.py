"""Batch input that must not hurt: zip bombs on the web page, hostile file names,
refusals that leave nothing behind, files the batch did not make, left-over
temporary folders of a killed web server."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import struct
import subprocess
import sys
import time
import tracemalloc
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from processing import batch
from processing.batch.progress import terminal_text
from webapp import batch_uploads
from webapp.batch_uploads import BatchError, UploadFolder

ROOT = Path(__file__).resolve().parent.parent


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tree_sums(*folders: Path) -> dict[str, str]:
    return {str(p): sha(p.read_bytes()) for f in folders for p in sorted(f.rglob("*")) if p.is_file()}


def files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and p.name != ".owner"]


def one_sentence(text: str) -> bool:
    text = text.strip()
    return "\n" not in text and text.endswith(".") and text.count(". ") == 0 and "Traceback" not in text


def zero_bomb(mbytes: int, name: str = "bomb.png") -> bytes:
    """A zip with one zero-filled 'photo' of ``mbytes`` MB, deflated (a few hundred times smaller)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        with zf.open(name, "w", force_zip64=True) as fh:
            chunk = bytes(1 << 20)
            for _ in range(mbytes):
                fh.write(chunk)
    return buf.getvalue()


# ---------------------------------------------------------------------------
# Zip uploads
# ---------------------------------------------------------------------------

def test_zip_bomb_is_refused_without_unpacking_it():
    bomb = zero_bomb(200)
    assert len(bomb) * batch_uploads.MAX_ZIP_RATIO < 200 * 2**20 < batch_uploads.MAX_UNZIPPED_BYTES
    before = sha(bomb)
    uploads = UploadFolder()
    try:
        tracemalloc.start()
        with pytest.raises(BatchError) as info:
            uploads.collect([("holiday.zip", "id-1", io.BytesIO(bomb))])
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        message = str(info.value)
        assert message.startswith("holiday.zip would expand") and "zip bomb" in message, message
        assert one_sentence(message), message
        assert peak < 16 * 2**20, f"refusing the bomb took {peak / 2**20:.0f} MB"
        assert files_under(uploads.root) == [], "something of the bomb was written"
        assert uploads.used == 0 and sha(bomb) == before
    finally:
        uploads.cleanup()


def test_zip_that_lies_about_its_sizes_stops_at_what_it_declared():
    """The central directory says 1 KB; the entry really holds 20 MB of zeros."""
    data = bytearray(zero_bomb(20, "a.png"))
    cd = data.rindex(b"PK\x01\x02")
    declared = struct.unpack_from("<I", data, cd + 24)[0]
    if declared == 0xFFFFFFFF:  # zip64: the size sits in the extra field
        pytest.skip("zipfile wrote a zip64 entry")
    struct.pack_into("<I", data, cd + 24, 1024)
    uploads = UploadFolder()
    try:
        with pytest.raises(BatchError) as info:
            uploads.collect([("lies.zip", "id", io.BytesIO(bytes(data)))])
        assert str(info.value).startswith("lies.zip is not a readable zip (") and one_sentence(str(info.value))
        assert files_under(uploads.root) == []
    finally:
        uploads.cleanup()


def test_uploads_of_a_session_are_capped_on_disk():
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, 3 * 2**20, np.uint8).tobytes()  # does not compress
    zips = []
    for i in range(2):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
            zf.writestr(f"originals/p{i}.jpg", photo)
        zips.append(buf.getvalue())
    uploads = UploadFolder(max_bytes=5 * 2**20)
    try:
        first = uploads.add("one.zip", io.BytesIO(zips[0]), "1")
        assert [p for p, _ in first] == ["originals/p0.jpg"] and first[0][1].read_bytes() == photo
        with pytest.raises(BatchError) as info:
            uploads.add("two.zip", io.BytesIO(zips[1]), "2")
        assert "two.zip expands to 3.0 MB" in str(info.value) and one_sentence(str(info.value))
        assert sorted(files_under(uploads.root)) == [first[0][1]], "the refused zip left files"
        uploads.keep(["2"])  # the first upload was removed from the page: its file goes too
        assert files_under(uploads.root) == [] and uploads.used == 0
        assert [p for p, _ in uploads.add("two.zip", io.BytesIO(zips[1]), "2")] == ["originals/p1.jpg"]
    finally:
        uploads.cleanup()


class CountingReader(io.BytesIO):
    reads = 0

    def read(self, *args):
        CountingReader.reads += 1
        return super().read(*args)


def test_an_upload_is_unpacked_once_and_streamed_to_disk():
    """A page rerun reuses the unpacked files; unpacking 48 MB holds a few MB at a time."""
    rng = np.random.default_rng(1)
    photos = {f"shoot/retouched/{i}.tif": rng.integers(0, 256, 12 * 2**20, np.uint8).tobytes() for i in range(4)}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, data in photos.items():
            zf.writestr(name, data)
        zf.writestr("shoot/retouched/notes.txt", b"not a photo")
        zf.writestr("__MACOSX/shoot/._0.tif", b"junk")
    source = CountingReader(buf.getvalue())
    uploads = UploadFolder()
    try:
        tracemalloc.start()
        files = uploads.add("shoot.zip", source, "id")
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert {p: path.read_bytes() for p, path in files} == photos
        assert peak < 8 * 2**20, f"unpacking 48 MB held {peak / 2**20:.0f} MB"
        reads = CountingReader.reads
        again = uploads.add("shoot.zip", source, "id")
        assert again == files and CountingReader.reads == reads, "the upload was read again"
        assert uploads.used == sum(map(len, photos.values()))
    finally:
        uploads.cleanup()
    assert not uploads.root.exists()


# ---------------------------------------------------------------------------
# Left-over folders of a killed web server
# ---------------------------------------------------------------------------

def _aged(path: Path, days: float) -> Path:
    t = time.time() - days * 86400
    os.utime(path, (t, t), follow_symlinks=False)
    return path


def test_stale_batch_folders_are_removed_and_nothing_else(tmp_path, monkeypatch):
    temp = tmp_path / "tmp"
    temp.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.jpg").write_bytes(b"client photo")
    _aged(outside, 3)

    stale = temp / "retexture-batch-dead"
    stale.mkdir()
    (stale / "originals").mkdir()
    (stale / "originals" / "a.jpg").write_bytes(b"user image")
    (stale / "link").symlink_to(outside, target_is_directory=True)  # removed, never followed
    (stale / ".owner").write_text("999999999 1\n")  # a process that does not exist
    _aged(stale, 2)
    fresh = temp / "retexture-batch-fresh"
    fresh.mkdir()
    (fresh / "a.jpg").write_bytes(b"in use")
    other = temp / "somebody-else-old"
    other.mkdir()
    _aged(other, 5)
    link = temp / "retexture-batch-link"
    link.symlink_to(outside, target_is_directory=True)
    _aged(link, 5)
    plain_file = temp / "retexture-batch-file"
    plain_file.write_bytes(b"x")
    _aged(plain_file, 5)
    alive = temp / "retexture-batch-alive"  # another server, still running, with an old folder
    alive.mkdir()
    (alive / ".owner").write_text(f"{os.getpid()} {batch.worker.process_identity(os.getpid())}\n")
    _aged(alive, 2)
    outside_sums = tree_sums(outside)

    removed = batch_uploads.remove_stale_batch_folders(temp_dir=temp)

    assert removed == [stale] and not stale.exists()
    assert fresh.is_dir() and other.is_dir() and alive.is_dir()
    assert link.is_symlink() and plain_file.is_file()
    assert tree_sums(outside) == outside_sums, "a symbolic link was followed"

    # Folders of another user are left alone.
    stale.mkdir()
    _aged(stale, 2)
    monkeypatch.setattr(os, "getuid", lambda: os.stat(stale).st_uid + 1)
    assert batch_uploads.remove_stale_batch_folders(temp_dir=temp) == [] and stale.is_dir()


def test_a_server_folder_records_its_owner_and_goes_with_it():
    uploads = UploadFolder()
    root = uploads.root
    assert root.name.startswith(batch_uploads.FOLDER_PREFIX) and oct(root.stat().st_mode & 0o777) == "0o700"
    _aged(root, 2)
    assert root not in batch_uploads.remove_stale_batch_folders(temp_dir=root.parent)
    assert root.is_dir(), "the folder of a live server was removed"
    del uploads  # the session's state is dropped
    assert not root.exists()


# ---------------------------------------------------------------------------
# File names in the terminal and in report.csv
# ---------------------------------------------------------------------------

HOSTILE = ["\x1b[31mred.jpg", "=1+2.jpg", "+sum.png", "-minus.png", "@at.png", "\ttab.png", "\rcr.png"]


def test_terminal_text_escapes_what_a_terminal_would_run():
    assert terminal_text("\x1b[31mred.jpg: failed") == "\\x1b[31mred.jpg: failed"
    assert terminal_text("a\tb\rc\nd") == "a\\tb\\rc\\nd"
    assert terminal_text("Zoë Ø.jpg") == "Zoë Ø.jpg"
    assert terminal_text("zero\u200bwidth") == "zero\\u200bwidth"
    assert terminal_text(os.fsdecode(b"caf\xe9.jpg")) == "caf\\xe9.jpg"


def test_hostile_names_are_escaped_on_the_terminal_and_defused_in_the_csv(tmp_path):
    o, r, out = tmp_path / "o", tmp_path / "r", tmp_path / "out"
    o.mkdir()
    r.mkdir()
    for name in HOSTILE:  # retouched files without an original: each fails, with its name
        (r / name).write_bytes(b"not used")
    proc = subprocess.run([sys.executable, "-m", "processing", "batch", str(o), str(r), "-o", str(out)],
                          cwd=ROOT, capture_output=True, timeout=120)
    stderr = proc.stderr.decode()
    assert proc.returncode == 1, stderr
    assert "Traceback" not in stderr
    for stream in (proc.stdout, proc.stderr):
        assert not any(c < 0x20 and c != 0x0A for c in stream), "a control character reached the terminal"
    assert "\\x1b[31mred.jpg: failed: No original named \\x1b[31mred.*" in stderr
    assert "| \\ttab.png: failed" in stderr and "| \\rcr.png: failed" in stderr

    doc = json.loads((out / "report.json").read_text())
    assert sorted(rec["name"] for rec in doc["images"]) == sorted(HOSTILE)  # the true names
    rows = list(csv.DictReader(io.StringIO((out / "report.csv").read_bytes().decode(), newline="")))
    names = {row["name"] for row in rows}
    assert names == {"\x1b[31mred.jpg"} | {"'" + n for n in HOSTILE if n[0] in "=+-@\t\r"}
    for row in rows:
        for value in row.values():
            assert not value or value[0] not in "=+-@\t\r", f"formula cell {value!r}"


def test_numbers_in_the_csv_keep_their_sign(tmp_path):
    rec = batch.report.new_record(batch.PairJob("-3.jpg", "x", "y", "z"))
    rec.update(status="done", alignment={"shift": [-3.25, 2.0], "rotation_deg": -0.5})
    batch.write_reports(tmp_path, [rec], {})
    row = next(csv.DictReader(io.StringIO((tmp_path / "report.csv").read_text())))
    assert row["name"] == "'-3.jpg" and row["align_shift_x"] == "-3.25" and row["align_rotation_deg"] == "-0.5"


# ---------------------------------------------------------------------------
# Refusals leave nothing behind
# ---------------------------------------------------------------------------

@pytest.fixture
def small_pair(tmp_path, textured_face):
    o, r = tmp_path / "orig", tmp_path / "ret"
    o.mkdir()
    r.mkdir()
    Image.fromarray(textured_face).save(o / "p.png")
    Image.fromarray(cv2.bilateralFilter(textured_face, 9, 40, 5)).save(r / "p.png")
    return o, r


@pytest.mark.parametrize("case", ["same folder", "no originals", "no masks", "jobs 0", "bad preset",
                                  "output is a file"])
def test_a_refused_batch_creates_no_output_folder(small_pair, tmp_path, case):
    o, r = small_pair
    out = tmp_path / "o1" / "nested"
    preset = tmp_path / "preset.json"
    preset.write_text("{not json")
    args = {"same folder": [o, o, "-o", out],
            "no originals": [tmp_path / "missing", r, "-o", out],
            "no masks": [o, r, "-o", out, "--masks", tmp_path / "missing"],
            "jobs 0": [o, r, "-o", out, "--jobs", "0"],
            "bad preset": [o, r, "-o", out, "--preset", preset],
            "output is a file": [o, r, "-o", preset]}[case]
    before = tree_sums(o, r) | {str(preset): sha(preset.read_bytes())}
    proc = subprocess.run([sys.executable, "-m", "processing", "batch", *map(str, args)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode in (1, 2), proc.stderr
    assert "Traceback" not in proc.stderr and "nternal error" not in proc.stderr
    assert proc.stdout == ""
    line = proc.stderr.strip()
    assert line.startswith("retexture: ") and "\n" not in line, line
    assert not (tmp_path / "o1").exists(), "a refused batch created its output folder"
    assert tree_sums(o, r) | {str(preset): sha(preset.read_bytes())} == before


@pytest.mark.parametrize("spelling", ["in the folder", "through a symlink"])
def test_a_preset_in_the_output_folder_is_refused_before_the_report_replaces_it(small_pair, tmp_path, spelling):
    o, r = small_pair
    out = tmp_path / "out"
    out.mkdir()
    preset = out / "report.json"  # the name the batch's own report takes
    preset.write_text('{"method": "graft"}')
    given = preset
    if spelling == "through a symlink":
        given = tmp_path / "studio.json"
        given.symlink_to(preset)
    proc = subprocess.run([sys.executable, "-m", "processing", "batch", str(o), str(r), "-o", str(out),
                           "--preset", str(given), "--jobs", "1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "inside the output folder" in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert preset.read_text() == '{"method": "graft"}'
    assert sorted(p.name for p in out.iterdir()) == ["report.json"]


def test_a_file_the_batch_did_not_make_is_not_replaced(small_pair, tmp_path):
    """An output folder that already holds a file of the same name: the studio's own."""
    o, r = small_pair
    out = tmp_path / "out"
    out.mkdir()
    mine = out / "p.png"
    mine.write_bytes(b"the studio's own retouch")
    res = batch.run_batch(o, r, out, jobs=0, show_progress=False)
    rec = res.records[0]
    assert rec["status"] == "failed" and "no earlier batch recorded making it" in rec["error"]
    assert mine.read_bytes() == b"the studio's own retouch"

    res = batch.run_batch(o, r, out, jobs=0, show_progress=False, overwrite=True)
    assert res.records[0]["status"] == "done" and mine.read_bytes() != b"the studio's own retouch"
    # Its own output, from changed inputs, is redone without --overwrite.
    first = mine.read_bytes()
    t = time.time() + 5
    os.utime(o / "p.png", (t, t))
    res = batch.run_batch(o, r, out, jobs=0, show_progress=False)
    assert res.records[0]["status"] == "done" and mine.read_bytes() == first
    assert batch.run_batch(o, r, out, jobs=0, show_progress=False).records[0]["status"] == "skipped"


def test_a_second_batch_into_the_same_folder_waits_for_the_first(small_pair, tmp_path):
    from processing.batch import runner

    o, r = small_pair
    out = tmp_path / "out"
    out.mkdir()
    held = runner.lock_out_dir(out)
    assert held is not None
    try:
        t0 = time.monotonic()
        with pytest.raises(BatchError) as info:
            runner.lock_out_dir(out, wait_s=0.5)
        assert time.monotonic() - t0 >= 0.5
        assert str(info.value).startswith("Another batch is writing into") and one_sentence(str(info.value))
    finally:
        held.close()
    runner.lock_out_dir(out, wait_s=0).close()  # free again

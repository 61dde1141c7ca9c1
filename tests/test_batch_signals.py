"""A batch stopped by a signal: nothing outlives it, and every output it wrote is accounted for.

`retexture batch --jobs 2` runs in a subprocess on a few small pairs and is
stopped once its first output is there. Its processes (the batch, the workers,
the forkserver, the resource tracker) all carry an environment marker, so the
tests can tell whether any of them still runs, whoever their parent is now.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import cv2
import pytest
from PIL import Image

from processing.batch import PairJob
from processing.batch.report import matches_files, saved_record
from processing.batch.worker import process_identity
from processing.image_io import read_image

pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc (Linux)")

ROOT = Path(__file__).resolve().parent.parent
N_PAIRS = 6
REPORT_FILES = {"report.csv", "report.json", "contact_sheet.png"}


@pytest.fixture(scope="module")
def pairs(tmp_path_factory, textured_face):
    root = tmp_path_factory.mktemp("pairs")
    o, r = root / "o", root / "r"
    o.mkdir()
    r.mkdir()
    ai = cv2.bilateralFilter(textured_face, 9, 40, 5)
    for i in range(N_PAIRS):
        Image.fromarray(textured_face).save(o / f"p{i}.png")
        Image.fromarray(ai).save(r / f"p{i}.png")
    return o, r


def marked_processes(marker: str) -> dict[int, object]:
    """Live processes whose environment holds ``marker``: pid -> start time (zombies left out)."""
    found = {}
    needle = f"RETEXTURE_TEST_MARK={marker}".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                if needle not in fh.read().split(b"\0"):
                    continue
        except OSError:
            continue
        identity = process_identity(int(entry))
        if identity is not None:
            found[int(entry)] = identity
    return found


def poll(condition, timeout: float, what: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"{what} within {timeout:.0f} s")


def output_files(out: Path) -> dict[str, int]:
    """Image files in OUT (not the reports): name -> mtime_ns."""
    return {p.name: p.stat().st_mtime_ns for p in out.iterdir()
            if p.is_file() and not p.name.startswith(".") and p.name not in REPORT_FILES}


def temp_files(out: Path) -> list[Path]:
    return [p for p in out.rglob(".retexture-*") if p.is_file()]


def report(out: Path) -> dict[str, dict]:
    return {r["name"]: r for r in json.loads((out / "report.json").read_text())["images"]}


def start_batch(pairs, out: Path, tmp_path: Path, marker: str):
    o, r = pairs
    env = {**os.environ, "RETEXTURE_TEST_MARK": marker}
    log = open(tmp_path / f"stderr-{marker}.txt", "w")  # a file, not a pipe: no child can hold it open
    proc = subprocess.Popen([sys.executable, "-m", "processing", "batch", str(o), str(r), "-o", str(out),
                             "--jobs", "2"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)
    log.close()
    return proc, tmp_path / f"stderr-{marker}.txt"


def stop_mid_run(pairs, out: Path, tmp_path: Path, sig: int):
    """Start the batch, send ``sig`` once the first output exists and both workers run."""
    marker = uuid.uuid4().hex
    proc, log = start_batch(pairs, out, tmp_path, marker)
    try:
        first = poll(lambda: proc.poll() is not None or (out.is_dir() and output_files(out)), 180,
                     "no output appeared")
        assert proc.poll() is None, "the batch finished before it could be stopped"
        for name in first:  # an output never shows without the record that accounts for it
            job = PairJob(name, str(pairs[0] / name), str(pairs[1] / name), str(out / name))
            assert matches_files(job, saved_record(out, name)), f"{name} appeared before its record"
        # the batch, the resource tracker, the forkserver and two workers
        poll(lambda: len(marked_processes(marker)) >= 5, 60, "the workers did not start")
        running = marked_processes(marker)
        assert len(output_files(out)) < N_PAIRS
        proc.send_signal(sig)
        proc.wait(timeout=60)  # reaped: a zombie batch would still look alive to its workers
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc, log, marker, running


def assert_all_gone(marker: str, running: dict[int, object], out: Path) -> None:
    t0 = time.monotonic()
    # (a process on its way out may no longer show its environment: its pid is watched too)
    poll(lambda: not marked_processes(marker) and all(process_identity(pid) != ident
                                                      for pid, ident in running.items()),
         15, "processes of the stopped batch still run")
    print(f"all processes gone {time.monotonic() - t0:.2f} s after the batch ended")
    settled = output_files(out)
    time.sleep(0.5)
    assert output_files(out) == settled, "outputs appeared after every process had gone"


def assert_report_lists_every_output(out: Path) -> dict[str, dict]:
    rep = report(out)
    files = output_files(out)
    listed = {rec["output"] for rec in rep.values() if rec["status"] in ("done", "skipped")}
    assert set(files) == listed, f"outputs not in the report: {sorted(set(files) - listed)}"
    for name in files:  # whole: each one decodes to the retouched size
        assert read_image(out / name).pixels.shape == (512, 512, 3)
    return rep


def rerun(pairs, out: Path) -> subprocess.CompletedProcess:
    o, r = pairs
    return subprocess.run([sys.executable, "-m", "processing", "batch", str(o), str(r), "-o", str(out),
                           "--jobs", "2"], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_process_identity_tells_a_dead_process():
    assert process_identity(os.getpid()) not in (None, False)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    poll(lambda: process_identity(child.pid) is None, 30, "a finished child (a zombie) still looked alive")
    child.wait()
    assert process_identity(child.pid) is None


def test_kill_9_of_the_batch_stops_its_workers_and_a_rerun_lists_every_output(pairs, tmp_path):
    out = tmp_path / "out"
    proc, log, marker, running = stop_mid_run(pairs, out, tmp_path, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    assert_all_gone(marker, running, out)
    left = output_files(out)

    done = rerun(pairs, out)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    rep = assert_report_lists_every_output(out)
    assert set(rep) == {f"p{i}.png" for i in range(N_PAIRS)}
    assert all(rec["status"] in ("done", "skipped") for rec in rep.values())
    # What the killed run wrote was verified from its saved records and kept, not redone.
    for name, mtime in left.items():
        assert rep[name]["status"] == "skipped" and output_files(out)[name] == mtime, name
    assert not temp_files(out), "temporary files left behind"


def test_sigterm_stops_like_ctrl_c_and_the_report_lists_every_output(pairs, tmp_path):
    out = tmp_path / "out"
    proc, log, marker, running = stop_mid_run(pairs, out, tmp_path, signal.SIGTERM)
    stderr = log.read_text()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1].startswith("retexture: interrupted;")
    assert_all_gone(marker, running, out)
    # Without a rerun: every output the stopped batch wrote is in its report.
    rep = assert_report_lists_every_output(out)
    assert all(rec["status"] == "done" for rec in rep.values())
    assert json.loads((out / "report.json").read_text())["interrupted"] is True
    assert not temp_files(out), "temporary files left behind"

    done = rerun(pairs, out)
    assert done.returncode == 0, done.stderr
    rep = assert_report_lists_every_output(out)
    assert set(rep) == {f"p{i}.png" for i in range(N_PAIRS)}

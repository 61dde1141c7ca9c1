"""Batch restoration: a folder of originals, a folder of AI-retouched versions.

``retexture batch ORIGINALS RETOUCHED -o OUT --preset P.json`` pairs the files
by name stem, finds the skin mask of every retouched image (or takes it from a
mask folder), aligns each original onto its retouched version, restores the
texture and writes the result into OUT in the retouched file's name, format
and bit depth, ICC profile and EXIF kept. OUT also receives ``report.csv``,
``report.json`` and ``contact_sheet.png`` (AI versus restored crop of every
face).

Behaviour a studio relies on:

* Pairs run on all cores in a process pool (forkserver or spawn: mediapipe and
  threads do not survive ``fork``); each worker loads the face model once.
* A failing image (unreadable file, no face, a pair that is not the same
  photo) is reported and the batch goes on; the exit status is then 1.
* **No face** is a failure, not a whole-frame texture: nothing is written for
  that file and the report says "No face found"; give it a mask in
  ``--masks`` to restore it anyway.
* Unmatched retouched files fail (the user asked for them); originals without
  a retouched version are only listed (a retoucher delivers selects).
* Ctrl-C stops cleanly: finished files are whole, nothing is half-written
  (every write is a temporary file renamed into place), the pool is
  terminated, the report of what was done is written, exit status 130.
* A second run skips what is already done: the output exists and is newer
  than its inputs, or the previous report records it done from the same
  inputs. ``--overwrite`` redoes everything.
* Inputs are never written to: OUT may not be an input folder or inside one.

The pairing, the zip helpers and :func:`run_batch_on_uploads` also serve the
web app's batch page.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import multiprocessing as mp
import os
import signal
import sys
import tempfile
import threading
import time
import zipfile
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from processing.image_io import (FORMAT_SUFFIX, SUFFIX_FORMAT, ImageReadError, ImageWriteError,
                                 encode_image, read_image, write_bytes_safely, write_image)
from processing.settings import Preset, SettingsError

__all__ = [
    "BatchError", "BatchResult", "Pairing", "PairJob", "add_batch_parser", "run_batch_command",
    "run_batch", "pair_names", "plan_batch", "process_pair", "make_contact_sheet",
    "collect_uploads", "split_uploads", "run_batch_on_uploads", "zip_folder", "main",
]

REPORT_CSV = "report.csv"
REPORT_JSON = "report.json"
CONTACT_SHEET = "contact_sheet.png"
THUMB_DIR = ".retexture_thumbs"
RESERVED_NAMES = {REPORT_CSV, REPORT_JSON, CONTACT_SHEET}
EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130
BANDS = ("fine", "pores", "mid")
#: Test hook: raise KeyboardInterrupt in the main process after this many results.
INTERRUPT_ENV = "RETEXTURE_BATCH_INTERRUPT_AFTER"
#: Contact sheet cell: two tiles of this side (AI, restored), a label below.
TILE = 192
#: Zip uploads: refuse archives that expand beyond this (zip bombs).
MAX_UNZIPPED_BYTES = 4 * 1024**3
#: --fast-align: long side (px) of the alignment's working copies (align_pair's default is 1500).
FAST_ALIGN_SIDE = 1000
NO_FACE = ("No face found: nothing was written for this file (put a mask for it in the "
           "--masks folder to restore it anyway).")


class BatchError(Exception):
    """The whole batch cannot start; the message is one sentence for the user."""


class _Terminated(BaseException):
    """Raised in a busy worker by SIGTERM so atomic writes clean up their temp file."""


# ---------------------------------------------------------------------------
# Pairing
# ---------------------------------------------------------------------------

def is_image_name(name: str) -> bool:
    """A supported image file name that is not hidden (macOS '._x.jpg', temp files)."""
    base = Path(name).name
    return not base.startswith(".") and Path(base).suffix.lower() in SUFFIX_FORMAT


def name_key(name: str, suffix: str = "") -> str:
    """The matching key of a file name: its stem, lower case, without ``suffix``."""
    stem = Path(Path(name).name).stem.lower()
    suffix = suffix.lower()
    if suffix and stem.endswith(suffix) and len(stem) > len(suffix):
        stem = stem[: -len(suffix)]
    return stem


@dataclass
class Pairing:
    """How two lists of file names pair up.

    Attributes
    ----------
    pairs : list of (key, original name, retouched name), sorted by retouched name
    unmatched_originals : originals without a retouched version (not an error)
    unmatched_retouched : retouched files without an original (each one fails)
    conflicts : (retouched name, sentence) for ambiguous names (each one fails)
    """

    pairs: list[tuple[str, str, str]] = field(default_factory=list)
    unmatched_originals: list[str] = field(default_factory=list)
    unmatched_retouched: list[str] = field(default_factory=list)
    conflicts: list[tuple[str, str]] = field(default_factory=list)


def pair_names(original_names: Iterable[str], retouched_names: Iterable[str],
               suffix: str = "") -> Pairing:
    """Pair file names by stem, case-insensitively, any supported extension.

    ``suffix`` (e.g. ``"_retouched"``) is removed from the end of retouched
    stems before matching; names without it match by their plain stem.
    Non-image names are ignored.
    """
    def group(names, sfx):
        out: dict[str, list[str]] = {}
        for n in names:
            if is_image_name(n):
                out.setdefault(name_key(n, sfx), []).append(n)
        return out

    originals = group(original_names, "")
    retouched = group(retouched_names, suffix)
    result = Pairing()
    for key in sorted(retouched, key=lambda k: sorted(retouched[k])[0].lower()):
        rets = sorted(retouched[key])
        if len(rets) > 1:
            for r in rets:
                result.conflicts.append((r, f"Several retouched files share the name {key} "
                                            f"({', '.join(rets)}): keep one and run again."))
            continue
        origs = sorted(originals.get(key, []))
        if not origs:
            result.unmatched_retouched.append(rets[0])
        elif len(origs) > 1:
            result.conflicts.append((rets[0], f"Several originals are named {key} "
                                              f"({', '.join(origs)}): keep one and run again."))
        else:
            result.pairs.append((key, origs[0], rets[0]))
    result.unmatched_originals = sorted(n for k, ns in originals.items() if k not in retouched for n in ns)
    return result


def _list_images(folder: Path) -> list[str]:
    try:
        return sorted(p.name for p in folder.iterdir() if p.is_file() and is_image_name(p.name))
    except OSError as exc:
        raise BatchError(f"The folder {folder} cannot be read ({exc.strerror}).") from None


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
        return True
    except ValueError:
        return False


def check_out_dir(out_dir, input_dirs: Iterable) -> Path:
    """Resolve OUT_DIR, refusing it when it is an input folder or inside one.
    Creates it when missing."""
    out = Path(out_dir).expanduser().resolve()
    for d in input_dirs:
        if d is None:
            continue
        d = Path(d).expanduser().resolve()
        if _inside(out, d):
            where = "is" if out == d else "is inside"
            raise BatchError(f"The output folder {out} {where} the input folder {d}: choose a "
                             "folder outside the inputs, Retexture never writes into them.")
    if out.exists() and not out.is_dir():
        raise BatchError(f"The output {out} is a file, not a folder: choose a folder.")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BatchError(f"The output folder {out} cannot be created ({exc.strerror}).") from None
    if not os.access(out, os.W_OK):
        raise BatchError(f"The output folder {out} is not writable: choose another.")
    return out


@dataclass
class PairJob:
    """One pair to restore (paths as strings: cheap to send to a worker)."""

    name: str          # retouched file name (the report's key)
    original: str      # path
    retouched: str     # path
    output: str        # path in OUT_DIR
    mask: str | None = None  # mask file path, None = automatic


def plan_batch(originals_dir, retouched_dir, out_dir, suffix: str = "", masks_dir=None):
    """List and pair the inputs; returns (out_dir, jobs, pairing).

    Raises BatchError for missing folders or an output folder among the inputs.
    With the same folder for originals and retouched files, ``suffix`` tells
    them apart (names ending in it are the retouched ones).
    """
    odir, rdir = Path(originals_dir).expanduser(), Path(retouched_dir).expanduser()
    mdir = Path(masks_dir).expanduser() if masks_dir else None
    for label, d in (("originals", odir), ("retouched", rdir), ("masks", mdir)):
        if d is not None and not d.is_dir():
            raise BatchError(f"The {label} folder {d} does not exist.")
    out = check_out_dir(out_dir, [odir, rdir, mdir])
    onames, rnames = _list_images(odir), _list_images(rdir)
    if odir.resolve() == rdir.resolve():
        if not suffix:
            raise BatchError("The originals and the retouched files are in the same folder: give "
                             "the retouched files' name ending with --suffix (e.g. --suffix _retouched).")
        rnames = [n for n in onames if Path(n).stem.lower().endswith(suffix.lower())]
        onames = [n for n in onames if n not in rnames]
    pairing = pair_names(onames, rnames, suffix)
    masks = {}
    if mdir is not None:
        for n in _list_images(mdir):
            masks.setdefault(name_key(n, "_mask"), n)
    jobs = []
    for key, o, r in pairing.pairs:
        m = masks.get(key) or masks.get(name_key(r, ""))
        jobs.append(PairJob(name=r, original=str(odir / o), retouched=str(rdir / r),
                            output=str(out / r), mask=str(mdir / m) if m else None))
    return out, jobs, pairing


# ---------------------------------------------------------------------------
# One pair (runs in a worker process)
# ---------------------------------------------------------------------------

_BUSY = False


def _on_sigterm(signum, frame):
    if _BUSY:
        raise _Terminated()
    os._exit(0)


def _worker_init(threads: int, quiet: bool) -> None:
    """Pool worker start: Ctrl-C is the parent's business, SIGTERM cleans up."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_sigterm)
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if quiet:
        # mediapipe/TFLite log from C++ straight to fd 2, over the progress bar;
        # real errors come back to the parent as exceptions.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
    import cv2

    from processing.memory import reuse_freed_memory

    cv2.setNumThreads(max(1, threads))
    reuse_freed_memory()


def _fingerprint(path: str | None):
    if path is None:
        return None
    st = os.stat(path)
    return [st.st_size, st.st_mtime_ns]


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _new_record(job: PairJob) -> dict:
    return {"name": job.name, "original": Path(job.original).name, "output": None,
            "status": "failed", "faces": None, "mask": None, "alignment": None, "texture": None,
            "seconds": 0.0, "error": None, "notes": [], "thumbs": [], "inputs": None,
            "stage_seconds": {}}


def process_pair(job: PairJob, preset: Preset, thumb_dir: str | None = None,
                 align_side: int | None = None) -> dict:
    """Restore one pair and write its output; never raises for a bad image.

    ``align_side``: long side of the copies the alignment is estimated on
    (None = align_pair's default, as the restore command and the web app).
    Returns the report record: status 'done' or 'failed' with an error sentence.
    """
    global _BUSY
    _BUSY = True
    t0 = time.perf_counter()
    cpu0 = _cpu_seconds()
    rec = _new_record(job)
    try:
        _restore_pair(job, preset, thumb_dir, rec, align_side)
        rec["status"] = "done"
    except _Terminated:
        os._exit(1)  # the atomic writer has removed its temp file on the way out
    except (ImageReadError, ImageWriteError, SettingsError, ValueError, OSError) as exc:
        rec["error"] = _one_line(exc)
    except MemoryError:
        rec["error"] = "Not enough memory for this image: run the batch with fewer --jobs."
    except Exception as exc:  # a bug: keep the batch going and say so
        rec["error"] = f"Internal error ({type(exc).__name__}: {_one_line(exc)}); please report it."
    finally:
        _BUSY = False
    rec["seconds"] = round(time.perf_counter() - t0, 3)
    cpu1 = _cpu_seconds()
    rec["cpu_seconds"] = None if cpu0 is None or cpu1 is None else round(cpu1 - cpu0, 3)
    rec["peak_rss_mb"] = _peak_rss_mb()
    return rec


def _cpu_seconds() -> float | None:
    """User + system CPU time of this process (all threads), s."""
    try:
        import resource
    except ImportError:
        return None
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _peak_rss_mb() -> float | None:
    """Peak resident memory of this process so far, MB (None where unknown)."""
    try:
        import resource
    except ImportError:
        return None
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(kb / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


def _restore_pair(job: PairJob, preset: Preset, thumb_dir: str | None, rec: dict,
                  align_side: int | None = None) -> None:
    import cv2

    from processing.image_io import match_layout, read_mask
    from processing.restore import restore
    from processing.tiles import mask_to_float

    stages = rec["stage_seconds"]
    clock = [time.perf_counter()]

    def lap(stage: str) -> None:
        now = time.perf_counter()
        stages[stage] = round(stages.get(stage, 0.0) + now - clock[0], 3)
        clock[0] = now

    cv2.setRNGSeed(0)  # RANSAC in the alignment: same result whatever ran before in this worker
    rec["inputs"] = {"original": _fingerprint(job.original), "retouched": _fingerprint(job.retouched),
                     "mask": _fingerprint(job.mask)}
    if Path(job.output).name.lower() in RESERVED_NAMES:
        raise ValueError(f"{job.name} has the name of a report file: rename it and run again.")
    ai = read_image(job.retouched)
    rec["notes"] += ai.notes
    lap("read")

    faces = []
    if job.mask:
        mask = read_mask(job.mask, ai.pixels.shape)
        rec["mask"] = f"file {Path(job.mask).name}"
        lap("mask")
    else:
        from processing.skin_mask import propose_skin_mask

        proposal = propose_skin_mask(ai.pixels, forehead=preset.mask.forehead, feather=preset.mask.feather)
        faces = proposal.faces
        rec["faces"] = len(faces)
        rec["mask"] = "auto"
        lap("mask")
        if not faces:
            raise ValueError(NO_FACE)
        mask = proposal.mask

    original_px = None
    if preset.method != "synthetic":  # synthetic grain never reads the original
        original = read_image(job.original)
        rec["notes"] = original.notes + rec["notes"]
        original_px = match_layout(original.pixels, ai.pixels)
        del original
        lap("read")
        from processing.align import align_if_enabled

        kw = {"max_side": align_side} if align_side else {}
        alignment = align_if_enabled(original_px, ai.pixels, preset.align,
                                     "turn alignment on in the preset", **kw)
        if alignment is not None:
            rec["alignment"] = alignment.to_dict()
            if not alignment.identity:
                original_px = alignment.original
                mask = mask_to_float(mask) * alignment.coverage
        del alignment
        lap("align")

    result = restore(original_px, ai.pixels, mask, preset, faces=faces)
    lap("restore")
    fmt = ai.format
    out = Path(job.output)
    if SUFFIX_FORMAT.get(out.suffix.lower()) != fmt:
        out = out.with_suffix(FORMAT_SUFFIX[fmt])
    inputs = [job.original, job.retouched] + ([job.mask] if job.mask else [])
    write_image(out, result, ai, fmt=fmt, inputs=inputs)
    rec["output"] = out.name
    lap("write")

    if original_px is not None:
        rec["texture"] = texture_ratios(original_px, ai.pixels, result, mask)
        lap("metrics")
    if thumb_dir:
        rec["thumbs"] = _write_thumbs(Path(thumb_dir), out.name, ai.pixels, result, faces, mask)
        lap("thumbs")


def texture_ratios(original, ai, restored, mask) -> dict:
    """Band energy ratios to the original, AI image ('ai_ratio') and result
    ('restored_ratio'), as in :func:`processing.metrics.texture_report` but
    without its tone and Laplacian figures (a third of its cost on 24 MP)."""
    from processing.metrics import band_energies

    e_o, e_a, e_r = (band_energies(x, mask) for x in (original, ai, restored))
    out = {}
    for b in BANDS:
        ok = e_o[b] > 0
        out[b] = {"ai_ratio": _num(e_a[b] / e_o[b]) if ok else None,
                  "restored_ratio": _num(e_r[b] / e_o[b]) if ok else None}
    return out


def _num(x) -> float | None:
    x = float(x)
    return round(x, 4) if math.isfinite(x) else None


def _face_windows(faces, mask, shape) -> list[tuple[int, int, int]]:
    """(cx, cy, side) of a square crop per face: on a cheek, about half the face high."""
    h, w = shape[:2]
    wins = []
    for f in faces:
        cheek = f.regions.get("left_cheek")
        if cheek is not None and len(cheek) >= 3:
            cx, cy = np.asarray(cheek, np.float64).mean(axis=0)
        else:
            x0, y0, x1, y1 = f.bbox
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        side = int(np.clip(0.45 * (f.height or (f.bbox[3] - f.bbox[1])), 64, 384))
        wins.append((int(cx), int(cy), side))
    if not wins and mask is not None:  # a mask file: the middle of the mask
        from processing.tiles import mask_bbox

        box = mask_bbox(mask, shape)
        if box is not None:
            y0, y1, x0, x1 = box
            wins.append(((x0 + x1) // 2, (y0 + y1) // 2, int(np.clip(min(x1 - x0, y1 - y0), 64, 384))))
    out = []
    for cx, cy, side in wins:
        side = min(side, h, w)
        x0 = int(np.clip(cx - side // 2, 0, w - side))
        y0 = int(np.clip(cy - side // 2, 0, h - side))
        out.append((x0, y0, side))
    return out


def _tile(pixels, x0, y0, side) -> np.ndarray:
    import cv2

    from processing.landmarks import to_rgb_uint8

    crop = to_rgb_uint8(pixels[y0:y0 + side, x0:x0 + side])
    interp = cv2.INTER_AREA if side > TILE else cv2.INTER_NEAREST
    return cv2.resize(crop, (TILE, TILE), interpolation=interp)


def _write_thumbs(thumb_dir: Path, out_name: str, ai, restored, faces, mask) -> list[str]:
    """AI | restored crops per face, cached as PNG for the contact sheet."""
    thumb_dir.mkdir(exist_ok=True)
    names = []
    for i, (x0, y0, side) in enumerate(_face_windows(faces, mask, ai.shape)):
        pair = np.concatenate([_tile(ai, x0, y0, side), np.full((TILE, 4, 3), 255, np.uint8),
                               _tile(restored, x0, y0, side)], axis=1)
        name = f"{out_name}.face{i + 1}.png"
        write_bytes_safely(thumb_dir / name, encode_image(pair, "PNG"))
        names.append(name)
    return names


# ---------------------------------------------------------------------------
# Contact sheet and reports
# ---------------------------------------------------------------------------

def make_contact_sheet(cells: list[tuple[str, np.ndarray]], columns: int = 3) -> np.ndarray:
    """A grid of labelled AI | restored tiles: ``cells`` = [(label, RGB uint8 tile)]."""
    import cv2

    label_h, pad, head = 26, 10, 30
    cw = 2 * TILE + 4
    ch = TILE + label_h
    columns = max(1, min(columns, len(cells)))
    rows = max(1, math.ceil(len(cells) / columns))
    sheet = np.full((head + rows * (ch + pad) + pad, pad + columns * (cw + pad), 3), 255, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.putText(sheet, "left: AI-retouched   right: restored", (pad, 20), font, 0.5, (60, 60, 60), 1, cv2.LINE_AA)
    for i, (label, tile) in enumerate(cells):
        r, c = divmod(i, columns)
        x, y = pad + c * (cw + pad), head + r * (ch + pad)
        th, tw = tile.shape[:2]
        sheet[y:y + min(th, TILE), x:x + min(tw, cw)] = tile[:TILE, :cw]
        text = label.encode("ascii", "replace").decode()
        while len(text) > 8 and cv2.getTextSize(text, font, 0.45, 1)[0][0] > cw:
            text = text[:-4] + "..."
        cv2.putText(sheet, text, (x, y + TILE + 18), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return sheet


def _write_contact_sheet(out: Path, records: list[dict]) -> Path | None:
    import cv2

    cells = []
    for rec in records:
        for i, t in enumerate(rec.get("thumbs") or []):
            img = cv2.imread(str(out / THUMB_DIR / t), cv2.IMREAD_COLOR)
            if img is None:
                continue
            label = rec["name"] + (f" (face {i + 1})" if len(rec["thumbs"]) > 1 else "")
            cells.append((label, cv2.cvtColor(img, cv2.COLOR_BGR2RGB)))
    if not cells:
        return None
    return write_bytes_safely(out / CONTACT_SHEET, encode_image(make_contact_sheet(cells), "PNG"))


CSV_COLUMNS = (["name", "original", "output", "status", "faces", "mask", "align_scale",
                "align_rotation_deg", "align_shift_x", "align_shift_y", "align_residual_px",
                "align_refined", "align_identity", "align_local_warp_px", "align_coverage_fraction"]
               + [f"{b}_{k}" for b in BANDS for k in ("ai_ratio", "restored_ratio")]
               + ["seconds", "error"])


def _csv_row(rec: dict) -> dict:
    row = {k: rec.get(k) for k in ("name", "original", "output", "status", "faces", "mask", "seconds", "error")}
    al = rec.get("alignment") or {}
    row.update({"align_scale": al.get("scale"), "align_rotation_deg": al.get("rotation_deg"),
                "align_shift_x": (al.get("shift") or [None, None])[0],
                "align_shift_y": (al.get("shift") or [None, None])[1],
                "align_residual_px": al.get("residual_px"), "align_refined": al.get("refined"),
                "align_identity": al.get("identity"), "align_local_warp_px": al.get("local_warp_px"),
                "align_coverage_fraction": al.get("coverage_fraction")})
    tex = rec.get("texture") or {}
    for b in BANDS:
        for k in ("ai_ratio", "restored_ratio"):
            row[f"{b}_{k}"] = (tex.get(b) or {}).get(k)
    return {k: ("" if v is None else v) for k, v in row.items()}


def write_reports(out: Path, records: list[dict], summary: dict) -> None:
    """report.json (everything) and report.csv (one row per image), atomically."""
    doc = dict(summary)
    doc["images"] = records
    write_bytes_safely(out / REPORT_JSON, (json.dumps(doc, indent=2, default=_json_default) + "\n").encode())
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for rec in records:
        writer.writerow(_csv_row(rec))
    write_bytes_safely(out / REPORT_CSV, buf.getvalue().encode())


def _json_default(x):
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, np.bool_):
        return bool(x)
    raise TypeError(type(x).__name__)


def _previous_records(out: Path) -> tuple[dict[str, dict], dict | None]:
    try:
        doc = json.loads((out / REPORT_JSON).read_text())
        return {r["name"]: r for r in doc.get("images", []) if isinstance(r, dict) and "name" in r}, doc.get("preset")
    except (OSError, ValueError, AttributeError, TypeError):
        return {}, None


def _already_done(job: PairJob, prev: dict | None) -> dict | None:
    """The record to report for a job that needs no work, or None."""
    candidates = [Path(job.output)]
    if prev and prev.get("output"):
        candidates.append(Path(job.output).with_name(prev["output"]))
    inputs = [p for p in (job.original, job.retouched, job.mask) if p]
    try:
        newest_input = max(os.stat(p).st_mtime_ns for p in inputs)
    except OSError:
        return None
    for out in candidates:
        if not out.is_file():
            continue
        newer = out.stat().st_mtime_ns >= newest_input
        recorded = bool(prev and prev.get("status") in ("done", "skipped") and prev.get("inputs") == {
            "original": _fingerprint(job.original), "retouched": _fingerprint(job.retouched),
            "mask": _fingerprint(job.mask)})
        if newer or recorded:
            rec = dict(prev) if prev and prev.get("output") == out.name else _new_record(job)
            rec.update(status="skipped", output=out.name, seconds=0.0, error=None,
                       note="already done: the output is newer than its inputs (use --overwrite to redo it)")
            rec.setdefault("thumbs", [])
            return rec
    return None


# ---------------------------------------------------------------------------
# Progress
# ---------------------------------------------------------------------------

def _fmt_duration(s: float) -> str:
    s = int(round(s))
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


class Progress:
    """Count, rate and time left on a stream: \\r-updated on a terminal, a line per item otherwise."""

    def __init__(self, total: int, stream=None, enabled: bool = True):
        self.total, self.stream, self.enabled = total, stream or sys.stderr, enabled
        self.count = self.worked = self.failed = 0
        self.t0 = time.perf_counter()
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._width = 0

    def update(self, rec: dict, worked: bool = True) -> None:
        """Count one image; ``worked`` = it was processed now (counts in the rate)."""
        self.count += 1
        if worked:
            self.worked += 1
        self.failed += rec["status"] == "failed"
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.t0
        rate = self.worked / elapsed * 60 if elapsed > 0 and self.worked else 0.0
        left = self.total - self.count
        eta = f"~{_fmt_duration(left / rate * 60)} left" if rate > 0 and left else ("done" if not left else "")
        bar_w = 20
        filled = int(bar_w * self.count / max(self.total, 1))
        bar = "#" * filled + "-" * (bar_w - filled)
        failed = f", {self.failed} failed" if self.failed else ""
        head = f"[{bar}] {self.count}/{self.total}{failed}, {rate:.1f} pairs/min, {eta}"
        if self.tty:
            text = f"{head}  {rec['name']}"[:120]
            self.stream.write("\r" + text.ljust(self._width))
            self._width = len(text)
            if not left:
                self.stream.write("\n")
        else:
            status = rec["status"] + (f": {rec['error']}" if rec.get("error") else "")
            self.stream.write(f"{head} | {rec['name']}: {status}\n")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.tty and self._width and self.count < self.total:
            self.stream.write("\n")
            self.stream.flush()


# ---------------------------------------------------------------------------
# The batch
# ---------------------------------------------------------------------------

@dataclass
class BatchResult:
    """What a batch did: the report records, and whether it was interrupted."""

    out_dir: Path
    records: list[dict]
    pairing: Pairing
    interrupted: bool = False
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(r["status"] == status for r in self.records)

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return EXIT_INTERRUPTED
        return EXIT_FAILED if self.count("failed") else EXIT_OK


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def _mp_context():
    methods = mp.get_all_start_methods()
    return mp.get_context("forkserver" if "forkserver" in methods else "spawn")


def _terminate_pool(executor: ProcessPoolExecutor) -> None:
    """Stop the workers now: SIGTERM lets a busy one remove its temp file, then join."""
    procs = list(getattr(executor, "_processes", {}).values())  # no public API before 3.14
    for p in procs:
        if p.is_alive():
            p.terminate()
    for p in procs:
        p.join(timeout=10)
        if p.is_alive():
            p.kill()
            p.join(timeout=5)
    executor.shutdown(wait=False, cancel_futures=True)


def _sweep_temp_files(out: Path, since: float) -> None:
    """Remove temp files of interrupted writes from this run (workers killed hard)."""
    for folder in (out, out / THUMB_DIR):
        try:
            entries = list(folder.iterdir())
        except OSError:
            continue
        for p in entries:
            try:
                if p.name.startswith(".retexture-") and p.is_file() and p.stat().st_mtime >= since - 1:
                    p.unlink()
            except OSError:
                pass


def run_batch(originals_dir, retouched_dir, out_dir, preset: Preset | None = None, *,
              jobs: int | None = None, overwrite: bool = False, suffix: str = "",
              masks_dir=None, progress: Callable[[int, int, dict], None] | None = None,
              stream=None, show_progress: bool = True, fast_align: bool = False) -> BatchResult:
    """Restore every pair of two folders into ``out_dir``.

    Parameters
    ----------
    jobs : int or None
        Worker processes; None = all cores; 0 = in this process, no pool (the
        web app, debugging).
    progress : callable(done, total, record) or None
        Called after each image (skipped ones included), in the calling process.
    stream : text stream for the progress bar (default stderr).
    fast_align : bool
        Estimate the alignment on FAST_ALIGN_SIDE px copies instead of
        align_pair's default 1500 (about half the alignment's cost on 24 MP).
        Pairs on the same pixel grid come out the same; a small liquify may
        go undetected.

    Returns
    -------
    BatchResult. A KeyboardInterrupt is turned into ``interrupted=True`` after
    the pool is stopped and the report of the finished images is written.
    Raises BatchError when the batch cannot start.
    """
    preset = preset or Preset()
    t_start_wall = time.time()
    t0 = time.perf_counter()
    out, pair_jobs, pairing = plan_batch(originals_dir, retouched_dir, out_dir, suffix, masks_dir)
    previous, previous_preset = _previous_records(out)
    records: dict[str, dict] = {}

    for name in pairing.unmatched_retouched:
        rec = _new_record(PairJob(name, "", "", ""))
        rec.update(original=None, error=f"No original named {Path(name).stem}.* in the originals folder.")
        records[name] = rec
    for name, sentence in pairing.conflicts:
        rec = _new_record(PairJob(name, "", "", ""))
        rec.update(original=None, error=sentence)
        records[name] = rec

    todo: list[PairJob] = []
    for job in pair_jobs:
        done = None if overwrite else _already_done(job, previous.get(job.name))
        if done is not None:
            records[job.name] = done
        else:
            todo.append(job)

    total = len(records) + len(todo)
    bar = Progress(total, stream, enabled=show_progress)
    order = {name: i for i, name in enumerate(sorted([*records, *(j.name for j in todo)], key=str.lower))}

    def finish(rec: dict) -> None:
        records[rec["name"]] = rec
        bar.update(rec)
        if progress is not None:
            progress(bar.count, total, rec)

    for rec in sorted(list(records.values()), key=lambda r: order[r["name"]]):
        bar.update(rec, worked=False)
        if progress is not None:
            progress(bar.count, total, rec)

    interrupt_after = int(os.environ.get(INTERRUPT_ENV, "0") or 0)
    align_side = FAST_ALIGN_SIDE if fast_align else None
    thumb_dir = str(out / THUMB_DIR)
    interrupted = False
    last_report = time.perf_counter()
    stream = stream or sys.stderr

    def summary() -> dict:
        return {"retexture_batch": 1, "originals": str(Path(originals_dir).expanduser().resolve()),
                "retouched": str(Path(retouched_dir).expanduser().resolve()), "output": str(out),
                "preset": preset.to_dict(), "fast_align": fast_align, "interrupted": interrupted,
                "counts": {s: sum(r["status"] == s for r in records.values()) for s in ("done", "skipped", "failed")},
                "unmatched_originals": pairing.unmatched_originals}

    def sorted_records() -> list[dict]:
        return sorted(records.values(), key=lambda r: order[r["name"]])

    def maybe_report(force=False) -> None:
        nonlocal last_report
        if force or time.perf_counter() - last_report > 2.0:
            write_reports(out, sorted_records(), summary())
            last_report = time.perf_counter()

    worked = 0
    try:
        if todo and jobs == 0:
            for job in todo:
                finish(process_pair(job, preset, thumb_dir, align_side))
                worked += 1
                if interrupt_after and worked >= interrupt_after:
                    raise KeyboardInterrupt
                maybe_report()
        elif todo:
            n = min(jobs or default_jobs(), len(todo))
            threads = max(1, default_jobs() // n)
            quiet = not os.environ.get("RETEXTURE_DEBUG")
            executor = ProcessPoolExecutor(max_workers=n, mp_context=_mp_context(),
                                           initializer=_worker_init, initargs=(threads, quiet))
            try:
                futures = {executor.submit(process_pair, job, preset, thumb_dir, align_side): job
                           for job in todo}
                pending = set(futures)
                while pending:
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in sorted(finished, key=lambda f: order[futures[f].name]):
                        job = futures[fut]
                        try:
                            rec = fut.result()
                        except BrokenProcessPool:
                            rec = _new_record(job)
                            rec["error"] = ("The worker process stopped while this image was being "
                                            "processed (out of memory?): run the batch again to retry it.")
                        finish(rec)
                        worked += 1
                        if interrupt_after and worked >= interrupt_after:
                            raise KeyboardInterrupt
                    maybe_report()
            except BaseException:
                _terminate_pool(executor)
                _sweep_temp_files(out, t_start_wall)
                raise
            else:
                executor.shutdown(wait=True)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
        try:
            maybe_report(force=True)
            _write_contact_sheet(out, sorted_records())
        except (ImageWriteError, OSError) as exc:
            print(f"retexture: could not write the report: {_one_line(exc)}", file=stream)
    if previous_preset is not None and previous_preset != preset.to_dict() and not overwrite:
        n_old = sum(r["status"] == "skipped" for r in records.values())
        if n_old:
            print(f"Note: {n_old} outputs were made by an earlier run with other settings and were kept; "
                  "use --overwrite to redo them.", file=stream)
    return BatchResult(out, sorted_records(), pairing, interrupted, time.perf_counter() - t0)


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------

def add_batch_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``batch`` subcommand to ``retexture``'s subparsers."""
    p = subparsers.add_parser(
        "batch", help="restore a folder of retouched photos from a folder of originals",
        description="Pair ORIGINALS and RETOUCHED by file name, restore the skin texture of each pair "
                    "into OUT_DIR (format, depth, ICC and EXIF of the retouched file), and write "
                    "report.csv, report.json and contact_sheet.png there.")
    p.add_argument("originals", help="folder of the photos before AI retouching")
    p.add_argument("retouched", help="folder of the AI-retouched photos (may be the originals folder with --suffix)")
    p.add_argument("-o", "--output", required=True, metavar="OUT_DIR",
                   help="folder for the results and the report (created if missing; never an input folder)")
    p.add_argument("--preset", help="JSON preset with the settings (default: the built-in defaults)")
    p.add_argument("--jobs", type=int, default=None,
                   help="worker processes (default: all cores; 1 = one at a time)")
    p.add_argument("--overwrite", action="store_true", help="redo pairs whose output already exists")
    p.add_argument("--suffix", default="",
                   help="ending of the retouched files' names to ignore when pairing, e.g. _retouched")
    p.add_argument("--fast-align", action="store_true",
                   help=f"estimate the alignment on {FAST_ALIGN_SIDE} px copies instead of 1500: about 40 %% "
                        "less time per 24 MP pair; pairs on the same pixel grid come out the same, but a "
                        "small local warp (liquify) may go undetected")
    p.add_argument("--masks", metavar="MASK_DIR",
                   help="folder of mask images named like the photos (or NAME_mask.png); "
                        "photos without one get the automatic mask")
    return p


def run_batch_command(args) -> int:
    """``retexture batch``: returns the exit status (0, 1 if anything failed, 130 on Ctrl-C)."""
    def on_sigterm(signum, frame):  # `kill`: stop as cleanly as Ctrl-C
        raise KeyboardInterrupt

    previous_handler = None
    if threading.current_thread() is threading.main_thread():
        previous_handler = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        return _run_batch_command(args)
    finally:
        if previous_handler is not None:
            signal.signal(signal.SIGTERM, previous_handler)


def _run_batch_command(args) -> int:
    try:
        if args.jobs is not None and args.jobs < 1:
            raise BatchError("--jobs must be 1 or more.")
        preset = Preset.load(args.preset) if args.preset else Preset()
        result = run_batch(args.originals, args.retouched, args.output, preset, jobs=args.jobs,
                           overwrite=args.overwrite, suffix=args.suffix, masks_dir=args.masks,
                           fast_align=args.fast_align)
    except KeyboardInterrupt:
        print("retexture: interrupted before the batch started; nothing was written.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (BatchError, SettingsError, ImageWriteError, OSError) as exc:
        print(f"retexture: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_FAILED
    done, skipped, failed = (result.count(s) for s in ("done", "skipped", "failed"))
    if result.interrupted:
        print(f"retexture: interrupted; the {done + skipped} finished files are complete, nothing "
              "half-written was left behind, and the same command resumes where this run stopped.",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    if result.pairing.unmatched_originals:
        names = result.pairing.unmatched_originals
        shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
        print(f"{len(names)} originals have no retouched version (not processed): {shown}.")
    for rec in result.records:
        if rec["status"] == "failed":
            print(f"{rec['name']}: {rec['error']}", file=sys.stderr)
    print(f"Batch: {done} done, {skipped} already done, {failed} failed in {result.seconds:.1f} s; "
          f"report in {result.out_dir / REPORT_CSV}.")
    return result.exit_code


def main(argv=None) -> int:
    """``python -m processing.batch batch ...`` until ``retexture batch`` is wired in the CLI."""
    parser = argparse.ArgumentParser(prog="retexture")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_batch_parser(sub)
    args = parser.parse_args(argv)
    return run_batch_command(args)


# ---------------------------------------------------------------------------
# Uploads (web app): files and zips in memory
# ---------------------------------------------------------------------------

def collect_uploads(files: Iterable[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """Image files from uploads, zips expanded: [(path inside the upload, bytes)].

    Paths keep a zip's folders ('originals/a.jpg'); hidden files, macOS
    resource forks and non-images are dropped. Raises BatchError for a damaged
    zip or one that expands beyond MAX_UNZIPPED_BYTES.
    """
    out = []
    for name, data in files:
        if name.lower().endswith(".zip"):
            try:
                with zipfile.ZipFile(io.BytesIO(data)) as zf:
                    infos = [i for i in zf.infolist() if not i.is_dir()]
                    if sum(i.file_size for i in infos) > MAX_UNZIPPED_BYTES:
                        raise BatchError(f"{name} expands to more than {MAX_UNZIPPED_BYTES // 1024**3} GB: "
                                         "upload it in parts.")
                    for info in infos:
                        parts = [p for p in info.filename.replace("\\", "/").split("/") if p]
                        if not parts or "__MACOSX" in parts or any(p.startswith(".") for p in parts):
                            continue
                        if is_image_name(parts[-1]):
                            out.append(("/".join(parts), zf.read(info)))
            except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
                raise BatchError(f"{name} is not a readable zip ({_one_line(exc)}).") from None
        elif is_image_name(name):
            out.append((Path(name).name, data))
    return out


_ORIGINAL_WORDS = ("orig", "before", "source", "raw", "input", "unretouched")
_RETOUCHED_WORDS = ("retouch", "after", "ai", "edit", "output", "smooth")


def split_uploads(originals: list[tuple[str, bytes]], retouched: list[tuple[str, bytes]],
                  suffix: str = "") -> tuple[list[tuple[str, bytes]], list[tuple[str, bytes]]]:
    """Originals and retouched files from what was uploaded (see :func:`collect_uploads`).

    When everything came in one upload, it is split by its two top-level folders
    (the one named like 'originals'/'before' holds the originals) or, for flat
    names, by ``suffix`` (names ending in it are the retouched ones).
    """
    if originals and retouched:
        return _flatten(originals), _flatten(retouched)
    files = _strip_common_folder(originals or retouched)
    tops = {p.split("/")[0] for p, _ in files if "/" in p}
    if len(tops) == 2 and all("/" in p for p, _ in files):
        a, b = sorted(tops)
        def score(folder, words):
            return any(w in folder.lower() for w in words)
        if score(b, _ORIGINAL_WORDS) and not score(a, _ORIGINAL_WORDS) or score(a, _RETOUCHED_WORDS) and not score(b, _RETOUCHED_WORDS):
            a, b = b, a
        if not (score(a, _ORIGINAL_WORDS) or score(b, _RETOUCHED_WORDS)):
            raise BatchError(f"The zip has two folders, {a} and {b}: name them 'originals' and "
                             "'retouched' so Retexture knows which is which.")
        return (_flatten([(p, d) for p, d in files if p.split("/")[0] == a]),
                _flatten([(p, d) for p, d in files if p.split("/")[0] == b]))
    if suffix:
        flat = _flatten(files)
        rets = [(n, d) for n, d in flat if Path(n).stem.lower().endswith(suffix.lower())]
        origs = [(n, d) for n, d in flat if not Path(n).stem.lower().endswith(suffix.lower())]
        return origs, rets
    raise BatchError("Upload the retouched files too, or one zip with the folders 'originals' and "
                     "'retouched', or name the retouched files with a suffix such as _retouched.")


def _strip_common_folder(files: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """Drop leading folders every path shares ('shoot/originals/a.jpg' -> 'originals/a.jpg')."""
    while files and all("/" in p for p, _ in files) and len({p.split("/")[0] for p, _ in files}) == 1:
        files = [(p.split("/", 1)[1], d) for p, d in files]
    return files


def _flatten(files: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """Base names only (the first of equal names wins; the pairing reports conflicts by stem)."""
    seen, out = set(), []
    for path, data in files:
        name = Path(path).name
        if name.lower() not in seen:
            seen.add(name.lower())
            out.append((name, data))
    return out


def zip_folder(folder: Path, names: Iterable[str]) -> bytes:
    """A zip of the named files of ``folder`` (images stored, reports deflated)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in names:
            path = folder / name
            if path.is_file():
                compress = zipfile.ZIP_DEFLATED if path.suffix.lower() in (".csv", ".json", ".tif", ".tiff") \
                    else zipfile.ZIP_STORED
                zf.write(path, name, compress_type=compress)
    return buf.getvalue()


def run_batch_on_uploads(originals: list[tuple[str, bytes]], retouched: list[tuple[str, bytes]],
                         preset: Preset | None = None, suffix: str = "", jobs: int = 0,
                         progress: Callable[[int, int, dict], None] | None = None):
    """Restore uploaded pairs in a private temporary folder (mode 0700, deleted
    afterwards); returns (zip bytes of the results and reports, BatchResult).

    ``originals``/``retouched`` are (name, bytes) lists as from
    :func:`split_uploads`. ``jobs`` = 0 processes in this process.
    """
    with tempfile.TemporaryDirectory(prefix="retexture-batch-") as tmp:
        root = Path(tmp)
        folders = {"originals": originals, "retouched": retouched}
        for folder, files in folders.items():
            (root / folder).mkdir()
            for name, data in files:
                (root / folder / Path(name).name).write_bytes(data)
        result = run_batch(root / "originals", root / "retouched", root / "out", preset, jobs=jobs,
                           suffix=suffix, progress=progress, show_progress=False)
        names = [r["output"] for r in result.records if r["status"] in ("done", "skipped") and r.get("output")]
        names += [REPORT_CSV, REPORT_JSON, CONTACT_SHEET]
        data = zip_folder(result.out_dir, names)
    return data, result


if __name__ == "__main__":
    # Run the imported module, not this __main__ copy: what the pool pickles
    # (process_pair, PairJob) must resolve to processing.batch in the workers.
    from processing.batch import main as _main

    sys.exit(_main())

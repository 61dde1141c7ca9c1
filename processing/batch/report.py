"""What a batch leaves besides the images: report.csv, report.json, the contact sheet.

The report is the studio's record (which files failed and why, how far each
original was moved, how much texture came back) and also the batch's memory:
a second run reads report.json back to skip pairs already done from the same
inputs. The contact sheet lets someone check a hundred faces at a glance; its
tiles are cut in the workers (while the images are in memory) and cached as
small PNGs, so the sheet is assembled at the end without reopening any photo.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path

import numpy as np

from processing.batch.pairing import PairJob
from processing.image_io import encode_image, write_bytes_safely

REPORT_CSV = "report.csv"
REPORT_JSON = "report.json"
CONTACT_SHEET = "contact_sheet.png"
THUMB_DIR = ".retexture_thumbs"
#: Each output's record, written by the worker before the output is renamed into place,
#: so that an output whose run was killed before the report was saved is still accounted for.
RECORD_DIR = ".retexture_records"
RESERVED_NAMES = {REPORT_CSV, REPORT_JSON, CONTACT_SHEET}
BANDS = ("fine", "pores", "mid")
#: Contact sheet cell: two tiles of this side (AI, restored), a label below.
TILE = 192


# ---------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------

def one_line(exc: BaseException) -> str:
    """An exception as one sentence for the report (its type name when empty)."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _fingerprint(path: str | None):
    if path is None:
        return None
    st = os.stat(path)
    return [st.st_size, st.st_mtime_ns]


def file_stamp(path) -> list[int] | None:
    """[size, mtime_ns] of a file, None when it is missing: tells a recorded output from another file."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def input_fingerprints(job: PairJob) -> dict:
    """[size, mtime_ns] of each input of a job (None for no mask): what a rerun compares."""
    return {"original": _fingerprint(job.original), "retouched": _fingerprint(job.retouched),
            "mask": _fingerprint(job.mask)}


def new_record(job: PairJob) -> dict:
    """The report record of a job before it ran (status 'failed', no error yet)."""
    return {"name": job.name, "original": Path(job.original).name, "output": None,
            "status": "failed", "faces": None, "mask": None, "alignment": None, "texture": None,
            "seconds": 0.0, "error": None, "notes": [], "thumbs": [], "inputs": None,
            "output_stamp": None, "stage_seconds": {}}


def texture_ratios(original, ai, restored, mask) -> dict:
    """Band energy ratios to the original of the AI image and of the result.

    As :func:`processing.metrics.texture_report` but without its tone and
    Laplacian figures (a third of its cost on 24 MP).

    Parameters
    ----------
    original, ai, restored : ndarray
        Images of the same shape.
    mask : ndarray
        Skin mask the energies are measured in.

    Returns
    -------
    dict
        ``{band: {"ai_ratio": float or None, "restored_ratio": float or None}}``
        for the bands in BANDS (None where the original has no energy).
    """
    from processing.metrics import band_energies_of

    e_o, e_a, e_r = band_energies_of((original, ai, restored), mask)
    out = {}
    for b in BANDS:
        ok = e_o[b] > 0
        out[b] = {"ai_ratio": _num(e_a[b] / e_o[b]) if ok else None,
                  "restored_ratio": _num(e_r[b] / e_o[b]) if ok else None}
    return out


def _num(x) -> float | None:
    x = float(x)
    return round(x, 4) if math.isfinite(x) else None


# ---------------------------------------------------------------------------
# Thumbnails and the contact sheet
# ---------------------------------------------------------------------------

def _face_windows(faces, mask, shape) -> list[tuple[int, int, int]]:
    """(x0, y0, side) of a square crop per face: on a cheek, about half the face high."""
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
        from processing.boxes import mask_bbox

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

    from processing.dtypes import to_rgb_uint8

    crop = to_rgb_uint8(pixels[y0:y0 + side, x0:x0 + side])
    interp = cv2.INTER_AREA if side > TILE else cv2.INTER_NEAREST
    return cv2.resize(crop, (TILE, TILE), interpolation=interp)


def write_thumbs(thumb_dir: Path, out_name: str, ai, restored, faces, mask) -> list[str]:
    """Cache the AI | restored crop of every face as a PNG for the contact sheet.

    Parameters
    ----------
    thumb_dir : Path
        Cache folder (created when missing).
    out_name : str
        The output file's name; the thumbnails are ``{out_name}.face{i}.png``.
    ai, restored : ndarray
        The AI-retouched image and the result.
    faces : list of detected faces
        Crops sit on a cheek; without faces, on the middle of ``mask``.
    mask : ndarray or None

    Returns
    -------
    list of str
        The thumbnail names, in face order.
    """
    thumb_dir.mkdir(exist_ok=True)
    names = []
    for i, (x0, y0, side) in enumerate(_face_windows(faces, mask, ai.shape)):
        pair = np.concatenate([_tile(ai, x0, y0, side), np.full((TILE, 4, 3), 255, np.uint8),
                               _tile(restored, x0, y0, side)], axis=1)
        name = f"{out_name}.face{i + 1}.png"
        write_bytes_safely(thumb_dir / name, encode_image(pair, "PNG"))
        names.append(name)
    return names


def make_contact_sheet(cells: list[tuple[str, np.ndarray]], columns: int = 3) -> np.ndarray:
    """A grid of labelled AI | restored tiles.

    Parameters
    ----------
    cells : list of (label, RGB uint8 tile)
    columns : int

    Returns
    -------
    ndarray
        RGB uint8 sheet with a legend line on top.
    """
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


def write_contact_sheet(out: Path, records: list[dict]) -> Path | None:
    """Assemble contact_sheet.png in ``out`` from the records' cached thumbnails.

    Parameters
    ----------
    out : Path
        The output folder (thumbnails in its THUMB_DIR).
    records : list of dict
        Report records in sheet order.

    Returns
    -------
    Path or None
        The sheet written, or None when no record has a thumbnail.
    """
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


# ---------------------------------------------------------------------------
# report.csv and report.json
# ---------------------------------------------------------------------------

CSV_COLUMNS = (["name", "original", "output", "status", "faces", "mask", "align_scale",
                "align_rotation_deg", "align_shift_x", "align_shift_y", "align_residual_px",
                "align_refined", "align_identity", "align_local_warp_px", "align_local_warp_fraction",
                "align_local_warp_faces", "align_coverage_fraction", "align_summary"]
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
                "align_local_warp_fraction": al.get("local_warp_fraction"),
                "align_local_warp_faces": " ".join(str(i) for i in al.get("local_warp_faces") or []) or None,
                "align_coverage_fraction": al.get("coverage_fraction"), "align_summary": al.get("summary")})
    tex = rec.get("texture") or {}
    for b in BANDS:
        for k in ("ai_ratio", "restored_ratio"):
            row[f"{b}_{k}"] = (tex.get(b) or {}).get(k)
    return {k: ("" if v is None else csv_text(v)) for k, v in row.items()}


#: A spreadsheet reads a cell starting with one of these as a formula (OWASP, CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_text(value):
    """A report.csv cell: text a spreadsheet would run as a formula gets a leading apostrophe.

    Numbers are left alone (a shift of -3.2 px is a number, not a formula);
    report.json keeps the true text.
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def write_reports(out: Path, records: list[dict], summary: dict) -> None:
    """Write report.json (everything) and report.csv (one row per image), atomically.

    Parameters
    ----------
    out : Path
        The output folder.
    records : list of dict
        Report records, in report order.
    summary : dict
        The run's settings and counts; report.json adds ``images``.
    """
    doc = dict(summary)
    doc["images"] = records
    write_bytes_safely(out / REPORT_JSON, (json.dumps(doc, indent=2, default=_json_default) + "\n").encode())
    buf = io.StringIO()
    # RFC 4180 line ends: every Python then quotes a name holding a CR (3.12 does not with "\n").
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
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


def previous_records(out: Path) -> tuple[dict[str, dict], dict | None]:
    """The records and preset of the last run's report.json in ``out``.

    Returns
    -------
    (dict, dict or None)
        Records by name and the preset dict; ``({}, None)`` when there is no
        readable report.
    """
    try:
        doc = json.loads((out / REPORT_JSON).read_text())
        return {r["name"]: r for r in doc.get("images", []) if isinstance(r, dict) and "name" in r}, doc.get("preset")
    except (OSError, ValueError, AttributeError, TypeError):
        return {}, None


def record_path(out: Path, name: str) -> Path:
    """Where the record of the output of ``name`` (a retouched file name) is kept."""
    if len(os.fsencode(name)) > 200:  # a file name may not be longer than 255 bytes
        import hashlib

        name = hashlib.sha256(os.fsencode(name)).hexdigest()
    return Path(out) / RECORD_DIR / f"{name}.json"


def write_record(out: Path, rec: dict) -> None:
    """Save one finished record next to the outputs (atomically), before its output appears."""
    folder = Path(out) / RECORD_DIR
    folder.mkdir(exist_ok=True)
    data = json.dumps(rec, default=_json_default).encode()
    write_bytes_safely(record_path(out, rec["name"]), data)


def saved_record(out: Path, name: str) -> dict | None:
    """The record a worker saved for ``name``, or None when there is none or it is unreadable."""
    try:
        rec = json.loads(record_path(out, name).read_text())
    except (OSError, ValueError):
        return None
    return rec if isinstance(rec, dict) and rec.get("name") == name else None


def matches_files(job: PairJob, rec: dict | None) -> bool:
    """Whether ``rec`` describes the output now in the folder, made from the inputs now there.

    True when the record says done, its inputs have the size and time they
    have now, and its output exists with the recorded size and time (a
    record from before outputs were stamped only needs the output to exist).
    """
    if not rec or rec.get("status") not in ("done", "skipped") or not rec.get("output"):
        return False
    try:
        if rec.get("inputs") != input_fingerprints(job):
            return False
    except OSError:
        return False
    stamp = file_stamp(Path(job.output).with_name(rec["output"]))
    return stamp is not None and rec.get("output_stamp") in (None, stamp)


def already_done(job: PairJob, prev: dict | None, saved: dict | None = None) -> dict | None:
    """The 'skipped' record of a job that needs no work, or None.

    A job is done when a record of it (the previous report's, or the one
    its worker saved in RECORD_DIR when the run was stopped before the
    report was written) matches the files now there: same inputs, and the
    output it wrote still in place. An output nothing records is not
    trusted: the job runs again (see :func:`unrecorded_output`).

    Parameters
    ----------
    job : PairJob
    prev : dict or None
        The job's record in the previous report.
    saved : dict or None
        The record saved by the worker (:func:`saved_record`).

    Returns
    -------
    dict or None
    """
    for rec in (prev, saved):
        if matches_files(job, rec):
            rec = dict(rec)
            rec.update(status="skipped", seconds=0.0, error=None,
                       note="already done from the same inputs (use --overwrite to redo it)")
            rec.setdefault("thumbs", [])
            return rec
    return None


def unrecorded_output(job: PairJob, prev: dict | None, saved: dict | None = None) -> str | None:
    """Why a job may not write its output, or None when it may.

    A file already at the job's output path that no record says a batch
    made (the studio's own file, or one from a report that was deleted) is
    not replaced without --overwrite; an output a record accounts for is
    ours to redo when its inputs changed.

    Parameters
    ----------
    job : PairJob
    prev, saved : dict or None
        As for :func:`already_done`.

    Returns
    -------
    str or None
        The sentence for the report, or None.
    """
    out = Path(job.output)
    if not out.exists():
        return None
    for rec in (prev, saved):
        if rec and rec.get("status") in ("done", "skipped") and rec.get("output") == out.name \
                and rec.get("output_stamp") in (None, file_stamp(out)):
            return None
    return (f"{out.name} is already in the output folder and no earlier batch recorded making it: "
            "move it away, or use --overwrite to replace it.")

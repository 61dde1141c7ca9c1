"""What runs in a batch worker process: one pair in, one output file and its record out.

Workers live in a process pool, so everything here must be importable by name
(the pool pickles :func:`process_pair`), must never raise for a bad image (one
failure may not stop a studio's batch), and must die cleanly: Ctrl-C belongs to
the parent, and SIGTERM while a file is being written raises so the atomic
writer removes its temporary file before the process exits.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from processing.batch.pairing import PairJob
from processing.batch.report import (RESERVED_NAMES, input_fingerprints, new_record, one_line,
                                     texture_ratios, write_thumbs)
from processing.image_io import FORMAT_SUFFIX, SUFFIX_FORMAT, ImageReadError, ImageWriteError, write_image
from processing.landmarks import FaceModelError
from processing.settings import Preset, SettingsError

NO_FACE = ("No face found: nothing was written for this file (put a mask for it in the "
           "--masks folder to restore it anyway).")


class _Terminated(BaseException):
    """Raised in a busy worker by SIGTERM so atomic writes clean up their temp file."""


_BUSY = False


def _on_sigterm(signum, frame):
    if _BUSY:
        raise _Terminated()
    os._exit(0)


def _worker_init(threads: int, quiet: bool) -> None:
    """Pool worker start: Ctrl-C is the parent's business, SIGTERM cleans up."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_sigterm)
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


def process_pair(job: PairJob, preset: Preset, thumb_dir: str | None = None,
                 align_side: int | None = None) -> dict:
    """Restore one pair and write its output; never raises for a bad image.

    Parameters
    ----------
    job : PairJob
    preset : Preset
    thumb_dir : str or None
        Where to cache the contact sheet's thumbnails (None = none).
    align_side : int or None
        Long side of the copies the alignment is estimated on (None =
        align_pair's default, as the restore command and the web app).

    Returns
    -------
    dict
        The report record: status 'done', or 'failed' with an error sentence;
        with the time, CPU time and peak memory it took.
    """
    global _BUSY
    _BUSY = True
    t0 = time.perf_counter()
    cpu0 = _cpu_seconds()
    rec = new_record(job)
    try:
        restore_one_pair(job, preset, thumb_dir, rec, align_side)
        rec["status"] = "done"
    except _Terminated:
        os._exit(1)  # the atomic writer has removed its temp file on the way out
    except (ImageReadError, ImageWriteError, SettingsError, FaceModelError, ValueError, OSError) as exc:
        rec["error"] = one_line(exc)
    except MemoryError:
        rec["error"] = "Not enough memory for this image: run the batch with fewer --jobs."
    except Exception as exc:  # a bug: keep the batch going and say so
        rec["error"] = f"Internal error ({type(exc).__name__}: {one_line(exc)}); please report it."
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


# ---------------------------------------------------------------------------
# The restoration of one pair
# ---------------------------------------------------------------------------

def restore_one_pair(job: PairJob, preset: Preset, thumb_dir: str | None, rec: dict,
                     align_side: int | None = None) -> None:
    """Read, mask, align, restore and write one pair; fill ``rec`` on the way.

    The steps, each timed into ``rec["stage_seconds"]``: read the retouched
    image; its mask (the mask file, or the automatic skin mask: no face is a
    failure); read the original and align it onto the retouched image (not
    for the synthetic method, which never reads the original); restore; write
    the output in the retouched file's format; texture ratios; thumbnails.

    Parameters
    ----------
    job, preset, thumb_dir, align_side
        As for :func:`process_pair`.
    rec : dict
        The record to fill (:func:`processing.batch.report.new_record`).

    Raises
    ------
    ValueError, OSError, ImageReadError, ImageWriteError
        For a pair that cannot be restored; the message is for the report.
    """
    import cv2

    from processing.pipeline import apply, plan, prepare_pair

    stages = rec["stage_seconds"]
    clock = [time.perf_counter()]

    def lap(stage: str) -> None:
        now = time.perf_counter()
        stages[stage] = round(stages.get(stage, 0.0) + now - clock[0], 3)
        clock[0] = now

    cv2.setRNGSeed(0)  # RANSAC in the alignment: same result whatever ran before in this worker
    rec["inputs"] = input_fingerprints(job)
    if Path(job.output).name.lower() in RESERVED_NAMES:
        raise ValueError(f"{job.name} has the name of a report file: rename it and run again.")
    rec["mask"] = f"file {Path(job.mask).name}" if job.mask else "auto"
    try:
        # No face is a failure here: a whole-frame texture is not what a studio asked for.
        pair = prepare_pair(job.original, job.retouched, job.mask or "auto", preset,
                            align_hint="turn alignment on in the preset", align_side=align_side,
                            require_face=None if job.mask else NO_FACE, parallel_decode=False)
    except ValueError as exc:
        if str(exc) == NO_FACE:
            rec["faces"] = 0
        raise
    stages.update(pair.stage_seconds)
    clock[0] = time.perf_counter()
    rec["notes"] += pair.notes
    if not job.mask:
        rec["faces"] = len(pair.faces)
    if pair.alignment is not None:
        rec["alignment"] = pair.alignment.to_dict()

    result = apply(plan(pair, preset))
    lap("restore")
    ai = pair.retouched
    fmt = ai.format
    out = Path(job.output)
    if SUFFIX_FORMAT.get(out.suffix.lower()) != fmt:
        out = out.with_suffix(FORMAT_SUFFIX[fmt])
    inputs = [job.original, job.retouched] + ([job.mask] if job.mask else [])
    write_image(out, result, ai, fmt=fmt, inputs=inputs)
    rec["output"] = out.name
    lap("write")

    mask = pair.mask
    if pair.original is not None:
        rec["texture"] = texture_ratios(pair.original, ai.pixels, result, mask)
        lap("metrics")
    if thumb_dir:
        rec["thumbs"] = write_thumbs(Path(thumb_dir), out.name, ai.pixels, result, pair.faces, mask)
        lap("thumbs")

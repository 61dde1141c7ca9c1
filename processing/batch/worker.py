"""What runs in a batch worker process: one pair in, one output file and its record out.

Workers live in a process pool, so everything here must be importable by name
(the pool pickles :func:`process_pair`), must never raise for a bad image (one
failure may not stop a studio's batch), and must die cleanly and never outlive
the batch:

* Ctrl-C belongs to the parent; SIGTERM (the parent stopping the pool) stops
  the pair at once, and the atomic writer removes its temporary file;
* an output appears together with its record (:func:`commit_output`: the
  record is saved first, then the output is renamed into place, with SIGTERM
  held off in between), so whatever a stopped or killed batch wrote, a rerun
  finds it accounted for;
* a worker whose batch process died (``kill -9``) stops by itself: the parent
  death signal on Linux, and a watchdog thread everywhere, send it SIGTERM.
  The forkserver and the resource tracker exit once the workers are gone.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

from processing.batch.pairing import PairJob
from processing.batch.report import (RESERVED_NAMES, file_stamp, input_fingerprints, new_record,
                                     one_line, texture_ratios, write_record, write_thumbs)
from processing.image_io import (FORMAT_SUFFIX, SUFFIX_FORMAT, ImageReadError, ImageWriteError,
                                 check_output_path, encode_image, write_bytes_safely)
from processing.landmarks import FaceModelError
from processing.settings import Preset, SettingsError

NO_FACE = ("No face found: nothing was written for this file (put a mask for it in the "
           "--masks folder to restore it anyway).")
#: How often a worker checks that its batch process is still there, s.
WATCH_INTERVAL = 0.2
#: After asking itself to stop, how long a worker may take to do so before it exits hard, s
#: (a long OpenCV call finishes before Python sees the signal).
STOP_GRACE = 10.0


class _Terminated(BaseException):
    """Raised in a busy worker by SIGTERM so atomic writes clean up their temp file."""


_BUSY = False        # working on a pair
_COMMITTING = False  # writing an output and its record: SIGTERM waits for the end
_STOP_ASKED = False  # SIGTERM came while committing


def _on_sigterm(signum, frame):
    global _STOP_ASKED
    if _COMMITTING:
        _STOP_ASKED = True
        return
    if _BUSY:
        raise _Terminated()
    os._exit(0)


_LOCK = None  # the batch's lock on OUT, shared while this worker lives


def _worker_init(threads: int, quiet: bool, parent: tuple[int, object] | None = None,
                 lock_path: str | None = None) -> None:
    """Pool worker start: Ctrl-C is the parent's business, SIGTERM cleans up, the
    worker stops when ``parent`` (pid, :func:`process_identity`) is gone, and it
    shares the batch's lock on OUT (a new batch into OUT waits until it has gone)."""
    global _LOCK
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_sigterm)
    _die_with_parent()
    if parent is not None:
        threading.Thread(target=_watch_parent, args=parent, name="retexture-watchdog", daemon=True).start()
    if lock_path is not None:
        try:
            import fcntl

            _LOCK = open(lock_path, "a+b")
            fcntl.flock(_LOCK, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except (ImportError, OSError):
            pass  # only a later batch's wait depends on it
    if quiet:
        # mediapipe/TFLite log from C++ straight to fd 2, over the progress bar;
        # real errors come back to the parent as exceptions.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
    # LibRaw develops RAW originals with OpenMP, which reads this once, at rawpy's
    # first import (in the first pair): the batch's workers already fill the cores.
    os.environ["OMP_NUM_THREADS"] = str(max(1, threads))
    import cv2

    from processing.memory import reuse_freed_memory
    from processing.row_bands import one_blas_thread

    cv2.setNumThreads(max(1, threads))
    one_blas_thread()
    reuse_freed_memory()


def _die_with_parent() -> None:
    """Linux: SIGTERM when the process that started this one dies (prctl PR_SET_PDEATHSIG).

    That is the batch process with the spawn start method; with forkserver
    it is the fork server, and :func:`_watch_parent` watches the batch.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def process_identity(pid: int):
    """What tells a live process from a later one with the same pid: its start time
    (Linux, from /proc), else True; None when no such process runs (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        return None if fields[0] in (b"Z", b"X") else int(fields[19])
    except FileNotFoundError:
        return None
    except (OSError, IndexError, ValueError):
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except (PermissionError, OSError):
        pass
    return True


def _watch_parent(pid: int, identity) -> None:
    """Watchdog thread: once the batch process is gone, stop like on SIGTERM, then for good."""
    while process_identity(pid) == identity:
        time.sleep(WATCH_INTERVAL)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(STOP_GRACE)
    os._exit(1)


def commit_output(path: Path, data: bytes, rec: dict, inputs=()) -> Path:
    """Write an output and its record so that neither can appear without the other.

    The image goes to a hidden temporary name, the record (with the image's
    size and time) is saved in RECORD_DIR, and only then is the image renamed
    into place. A worker killed in between leaves a record that matches no
    output (the pair is done again) and a temporary file the next run sweeps.
    SIGTERM meanwhile only takes effect at the end.

    Parameters
    ----------
    path : Path
        The output file.
    data : bytes
        Its encoded contents.
    rec : dict
        The pair's finished record; gets ``output`` and ``output_stamp``.
    inputs : sequence of paths
        Files the output may not be.

    Returns
    -------
    Path
        The output written.
    """
    global _COMMITTING
    path = check_output_path(path, inputs)
    _COMMITTING = True
    pending = path.with_name(f".retexture-pending-{os.getpid()}{path.suffix}")  # one commit at a time per process
    try:
        write_bytes_safely(pending, data, inputs)
        rec["output"] = path.name
        rec["output_stamp"] = file_stamp(pending)  # a rename keeps size and time
        write_record(path.parent, rec)
        os.replace(pending, path)
    except BaseException:
        try:
            pending.unlink()
        except OSError:
            pass
        raise
    finally:
        _COMMITTING = False
    if _STOP_ASKED:
        os._exit(0)  # stopped while writing: the output and its record are whole
    return path


def process_pair(job: PairJob, preset: Preset, thumb_dir: str | None = None,
                 align_side: int | None = None) -> dict:
    """Restore one pair and write its output and record; never raises for a bad image.

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
    try:
        _BUSY = True
        t0 = time.perf_counter()
        cpu0 = _cpu_seconds()
        rec = new_record(job)

        def measure() -> None:
            rec["seconds"] = round(time.perf_counter() - t0, 3)
            cpu1 = _cpu_seconds()
            rec["cpu_seconds"] = None if cpu0 is None or cpu1 is None else round(cpu1 - cpu0, 3)
            rec["peak_rss_mb"] = _peak_rss_mb()

        try:
            out, data, inputs = restore_one_pair(job, preset, thumb_dir, rec, align_side)
            rec["status"] = "done"
            measure()
            t_write = time.perf_counter()
            commit_output(out, data, rec, inputs)
            rec["stage_seconds"]["write"] = round(rec["stage_seconds"].get("write", 0.0)
                                                  + time.perf_counter() - t_write, 3)
        except (ImageReadError, ImageWriteError, SettingsError, FaceModelError, ValueError, OSError) as exc:
            rec.update(status="failed", output=None, output_stamp=None, error=one_line(exc))
        except MemoryError:
            rec.update(status="failed", output=None, output_stamp=None,
                       error="Not enough memory for this image: run the batch with fewer --jobs.")
        except Exception as exc:  # a bug: keep the batch going and say so
            rec.update(status="failed", output=None, output_stamp=None,
                       error=f"Internal error ({type(exc).__name__}: {one_line(exc)}); please report it.")
        measure()
        return rec
    except _Terminated:
        os._exit(1)  # the atomic writer has removed its temp file on the way out
    finally:
        _BUSY = False


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
                     align_side: int | None = None) -> tuple[Path, bytes, list[str]]:
    """Read, mask, align, restore and encode one pair; fill ``rec`` on the way.

    The steps, each timed into ``rec["stage_seconds"]``: read the retouched
    image; its mask (the mask file, or the automatic skin mask: no face is a
    failure); read the original and align it onto the retouched image (not
    for the synthetic method, which never reads the original); restore;
    encode the output in the retouched file's format; texture ratios;
    thumbnails. Nothing is written but the thumbnails: the caller commits
    the output with its record (:func:`commit_output`).

    Parameters
    ----------
    job, preset, thumb_dir, align_side
        As for :func:`process_pair`.
    rec : dict
        The record to fill (:func:`processing.batch.report.new_record`).

    Returns
    -------
    (Path, bytes, list of str)
        The output path, its encoded contents and the input files it may not be.

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

    restore_plan = plan(pair, preset)
    noise = restore_plan.noise_note()
    if noise:
        rec["notes"].append(noise)
    result = apply(restore_plan)
    del restore_plan
    lap("restore")
    ai = pair.retouched
    fmt = ai.format
    out = Path(job.output)
    if SUFFIX_FORMAT.get(out.suffix.lower()) != fmt:
        out = out.with_suffix(FORMAT_SUFFIX[fmt])
    inputs = [job.original, job.retouched] + ([job.mask] if job.mask else [])
    check_output_path(out, inputs)  # before the metrics: a refusal costs no more work
    data = encode_image(result, fmt, ai.alpha, ai.icc_profile, ai.exif)
    lap("write")

    mask = pair.mask
    if pair.original is not None:
        rec["texture"] = texture_ratios(pair.original, ai.pixels, result, mask)
        lap("metrics")
    if thumb_dir:
        rec["thumbs"] = write_thumbs(Path(thumb_dir), out.name, ai.pixels, result, pair.faces, mask)
        lap("thumbs")
    return out, data, inputs

"""The batch itself: a process pool over the pairs, the report kept up to date, Ctrl-C.

A studio's batch must use every core (pairs run in worker processes started
with forkserver or spawn: mediapipe and threads do not survive ``fork``), must
go on past a bad file, must survive being stopped (Ctrl-C, ``kill``) with every
finished file whole, no temporary file left and the report of what was done
written, and must pick up where it stopped when run again. This module owns
that loop and the ``retexture batch`` command's handler.

While it runs, a batch holds a lock in OUT (shared with its workers), so a
second batch into the same folder waits for the first, workers of a killed
batch included, and temporary files found there are known to be dead.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from processing.batch.pairing import BatchError, Pairing, PairJob, check_read_file_outside, plan_batch
from processing.batch.progress import Progress, terminal_text
from processing.batch.report import (RECORD_DIR, REPORT_CSV, THUMB_DIR, already_done, matches_files,
                                     new_record, one_line, previous_records, saved_record,
                                     unrecorded_output, write_contact_sheet, write_reports)
from processing.batch.worker import _worker_init, process_identity, process_pair
from processing.image_io import ImageWriteError
from processing.settings import FAST_ALIGN_SIDE, Preset, SettingsError

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130
#: Test hook: raise KeyboardInterrupt in the main process after this many results.
INTERRUPT_ENV = "RETEXTURE_BATCH_INTERRUPT_AFTER"
#: The lock in OUT/RECORD_DIR, and how long a batch waits for another one into OUT to end, s
#: (the workers of a killed batch stop within a second or two).
LOCK_NAME = "batch.lock"
LOCK_WAIT = 20.0
#: Without file locks, temporary files older than this are taken as dead, s.
STALE_TEMP_AGE = 3600.0


@dataclass
class BatchResult:
    """What a batch did: the report records, and whether it was interrupted."""

    out_dir: Path
    records: list[dict]
    pairing: Pairing
    interrupted: bool = False
    seconds: float = 0.0

    def count(self, status: str) -> int:
        """Number of records with this status ('done', 'skipped' or 'failed')."""
        return sum(r["status"] == status for r in self.records)

    @property
    def exit_code(self) -> int:
        """0, 1 when anything failed, 130 when interrupted."""
        if self.interrupted:
            return EXIT_INTERRUPTED
        return EXIT_FAILED if self.count("failed") else EXIT_OK


def default_jobs() -> int:
    """Worker processes by default: the cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def _mp_context():
    methods = mp.get_all_start_methods()
    return mp.get_context("forkserver" if "forkserver" in methods else "spawn")


def _terminate_pool(executor: ProcessPoolExecutor) -> None:
    """Stop the workers now: SIGTERM lets a busy one remove its temp file, then join."""
    procs = list((getattr(executor, "_processes", None) or {}).values())  # no public API before 3.14
    for p in procs:
        if p.is_alive():
            p.terminate()
    for p in procs:
        p.join(timeout=10)
        if p.is_alive():
            p.kill()
            p.join(timeout=5)
    executor.shutdown(wait=False, cancel_futures=True)


def lock_out_dir(out: Path, wait_s: float = LOCK_WAIT):
    """Take OUT for this batch; wait while another batch (or its workers) still writes there.

    Parameters
    ----------
    out : Path
        The output folder.
    wait_s : float
        How long to wait for another batch, s.

    Returns
    -------
    file object or None
        The lock file, held exclusively (keep it open; closing it releases
        the lock); None where file locks are not available.

    Raises
    ------
    BatchError
        When another batch still holds the folder after ``wait_s``.
    """
    try:
        import fcntl
    except ImportError:
        return None
    (out / RECORD_DIR).mkdir(exist_ok=True)
    fh = open(out / RECORD_DIR / LOCK_NAME, "a+b")
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fh
        except BlockingIOError:
            if time.monotonic() > deadline:
                fh.close()
                raise BatchError(f"Another batch is writing into {out}: let it finish (or stop it) "
                                 "and run this one again.") from None
            time.sleep(0.1)
        except OSError:  # a file system without locks
            fh.close()
            return None


def _share_lock(fh) -> None:
    """Let this batch's workers hold the lock too (a second batch then also waits for them)."""
    if fh is not None:
        import fcntl

        fcntl.flock(fh, fcntl.LOCK_SH)


def sweep_temp_files(out: Path, locked: bool) -> None:
    """Remove the temporary files of interrupted writes in OUT (workers stopped or killed hard).

    Parameters
    ----------
    out : Path
    locked : bool
        This batch holds OUT's lock, so no live writer owns a temporary file
        there; without the lock only those older than STALE_TEMP_AGE go.
    """
    now = time.time()
    for folder in (out, out / THUMB_DIR, out / RECORD_DIR):
        try:
            entries = list(folder.iterdir())
        except OSError:
            continue
        for p in entries:
            try:
                if p.name.startswith(".retexture-") and p.is_file() and not p.is_symlink() \
                        and (locked or now - p.stat().st_mtime > STALE_TEMP_AGE):
                    p.unlink()
            except OSError:
                pass


@contextlib.contextmanager
def _signals_held():
    """Ctrl-C or SIGTERM again while stopping would leave the report unwritten: ignore them meanwhile."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def run_batch(originals_dir, retouched_dir, out_dir, preset: Preset | None = None, *,
              jobs: int | None = None, overwrite: bool = False, suffix: str = "",
              masks_dir=None, progress: Callable[[int, int, dict], None] | None = None,
              stream=None, show_progress: bool = True, fast_align: bool = False) -> BatchResult:
    """Restore every pair of two folders into ``out_dir``.

    Parameters
    ----------
    originals_dir, retouched_dir, out_dir, suffix, masks_dir
        See :func:`processing.batch.pairing.plan_batch`.
    preset : Preset or None
        The settings (None = the defaults).
    jobs : int or None
        Worker processes; None = all cores; 0 = in this process, no pool (the
        web app, debugging).
    overwrite : bool
        Redo pairs whose output already exists.
    progress : callable(done, total, record) or None
        Called after each image (skipped ones included), in the calling process.
    stream : text stream for the progress bar (default stderr).
    show_progress : bool
        False draws no progress bar.
    fast_align : bool
        Estimate the alignment on FAST_ALIGN_SIDE px copies instead of
        align_pair's default 1500 (about half the alignment's cost on 24 MP).
        Pairs on the same pixel grid come out the same; a small liquify may
        go undetected.

    Returns
    -------
    BatchResult
        A KeyboardInterrupt is turned into ``interrupted=True`` after the pool
        is stopped and the report of the finished images is written.

    Raises
    ------
    BatchError
        When the batch cannot start.
    """
    preset = preset or Preset()
    t0 = time.perf_counter()
    out, pair_jobs, pairing = plan_batch(originals_dir, retouched_dir, out_dir, suffix, masks_dir)
    lock = lock_out_dir(out)
    try:
        sweep_temp_files(out, locked=lock is not None)
        _share_lock(lock)
        return _run_locked(out, pair_jobs, pairing, preset, originals_dir, retouched_dir, t0, lock,
                           jobs=jobs, overwrite=overwrite, progress=progress, stream=stream,
                           show_progress=show_progress, fast_align=fast_align)
    finally:
        if lock is not None:
            lock.close()


def _run_locked(out, pair_jobs, pairing, preset, originals_dir, retouched_dir, t0, lock, *, jobs,
                overwrite, progress, stream, show_progress, fast_align) -> BatchResult:
    """run_batch once OUT is locked: what to skip, the pool, the report."""
    previous, previous_preset = previous_records(out)
    records: dict[str, dict] = {}

    for name in pairing.unmatched_retouched:
        rec = new_record(PairJob(name, "", "", ""))
        rec.update(original=None, error=f"No original named {Path(name).stem}.* in the originals folder.")
        records[name] = rec
    for name, sentence in pairing.conflicts:
        rec = new_record(PairJob(name, "", "", ""))
        rec.update(original=None, error=sentence)
        records[name] = rec

    todo: list[PairJob] = []
    for job in pair_jobs:
        if overwrite:
            todo.append(job)
            continue
        # The report, or the record a worker saved with the output when the run was
        # stopped before the report was written.
        prev, saved = previous.get(job.name), saved_record(out, job.name)
        done = already_done(job, prev, saved)
        refusal = None if done is not None else unrecorded_output(job, prev, saved)
        if done is not None:
            records[job.name] = done
        elif refusal is not None:
            rec = new_record(job)
            rec["error"] = refusal
            records[job.name] = rec
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

    def committed(job: PairJob) -> dict | None:
        """The record a worker saved with its output before it was stopped, if that output is there."""
        rec = saved_record(out, job.name)
        return rec if matches_files(job, rec) else None

    worked = 0
    executor = None
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
            me = (os.getpid(), process_identity(os.getpid()))
            lock_path = str(out / RECORD_DIR / LOCK_NAME) if lock is not None else None
            executor = ProcessPoolExecutor(max_workers=n, mp_context=_mp_context(), initializer=_worker_init,
                                           initargs=(threads, quiet, me, lock_path))
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
                        rec = committed(job) or new_record(job)
                        if rec["status"] == "failed":
                            rec["error"] = ("The worker process stopped while this image was being "
                                            "processed (out of memory?): run the batch again to retry it.")
                    except Exception as exc:  # a bug: keep the report and say so
                        rec = committed(job) or new_record(job)
                        if rec["status"] == "failed":
                            rec["error"] = f"Internal error ({type(exc).__name__}: {one_line(exc)}); please report it."
                    finish(rec)
                    worked += 1
                    if interrupt_after and worked >= interrupt_after:
                        raise KeyboardInterrupt
                maybe_report()
            executor.shutdown(wait=True)
            executor = None
    except KeyboardInterrupt:
        interrupted = True
    finally:
        with _signals_held():
            if executor is not None:  # interrupted, or a bug: stop the workers first
                _terminate_pool(executor)
            if interrupted or executor is not None:
                # Outputs a stopped worker finished, with the record it saved before renaming them.
                for job in todo:
                    if job.name not in records and (rec := committed(job)) is not None:
                        finish(rec)
                sweep_temp_files(out, locked=lock is not None)
            bar.close()
            try:
                maybe_report(force=True)
                write_contact_sheet(out, sorted_records())
            except (ImageWriteError, OSError) as exc:
                print(terminal_text(f"retexture: could not write the report: {one_line(exc)}"), file=stream)
    if previous_preset is not None and previous_preset != preset.to_dict() and not overwrite:
        n_old = sum(r["status"] == "skipped" for r in records.values())
        if n_old:
            print(f"Note: {n_old} outputs were made by an earlier run with other settings and were kept; "
                  "use --overwrite to redo them.", file=stream)
    return BatchResult(out, sorted_records(), pairing, interrupted, time.perf_counter() - t0)


# ---------------------------------------------------------------------------
# retexture batch
# ---------------------------------------------------------------------------

def run_batch_command(args) -> int:
    """Run ``retexture batch`` from its parsed arguments.

    Parameters
    ----------
    args : argparse.Namespace
        As parsed by ``retexture batch`` (:func:`processing.cli.build_parser`).

    Returns
    -------
    int
        The exit status: 0, 1 if anything failed, 130 on Ctrl-C or SIGTERM.
    """
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
        if args.preset:
            check_read_file_outside(args.preset, args.output, "preset")
        preset = Preset.load(args.preset) if args.preset else Preset()
        result = run_batch(args.originals, args.retouched, args.output, preset, jobs=args.jobs,
                           overwrite=args.overwrite, suffix=args.suffix, masks_dir=args.masks,
                           fast_align=args.fast_align)
    except KeyboardInterrupt:
        print("retexture: interrupted before the batch started; nothing was written.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (BatchError, SettingsError, ImageWriteError, OSError) as exc:
        print(terminal_text(f"retexture: error: {one_line(exc)}"), file=sys.stderr)
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
        print(terminal_text(f"{len(names)} originals have no retouched version (not processed): {shown}."))
    for rec in result.records:
        if rec["status"] == "failed":
            print(terminal_text(f"{rec['name']}: {rec['error']}"), file=sys.stderr)
    print(terminal_text(f"Batch: {done} done, {skipped} already done, {failed} failed in {result.seconds:.1f} s; "
                        f"report in {result.out_dir / REPORT_CSV}."))
    return result.exit_code

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
* Ctrl-C and SIGTERM stop cleanly: finished files are whole, nothing is
  half-written (every write is a temporary file renamed into place), the pool
  is terminated, the report lists every output written, exit status 130.
* Nothing outlives the batch: ``kill -9`` of it stops its workers within a
  second or so (parent death signal and a watchdog), and the forkserver and
  resource tracker then exit by themselves.
* Every output is accounted for: a worker saves the pair's record in
  ``OUT/.retexture_records`` before it renames the output into place, so the
  outputs of a killed run are verified against those records and listed (as
  already done) by the next run, not redone.
* A second run skips what is already done: a record (the report's, or the
  saved one) of the same inputs whose output is still there, unchanged.
  A file in OUT that no record accounts for (the studio's own) is not
  replaced: that pair fails with a sentence. ``--overwrite`` redoes everything.
* Inputs are never written to: OUT may not be an input folder or inside one,
  and a refused batch does not create OUT. Two batches into one OUT wait for
  each other (a lock in ``.retexture_records``).
* File names are printed escaped (``\\x1b[31mred.jpg``); report.csv defuses
  cells a spreadsheet would run as a formula (report.json keeps the names).

The modules, in the order a batch uses them: :mod:`~processing.batch.pairing`
(names to pairs to jobs), :mod:`~processing.batch.runner` (the pool, Ctrl-C,
resuming; the command's handler), :mod:`~processing.batch.worker` (one pair in
a worker process), :mod:`~processing.batch.report` (report files, contact
sheet, what a rerun may skip) and :mod:`~processing.batch.progress` (the bar
on stderr). The subcommand's arguments are declared in :mod:`processing.cli`
with the other commands'; its handler is :func:`run_batch_command`. The web
app's batch page uses the pairing and :func:`run_batch` through
:mod:`webapp.batch_uploads`.
"""

from processing.batch.pairing import (BatchError, Pairing, PairJob, check_out_dir, is_image_name,
                                      name_key, pair_names, plan_batch)
from processing.batch.report import (CONTACT_SHEET, REPORT_CSV, REPORT_JSON, TILE, make_contact_sheet,
                                     texture_ratios, write_reports)
from processing.batch.runner import (EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, FAST_ALIGN_SIDE,
                                     INTERRUPT_ENV, BatchResult, default_jobs, run_batch,
                                     run_batch_command)
from processing.batch.worker import NO_FACE, process_pair

__all__ = [
    "BatchError", "BatchResult", "Pairing", "PairJob", "run_batch_command",
    "run_batch", "pair_names", "plan_batch", "process_pair", "make_contact_sheet",
    "is_image_name", "name_key", "check_out_dir", "texture_ratios", "write_reports", "default_jobs",
    "CONTACT_SHEET", "REPORT_CSV", "REPORT_JSON", "TILE", "INTERRUPT_ENV", "FAST_ALIGN_SIDE",
    "NO_FACE", "EXIT_OK", "EXIT_FAILED", "EXIT_INTERRUPTED",
]

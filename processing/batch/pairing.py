"""Which retouched file goes with which original, and where its result goes.

Pairing is by file name because that is what survives a retoucher's round
trip: extensions, case and a suffix such as ``_retouched`` change, the stem
does not. Everything here only lists and compares names, so it is cheap, runs
before any worker starts, and also serves the web app's batch page (which
pairs uploads before running anything).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from processing.image_io import RAW_SUFFIX_KIND, SUFFIX_FORMAT


class BatchError(Exception):
    """The whole batch cannot start; the message is one sentence for the user."""


def is_image_name(name: str, raw: bool = False) -> bool:
    """Whether a file name is a supported, visible image.

    Parameters
    ----------
    name : str
        A file name or path.
    raw : bool
        Camera RAW files count too (originals may be RAW; retouched files never are).

    Returns
    -------
    bool
        False for hidden files (macOS ``._x.jpg``, temp files) and unsupported
        extensions.
    """
    base = Path(name).name
    suffix = Path(base).suffix.lower()
    return not base.startswith(".") and (suffix in SUFFIX_FORMAT or (raw and suffix in RAW_SUFFIX_KIND))


def is_raw_name(name: str) -> bool:
    """Whether a file name is a camera RAW file's (by its extension)."""
    return Path(name).suffix.lower() in RAW_SUFFIX_KIND


def name_key(name: str, suffix: str = "") -> str:
    """The matching key of a file name.

    Parameters
    ----------
    name : str
        A file name or path.
    suffix : str
        Ending removed from the stem (case-insensitive) when the stem is longer.

    Returns
    -------
    str
        The stem, lower case, without ``suffix``.
    """
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

    Originals may be camera RAW files. A camera shooting RAW + JPEG leaves
    both under one stem (IMG_0001.CR3, IMG_0001.JPG): the RAW is the original
    then, since it holds the texture before any in-camera noise reduction.

    Parameters
    ----------
    original_names, retouched_names : iterable of str
        File names; non-image names (and RAW files among the retouched) are ignored.
    suffix : str
        Removed from the end of retouched stems before matching (e.g.
        ``"_retouched"``); names without it match by their plain stem.

    Returns
    -------
    Pairing
    """
    def group(names, sfx, raw):
        out: dict[str, list[str]] = {}
        for n in names:
            if is_image_name(n, raw):
                out.setdefault(name_key(n, sfx), []).append(n)
        return out

    originals = group(original_names, "", raw=True)
    for key, names in originals.items():
        raws = [n for n in names if is_raw_name(n)]
        if len(names) > 1 and len(raws) == 1:
            originals[key] = raws
    retouched = group(retouched_names, suffix, raw=False)
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


def _list_images(folder: Path, raw: bool = False) -> list[str]:
    try:
        return sorted(p.name for p in folder.iterdir() if p.is_file() and is_image_name(p.name, raw))
    except OSError as exc:
        raise BatchError(f"The folder {folder} cannot be read ({exc.strerror}).") from None


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
        return True
    except ValueError:
        return False


def check_read_file_outside(path, out_dir, what: str) -> None:
    """Refuse a file the batch reads (a preset) that lies in the output folder,
    where the report, the contact sheet and the results replace files by name."""
    where, out = Path(path).expanduser().resolve(), Path(out_dir).expanduser().resolve()
    if _inside(where, out):
        raise BatchError(f"The {what} {where} is inside the output folder {out}, where the batch writes its "
                         f"results and report: keep the {what} elsewhere.")


def check_out_dir(out_dir, input_dirs: Iterable, create: bool = True) -> Path:
    """Resolve the output folder, creating it when missing.

    Parameters
    ----------
    out_dir : str or Path
    input_dirs : iterable of str, Path or None
        The input folders (None entries are ignored).
    create : bool
        False only checks: a refused batch must not leave an empty folder.

    Returns
    -------
    Path
        The resolved output folder.

    Raises
    ------
    BatchError
        When it is an input folder or inside one, is a file, or cannot be
        created or written.
    """
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
    if not create:
        return out
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
    """List and pair the inputs.

    Parameters
    ----------
    originals_dir, retouched_dir : str or Path
        May be the same folder; ``suffix`` then tells them apart (names ending
        in it are the retouched ones).
    out_dir : str or Path
        Created when missing; never an input folder or inside one.
    suffix : str
        See :func:`pair_names`.
    masks_dir : str, Path or None
        Mask images named like the photos or ``NAME_mask.*``.

    Returns
    -------
    (Path, list of PairJob, Pairing)
        The resolved output folder, the jobs and the pairing.

    Raises
    ------
    BatchError
        For missing folders or an output folder among the inputs; the output
        folder is only created once everything else has been checked.
    """
    odir, rdir = Path(originals_dir).expanduser(), Path(retouched_dir).expanduser()
    mdir = Path(masks_dir).expanduser() if masks_dir else None
    for label, d in (("originals", odir), ("retouched", rdir), ("masks", mdir)):
        if d is not None and not d.is_dir():
            raise BatchError(f"The {label} folder {d} does not exist.")
    # Everything that can refuse the batch comes before the output folder is made.
    if odir.resolve() == rdir.resolve() and not suffix:
        raise BatchError("The originals and the retouched files are in the same folder: give "
                         "the retouched files' name ending with --suffix (e.g. --suffix _retouched).")
    check_out_dir(out_dir, [odir, rdir, mdir], create=False)
    onames, rnames = _list_images(odir, raw=True), _list_images(rdir)
    if odir.resolve() == rdir.resolve():
        rnames = [n for n in onames if Path(n).stem.lower().endswith(suffix.lower()) and not is_raw_name(n)]
        onames = [n for n in onames if n not in rnames]
    pairing = pair_names(onames, rnames, suffix)
    masks = {}
    if mdir is not None:
        for n in _list_images(mdir):
            masks.setdefault(name_key(n, "_mask"), n)
    out = check_out_dir(out_dir, [odir, rdir, mdir])
    jobs = []
    for key, o, r in pairing.pairs:
        m = masks.get(key) or masks.get(name_key(r, ""))
        jobs.append(PairJob(name=r, original=str(odir / o), retouched=str(rdir / r),
                            output=str(out / r), mask=str(mdir / m) if m else None))
    return out, jobs, pairing

"""The batch page's files: uploads and zips in, a zip of the results out.

A browser hands over loose files or zips in memory, folders inside a zip
instead of two upload fields, and macOS junk (``__MACOSX``, ``._x.jpg``). The
batch itself (:func:`processing.batch.run_batch`) wants two folders on disk,
so the uploads are written into a private temporary folder (mode 0700,
deleted after the run) and the results come back as one zip to download.
No Streamlit here: the page only calls these functions.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path
from typing import Callable, Iterable

from processing.batch import (CONTACT_SHEET, REPORT_CSV, REPORT_JSON, BatchError, BatchResult,
                              is_image_name, run_batch)
from processing.batch.report import one_line
from processing.settings import Preset

__all__ = ["MAX_UNZIPPED_BYTES", "collect_uploads", "split_uploads", "zip_folder", "run_batch_on_uploads"]

#: Zip uploads: refuse archives that expand beyond this (zip bombs).
MAX_UNZIPPED_BYTES = 4 * 1024**3

_ORIGINAL_WORDS = ("orig", "before", "source", "raw", "input", "unretouched")
_RETOUCHED_WORDS = ("retouch", "after", "ai", "edit", "output", "smooth")


def collect_uploads(files: Iterable[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """Image files from uploads, zips expanded.

    Parameters
    ----------
    files : iterable of (file name, bytes)
        What was uploaded: images and zips.

    Returns
    -------
    list of (path inside the upload, bytes)
        Paths keep a zip's folders ('originals/a.jpg'); hidden files, macOS
        resource forks and non-images are dropped.

    Raises
    ------
    BatchError
        For a damaged zip or one that expands beyond MAX_UNZIPPED_BYTES.
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
                raise BatchError(f"{name} is not a readable zip ({one_line(exc)}).") from None
        elif is_image_name(name):
            out.append((Path(name).name, data))
    return out


def split_uploads(originals: list[tuple[str, bytes]], retouched: list[tuple[str, bytes]],
                  suffix: str = "") -> tuple[list[tuple[str, bytes]], list[tuple[str, bytes]]]:
    """Originals and retouched files from what was uploaded.

    When everything came in one upload, it is split by its two top-level
    folders (the one named like 'originals'/'before' holds the originals) or,
    for flat names, by ``suffix`` (names ending in it are the retouched ones).

    Parameters
    ----------
    originals, retouched : list of (path, bytes)
        From :func:`collect_uploads`; either may be empty.
    suffix : str
        Ending of the retouched files' stems.

    Returns
    -------
    (list of (name, bytes), list of (name, bytes))
        Originals and retouched files, base names only.

    Raises
    ------
    BatchError
        When one upload cannot be told apart into the two sides.
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
    """A zip of the named files of a folder.

    Parameters
    ----------
    folder : Path
    names : iterable of str
        File names in ``folder``; missing ones are left out.

    Returns
    -------
    bytes
        The zip: images stored as they are, reports and TIFFs deflated.
    """
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
                         progress: Callable[[int, int, dict], None] | None = None
                         ) -> tuple[bytes, BatchResult]:
    """Restore uploaded pairs in a private temporary folder, deleted afterwards.

    Parameters
    ----------
    originals, retouched : list of (name, bytes)
        As from :func:`split_uploads`.
    preset : Preset or None
        The settings (None = the defaults).
    suffix : str
        Ending of the retouched files' stems, ignored when pairing.
    jobs : int
        Worker processes; 0 = in this process.
    progress : callable(done, total, record) or None
        Called after each image.

    Returns
    -------
    (bytes, BatchResult)
        A zip of the results and the reports, and what the batch did (its
        ``out_dir`` no longer exists).
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

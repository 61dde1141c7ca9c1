"""The batch page's files: uploads and zips in, a zip of the results out.

A browser hands over loose files or zips in memory, folders inside a zip
instead of two upload fields, and macOS junk (``__MACOSX``, ``._x.jpg``). The
batch itself (:func:`processing.batch.run_batch`) wants two folders on disk.

* Each upload is written once into the session's private temporary folder
  (:class:`UploadFolder`, mode 0700, removed with the session): a zip's
  photos are streamed to disk entry by entry, never held in memory, and a
  page rerun reuses them.
* A zip bomb is refused before anything is unpacked: a zip whose photos would
  expand more than MAX_ZIP_RATIO times its size, or the uploads of a session
  beyond MAX_UNZIPPED_BYTES. The bytes actually written are counted too, so a
  zip that lies about its sizes stops there.
* Every folder is named ``retexture-batch-*`` and records the server process
  that owns it: a server killed in the middle of a batch leaves its folder
  behind, and the next one removes such folders once they are a day old
  (:func:`remove_stale_batch_folders`).

No Streamlit here: the page only calls these functions.
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import tempfile
import threading
import time
import weakref
import zipfile
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Union

from processing.batch import (CONTACT_SHEET, REPORT_CSV, REPORT_JSON, BatchError, BatchResult,
                              is_image_name, run_batch)
from processing.batch.report import one_line
from processing.batch.worker import process_identity
from processing.settings import Preset

__all__ = ["MAX_UNZIPPED_BYTES", "MAX_ZIP_RATIO", "FOLDER_PREFIX", "UploadFolder", "expand_upload",
           "split_uploads", "zip_folder", "run_batch_on_uploads", "remove_stale_batch_folders",
           "remove_stale_batch_folders_once"]

#: What the uploads of one session may unpack to on disk, bytes.
MAX_UNZIPPED_BYTES = 4 * 1024**3
#: Photos hardly compress (JPEG, PNG and WebP not at all, a TIFF a few times); a zip
#: that expands more than this many times its size is a zip bomb.
MAX_ZIP_RATIO = 100
#: Below this expanded size the ratio is not checked (a few flat test images compress a lot), bytes.
RATIO_FREE_BYTES = 64 * 1024**2
#: Name prefix of every temporary folder of the batch page.
FOLDER_PREFIX = "retexture-batch-"
#: A left-behind folder is removed once it is this old, s.
STALE_AGE = 24 * 3600.0
_OWNER_FILE = ".owner"
_CHUNK = 1024 * 1024

Source = Union[bytes, bytearray, memoryview, BinaryIO]
Payload = Union[bytes, Path]

_ORIGINAL_WORDS = ("orig", "before", "source", "raw", "input", "unretouched")
_RETOUCHED_WORDS = ("retouch", "after", "ai", "edit", "output", "smooth")


# ---------------------------------------------------------------------------
# Private folders
# ---------------------------------------------------------------------------

def _private_folder() -> Path:
    """A new ``retexture-batch-*`` folder (mode 0700) marked with the process that owns it."""
    folder = Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX))
    (folder / _OWNER_FILE).write_text(f"{os.getpid()} {process_identity(os.getpid())}\n")
    return folder


def _owner_alive(folder: Path) -> bool:
    """Whether the process recorded in the folder's owner file still runs."""
    try:
        pid, identity = (folder / _OWNER_FILE).read_text().split()
        return str(process_identity(int(pid))) == identity
    except (OSError, ValueError):
        return False


def remove_stale_batch_folders(max_age: float = STALE_AGE, temp_dir=None) -> list[Path]:
    """Remove the batch page's temporary folders a killed server left behind.

    Only directories (never a symbolic link, never followed) in the system's
    temporary folder whose name starts with FOLDER_PREFIX, owned by this
    user, not changed for ``max_age`` seconds and whose owning process no
    longer runs. Their contents are removed without following links.

    Parameters
    ----------
    max_age : float
        Age of the folder (its modification time), s.
    temp_dir : str, Path or None
        Where to look (None: ``tempfile.gettempdir()``).

    Returns
    -------
    list of Path
        The folders removed.
    """
    temp_dir = Path(temp_dir or tempfile.gettempdir())
    uid = os.getuid() if hasattr(os, "getuid") else None
    now = time.time()
    removed = []
    try:
        entries = list(os.scandir(temp_dir))
    except OSError:
        return removed
    for entry in entries:
        if not entry.name.startswith(FOLDER_PREFIX):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISDIR(st.st_mode) or (uid is not None and st.st_uid != uid):
            continue
        if now - st.st_mtime < max_age or _owner_alive(Path(entry.path)):
            continue
        try:
            shutil.rmtree(entry.path)  # removes links inside, never what they point to
            removed.append(Path(entry.path))
        except OSError:
            pass
    return removed


_STALE_DONE = False
_STALE_LOCK = threading.Lock()


def remove_stale_batch_folders_once() -> None:
    """:func:`remove_stale_batch_folders` the first time it is called in this process (the server's start)."""
    global _STALE_DONE
    with _STALE_LOCK:
        if not _STALE_DONE:
            _STALE_DONE = True
            remove_stale_batch_folders()


# ---------------------------------------------------------------------------
# Uploads to disk
# ---------------------------------------------------------------------------

def _size_text(n: int) -> str:
    for unit, size in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


def _open_source(source: Source) -> BinaryIO:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return io.BytesIO(source)
    source.seek(0)
    return source


def _source_size(fh: BinaryIO) -> int:
    fh.seek(0, io.SEEK_END)
    size = fh.tell()
    fh.seek(0)
    return size


def _copy(src: BinaryIO, dst: Path, limit: int, name: str) -> int:
    """Stream ``src`` into ``dst`` in chunks; refuse past ``limit`` bytes. Returns the bytes written."""
    written = 0
    with open(dst, "xb") as out:
        while chunk := src.read(_CHUNK):
            written += len(chunk)
            if written > limit:
                raise BatchError(f"{name} expands to more than the {_size_text(MAX_UNZIPPED_BYTES)} the "
                                 "uploads of a batch may take on disk: upload fewer photos at a time.")
            out.write(chunk)
    return written


def _zip_photos(zf: zipfile.ZipFile) -> list[tuple[str, zipfile.ZipInfo]]:
    """(path inside the zip, entry) of the photos of a zip, without folders, links and macOS junk."""
    out = []
    for info in zf.infolist():
        if info.is_dir() or stat.S_ISLNK(info.external_attr >> 16):
            continue
        parts = [p for p in info.filename.replace("\\", "/").split("/") if p]
        if not parts or "__MACOSX" in parts or any(p.startswith(".") for p in parts):
            continue
        if is_image_name(parts[-1], raw=True):  # originals may be RAW; pairing sorts them out
            out.append(("/".join(parts), info))
    return out


def expand_upload(name: str, source: Source, dest: Path,
                  budget: int = MAX_UNZIPPED_BYTES) -> tuple[list[tuple[str, Path]], int]:
    """Write one upload's photos into ``dest``, a zip's entries streamed one by one.

    Parameters
    ----------
    name : str
        The uploaded file's name (``.zip`` is unpacked).
    source : bytes or binary file object
        Its contents (a Streamlit upload is a BytesIO).
    dest : Path
        An empty folder; files are stored under names of our own.
    budget : int
        Bytes the upload may take on disk.

    Returns
    -------
    (list of (path inside the upload, Path), int)
        The photos (paths keep a zip's folders, 'originals/a.jpg'; hidden
        files, macOS resource forks, links and non-images are dropped) and the
        bytes written.

    Raises
    ------
    BatchError
        For a damaged or encrypted zip, a zip that expands more than
        MAX_ZIP_RATIO times its size (beyond RATIO_FREE_BYTES), or uploads
        beyond ``budget``. Nothing is written then.
    """
    fh = _open_source(source)
    if not name.lower().endswith(".zip"):
        if not is_image_name(name, raw=True):
            return [], 0
        target = dest / f"0{Path(Path(name).name).suffix.lower()}"
        return [(Path(name).name, target)], _copy(fh, target, budget, name)
    packed = _source_size(fh)
    files, written = [], 0
    try:
        with zipfile.ZipFile(fh) as zf:
            photos = _zip_photos(zf)
            expanded = sum(info.file_size for _, info in photos)
            if expanded > max(MAX_ZIP_RATIO * packed, RATIO_FREE_BYTES):
                raise BatchError(f"{name} would expand from {_size_text(packed)} to {_size_text(expanded)}, more "
                                 f"than {MAX_ZIP_RATIO} times its size, which no zip of photos does: it was "
                                 "refused as a possible zip bomb.")
            if expanded > budget:
                raise BatchError(f"{name} expands to {_size_text(expanded)}, more than the "
                                 f"{_size_text(MAX_UNZIPPED_BYTES)} the uploads of a batch may take on disk: "
                                 "upload fewer photos at a time.")
            for i, (path, info) in enumerate(photos):
                target = dest / f"{i}{Path(path).suffix.lower()}"
                with zf.open(info) as src:  # checks the CRC and stops at the declared size
                    written += _copy(src, target, budget - written, name)
                files.append((path, target))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as exc:
        raise BatchError(f"{name} is not a readable zip ({one_line(exc)}).") from None
    except (RuntimeError, NotImplementedError) as exc:  # encrypted, or a compression zipfile lacks
        raise BatchError(f"{name} cannot be unpacked ({one_line(exc)}): zip the photos again without "
                         "a password.") from None
    return files, written


class UploadFolder:
    """The uploads of one browser session on disk, each unpacked once.

    A private ``retexture-batch-*`` folder (mode 0700), removed when the
    object is garbage-collected (Streamlit drops a session's state some time
    after its tab closes), at :meth:`cleanup`, or at interpreter exit.

    Parameters
    ----------
    max_bytes : int
        What all the uploads together may take on disk.
    """

    def __init__(self, max_bytes: int = MAX_UNZIPPED_BYTES):
        self.root = _private_folder()
        self.max_bytes = max_bytes
        self._files: dict[str, list[tuple[str, Path]]] = {}
        self._sizes: dict[str, int] = {}
        self._count = 0
        self._finalizer = weakref.finalize(self, shutil.rmtree, str(self.root), True)

    @property
    def used(self) -> int:
        """Bytes the kept uploads take."""
        return sum(self._sizes.values())

    def add(self, name: str, source: Source, key: str | None = None) -> list[tuple[str, Path]]:
        """The photos of one upload, unpacked the first time its ``key`` is seen.

        Parameters
        ----------
        name : str
            The uploaded file's name.
        source : bytes or binary file object
            Its contents; not read again for a key already added.
        key : str or None
            Identifies the upload (Streamlit's ``file_id``); None: the name.

        Returns
        -------
        list of (path inside the upload, Path)

        Raises
        ------
        BatchError
            As :func:`expand_upload`; nothing of that upload is kept.
        """
        key = name if key is None else key
        if key not in self._files:
            dest = self.root / f"u{self._count}"
            self._count += 1
            dest.mkdir()
            try:
                files, size = expand_upload(name, source, dest, self.max_bytes - self.used)
            except BaseException:
                shutil.rmtree(dest, ignore_errors=True)
                raise
            self._files[key], self._sizes[key] = files, size
        return list(self._files[key])

    def collect(self, uploads: Iterable[tuple[str, str, Source]]) -> list[tuple[str, Path]]:
        """The photos of several uploads, given as (name, key, contents)."""
        return [f for name, key, source in uploads for f in self.add(name, source, key)]

    def keep(self, keys: Iterable[str]) -> None:
        """Forget (and delete from disk) the uploads whose key is not in ``keys``."""
        keys = set(keys)
        for key in [k for k in self._files if k not in keys]:
            for _, path in self._files.pop(key):
                path.unlink(missing_ok=True)
            self._sizes.pop(key, None)

    def cleanup(self) -> None:
        """Delete the folder now."""
        self._finalizer()


# ---------------------------------------------------------------------------
# Which side is which
# ---------------------------------------------------------------------------

def split_uploads(originals: list[tuple[str, Payload]], retouched: list[tuple[str, Payload]],
                  suffix: str = "") -> tuple[list[tuple[str, Payload]], list[tuple[str, Payload]]]:
    """Originals and retouched files from what was uploaded.

    When everything came in one upload, it is split by its two top-level
    folders (the one named like 'originals'/'before' holds the originals) or,
    for flat names, by ``suffix`` (names ending in it are the retouched ones).

    Parameters
    ----------
    originals, retouched : list of (path, file on disk or bytes)
        From :meth:`UploadFolder.collect`; either may be empty.
    suffix : str
        Ending of the retouched files' stems.

    Returns
    -------
    (list of (name, file), list of (name, file))
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


def _strip_common_folder(files: list[tuple[str, Payload]]) -> list[tuple[str, Payload]]:
    """Drop leading folders every path shares ('shoot/originals/a.jpg' -> 'originals/a.jpg')."""
    while files and all("/" in p for p, _ in files) and len({p.split("/")[0] for p, _ in files}) == 1:
        files = [(p.split("/", 1)[1], d) for p, d in files]
    return files


def _flatten(files: list[tuple[str, Payload]]) -> list[tuple[str, Payload]]:
    """Base names only (the first of equal names wins; the pairing reports conflicts by stem)."""
    seen, out = set(), []
    for path, data in files:
        name = Path(path).name
        if name.lower() not in seen:
            seen.add(name.lower())
            out.append((name, data))
    return out


# ---------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------

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


def _place(data: Payload, target: Path) -> None:
    """Put an upload into the run's folder: a hard link to the unpacked file (no copy), or its bytes."""
    if isinstance(data, Path):
        try:
            os.link(data, target)
        except OSError:  # another file system, or no hard links
            shutil.copyfile(data, target)
    else:
        target.write_bytes(data)


def run_batch_on_uploads(originals: list[tuple[str, Payload]], retouched: list[tuple[str, Payload]],
                         preset: Preset | None = None, suffix: str = "", jobs: int = 0,
                         progress: Callable[[int, int, dict], None] | None = None
                         ) -> tuple[bytes, BatchResult]:
    """Restore uploaded pairs in a private temporary folder, deleted afterwards.

    Parameters
    ----------
    originals, retouched : list of (name, file on disk or bytes)
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
    root = _private_folder()
    try:
        for folder, files in (("originals", originals), ("retouched", retouched)):
            (root / folder).mkdir()
            for name, data in files:
                _place(data, root / folder / Path(name).name)
        result = run_batch(root / "originals", root / "retouched", root / "out", preset, jobs=jobs,
                           suffix=suffix, progress=progress, show_progress=False)
        names = [r["output"] for r in result.records if r["status"] in ("done", "skipped") and r.get("output")]
        names += [REPORT_CSV, REPORT_JSON, CONTACT_SHEET]
        data = zip_folder(result.out_dir, names)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return data, result

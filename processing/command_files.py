"""The files one command reads and writes, checked together before anything is written.

A command names every file it reads (photos, a mask, a preset) and every file it
will write (the result, a saved preset, a mask) in one :class:`CommandFiles`.
:meth:`CommandFiles.check` runs before any work: each output is compared with
every input and with the other outputs as the file system sees them, so a
symbolic link, a hard link or a ``../`` spelling of an input is still that input.
:meth:`CommandFiles.write_all` then writes all outputs as temporary files next to
their targets and renames them into place only once every one of them is
complete: a failure leaves no output at all, never a half-written one and never
some outputs without the others.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from processing.image_io import ImageWriteError, same_file, write_all_or_nothing

#: A file name to suggest when an output is given as a folder, by the output's role.
EXAMPLE_NAMES = {"result": "restored.jpg", "mask": "mask.png", "saved preset": "preset.json"}


def shown(path: Path) -> str:
    """A path as the user typed it, never an empty name ('.' has no name)."""
    return path.name or str(path)


@dataclass
class CommandFiles:
    """What one command reads and writes; see the module's description.

    ``reads`` and ``writes`` hold ``(path, what)`` pairs, where ``what`` is the
    file's role in the user's words ("original", "mask", "saved preset").
    """

    reads: list[tuple[Path, str]] = field(default_factory=list)
    writes: list[tuple[Path, str]] = field(default_factory=list)

    def read(self, path, what: str) -> Path:
        """Record a file the command reads; returns it as a Path."""
        path = Path(path)
        self.reads.append((path, what))
        return path

    def write(self, path, what: str) -> Path:
        """Record a file the command will write; returns it as a Path."""
        path = Path(path)
        self.writes.append((path, what))
        return path

    def check(self) -> None:
        """Refuse, with one sentence, any output that is an input, another output,
        a folder, or in a missing or read-only folder."""
        for i, (path, what) in enumerate(self.writes):
            for src, src_what in self.reads:
                if same_file(path, src):
                    raise ImageWriteError(
                        f"The {what} file {shown(path)} is the {src_what} you gave; inputs are never "
                        "overwritten, so choose another name.")
            for other, other_what in self.writes[:i]:
                if same_file(path, other):
                    raise ImageWriteError(
                        f"The {other_what} and the {what} would both be written to {shown(path)}; "
                        "give them different names.")
            _check_writable(path, what)

    def write_all(self, contents: dict) -> list[Path]:
        """Write ``{path: bytes}`` for every recorded output, all or nothing.

        The checks run again first (a file may have appeared meanwhile). Each
        output goes to a temporary file in its own folder (same file system, so
        the final rename is atomic); the renames happen only after all of them
        were written in full.
        """
        self.check()
        return write_all_or_nothing({path: contents[path] for path, _ in self.writes})


def _check_writable(path: Path, what: str) -> None:
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise ImageWriteError(f"The {what} file {shown(path)} is a folder; give a file name "
                              f"such as {path / EXAMPLE_NAMES.get(what, 'restored.jpg')}.")
    if folder.exists() and not folder.is_dir():
        raise ImageWriteError(f"{folder}, where the {what} file should go, is a file, not a folder; "
                              "choose another place.")
    if not folder.is_dir():
        raise ImageWriteError(f"The folder {folder} for the {what} file does not exist; create it or choose another.")
    if not os.access(folder, os.W_OK):
        raise ImageWriteError(f"The folder {folder} for the {what} file is not writable; choose another.")


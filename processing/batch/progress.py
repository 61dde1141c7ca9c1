"""Progress of a batch on stderr: pairs done, rate and time left.

A batch of a few hundred 24 MP pairs runs for an hour, in a terminal or from a
script whose stderr goes to a log file. tqdm draws the bar and works out the
rate and the time left. On a terminal that is one line redrawn in place. A log
gets no carriage returns: tqdm's own drawing is held back (``delay=inf``) and
one plain line is written per finished pair, the same bar and figures followed
by the pair's name and status, a failure with its error sentence, so the log
says which file failed and why while the batch is still running.

File names are the studio's, not ours: one may hold a terminal escape
sequence. Every line the batch prints goes through :func:`terminal_text`.
"""

from __future__ import annotations

import math
import os
import sys

from tqdm import tqdm

#: Bar, count, failures (the postfix), rate and time left, as tqdm formats them.
BAR_FORMAT = "[{bar:20}] {n_fmt}/{total_fmt}{postfix}, {rate_fmt}, {remaining} left"


class Progress:
    """A tqdm bar for a batch, readable on a terminal and in a log.

    Parameters
    ----------
    total : int
        Number of images the batch reports on (skipped and failed included).
    stream : text stream or None
        Where to draw (default stderr). A terminal gets a bar redrawn in place,
        anything else one line per image.
    enabled : bool
        False draws nothing (the web app, which shows its own progress) but
        still counts.

    Attributes
    ----------
    count : int
        Images reported so far.
    failed : int
        Of which failed.
    """

    def __init__(self, total: int, stream=None, enabled: bool = True):
        self.total, self.stream, self.enabled = total, stream or sys.stderr, enabled
        self.count = self.failed = 0
        self.tty = _is_terminal(self.stream)
        self._bar = tqdm(
            total=total, file=self.stream, disable=not enabled, unit="pair", leave=True,
            smoothing=0,  # the rate is the run's average: (pairs worked) / (time since the start)
            mininterval=0,  # a pair takes seconds: redraw on every one
            bar_format=BAR_FORMAT + ("  {desc}" if self.tty else ""),
            ascii=None if self.tty else "-#", dynamic_ncols=self.tty,
            delay=0 if self.tty else math.inf)  # not a terminal: update() writes the lines

    def update(self, rec: dict, worked: bool = True) -> None:
        """Count one image.

        Parameters
        ----------
        rec : dict
            Its report record (``name``, ``status``, ``error``).
        worked : bool
            It was processed now; False for one already done or that could not
            be paired, which does not count in the rate.
        """
        self.count += 1
        self.failed += rec["status"] == "failed"
        if not self.enabled:
            return
        if not worked:
            self._bar.initial += 1  # tqdm's average rate is (n - initial) / elapsed
        self._bar.set_postfix_str(f"{self.failed} failed" if self.failed else "", refresh=False)
        self._bar.set_description_str(terminal_text(rec["name"]), refresh=False)
        self._bar.update(1)
        if not self.tty:
            status = rec["status"] + (f": {rec['error']}" if rec.get("error") else "")
            line = self._bar.format_meter(**{**self._bar.format_dict, "ncols": None})  # a log line is not cut
            self.stream.write(terminal_text(f"{line} | {rec['name']}: {status}") + "\n")
            self.stream.flush()

    def close(self) -> None:
        """Leave the bar's last state on its own line (a terminal) and release it."""
        self._bar.close()


_SHORT_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def terminal_text(text: str) -> str:
    """Text safe to print on a terminal: control characters shown escaped, as repr shows them.

    Parameters
    ----------
    text : str
        A line that may hold file names (``"\\x1b[31mred.jpg"``).

    Returns
    -------
    str
        The same line with every non-printable character (escapes, tabs, line
        breaks, invisible format characters) written as ``\\x1b``, ``\\t``,
        ``\\u200b``...; a byte that was not UTF-8 in a file name (decoded by
        Python as a lone surrogate) as ``\\xNN``. Accented letters stay as they are.
    """
    if text.isprintable():
        return text
    out = []
    for c in text:
        if c.isprintable():
            out.append(c)
        elif c in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[c])
        elif 0xDC80 <= ord(c) <= 0xDCFF:  # os.fsdecode's stand-in for an undecodable byte
            out.append(f"\\x{ord(c) - 0xDC00:02x}")
        elif ord(c) < 0x100:
            out.append(f"\\x{ord(c):02x}")
        elif ord(c) < 0x10000:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(f"\\U{ord(c):08x}")
    return "".join(out)


def _is_terminal(stream) -> bool:
    """A terminal with a width (tqdm draws nothing on a zero-size pseudo-terminal)."""
    try:
        return stream.isatty() and os.get_terminal_size(stream.fileno()).columns > 0
    except (AttributeError, OSError, ValueError):
        return False

"""How the process holds large arrays: reuse, return, and sparse frames.

Keep freed memory for reuse in processes that restore pair after pair (batch workers).

A 24 MP restore allocates and frees several arrays of 30-300 MB. glibc hands
blocks that large back to the kernel on every free (they are mmap'ed), so the
next call pays for fresh zeroed pages again: on two cores that page-fault work
is a third of match mode's time. Telling the allocator to serve them from its
heap, and to trim the heap only above 1 GiB of free space, lets each call reuse
the previous call's pages. Applications call this once at start; the library
never does it on import.

A one-shot process (the command line) restoring very large photos wants its
peak to be the arrays it holds, not what the allocator kept
(:func:`return_freed_memory`): frames and masks go back to the system as soon
as they are freed, while a band's temporaries (a few MB, freed and made again
hundreds of times) are reused from a heap that keeps at most a few of them:
fresh pages for each band cost 0.4 s of a 24 MP default restore. Up to 50 MP
it reuses like a batch worker (:func:`for_one_restore`): the peak is about
the same and fresh pages cost time. The web server returns freed memory: it
must give a closed session's photos back (:func:`trim_freed_memory` after
dropping them).

A full-frame mask that is zero outside a face (:func:`sparse_zeros`) costs only
the face's box, as long as its pages are small ones.
"""

from __future__ import annotations

import ctypes
import gc
import sys

import numpy as np

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_MMAP_MAX = -4
M_ARENA_MAX = -8
TRIM_THRESHOLD = 1 << 30
#: With :func:`return_freed_memory`, blocks from this size up (frames, masks)
#: are mapped on their own and unmapped when freed ...
RETURN_THRESHOLD = 4 << 20
#: ... and the heap that serves smaller ones (band temporaries) keeps at most
#: this much free memory at its top (per arena).
RETURN_TRIM_THRESHOLD = 16 << 20
MADV_NOHUGEPAGE = 15
PAGE = 4096

_LIBC = None


def _libc():
    global _LIBC
    if _LIBC is None and sys.platform.startswith("linux"):
        try:
            _LIBC = ctypes.CDLL("libc.so.6", use_errno=True)
        except OSError:
            _LIBC = False
    return _LIBC or None


def reuse_freed_memory() -> bool:
    """Ask glibc to keep large freed blocks for reuse, in one heap that every
    thread shares. Returns whether it took effect (False on other platforms or
    C libraries, where nothing changes). Call it before any thread starts.

    One heap: by default each thread that allocates gets a heap of its own
    (the row-band threads of a restore, the face model's), and what one
    thread freed and kept is seldom reused by another, so a batch worker grew
    from 610 MB at its first 24 MP pair to 780-860 MB by its fifth. With one
    shared heap it stays near 600 MB, and a pair took no longer (0.90 s
    against 0.92-0.94 s, median of 6).
    """
    mallopt = _mallopt()
    return mallopt is not None and bool(mallopt(M_MMAP_MAX, 0)) and \
        bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)) and bool(mallopt(M_ARENA_MAX, 1))


def return_freed_memory() -> bool:
    """Ask glibc to give blocks of RETURN_THRESHOLD (4 MiB) and more back to the
    system as soon as they are freed, and to keep at most
    RETURN_TRIM_THRESHOLD (16 MiB) of smaller freed ones. Returns whether it
    took effect.

    By default glibc raises its threshold for that after each large free (up to
    32 MiB), so a restore's band temporaries end up kept in per-thread heaps:
    100-200 MB that a one-shot process holds to the end for nothing. Returning
    every block of 1 MiB and more instead made each band fault in fresh pages
    (3.0 s against 2.5 s for the 24 MP default restore, 490 against 570 MB at
    the peak). For command-line tools, called once at start; the opposite of
    :func:`reuse_freed_memory`.
    """
    mallopt = _mallopt()
    return mallopt is not None and bool(mallopt(M_MMAP_THRESHOLD, RETURN_THRESHOLD)) and \
        bool(mallopt(M_TRIM_THRESHOLD, RETURN_TRIM_THRESHOLD))


#: A one-shot restore keeps its freed memory for reuse (:func:`reuse_freed_memory`)
#: while its largest photo has at most this many pixels. At 24 MP the default
#: restore then faults in 76 000 fresh pages instead of 173 000 (0.3 s less
#: CPU, 0.1-0.2 s less time) and peaks within 5 % of returning them; at 144 MP
#: what the allocator keeps adds up (2.2 GB at the peak against 1.9).
ONE_SHOT_REUSE_MAX_PIXELS = 50_000_000


def for_one_restore(largest_pixels: int | None):
    """The memory setting for a process that restores one pair and exits:
    :func:`reuse_freed_memory` for photos of up to ONE_SHOT_REUSE_MAX_PIXELS,
    :func:`return_freed_memory` for larger ones or when the size is unknown
    (None). Call what it returns before any thread starts."""
    if largest_pixels is not None and largest_pixels <= ONE_SHOT_REUSE_MAX_PIXELS:
        return reuse_freed_memory
    return return_freed_memory


def trim_freed_memory() -> None:
    """Collect garbage and hand the heap's free pages back to the system (glibc's
    malloc_trim): what a server calls after dropping a closed session's photos."""
    gc.collect()
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


_SETTLED = False


def settle_long_lived_objects() -> bool:
    """Take every object alive now out of the cyclic garbage collector's scans,
    once per process (``gc.freeze``); returns whether this call did it.

    For a server, after its first page run: the libraries it imported, the
    face model and its own modules stay alive as long as the process, yet a
    full collection walks them all. Streamlit collects after every script
    run, and on the web app's objects that took 0.1-0.2 s with the
    interpreter locked, so the picture a slider move had just made waited
    that long to be sent. Objects made later are collected as before, and a
    settled object is still freed when its last reference goes.
    """
    global _SETTLED
    if _SETTLED:
        return False
    gc.collect()  # garbage of the moment is freed now, not settled for good
    gc.freeze()
    _SETTLED = True
    return True


def _mallopt():
    libc = _libc()
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is not None:
        mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return mallopt


def sparse_zeros(shape, dtype=np.float32) -> np.ndarray:
    """A zero-filled array whose untouched parts cost no memory.

    Fresh zeroed memory only becomes resident where it is written, page by
    page; but numpy asks for 2 MB huge pages on large arrays, and one of those
    spans 40 rows of a 144 MP float32 frame, so painting a face's box makes
    whole rows resident (150 MB instead of 40 for a face a fifth of the frame
    wide). This asks for small pages instead (Linux; elsewhere, or when the
    allocator hands out reused memory, it is a plain ``np.zeros``).
    """
    out = np.zeros(shape, dtype)
    libc = _libc()
    if libc is None or out.nbytes < (1 << 22):
        return out
    start = -(-out.ctypes.data // PAGE) * PAGE
    end = (out.ctypes.data + out.nbytes) // PAGE * PAGE
    if end > start:
        madvise = libc.madvise
        madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        madvise(start, end - start, MADV_NOHUGEPAGE)  # best effort: the result is the same array
    return out

"""reuse_freed_memory: large freed blocks stay with the process for the next restore."""

import subprocess
import sys

import pytest

RSS_AFTER_FREE = """
import numpy as np
from processing.memory import reuse_freed_memory
took = reuse_freed_memory() if {apply} else False
def rss_mb():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * 4096 / 1e6
a = np.ones(200_000_000, np.uint8)
before = rss_mb()
del a
print(took, before - rss_mb())
"""


def freed_mb(apply: bool) -> tuple[str, float]:
    out = subprocess.run([sys.executable, "-c", RSS_AFTER_FREE.format(apply=apply)], capture_output=True,
                         text=True, check=True).stdout.split()
    return out[0], float(out[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator setting")
def test_freed_pages_are_kept_only_with_the_setting():
    took, released_with = freed_mb(True)
    _, released_without = freed_mb(False)
    assert took == "True"
    assert released_without > 150  # by default glibc returns a 200 MB block at once
    assert released_with < 20      # with the setting it keeps it for the next array


SPARSE_FRAME = """
import numpy as np
from processing.memory import sparse_zeros
def rss_mb():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * 4096 / 1e6
before = rss_mb()
frame = {make}((8000, 8000), np.float32)   # 256 MB of address space
frame[1000:5000, 3000:3400] = 1.0          # a 'face' 400 px wide: 6.4 MB of values
print(rss_mb() - before)
"""


def painted_mb(make: str) -> float:
    code = SPARSE_FRAME.format(make=make)
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="page sizes of Linux mappings")
def test_a_sparse_frame_costs_only_what_is_painted():
    # With small pages only the pages the painted columns touch become resident
    # (4000 rows x at most 2 pages of 4 KB); numpy's huge pages make whole rows
    # resident wherever the kernel grants them (all 128 MB of those rows here).
    sparse = painted_mb("sparse_zeros")
    assert sparse < 4000 * 2 * 4096 / 1e6 + 4
    assert sparse <= painted_mb("np.zeros") + 1


RSS_AFTER_FREES = """
import numpy as np
from processing.memory import return_freed_memory
took = return_freed_memory() if {apply} else False
def rss_mb():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * 4096 / 1e6
big = np.ones(24_000_000, np.uint8); del big   # glibc now serves blocks below 24 MB from its heap
base = rss_mb()
frame = np.ones(20_000_000, np.uint8); del frame   # a frame or a mask
after_frame = rss_mb() - base
bands = [np.ones(3_000_000, np.uint8) for _ in range(16)]   # band temporaries, 48 MB
del bands
print(took, after_frame, rss_mb() - base)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator setting")
def test_frames_go_back_and_few_band_temporaries_are_kept_with_return_freed_memory():
    from processing.memory import RETURN_TRIM_THRESHOLD

    def kept(apply):
        out = subprocess.run([sys.executable, "-c", RSS_AFTER_FREES.format(apply=apply)], capture_output=True,
                             text=True, check=True).stdout.split()
        return out[0], float(out[1]), float(out[2])

    took, frame_with, bands_with = kept(True)
    _, frame_without, bands_without = kept(False)
    assert took == "True"
    # By default the freed frame stays with the process.
    assert frame_without > 15, (frame_without, bands_without)
    # With the setting the frame goes back when freed, and the heap keeps at
    # most its trim threshold of the bands (for the next band to reuse).
    assert frame_with < 3
    assert bands_with < RETURN_TRIM_THRESHOLD / 1e6 + 4


RSS_ACROSS_THREADS = """
import threading
import numpy as np
from processing.memory import reuse_freed_memory
took = reuse_freed_memory() if {apply} else False
def rss_mb():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * 4096 / 1e6
def bands():   # a restore's band temporaries: 48 MB, freed at the end
    kept = [np.ones(3_000_000, np.uint8) for _ in range(16)]
    del kept
bands()   # the main thread frees them, and the allocator keeps them
base = rss_mb()
other = threading.Thread(target=bands)   # a row-band thread of the next restore
other.start()
other.join()
print(took, rss_mb() - base)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator setting")
def test_what_one_thread_freed_another_reuses_with_the_setting():
    def grown(apply):
        out = subprocess.run([sys.executable, "-c", RSS_ACROSS_THREADS.format(apply=apply)], capture_output=True,
                             text=True, check=True).stdout.split()
        return out[0], float(out[1])

    took, grown_with = grown(True)
    _, grown_without = grown(False)
    assert took == "True"
    # By default the new thread allocates from a heap of its own: 48 MB more.
    assert grown_without > 40, grown_without
    # With the setting it reuses the pages the main thread freed.
    assert grown_with < 8, grown_with


def test_one_restore_reuses_freed_memory_up_to_its_limit_and_returns_it_beyond():
    from processing.memory import ONE_SHOT_REUSE_MAX_PIXELS, for_one_restore, return_freed_memory, reuse_freed_memory

    assert for_one_restore(6000 * 4000) is reuse_freed_memory
    assert for_one_restore(ONE_SHOT_REUSE_MAX_PIXELS) is reuse_freed_memory
    assert for_one_restore(ONE_SHOT_REUSE_MAX_PIXELS + 1) is return_freed_memory
    assert for_one_restore(12000 * 12000) is return_freed_memory
    # A header that could not be read: the setting that cannot blow up the peak.
    assert for_one_restore(None) is return_freed_memory


SETTLE = """
import gc, weakref
from processing.memory import settle_long_lived_objects

class Node:
    pass

def cycle():
    a, b = Node(), Node()
    a.other, b.other = b, a
    return a

old = cycle()
gone_before = weakref.ref(cycle())      # garbage already when settling
kept = cycle()                          # alive when settling: settled
first = settle_long_lived_objects()
settled = gc.get_freeze_count()
second = settle_long_lived_objects()
gone_after = weakref.ref(cycle())       # garbage made later
gc.collect()
print(first, second, settled > 1000, gc.get_freeze_count() <= settled,
      gone_before() is None, gone_after() is None, kept.other.other is kept)
"""


def test_settling_freezes_once_and_later_garbage_is_still_collected():
    out = subprocess.run([sys.executable, "-c", SETTLE], capture_output=True, text=True, check=True).stdout.split()
    first, second, many, unchanged, before_collected, after_collected, kept_alive = out
    assert (first, second) == ("True", "False")  # once per process
    assert many == "True" and unchanged == "True"  # what was alive is settled, and only once
    assert before_collected == "True"  # no garbage of the moment is kept forever
    assert after_collected == "True"  # the collector still frees cycles made later
    assert kept_alive == "True"

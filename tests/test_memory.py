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

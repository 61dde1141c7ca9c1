"""reuse_freed_memory: the allocator setting the web app and batch workers apply."""

import subprocess
import sys


def test_reuse_freed_memory_in_a_fresh_process():
    code = ("import numpy as np; from processing.memory import reuse_freed_memory as r; "
            "ok = r(); a = np.ones(50_000_000, np.uint8); del a; print(ok)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ("True" if sys.platform.startswith("linux") else "False")

"""Speed and memory of the three methods on a 24 MP 8-bit pair, and of the CLI.

Prints, per method, the wall time (median of 3), the peak memory the call added,
and the ratio to a naive float32 implementation measured in the same run; then
the CLI restoring a 24 MP JPEG pair end to end with a given mask, and its peak
resident memory. Targets (2-core machine): each method <= 0.25 s and >= 7x the
naive reference; the CLI <= 1.0 s and <= 700 MB.

Run: .venv/bin/python benchmarks/bench_methods.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from processing.settings import FreqSepSettings, GraftSettings, SyntheticSettings  # noqa: E402
from processing.pipeline import restore_pair  # noqa: E402
from processing.settings import Preset  # noqa: E402

H, W = 4000, 6000


def make_pair():
    rng = np.random.default_rng(1)
    base = cv2.resize((rng.random((40, 60, 3)) * 200 + 30).astype(np.uint8), (W, H), interpolation=cv2.INTER_CUBIC)
    pores = rng.normal(0, 6, (H, W)).astype(np.float32)
    pores = cv2.GaussianBlur(pores, (0, 0), 1.2)
    original = np.clip(base.astype(np.float32) + pores[..., None], 0, 255).astype(np.uint8)
    ai = cv2.bilateralFilter(cv2.resize(original, (W // 4, H // 4)), 9, 30, 5)
    ai = cv2.resize(ai, (W, H), interpolation=cv2.INTER_LINEAR)
    # A face-sized feathered ellipse, as the automatic mask gives for a portrait.
    mask = np.zeros((H, W), np.float32)
    cv2.ellipse(mask, (W // 2, H // 2 - 200), (1100, 1500), 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), 40)
    return original, ai, mask


def naive(original, ai, mask, settings):
    """Straightforward whole-image float32 version of the same math."""
    o = original.astype(np.float32) / 255
    a = ai.astype(np.float32) / 255
    m = mask[..., None]
    if isinstance(settings, SyntheticSettings):
        rng = np.random.default_rng(settings.seed)
        n = (rng.random(a.shape[:2], dtype=np.float32) * 2 - 1) * settings.amount / 100
        n = cv2.GaussianBlur(n, (0, 0), settings.grain_size)[..., None]
        b = 0.5 + n
        blend = np.where(a < 0.5, 2 * a * b, 1 - 2 * (1 - a) * (1 - b))
    else:
        s = settings.radius if isinstance(settings, GraftSettings) else settings.blur
        d = o - cv2.GaussianBlur(o, (0, 0), s)
        if getattr(settings, "mode", "add") == "replace":
            d = d - (a - cv2.GaussianBlur(a, (0, 0), s))
        blend = np.clip(a + settings.strength / 100 * d, 0, 1)
    r = a + m * (blend - a)
    return (np.clip(r, 0, 1) * 255 + 0.5).astype(np.uint8)


def timed(fn, repeat=3):
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return float(np.median(times)), peak / 2**20


def main():
    # As in the web app and batch workers, where the library runs again and again.
    from processing.memory import reuse_freed_memory

    reuse_freed_memory()
    original, ai, mask = make_pair()
    print(f"24 MP pair {W}x{H} uint8, feathered face mask covering {np.mean(mask > 0) * 100:.0f} % of the frame")
    print(f"{'method':<22}{'time s':>8}{'peak MB':>9}{'naive s':>9}{'naive MB':>10}{'speed-up':>10}  target")
    cases = [("synthetic", SyntheticSettings()), ("graft", GraftSettings()),
             ("freqsep add", FreqSepSettings()), ("freqsep replace", FreqSepSettings(mode="replace"))]
    for name, s in cases:
        preset = Preset(align=False).with_settings(s)
        t, mem = timed(lambda: restore_pair(original, ai, mask, preset)[0])
        tn, memn = timed(lambda: naive(original, ai, mask, s), repeat=1)
        ok = t <= 0.25 and tn / t >= 7
        print(f"{name:<22}{t:8.3f}{mem:9.0f}{tn:9.3f}{memn:10.0f}{tn / t:9.1f}x  {'met' if ok else 'MISSED'}")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cv2.imwrite(str(tmp / "original.jpg"), original[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
        cv2.imwrite(str(tmp / "ai.jpg"), ai[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
        cv2.imwrite(str(tmp / "mask.png"), (mask * 255 + 0.5).astype(np.uint8))
        # The child reports its own peak (VmHWM, in kB): rusage would also count the
        # pages this benchmark process shares with the child between fork and exec.
        report = ("import re, sys; from processing.cli import main; code = main(sys.argv[1:]); "
                  "print(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1), file=sys.stderr); "
                  "sys.exit(code)")
        cmd = [sys.executable, "-c", report, "restore", str(tmp / "original.jpg"), str(tmp / "ai.jpg"),
               "-o", str(tmp / "out.jpg"), "--mask", str(tmp / "mask.png"), "--method", "graft"]
        runs, peaks = [], []
        for _ in range(3):
            t = time.perf_counter()
            done = subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                  cwd=Path(__file__).resolve().parents[1])
            runs.append(time.perf_counter() - t)
            peaks.append(int(done.stderr.strip().splitlines()[-1]) / 1024)
        rss = max(peaks)
        t = float(np.median(runs))
        print(f"CLI restore, 24 MP JPEG pair + mask, end to end: {t:.2f} s (median of 3), "
              f"peak RSS {rss:.0f} MB  target <= 1.0 s, <= 700 MB: {'met' if t <= 1.0 and rss <= 700 else 'MISSED'}")


if __name__ == "__main__":
    main()

"""Throughput of ``retexture batch`` on 24 MP JPEG pairs, default preset.

Goals (issue 13): with ``--jobs 2`` on this 2-core machine, 16 pairs, start-up
included, >= 120 pairs a minute and <= 700 MB of peak memory per worker (the
first batch goal, 60 pairs a minute, is the ~2 s per pair per core of decode +
mask + align + restore + encode + report).

Measured in the same run:

* ``batch --jobs 1``, ``batch --jobs 2`` and ``batch --jobs 2 --fast-align``
  (each a fresh ``python -m processing batch`` process, worker start-up and
  face-model loading included);
* a naive reference: a sequential loop calling ``python -m processing restore``
  as a subprocess per pair (what a shell script around the CLI would do);
* the peak resident memory of each worker (``ru_maxrss`` the workers record in
  report.json) and the time per stage (median over pairs).

Pairs: a 6000x4000 original with pore-scale noise and a face placed at a
different spot per pair; its "AI" version is the same frame, bilateral-smoothed
on the same pixel grid (what most tools return).

The wall-clock figures include starting Python, the pool and the face model
(a few seconds for a handful of pairs); the steady-state figure does not.

Run: ``.venv/bin/python benchmarks/bench_batch.py [--pairs 16]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

W, H = 6000, 4000
TARGET_PER_MIN = 120.0
PEAK_GOAL_MB = 700.0


def make_pair(seed: int) -> tuple[np.ndarray, np.ndarray]:
    from skimage import data

    rng = np.random.default_rng(seed)
    side = int(H * rng.uniform(0.7, 0.95))
    face = cv2.resize(data.astronaut(), (side, side), interpolation=cv2.INTER_CUBIC)
    bg = cv2.resize(data.coffee(), (W, H), interpolation=cv2.INTER_LINEAR)
    original = bg.copy()
    x0 = int(rng.integers(0, W - side))
    y0 = int(rng.integers(0, H - side))
    original[y0:y0 + side, x0:x0 + side] = face
    noise = rng.normal(0, 5, (H // 2, W // 2)).astype(np.float32)
    noise = cv2.resize(noise, (W, H), interpolation=cv2.INTER_LINEAR)
    original = np.clip(original + noise[..., None], 0, 255).astype(np.uint8)
    # Bilateral at quarter size, upsampled: the over-smoothed 'AI' skin, same grid.
    small = cv2.resize(original, (W // 4, H // 4), interpolation=cv2.INTER_AREA)
    ai = cv2.resize(cv2.bilateralFilter(small, 9, 40, 5), (W, H), interpolation=cv2.INTER_CUBIC)
    ai = cv2.addWeighted(ai, 0.85, cv2.GaussianBlur(original, (0, 0), 2.0), 0.15, 0)
    return original, ai


def write_pairs(root: Path, n: int) -> tuple[Path, Path]:
    from PIL import Image

    o, r = root / "originals", root / "retouched"
    o.mkdir()
    r.mkdir()
    for i in range(n):
        orig, ai = make_pair(i)
        Image.fromarray(orig).save(o / f"IMG_{i:04d}.jpg", quality=92)
        Image.fromarray(ai).save(r / f"IMG_{i:04d}.jpg", quality=92)
    return o, r


def run_batch(o: Path, r: Path, out: Path, jobs: int, fast: bool = False) -> tuple[float, dict]:
    cmd = [sys.executable, "-m", "processing", "batch", str(o), str(r), "-o", str(out),
           "--jobs", str(jobs)] + (["--fast-align"] if fast else [])
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"batch --jobs {jobs} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return seconds, json.loads((out / "report.json").read_text())


def run_naive(o: Path, r: Path, out: Path) -> float:
    out.mkdir()
    t0 = time.perf_counter()
    for src in sorted(r.iterdir()):
        cmd = [sys.executable, "-m", "processing", "restore", str(o / src.name), str(src),
               "-o", str(out / src.name)]
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"naive restore of {src.name} failed:\n{proc.stderr[-2000:]}")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=16, help="pairs per run (default 16, as issue 13)")
    args = ap.parse_args()
    n = args.pairs
    print(f"{n} pairs of {W}x{H} JPEG, default preset, {os.cpu_count()} CPUs, "
          f"load average before the run {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        o, r = write_pairs(root, n)
        size = sum(p.stat().st_size for p in r.iterdir()) / n / 1e6
        print(f"made the pairs in {time.perf_counter() - t0:.1f} s (retouched JPEG ~{size:.1f} MB each)")

        rows = []
        for jobs, fast in ((1, False), (2, False), (2, True)):
            label = f"--jobs {jobs}" + (" --fast-align" if fast else "")
            seconds, rep = run_batch(o, r, root / f"out{jobs}{'f' * fast}", jobs, fast)
            imgs = rep["images"]
            bad = [i["name"] for i in imgs if i["status"] != "done"]
            if bad:
                sys.exit(f"not done: {bad}")
            peak = max(i.get("peak_rss_mb") or 0 for i in imgs)
            stages = {k: statistics.median(i["stage_seconds"].get(k, 0.0) for i in imgs)
                      for k in imgs[0]["stage_seconds"]}
            per_pair = statistics.median(i["seconds"] for i in imgs)
            cpu = statistics.median(i["cpu_seconds"] for i in imgs)
            rows.append((label, seconds, peak))
            print(f"batch {label}: {seconds:6.1f} s wall, {n / seconds * 60:5.1f} pairs/min, "
                  f"median {per_pair:.2f} s per pair in a worker, peak memory per worker {peak:.0f} MB")
            print(f"    steady state (median seconds per pair in a worker): {jobs * 60 / per_pair:.1f} pairs/min; "
                  f"median CPU per pair {cpu:.2f} s (all threads), i.e. {os.cpu_count() * 60 / cpu:.0f} "
                  f"pairs/min on {os.cpu_count()} idle cores")
            print("    median stage seconds: " + ", ".join(f"{k} {v:.2f}" for k, v in stages.items()))

        naive = run_naive(o, r, root / "naive")
        print(f"naive (one `python -m processing restore` per pair, sequential): {naive:6.1f} s wall, "
              f"{n / naive * 60:5.1f} pairs/min")
        same = all((root / "out2" / p.name).read_bytes() == (root / "naive" / p.name).read_bytes()
                   for p in r.iterdir())
        print(f"batch outputs byte-identical to the naive CLI outputs: {same}")
        print(f"load average after the run {os.getloadavg()[0]:.1f} (other work on the machine slows "
              "the wall-clock figures; the CPU figures are less affected)")
        best = max(n / s * 60 for _, s, _ in rows)
        fast_same = all((root / "out2f" / p.name).read_bytes() == (root / "out2" / p.name).read_bytes()
                        for p in r.iterdir())
        print(f"--fast-align outputs byte-identical to the default ones: {fast_same}")
        for label, s, _ in rows:
            print(f"speed-up of batch {label} over naive: {naive / s:.2f}x")
        verdict = "meets" if best >= TARGET_PER_MIN else "MISSES"
        print(f"best: {best:.1f} pairs/min, {verdict} the goal of {TARGET_PER_MIN:.0f} pairs/min")
        peak = max(p for _, _, p in rows)
        verdict = "meets" if peak <= PEAK_GOAL_MB else "MISSES"
        print(f"largest peak per worker: {peak:.0f} MB, {verdict} the goal of {PEAK_GOAL_MB:.0f} MB")


if __name__ == "__main__":
    main()

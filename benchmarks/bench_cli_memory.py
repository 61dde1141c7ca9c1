"""Peak memory and time of ``retexture restore`` on 144 MP and 24 MP pairs.

Makes test pairs in a temporary folder: the astronaut (scikit-image's sample
photo) enlarged to 12000x12000 (144 MP, just under the 150 MP limit) and to
6000x4000 (24 MP, cropped), with pore-sized noise on the original and the AI
side smoothed by a Gaussian blur (OpenCV); each written as PNG and as JPEG.
Then runs the command line in a fresh process per configuration - the default
(automatic mask, match mode, alignment check), ``--mask none``, each other
method, and one file given as both - and prints its peak resident memory
(the child's own VmHWM) and wall time, beside a reference measured in the
same run: a process that only decodes the two files with
:func:`processing.image_io.read_image`. The ratio is peak / reference.

Target (issue 14, item 8): every 144 MP configuration under 2 GB (2048 MiB)
peak resident memory.

Run: .venv/bin/python benchmarks/bench_cli_memory.py [--size 144|24|all] [--format png|jpg|all]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TARGET_MIB = 2048
SIZES = {"144": (12000, 12000), "24": (6000, 4000)}  # (width, height)

# The child prints its own peak (VmHWM, kB) on its last stderr line: the
# parent's rusage would also count pages shared between fork and exec.
_PEAK = "print(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1), file=sys.stderr)"
CLI = f"import re, sys; from processing.cli import main; code = main(sys.argv[1:]); {_PEAK}; sys.exit(code)"
DECODE = ("import re, sys; from processing.image_io import read_image; "
          f"images = [read_image(p, max_pixels=150_000_000) for p in sys.argv[1:]]; {_PEAK}")


def make_pair(folder: Path, size: tuple[int, int], fmt: str) -> tuple[Path, Path]:
    """Write an original (enlarged astronaut + pores) and its smoothed AI version; return their paths.

    Noise and blur are made a band of rows at a time: no full-frame float copy here.
    """
    from skimage import data

    w, h = size
    photo = data.astronaut()  # 512x512 RGB, one face
    big = cv2.resize(photo, (w, w), interpolation=cv2.INTER_CUBIC)[:h]  # crop from the top: the face stays
    original = np.empty_like(big)
    ai = np.empty_like(big)
    rng = np.random.default_rng(14)
    band, halo = 1024, 8
    for y0 in range(0, h, band):
        y1 = min(h, y0 + band)
        # Grain at about 1 px, as pores on a portrait; bands share nothing, so draw per band.
        n = cv2.GaussianBlur(rng.normal(0, 7, (y1 - y0, w)).astype(np.float32), (0, 0), 1.0)
        original[y0:y1] = np.clip(big[y0:y1] + n[..., None], 0, 255).astype(np.uint8)
        del n
    for y0 in range(0, h, band):
        y1 = min(h, y0 + band)
        hy0, hy1 = max(0, y0 - halo), min(h, y1 + halo)
        # The AI side: a Gaussian smoother (sigma 1.5 px) takes the pores away.
        smooth = cv2.GaussianBlur(original[hy0:hy1], (0, 0), 1.5, borderType=cv2.BORDER_REFLECT_101)
        ai[y0:y1] = smooth[y0 - hy0:y1 - hy0]
    del big
    paths = []
    for name, pixels in (("original", original), ("ai", ai)):
        path = folder / f"{name}_{w}x{h}.{fmt}"
        params = [cv2.IMWRITE_PNG_COMPRESSION, 1] if fmt == "png" else [cv2.IMWRITE_JPEG_QUALITY, 92]
        cv2.imwrite(str(path), np.ascontiguousarray(pixels[..., ::-1]), params)
        paths.append(path)
    return paths[0], paths[1]


def peak_of(argv: list[str]) -> tuple[float, float, str]:
    """Run ``python -c argv...``; return (peak RSS in MiB, wall time in s, stdout)."""
    t = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", *argv], capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - t
    if done.returncode != 0:
        lines = (done.stderr.strip() or "no output").splitlines()
        return float("nan"), seconds, f"failed (exit {done.returncode}): {lines[-1]}"
    return int(done.stderr.strip().splitlines()[-1]) / 1024, seconds, done.stdout


def configurations(original: Path, ai: Path, out: Path) -> list[tuple[str, list[str]]]:
    base = ["restore", str(original), str(ai), "-o", str(out)]
    return [
        ("default (auto mask, match, align)", base),
        ("--mask none", base + ["--mask", "none"]),
        ("--method graft", base + ["--method", "graft"]),
        ("--method freqsep", base + ["--method", "freqsep"]),
        ("--method synthetic", base + ["--method", "synthetic"]),
        ("one file as both (default)", ["restore", str(ai), str(ai), "-o", str(out)]),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=[*SIZES, "all"], default="all", help="megapixels")
    parser.add_argument("--format", choices=["png", "jpg", "all"], default="all")
    parser.add_argument("--only", help="run only configurations whose name contains this")
    args = parser.parse_args()
    sizes = list(SIZES) if args.size == "all" else [args.size]
    formats = ["png", "jpg"] if args.format == "all" else [args.format]
    worst = 0.0
    with tempfile.TemporaryDirectory(prefix="bench-cli-memory-") as tmp:
        folder = Path(tmp)
        for size in sizes:
            for fmt in formats:
                w, h = SIZES[size]
                original, ai = make_pair(folder, SIZES[size], fmt)
                ref, ref_s, _ = peak_of([DECODE, str(original), str(ai)])
                kb = (original.stat().st_size // 1024, ai.stat().st_size // 1024)
                print(f"\n{w}x{h} ({w * h / 1e6:.0f} MP) {fmt.upper()} pair ({kb[0]} + {kb[1]} KB); reference "
                      f"(decode both files only): {ref:.0f} MiB, {ref_s:.1f} s")
                print(f"  {'configuration':<36}{'peak MiB':>9}{'x ref':>7}{'time s':>8}  target < {TARGET_MIB} MiB")
                for name, argv in configurations(original, ai, folder / f"restored.{fmt}"):
                    if args.only and args.only not in name:
                        continue
                    peak, seconds, said = peak_of([CLI, *argv])
                    if peak != peak:  # nan: the run failed
                        print(f"  {name:<36}  {said}", flush=True)
                        worst = float("inf") if size == "144" else worst
                        continue
                    verdict = "met" if peak < TARGET_MIB else "MISSED"
                    if size == "144":
                        worst = max(worst, peak)
                    else:
                        verdict = ""
                    print(f"  {name:<36}{peak:9.0f}{peak / ref:7.2f}{seconds:8.1f}  {verdict}", flush=True)
                for p in (original, ai):
                    p.unlink()
    if worst:
        print(f"\nworst 144 MP peak: {worst:.0f} MiB; target < {TARGET_MIB} MiB: "
              f"{'met' if worst < TARGET_MIB else 'MISSED'}")


if __name__ == "__main__":
    main()

"""How well a liquify is followed, pair by pair: the table in docs/METHODS.md section 12.

Each pair is the test portrait (tests/retouch_edits.py) reshaped by a
landmark-guided liquify with a known field (bigger eyes, slimmer jaw, narrower
nose), then smoothed by one of the smoother families, sometimes toned. For
each it prints:

* texture correlation: in the reshaped skin, the texture frequency
  separation (add, 3 px) grafts from the aligned original against the texture
  it grafts from the truly reshaped original (goal >= 0.95), and the same
  without alignment (the reference: what ignoring the reshape gives);
* field error: mean distance (px) between the followed field and the true one
  over the reshaped skin;
* far pixels: pixels beyond 4 % of the frame from the reshape that differ from
  the ``--no-align`` restore (goal 0);
* the alignment's time and summary.

Run: ``.venv/bin/python benchmarks/bench_liquify.py [--size 600px|1.5MP|24MP]``
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

import retouch_edits as edits  # noqa: E402
from processing.landmarks import detect_faces  # noqa: E402
from processing.pipeline import restore_pair  # noqa: E402
from processing.settings import FreqSepSettings, Preset  # noqa: E402

FIXED_CUTOFF = FreqSepSettings(blur=3.0, mode="add", strength=100.0)
# (size, smoother, where, tone, mask): the tests' cases and a few more.
CASES = edits.LIQUIFY_CASES + [
    ("600px", "tv_chambolle", "skin", True, "auto"),
    ("1.5MP", "edge_preserving", "frame", False, "array"),
    # 24 MP beyond the tests' one case (30-60 s each): docs/METHODS.md section 12.
    ("24MP", "gaussian_6px", "frame", False, "array"),
    ("24MP", "edge_preserving", "skin", True, "auto"),
    ("24MP", "nl_means", "skin", True, "array"),
    ("24MP", "bilateral_cv2", "frame", False, "auto"),
    ("24MP", "tv_chambolle", "skin", False, "auto"),
    ("24MP", "wavelet", "skin", False, "auto"),  # far pixels change: a field at the hairline
]


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def measure(size, family, where, tone, mask_kind) -> str:
    original = edits.portrait(size)
    face = detect_faces(original)[0]
    amounts = edits.default_amounts(face.points)
    field = edits.reshape_field(original.shape, face.points, amounts)
    reshaped, moved = edits.reshape_face(original, face, amounts)
    ai, mask = edits.liquified_retouch(reshaped, family, where, tone, mask_kind)
    on, off = (Preset(align=a).with_settings(FIXED_CUTOFF) for a in (True, False))
    aligned, plan = restore_pair(original, ai, mask, on)
    truth, truth_plan = restore_pair(reshaped, ai, mask, off)
    plain, _ = restore_pair(original, ai, mask, off)
    alignment = plan.pair.alignment
    seconds = plan.pair.stage_seconds.get("align", float("nan"))

    region = (moved > 0.5) & (truth_plan.pair.skin_mask > 0.5)
    added = [r.astype(np.float32) - ai.astype(np.float32) for r in (aligned, truth, plain)]
    corr = correlation(added[0][region], added[1][region])
    corr_plain = correlation(added[2][region], added[1][region])
    ys, xs = np.nonzero(region)
    followed = alignment._warp.at(xs.astype(np.float32), ys.astype(np.float32)) if alignment._warp \
        else np.zeros((len(xs), 2), np.float32)
    error = float(np.linalg.norm(followed - field[ys, xs], axis=1).mean())
    far = edits.beyond_reshape(moved)
    far_differ = int(np.any(aligned[far] != plain[far], axis=-1).sum())
    mark = "ok" if corr >= 0.95 and far_differ == 0 else "OPEN"
    name = f"{size} {family} {where}" + (" +tone" if tone else "") + f" ({mask_kind} mask)"
    return (f"{name:<44s} {corr:6.3f} {corr_plain:9.3f} {error:8.2f} {far_differ:7d} "
            f"{seconds:6.2f} s  {mark:4s} | {alignment.summary()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=list(edits.SIZES), help="only the pairs of this frame size")
    args = parser.parse_args()
    print(f"{'pair':<44s} {'corr':>6s} {'unaligned':>9s} {'err px':>8s} {'far px':>7s} {'align':>8s}")
    open_cases = 0
    for case in CASES:
        if args.size and case[0] != args.size:
            continue
        line = measure(*case)
        open_cases += "OPEN" in line.split("|")[0]
        print(line, flush=True)
    print(f"{open_cases} pair(s) short of the goal (correlation >= 0.95, no far pixel changed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

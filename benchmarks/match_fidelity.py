"""Match mode on retouches made with other people's smoothers: the table.

For each smoother family of tests/retouch_edits.py (scikit-image's denoisers,
OpenCV's edge-preserving and bilateral filters, a guided filter, Gaussians of
1-6 px), applied inside the portrait's feathered skin region after its
blemishes were inpainted (OpenCV's Telea) and before the skin was brightened
and warmed, prints per frame size:

- cut: the automatic cut-off, px, and why (the plan's reason);
- pores: DoG 0.5-2 px energy on clean skin, result / original (AI in brackets);
- tone: mean |G_8(result) - G_8(AI)| on clean skin, 8-bit levels;
- bands: the lowest per-octave ratio result / min(AI, original) on clean skin;
- found: removed spots found, of 5; marked: clean skin kept clean on the same
  retouch without removed blemishes;
- texture: DoG 0.5-2 px amplitude inside the found spots / the skin around them;
- back: the found spots' contrast beyond the AI image's own, in the blemish's
  (mean over spots).

Goals (issue 12): pores 0.9-1.1, tone <= 1, bands >= 0.9, found >= 90 %,
marked <= 2 %, texture >= 0.8, back <= 0.2.

Run: .venv/bin/python benchmarks/match_fidelity.py [600px,1.5MP]
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
from scipy.ndimage import gaussian_filter

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

import retouch_edits as edits  # noqa: E402
from processing.match import plan_match, texture_match  # noqa: E402


luma, band = edits.luma, edits.octave_band


def pores(y):
    return band(y, 0.5) + band(y, 1.0)  # G_0.5 - G_2


def row(size, family):
    original = edits.portrait(size)
    region = edits.skin_region(edits.SIZES[size])
    ai = edits.retouch(original, family, "skin", tone=True, inpaint=True)
    t = time.perf_counter()
    plan = plan_match(original, ai, region)
    result = texture_match(original, ai, plan)
    seconds = time.perf_counter() - t
    clean = edits.clean_skin(size, margin=4)
    yo, ya, yr = luma(original), luma(ai), luma(result)
    energy = lambda y: np.mean(pores(y)[clean] ** 2)  # noqa: E731
    tone = np.abs(gaussian_filter(yr, 8, truncate=4) - gaussian_filter(ya, 8, truncate=4))[clean].mean()
    bands = min(np.mean(band(yr, s)[clean] ** 2) / min(np.mean(band(ya, s)[clean] ** 2), np.mean(band(yo, s)[clean] ** 2))
                for s in (0.5, 1, 2, 4, 8))
    kept = plan.full(plan.blemish, original.shape) < 0.5 if plan.spots is not None else np.zeros(yo.shape, bool)
    plain = edits.retouch(original, family, "skin", tone=True, inpaint=False)
    plain_plan = plan_match(original, plain, region)
    marked = (plain_plan.full(plain_plan.blemish, original.shape)[clean] < 0.5).mean() \
        if plain_plan.spots is not None else 0.0
    h, w = yo.shape
    yy, xx = np.mgrid[:h, :w]
    texture_r = pores(yr) ** 2
    found, back, inside, around = 0, [], 0.0, 0.0
    for x, y, r in edits.blemish_spots(edits.SIZES[size]):
        if not kept[int(round(y)), int(round(x))]:
            continue
        found += 1
        d = np.hypot(xx - x, yy - y)
        disk, ring = d <= r, (d > r + 3) & (d <= r + 8)
        c = lambda lum: lum[disk].mean() - lum[ring].mean()  # noqa: E731
        back.append((abs(c(yr)) - abs(c(ya))) / abs(c(yo)))
        reach = 2 * max(4.0, plan.cutoff)
        inside += texture_r[d <= max(r - 0.5, 1.5)].mean()
        around += texture_r[(d > r + reach) & (d <= r + reach + 3 * r)].mean()
    texture = np.sqrt(inside / around) if around else float("nan")
    return (f"{size:6s} {family:25s} {plan.cutoff:4.1f} {energy(yr) / energy(yo):5.2f} ({energy(ya) / energy(yo):4.2f}) "
            f"{tone:5.2f} {bands:5.2f} {found:3d}/5 {marked:6.1%} {texture:6.2f} {np.mean(back) if back else 0:+5.2f}"
            f" {seconds:5.2f}s  {plan.reason}")


def main():
    sizes = sys.argv[1].split(",") if len(sys.argv) > 1 else ["600px", "1.5MP"]
    families = list(edits.SMOOTHERS) + list(edits.MORE_SMOOTHERS)
    print(f"{'size':6s} {'smoother':25s} {'cut':>4s} {'pores (AI)':>12s} {'tone':>5s} {'bands':>5s} {'found':>5s} "
          f"{'marked':>6s} {'texture':>7s} {'back':>5s}  time   why the cut-off")
    for size in sizes:
        for family in families:
            print(row(size, family), flush=True)


if __name__ == "__main__":
    main()

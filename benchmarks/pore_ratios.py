"""Texture ratios on a bilateral-smoothed pair: the AI image and each method.

The pair: skimage's astronaut enlarged 2x with fine pore-like luminance texture
added (the original), and a bilateral-filtered copy (the AI image). Ratios are
band energy / original's inside the automatic skin mask.

Run: .venv/bin/python benchmarks/pore_ratios.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from processing.metrics import texture_report  # noqa: E402
from processing.pipeline import restore_pair  # noqa: E402
from processing.settings import Preset  # noqa: E402
from processing.skin_mask import propose_skin_mask  # noqa: E402


def main():
    from skimage import data

    rng = np.random.default_rng(0)
    face = cv2.resize(data.astronaut(), (1024, 1024), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    pores = cv2.GaussianBlur(rng.normal(0, 14, face.shape[:2]).astype(np.float32), (0, 0), 1.0)
    original = np.clip(face + pores[..., None], 0, 255).astype(np.uint8)
    ai = cv2.bilateralFilter(original, 0, 30, 4)
    proposal = propose_skin_mask(ai)
    print(proposal.message)
    preset = Preset(align=False)
    rows = [("AI (bilateral)", ai)]
    for method in ("synthetic", "graft", "freqsep", "match"):
        rows.append((method, restore_pair(original, ai, "auto", preset.replace(method=method))[0]))
    rows.append(("freqsep replace", restore_pair(original, ai, "auto",
                                                 preset.with_settings(preset.freqsep.replace(mode="replace")))[0]))
    print(f"{'image':<18}{'fine':>8}{'pores':>8}{'mid':>8}   (band energy / original's, inside the skin mask)")
    for name, img in rows:
        rep = texture_report(original, ai, img, proposal.mask)["bands"]
        print(f"{name:<18}" + "".join(f"{rep[b]['restored_ratio']:8.2f}" for b in ("fine", "pores", "mid")))


if __name__ == "__main__":
    main()

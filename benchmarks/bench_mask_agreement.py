"""How closely the landmarker's skin masks follow the legacy landmarker's.

Prints, per recorded face, the intersection over union of the default skin
mask's polygons (forehead 25 %, feather 4 %, thresholded at one half, without
the picture's hair cut: the landmarks' geometry only) drawn from the
current landmarks and from the legacy Face Mesh graphs' (mediapipe 0.10.21,
``tests/data/legacy_landmarks.npz``), and, as the yardstick measured on the
same record, how well each landmarker agrees with itself when the photo is
turned a quarter (or half) turn.

Run: .venv/bin/python benchmarks/bench_mask_agreement.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from processing.landmarks import close, detect_faces  # noqa: E402
from tests.face_scenes import SCENES  # noqa: E402
from tests.test_landmarks import TURNED, _iou, _legacy_faces, _mask, _turn_points  # noqa: E402


def nearest(points_list, target):
    return min(points_list, key=lambda p: float(np.abs(p.mean(0) - target.mean(0)).sum()))


def main():
    found = {name: (make(), [f.points for f in detect_faces(make())]) for name, make in SCENES.items()}
    print("IoU of the skin masks, current landmarker vs legacy, per face")
    all_ious = []
    for name, (image, faces) in found.items():
        source, k = TURNED.get(name, (name, 0))
        shape = SCENES[source]().shape
        ious = []
        for points in _legacy_faces(source):
            ref = _turn_points(points, k, shape)
            ious.append(_iou(_mask(nearest(faces, ref), image.shape), _mask(ref, image.shape)))
        all_ious += ious
        print(f"  {name:22s} {len(faces)} faces: " + " ".join(f"{v:.3f}" for v in ious))
    print(f"  all {len(all_ious)} faces: min {min(all_ious):.3f}, mean {np.mean(all_ious):.3f}\n")

    print("Self-agreement across a turn (turned photo's masks turned back vs upright photo's)")
    for turned, (upright, k) in TURNED.items():
        image = SCENES[upright]()
        back = 4 - k
        turned_shape = found[turned][0].shape
        legacy_up, legacy_turned = _legacy_faces(upright), _legacy_faces(turned)
        new_up, new_turned = found[upright][1], found[turned][1]
        rows = []
        for ups, turns in ((legacy_up, legacy_turned), (new_up, new_turned)):
            turned_back = [_turn_points(p, back, turned_shape) for p in turns]
            rows.append([_iou(_mask(nearest(turned_back, p), image.shape), _mask(p, image.shape)) for p in ups])
        print(f"  {turned:22s} legacy " + " ".join(f"{v:.3f}" for v in rows[0])
              + "  | current " + " ".join(f"{v:.3f}" for v in rows[1]))
    close()


if __name__ == "__main__":
    main()

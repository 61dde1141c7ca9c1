"""Record the legacy landmarker's faces on ``tests.face_scenes.SCENES``.

Run once, at commit 82c46ce with ``mediapipe==0.10.21`` (the legacy Face Mesh
graphs, Python 3.11), before the move to mediapipe's Tasks FaceLandmarker:

    .venv/bin/python tests/data/record_legacy_landmarks.py

It wrote ``tests/data/legacy_landmarks.npz``: for each scene, the 478 Face
Mesh points of every face found (``<scene>/<i>``, float32, full-resolution
pixels, largest face first), and ``legacy_polygons.json`` holds what
``processing.landmarks.polygon_indices()`` returned then. ``tests/test_landmarks.py`` draws skin masks from
these and from the current landmarker and compares them. The legacy graphs
cannot be installed on Python 3.13, so the record is kept, not recomputed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import mediapipe
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from processing.landmarks import detect_faces, polygon_indices  # noqa: E402
from tests.face_scenes import SCENES  # noqa: E402


def main():
    record = {"mediapipe_version": np.array(mediapipe.__version__)}
    for name, make in SCENES.items():
        faces = detect_faces(make())
        for i, face in enumerate(faces):
            record[f"{name}/{i}"] = face.points.astype(np.float32)
        print(f"{name}: {len(faces)} faces")
    np.savez_compressed(Path(__file__).with_name("legacy_landmarks.npz"), **record)
    polygons = {k: [int(i) for i in v] for k, v in polygon_indices().items()}
    Path(__file__).with_name("legacy_polygons.json").write_text(json.dumps(polygons, indent=0))


if __name__ == "__main__":
    main()

"""Memory of the batch page's zip uploads: a zip bomb, and a real zip of photos.

The page used to read every zip entry into memory, on every rerun: a 1 MB
zip that expands to 1 GB took the server from 336 MB to 1.85 GB. Now each
upload is unpacked once, entry by entry, straight to disk, and a zip that
expands far more than photos compress is refused from its directory alone.

Measured in the same run, each case in a fresh process holding the zip in
memory as Streamlit does (``io.BytesIO``):

* the bomb: a zero-filled 1 GB 'photo' deflated at level 1 (about 4.5 MB; the
  level changes the ratio, not what either code does with it). Reference: the
  previous code (``zf.read`` of every photo entry) against
  :meth:`webapp.batch_uploads.UploadFolder.add` (refused);
* a real zip of photos: N incompressible 10 MB entries, stored. Reference: the
  previous code against ``UploadFolder.add`` (to disk), and a second ``add``
  of the same upload (a page rerun).

Figures: peak resident memory above what the process held before the call
(VmHWM - VmRSS before, Linux), MB, and the time, s.

Run: ``.venv/bin/python benchmarks/bench_batch_uploads.py [--photos 24]``
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak() -> None:
    try:  # Linux >= 4.0: writing 5 resets VmHWM to the current RSS
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def child(mode: str, zip_path: str) -> None:
    """One measurement in this process; prints JSON."""
    import webapp.batch_uploads as bu  # imported before the baseline

    data = io.BytesIO(Path(zip_path).read_bytes())
    _reset_peak()
    before = _status_mb("VmRSS")
    t0 = time.perf_counter()
    outcome, second = "", None
    if mode == "previous":
        with zipfile.ZipFile(data) as zf:
            photos = [zf.read(i) for i in zf.infolist() if not i.is_dir() and bu.is_image_name(i.filename)]
        outcome = f"{sum(map(len, photos)) / 2**20:.0f} MB read into memory"
    else:
        folder = bu.UploadFolder()
        try:
            files = folder.add("upload.zip", data, "id")
            outcome = f"{folder.used / 2**20:.0f} MB written to disk ({len(files)} files)"
            t1 = time.perf_counter()
            folder.add("upload.zip", data, "id")
            second = time.perf_counter() - t1
        except bu.BatchError as exc:
            outcome = f"refused: {exc}"
        finally:
            folder.cleanup()
    seconds = time.perf_counter() - t0
    print(json.dumps({"peak_mb": _status_mb("VmHWM") - before, "seconds": seconds, "outcome": outcome,
                      "rerun_seconds": second}))


def measure(mode: str, zip_path: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", mode, str(zip_path)], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def make_bomb(path: Path, gbytes: float = 1.0) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        with zf.open("bomb.png", "w", force_zip64=True) as fh:
            chunk = bytes(1 << 20)
            for _ in range(int(gbytes * 1024)):
                fh.write(chunk)


def make_photos_zip(path: Path, n: int, mbytes: int = 10) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for i in range(n):
            zf.writestr(f"shoot/originals/IMG_{i:04d}.jpg", rng.integers(0, 256, mbytes << 20, np.uint8).tobytes())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=24, help="10 MB entries in the real zip")
    ap.add_argument("--child", nargs=2, metavar=("MODE", "ZIP"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        bomb, photos = Path(tmp) / "bomb.zip", Path(tmp) / "photos.zip"
        make_bomb(bomb)
        make_photos_zip(photos, args.photos)
        print(f"bomb: {bomb.stat().st_size / 2**20:.1f} MB zip of a 1024 MB entry; "
              f"photos: {photos.stat().st_size / 2**20:.0f} MB zip of {args.photos} entries")
        for label, path in (("zip bomb", bomb), ("zip of photos", photos)):
            ref, new = measure("previous", path), measure("now", path)
            ratio = ref["peak_mb"] / max(new["peak_mb"], 1.0)
            print(f"\n{label}")
            print(f"  previous (in memory): +{ref['peak_mb']:7.0f} MB peak, {ref['seconds']:5.2f} s  {ref['outcome']}")
            print(f"  now (to disk)       : +{new['peak_mb']:7.0f} MB peak, {new['seconds']:5.2f} s  {new['outcome']}")
            print(f"  memory ratio previous / now: {ratio:.0f}x (now floored at 1 MB)")
            if new["rerun_seconds"] is not None:
                print(f"  a page rerun: previous {ref['seconds']:.2f} s again, now {new['rerun_seconds'] * 1000:.2f} ms")


if __name__ == "__main__":
    main()

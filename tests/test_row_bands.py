"""The band threads: nested calls, copies and the mask's box made band by band."""

import json
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from processing import row_bands
from processing.row_bands import BandWeight, copy_in_bands, map_bands, map_items, weight_box


def test_map_items_keeps_order_and_runs_on_the_band_threads():
    names = map_items(lambda _: threading.current_thread().name, range(8))
    assert all(name.startswith("retexture-band") for name in names)
    assert map_items(lambda x: x * x, range(10)) == [x * x for x in range(10)]


def test_a_band_thread_mapping_again_does_not_wait_on_the_others():
    """Every band thread busy with an outer item that maps inner items: run on
    the pool those would wait forever for a free thread."""
    workers = row_bands._pool()._max_workers
    barrier = threading.Barrier(workers, timeout=20)

    def outer(i):
        barrier.wait()  # every band thread is in here at once
        return sum(map_bands(lambda r: r + i, 0, 6, 1))

    done = row_bands.on_own_thread(map_items, outer, range(workers))
    assert done.result(timeout=60) == [15 + 6 * i for i in range(workers)]


@pytest.mark.parametrize("shape", [(1, 5), (700, 900, 3), (3000, 200)])
def test_copy_in_bands_is_a_copy(shape):
    image = np.random.default_rng(1).integers(0, 255, shape, dtype=np.uint8)
    out = copy_in_bands(image)
    assert np.array_equal(out, image) and not np.shares_memory(out, image)


def test_the_masks_box_band_by_band_is_the_whole_masks(monkeypatch):
    monkeypatch.setattr(row_bands, "BAND_PIXELS", 64 * 50)  # many bands
    rng = np.random.default_rng(2)
    for _ in range(20):
        mask = np.zeros((400, 300), np.float32)
        y0, x0 = rng.integers(0, 390), rng.integers(0, 290)
        mask[y0:y0 + rng.integers(1, 60), x0:x0 + rng.integers(1, 60)] = rng.random()
        mask[rng.integers(0, 400), rng.integers(0, 300)] = 0.5
        ys, xs = np.nonzero(mask)
        expected = (ys.min(), ys.max() + 1, xs.min(), xs.max() + 1)
        assert weight_box(mask, mask.shape) == expected
        assert BandWeight(mask.shape, mask).box() == expected
    assert weight_box(np.zeros((400, 300), np.uint8), (400, 300)) is None


def _faces(shape, centres, radius=60, feather=12.0):
    """A weight with one feathered disc per centre (x, y): faces of a group photo."""
    import cv2

    weight = np.zeros(shape, np.float32)
    for centre in centres:
        cv2.circle(weight, centre, radius, 1.0, -1)
    return np.clip(cv2.GaussianBlur(weight, (0, 0), feather), 0, 1)


@pytest.mark.parametrize("as_band_weight", [False, True])
def test_separate_faces_are_separate_regions_holding_every_weight(as_band_weight):
    """Faces far apart give one region each: every weight above 0 lies in a
    region's inner box, with ``margin`` px of its region around it (or the
    frame's edge), regions do not overlap, and each starts on the grid."""
    shape, margin, align = (900, 1400), 40, 3
    weight = _faces(shape, [(150, 150), (1200, 200), (700, 750)])
    mask = BandWeight(shape, weight) if as_band_weight else weight
    regions = row_bands.skin_regions(mask, shape, margin, align=align)
    assert len(regions) == 3
    covered = np.zeros(shape, int)
    for (y0, y1, x0, x1), (i0, i1, j0, j1) in regions:
        assert y0 % align == 0 and x0 % align == 0
        assert (y0 + i0 - margin >= y0 or y0 == 0) and (y0 + i1 + margin <= y1 or y1 == shape[0])
        assert (x0 + j0 - margin >= x0 or x0 == 0) and (x0 + j1 + margin <= x1 or x1 == shape[1])
        covered[y0 + i0:y0 + i1, x0 + j0:x0 + j1] += 1
        region = np.zeros(shape, bool)
        region[y0:y1, x0:x1] = True
        inner = np.zeros(shape, bool)
        inner[y0 + i0:y0 + i1, x0 + j0:x0 + j1] = True
        assert not (weight[region & ~inner] > 0).any()  # the inner box holds the region's weight
    assert (covered[weight > 0] == 1).all()
    boxes = [r[0] for r in regions]
    for a in range(len(boxes)):
        for b in range(a + 1, len(boxes)):
            p, q = boxes[a], boxes[b]
            assert not (p[0] < q[1] and q[0] < p[1] and p[2] < q[3] and q[2] < p[3])


def test_one_face_or_close_faces_keep_one_box():
    """One face, or faces whose contexts meet, are worked as one box: the weight's own."""
    shape, margin = (600, 800), 40
    for centres in ([(400, 300)], [(300, 300), (300 + 2 * 60 + 2 * 40, 300)]):
        weight = _faces(shape, centres)
        regions = row_bands.skin_regions(weight, shape, margin)
        assert len(regions) == 1
        (y0, y1, x0, x1), (i0, i1, j0, j1) = regions[0]
        assert (y0 + i0, y0 + i1, x0 + j0, x0 + j1) == weight_box(weight, shape)
    assert row_bands.skin_regions(np.zeros(shape, np.float32), shape, margin) == []


def test_one_blas_thread_holds_for_blas_loaded_before_and_after():
    """In a fresh process: numpy's BLAS (loaded before the call) and scipy's (loaded
    after it) both run on one thread, and so do the processes it starts."""
    threads = "[i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas']"
    script = (
        "import json, subprocess, sys, numpy; from threadpoolctl import threadpool_info; "
        f"before = {threads}; "
        "from processing.row_bands import one_blas_thread; one_blas_thread(); "
        "import scipy.linalg; "
        f"after = {threads}; "
        "child = subprocess.run([sys.executable, '-c', "
        f"{'import numpy; from threadpoolctl import threadpool_info; print(' + threads + ')'!r}], "
        "capture_output=True, text=True).stdout.strip(); "
        "print(json.dumps([before, after, child]))")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    before, after, child = json.loads(done.stdout)
    assert len(after) >= 2 and set(after) == {1}  # numpy's and scipy's
    assert child == "[1]"
    if (os.cpu_count() or 1) > 1:
        assert max(before) > 1  # without the call OpenBLAS uses every core: the checks above can fail


def test_an_arriving_list_is_read_while_it_is_filled():
    """Each item reaches the reader before the next one is added, the reading
    ends when the list is closed, and the closed list is what final() gives."""
    from processing.row_bands import ArrivingList

    arriving, seen, on_time = ArrivingList(), [], []
    read = [threading.Event() for _ in range(3)]

    def fill():
        for i in range(3):
            arriving.append(i)
            on_time.append(read[i].wait(5))
        arriving.close([2, 1, 0])

    filler = threading.Thread(target=fill)
    filler.start()
    for item in arriving:
        seen.append(item)
        read[item].set()
    filler.join()
    assert on_time == [True, True, True]  # each item was read before the next was added
    assert seen == [0, 1, 2] and arriving.final() == [2, 1, 0]
    arriving.close([9])  # only the first close counts
    assert arriving.final() == [2, 1, 0] and list(arriving) == [0, 1, 2]


def test_map_as_they_come_starts_each_item_before_the_next_arrives():
    from processing.row_bands import ArrivingList, map_as_they_come

    arriving, on_time = ArrivingList(), []
    started = [threading.Event() for _ in range(3)]

    def fill():
        for i in range(3):
            arriving.append(i)
            on_time.append(started[i].wait(5))  # False if the mapping waits for every item
        arriving.close(range(3))

    def work(i):
        started[i].set()
        return i * i, threading.current_thread().name

    filler = threading.Thread(target=fill)
    filler.start()
    out = map_as_they_come(work, arriving)
    filler.join()
    assert on_time == [True, True, True]
    assert [v for v, _ in out] == [0, 1, 4]
    assert all(name.startswith("retexture-band") for _, name in out)

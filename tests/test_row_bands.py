"""The band threads: nested calls, copies and the mask's box made band by band."""

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

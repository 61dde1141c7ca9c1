"""Local warps: measured on shared structure, resampled only where they moved.

The whole-pipeline cases (every smoother family, reshaped faces) are in
test_align_edits.py; these pin the parts against references computed here.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from processing.align import align_pair
from processing.align.local_motion import look_alike, moved_seeds, tensor_average
from processing.align.local_warp import ZERO_PX, LocalWarp, RegionField, Window, apply_local_warp, \
    find_local_warp
from processing.align.features import standardize
from processing.filters import gaussian_blur, luminance


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """The astronaut, 512 px, uint8 RGB, with fine grain (what smoothing removes)."""
    rng = np.random.default_rng(3)
    grain = cv2.GaussianBlur(rng.normal(0, 6, (512, 512)).astype(np.float32), (0, 0), 0.8)
    return np.clip(data.astronaut() + grain[..., None], 0, 255).astype(np.uint8)


def gray(image) -> np.ndarray:
    return standardize(luminance(image.astype(np.float32) / 255))


def bump_warp(shape, amp, cx, cy, radius) -> np.ndarray:
    """Radial bump (an eye enlarged), ai(p) = original(p + d(p)), (h, w, 2)."""
    h, w = shape
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    g = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * radius ** 2))
    return np.dstack([-amp * g * (xx - cx) / radius, -amp * g * (yy - cy) / radius]).astype(np.float32)


def remapped(image, d) -> np.ndarray:
    h, w = d.shape[:2]
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    return cv2.remap(image, xx + d[..., 0], yy + d[..., 1], cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)


def constant_region(shape, box, shift) -> LocalWarp:
    """A LocalWarp moving the pixels of ``box`` (x0, y0, x1, y1) by a constant ``shift`` (dx, dy)."""
    h, w = shape
    field = np.zeros((h, w, 2), np.float32)
    x0, y0, x1, y1 = box
    field[y0:y1, x0:x1] = shift
    return LocalWarp([RegionField(Window(0, 0, w, h, 1.0), field)], max_px=float(np.hypot(*shift)))


def test_only_the_moved_box_is_resampled(photo):
    box = (200, 150, 320, 260)
    warp = constant_region(photo.shape[:2], box, (3.0, -2.0))
    out = apply_local_warp(photo, warp)
    moved = np.zeros(photo.shape[:2], bool)
    moved[150:260, 200:320] = True
    # Outside: the original, bit for bit.
    assert np.array_equal(out[~moved], photo[~moved])
    # Inside, beyond the 3 px feather: an integer shift, which Lanczos reproduces exactly.
    inner = (slice(150 + 4, 260 - 4), slice(200 + 4, 320 - 4))
    reference = photo[150 + 4 - 2:260 - 4 - 2, 200 + 4 + 3:320 - 4 + 3]
    assert np.array_equal(out[inner], reference)


def test_displacements_below_zero_px_are_none(photo):
    warp = constant_region(photo.shape[:2], (100, 100, 200, 200), (0.5 * ZERO_PX, 0.0))
    assert not warp.at(np.array([150.0]), np.array([150.0])).any()
    assert np.array_equal(apply_local_warp(photo, warp), photo)


def test_look_alike_blurs_the_sharper_image_by_the_missing_blur(photo):
    a = gray(photo)
    b = standardize(gaussian_blur(a, 3.0))
    a2, b2, blur = look_alike(a, b, window=16.0)
    inner = (slice(40, -40), slice(40, -40))
    # The sharp side is blurred by about the 3 px it lacks (where the photo has detail).
    assert 2.0 < float(np.median(blur[inner])) < 4.5
    # And the two then differ far less than before.
    assert np.mean((a2 - b2)[inner] ** 2) < 0.25 * np.mean((a - b)[inner] ** 2)


def test_tensor_average_keeps_only_motion_across_an_edge():
    # A vertical edge: flow along it (y) is unconstrained, across it (x) measured.
    img = np.zeros((64, 64), np.float32)
    img[:, 32:] = 1.0
    img = gaussian_blur(img, 1.5)
    flow = np.dstack([np.full((64, 64), 1.0, np.float32), np.full((64, 64), 5.0, np.float32)])
    d = tensor_average(flow, img, np.ones((64, 64), np.float32), 3.0, 0.02)
    at_edge = d[32, 32]
    assert at_edge[0] == pytest.approx(1.0, abs=0.1)
    assert abs(at_edge[1]) < 0.1
    # Far from the edge nothing constrains the motion: it stays (near) zero.
    assert np.abs(d[32, 2]).max() < 0.05


def test_seeds_where_a_feature_moved_not_where_it_was_smoothed(photo):
    a_smooth = cv2.bilateralFilter(photo, 0, 30, 3)
    a, b = gray(a_smooth), gray(photo)
    a2, b2, blur = look_alike(a, b, 13.0)
    assert not moved_seeds(a2, b2, 0.5, 9.0, blur)[1].any()
    d = bump_warp(photo.shape[:2], 6.0, 205, 110, 25)  # the astronaut's right eye
    a, b = gray(remapped(a_smooth, d)), gray(photo)
    a2, b2, blur = look_alike(a, b, 13.0)
    _, seeds = moved_seeds(a2, b2, 0.5, 9.0, blur)
    ys, xs = np.nonzero(seeds)
    assert len(ys) > 0
    assert np.all(np.hypot(xs - 205, ys - 110) < 80)


def test_a_field_no_longer_wanted_stops_after_its_first_round(photo, monkeypatch):
    """The field is measured beside the seeds that decide whether it is kept:
    told it is not wanted, it stops before its second round."""
    import processing.align.local_motion as local_motion

    d = bump_warp(photo.shape[:2], 6.0, 205, 110, 25)
    a, b = gray(remapped(cv2.bilateralFilter(photo, 0, 30, 3), d)), gray(photo)
    a2, b2, _ = look_alike(a, b, 13.0)
    fits = []
    real = local_motion.fit_smooth_field
    monkeypatch.setattr(local_motion, "fit_smooth_field", lambda *args, **kw: fits.append(1) or real(*args, **kw))
    asked = []
    assert local_motion.motion_field(a2, b2, wanted=lambda: asked.append(1) or False) is None
    assert len(fits) == 1 and len(asked) == 1
    fits.clear()
    field = local_motion.motion_field(a2, b2, wanted=lambda: True)
    assert len(fits) == 3 and field.shape == a2.shape + (2,)
    # The eye moved by up to 6 px: the field says so there.
    assert np.hypot(*field[110, 205 - 20]) > 1.0


def test_a_reshape_is_followed_and_the_rest_kept(photo):
    d = bump_warp(photo.shape[:2], 6.0, 205, 110, 25)
    ai = cv2.bilateralFilter(remapped(photo, d), 0, 30, 3)
    warp = find_local_warp(photo, ai, np.eye(3))
    assert warp
    est = warp.on_box((0, 0, 512, 512))
    moved = np.linalg.norm(d, axis=2) > 1.0
    assert np.mean(np.linalg.norm(est - d, axis=2)[moved]) < 0.5
    al = align_pair(photo, ai)
    assert not al.identity and al.refined
    # The bump moves pixels by 0.01 px at 100 px from its centre; past 140 px
    # (its feathered edge) every pixel is the original's.
    far = np.hypot(*np.mgrid[:512, :512][::-1] - np.array([205, 110])[:, None, None]) > 140
    assert np.array_equal(al.original[far], photo[far])
    assert al.summary().startswith("Same grid; local warp up to")
    assert al.to_dict()["local_warp_fraction"] == pytest.approx(al.local_warp_fraction)
    # The mapping it reports is the one it applied.
    pts = np.array([[205.0, 95.0], [400.0, 400.0]])
    expected = pts + warp.at(pts[:, 0], pts[:, 1])
    assert np.allclose(al.ai_to_original(pts), expected)


def test_two_features_moved_near_each_other_share_one_field_window(photo, monkeypatch):
    """Two enlarged features 160 px apart (their boxes of motion do not
    overlap, but nearly): their field is fitted on one window, as one sheet."""
    import processing.align.local_warp as local_warp

    windows = []
    real = local_warp._region_field
    monkeypatch.setattr(local_warp, "_region_field", lambda win, *args: windows.append(win) or real(win, *args))
    d = bump_warp(photo.shape[:2], 5.0, 205, 110, 20) + bump_warp(photo.shape[:2], 5.0, 365, 110, 20)
    ai = cv2.bilateralFilter(remapped(photo, d), 0, 30, 3)
    warp = find_local_warp(photo, ai, np.eye(3))
    assert len(windows) == 1 and len(warp.regions) == 1
    moved = np.linalg.norm(d, axis=2) > 1.0
    assert np.mean(np.linalg.norm(warp.on_box((0, 0, 512, 512)) - d, axis=2)[moved]) < 0.5


def test_a_search_no_longer_wanted_measures_no_field(photo):
    """align_pair starts the search on the grid before the global fit is known;
    the search asks before measuring a field, and a fit that moved the grid says no."""
    d = bump_warp(photo.shape[:2], 6.0, 205, 110, 25)
    ai = cv2.bilateralFilter(remapped(photo, d), 0, 30, 3)
    asked = []
    assert not find_local_warp(photo, ai, np.eye(3), wanted=lambda: asked.append(1) or False)
    assert asked == [1]
    assert find_local_warp(photo, ai, np.eye(3), wanted=lambda: True)


def test_the_search_on_the_grid_measures_no_field_for_a_pair_the_fit_moves(photo, monkeypatch):
    """A liquified pair that is also rotated: the search started on the grid
    stops before its field, and only the search on the fitted map measures one,
    even when the global fit is slow to say the grid moved."""
    import time

    import processing.align.local_warp as local_warp
    import processing.align.pair as pair

    slow = pair._coarse_stage

    def slow_fit(*args):
        time.sleep(1.0)  # the search on the grid has long found its motion
        return slow(*args)

    monkeypatch.setattr(pair, "_coarse_stage", slow_fit)
    measured = []
    real = local_warp._region_field

    def spy(window, original, ai, ai_to_orig, support_px):
        measured.append(np.allclose(ai_to_orig, np.eye(3)))
        return real(window, original, ai, ai_to_orig, support_px)

    monkeypatch.setattr(local_warp, "_region_field", spy)
    d = bump_warp(photo.shape[:2], 6.0, 205, 110, 25)
    h, w = photo.shape[:2]
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), 1.5, 1.0)
    ai = cv2.warpAffine(cv2.bilateralFilter(remapped(photo, d), 0, 30, 3), turn, (w, h),
                        flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    al = align_pair(photo, ai)
    assert not al.same_grid and al.refined, al.summary()
    assert measured and not any(measured)


def test_a_moved_grid_is_found_though_the_search_on_the_grid_started(photo):
    """A same-size pair shifted by 2 px: the search begun on the identity is
    dropped and the global shift comes back."""
    shifted = cv2.warpAffine(cv2.GaussianBlur(photo, (0, 0), 1.5), np.float32([[1, 0, 2.0], [0, 1, -1.0]]),
                             (512, 512), borderMode=cv2.BORDER_REFLECT)
    al = align_pair(photo, shifted)
    assert not al.same_grid
    assert al.shift == pytest.approx((2.0, -1.0), abs=0.15)


def test_summary_names_the_faces_a_warp_touches(photo):
    from processing.align.pair import Alignment

    al = Alignment(original=photo, coverage=np.ones((1, 1), np.float32), scale=1.0, rotation_deg=0.0,
                   shift=(0.0, 0.0), residual_px=0.1, refined=True, identity=False, local_warp_px=3.24,
                   local_warp_fraction=0.004, local_warp_faces=[1, 3])
    assert al.summary() == ("Same grid; local warp up to 3.2 px over 0.4 % of the frame (faces 1, 3): "
                            "only that region resampled.")


def test_the_field_is_read_at_any_number_of_points():
    """OpenCV's remap takes fewer than 32767 columns: a long list of points is read in rows."""
    h, w = 300, 400
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    field = np.dstack([0.5 + 0.01 * xx, -0.5 - 0.02 * yy]).astype(np.float32)
    warp = LocalWarp([RegionField(Window(0, 0, w, h, 1.0), field)])
    rng = np.random.default_rng(4)
    x, y = rng.uniform(0, w - 1, 50_000).astype(np.float32), rng.uniform(0, h - 1, 50_000).astype(np.float32)
    d = warp.at(x, y)
    assert d.shape == (50_000, 2)
    # Bilinear reading of a linear field is the field itself (to OpenCV's 1/32 px grid).
    assert np.allclose(d[:, 0], 0.5 + 0.01 * x, atol=1e-3)
    assert np.allclose(d[:, 1], -0.5 - 0.02 * y, atol=1e-3)


def test_faces_handed_over_as_they_are_found_give_the_same_alignment():
    """The pipeline hands the alignment each face as the face search confirms it
    (an ArrivingList, in the search's order, closed with the faces sorted by size):
    the alignment is the one made from the finished list, pixel for pixel."""
    import threading
    import time

    import face_scenes
    from processing.landmarks import detect_faces
    from processing.row_bands import ArrivingList

    canvas, centers = face_scenes.group_photo()
    rng = np.random.default_rng(8)
    grain = cv2.GaussianBlur(rng.normal(0, 5, canvas.shape[:2]).astype(np.float32), (0, 0), 0.8)
    original = np.clip(canvas + grain[..., None], 0, 255).astype(np.uint8)
    cx, cy = centers[3]  # a 10 % face: it has a window of its own
    ai = cv2.bilateralFilter(remapped(original, bump_warp(original.shape[:2], 5.0, cx, cy - 12, 14)), 0, 30, 3)
    faces = detect_faces(ai)
    assert len(faces) == 6

    def feed(arriving):
        for face in faces[::-1]:  # not the final order
            time.sleep(0.02)
            arriving.append(face)
        arriving.close(faces)

    arriving = ArrivingList()
    threading.Thread(target=feed, args=(arriving,)).start()
    streamed = align_pair(original, ai, faces=arriving)
    listed = align_pair(original, ai, faces=faces)
    assert not listed.identity and listed.local_warp_faces  # a reshape found on a face: the check could fail
    assert streamed.local_warp_faces == listed.local_warp_faces
    assert streamed.local_warp_px == listed.local_warp_px
    assert np.array_equal(streamed.original, listed.original)

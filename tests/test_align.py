"""Tests for processing.align: pairs with KNOWN transforms and warps.

The "original" is skimage's astronaut, upscaled, with fine synthetic texture
(the pores the retouching removes); the "AI" version is that image smoothed
(Gaussian or bilateral, 1-2 px) and then transformed. The recovered mapping
is compared with the true one on a grid of points, not with the code's own
residual figure.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from skimage import data

from processing.align import Alignment, AlignmentError, align_pair
from processing.filters import gaussian_blur, luminance

SIDE = 768


@pytest.fixture(scope="module")
def original() -> np.ndarray:
    """float32 RGB face, SIDE px, with fine texture (sigma 0.8 px noise)."""
    img = cv2.resize(data.astronaut().astype(np.float32) / 255, (SIDE, SIDE),
                     interpolation=cv2.INTER_CUBIC)
    rng = np.random.default_rng(0)
    noise = cv2.GaussianBlur(rng.standard_normal((SIDE, SIDE)).astype(np.float32), (0, 0), 0.8)
    noise *= 0.04 / noise.std()
    return np.clip(img + noise[..., None], 0, 1)


def similarity(scale=1.0, rot_deg=0.0, tx=0.0, ty=0.0, center=(0.0, 0.0)) -> np.ndarray:
    """3x3 original -> AI: scale and rotate about ``center``, then translate."""
    th = np.radians(rot_deg)
    m = np.array([[scale * np.cos(th), -scale * np.sin(th), 0.0],
                  [scale * np.sin(th), scale * np.cos(th), 0.0], [0.0, 0.0, 1.0]])
    c = np.asarray(center, float)
    m[:2, 2] = c - m[:2, :2] @ c + [tx, ty]
    return m


def smooth(image: np.ndarray, kind: str = "gauss") -> np.ndarray:
    """What AI retouching does to texture: remove it."""
    if kind == "bilateral":
        return cv2.bilateralFilter(image, 9, 0.1, 2.0)
    return cv2.GaussianBlur(image, (0, 0), 1.5)


def make_ai(original, o2a, size_wh, kind="gauss") -> np.ndarray:
    src = smooth(original, kind)
    s = np.sqrt(abs(np.linalg.det(o2a[:2, :2])))
    if s < 1:  # antialias like a real export
        src = cv2.GaussianBlur(src, (0, 0), 0.5 / s)
    return cv2.warpAffine(src, o2a[:2], size_wh, flags=cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_REFLECT)


def grid_points(shape, margin=0.05, n=25) -> np.ndarray:
    h, w = shape[:2]
    ys, xs = np.mgrid[h * margin:h * (1 - margin):n * 1j, w * margin:w * (1 - margin):n * 1j]
    return np.stack([xs.ravel(), ys.ravel()], 1)


def mapping_error(al: Alignment, a2o_true, shape, margin=0.05) -> np.ndarray:
    """|recovered - true| original position of AI grid points, px."""
    pts = grid_points(shape, margin)
    return np.linalg.norm(al.ai_to_original(pts) - a2o_true(pts), axis=1)


def affine_truth(o2a):
    inv = np.linalg.inv(o2a)
    return lambda p: p @ inv[:2, :2].T + inv[:2, 2]


def band(image: np.ndarray) -> np.ndarray:
    """Pore band of the luminance: G_1 - G_3."""
    y = luminance(image.astype(np.float32))
    return gaussian_blur(y, 1.0) - gaussian_blur(y, 3.0)


C = SIDE / 2
GLOBAL_CASES = {
    "scale 0.5x": (similarity(0.5), (SIDE // 2, SIDE // 2)),
    "scale 0.8x": (similarity(0.8, tx=3.3, ty=-2.1), (614, 614)),
    "scale 1.25x": (similarity(1.25, tx=-5.5, ty=-7.25), (960, 960)),
    "scale 2x": (similarity(2.0, 0.5, tx=-1.5, ty=2.5), (2 * SIDE, 2 * SIDE)),
    "rotation +3deg": (similarity(1.0, 3.0, center=(C, C)), (SIDE, SIDE)),
    "rotation -3deg": (similarity(1.0, -3.0, center=(C, C)), (SIDE, SIDE)),
    "crop 10% left": (similarity(1.0, tx=-0.1 * SIDE), (int(0.9 * SIDE), SIDE)),
    "crop 10% right+bottom": (similarity(1.0), (int(0.9 * SIDE), int(0.9 * SIDE))),
    "crop 8% + resize": (similarity(1.1, tx=-0.08 * SIDE * 1.1, ty=-0.05 * SIDE * 1.1),
                         (int(0.92 * 1.1 * SIDE), int(0.95 * 1.1 * SIDE))),
    "shift 1 px": (similarity(1.0, tx=1.0), (SIDE, SIDE)),
    "shift 0.4 px, bilateral": (similarity(1.0, tx=0.4, ty=-0.3), (SIDE, SIDE)),
}


@pytest.mark.parametrize("name", list(GLOBAL_CASES))
def test_global_transform_recovered(original, name):
    o2a, size = GLOBAL_CASES[name]
    ai = make_ai(original, o2a, size, "bilateral" if "bilateral" in name else "gauss")
    al = align_pair(original, ai)
    err = mapping_error(al, affine_truth(o2a), ai.shape)
    assert err.max() <= 0.5, f"{name}: max error {err.max():.3f} px"
    assert not al.identity
    assert al.original.shape == ai.shape and al.original.dtype == original.dtype
    assert al.coverage.shape == ai.shape[:2] and al.coverage.dtype == np.float32
    true_scale = np.sqrt(np.linalg.det(o2a[:2, :2]))
    assert al.scale == pytest.approx(true_scale, rel=2e-3)
    true_rot = np.degrees(np.arctan2(o2a[1, 0], o2a[0, 0]))
    assert al.rotation_deg == pytest.approx(true_rot, abs=0.05)
    assert al.shift == pytest.approx((o2a[0, 2], o2a[1, 2]), abs=0.5)


def liquify_field(h, w, amp, cx, cy, radius) -> np.ndarray:
    """Smooth face-slimming-like displacement: AI(p) = original(p + d(p))."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    g = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * radius ** 2))
    dx = amp * g * np.tanh((xx - cx) / radius) / np.tanh(1.0) * np.exp(0.5)
    dy = 0.4 * amp * g * np.sin((yy - cy) / radius)
    return np.stack([dx, dy], -1).astype(np.float32)


@pytest.mark.parametrize("amp, with_shift", [(15.0, False), (6.0, True)])
def test_local_warp_recovered(original, amp, with_shift):
    h = w = SIDE
    # Radius 0.2 w: up to ~20 % local stretch, like a strong face slimming.
    d = liquify_field(h, w, amp, cx=0.47 * w, cy=0.3 * h, radius=0.2 * w)
    assert np.abs(d).max() == pytest.approx(amp, rel=0.15)  # up to `amp` px
    shift = (0.7, -1.2) if with_shift else (0.0, 0.0)
    d[..., 0] -= shift[0]
    d[..., 1] -= shift[1]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ai = cv2.remap(smooth(original), xx + d[..., 0], yy + d[..., 1], cv2.INTER_CUBIC,
                   borderMode=cv2.BORDER_REFLECT)

    al = align_pair(original, ai)
    assert al.refined and not al.identity

    def truth(p):
        q = p.astype(np.float32)
        return p + np.stack([cv2.remap(d[..., c], q[:, :1], q[:, 1:], cv2.INTER_LINEAR)[:, 0]
                             for c in range(2)], 1)

    err = mapping_error(al, truth, ai.shape, margin=0.04)
    # The steepest point of a 15 px warp of flat skin is underestimated most.
    assert err.max() <= max(1.0, 0.15 * amp), f"max error {err.max():.2f} px"
    assert err.mean() <= 0.3
    # Without refinement the liquified area stays misaligned.
    al_global = align_pair(original, ai, refine=False)
    assert not al_global.refined
    assert mapping_error(al_global, truth, ai.shape).max() > 0.5 * amp


@pytest.mark.parametrize("refine", [True, False])
def test_same_grid_is_identity(original, refine):
    ai = smooth(original)
    al = align_pair(original, ai, refine=refine)
    assert al.identity and not al.refined
    assert al.original is original  # no resampling, not even a copy
    assert al.coverage.shape == ai.shape[:2] and np.all(al.coverage == 1)
    assert (al.scale, al.rotation_deg, al.shift) == (1.0, 0.0, (0.0, 0.0))
    assert "nothing resampled" in al.summary()


def test_identical_uint8_is_identity(original):
    img = (original * 255).round().astype(np.uint8)
    al = align_pair(img, img)
    assert al.identity and al.original is img


@pytest.mark.parametrize("other", ["coffee", "chelsea", "coffee same size"])
def test_different_photo_refused(original, other):
    img = getattr(data, other.split()[0])()
    if other.endswith("same size"):
        img = cv2.resize(img, (SIDE, SIDE))
    with pytest.raises(AlignmentError) as exc:
        align_pair(original, img)
    message = str(exc.value)
    assert "same photo" in message and "original" in message
    assert message.endswith(".") and message.count(". ") == 0  # one sentence


def test_different_crops_refused():
    # Two faces-sized crops from different parts of different photos.
    a = data.astronaut()[0:300, 150:450]
    b = cv2.resize(data.chelsea()[0:300, 100:400], (300, 300))
    with pytest.raises(AlignmentError):
        align_pair(a, b)
    # Non-overlapping crops of the same photo are not the same picture either.
    big = data.astronaut()
    with pytest.raises(AlignmentError):
        align_pair(big[:256, :256], big[256:, 256:])


def test_different_shot_refused(original):
    # Same background, but the person moved 40 px and turned 8 degrees.
    mask = np.zeros((SIDE, SIDE), np.float32)
    cv2.ellipse(mask, (int(0.6 * SIDE), int(0.45 * SIDE)), (int(0.3 * SIDE), int(0.45 * SIDE)),
                0, 0, 360, 1, -1)
    m = cv2.getRotationMatrix2D((0.6 * SIDE, 0.45 * SIDE), 8, 1.0)
    m[0, 2] += 40
    moved = cv2.warpAffine(original, m, (SIDE, SIDE), borderMode=cv2.BORDER_REFLECT)
    alpha = cv2.warpAffine(cv2.GaussianBlur(mask, (0, 0), 5), m, (SIDE, SIDE))[..., None]
    other_shot = smooth((moved * alpha + original * (1 - alpha)).astype(np.float32))
    with pytest.raises(AlignmentError, match="same photo"):
        align_pair(original, other_shot)


def test_alignment_error_is_value_error():
    assert issubclass(AlignmentError, ValueError)


def test_coverage_zero_where_original_missing(original):
    # Shift right by 20.3 px: the AI's left 20 columns have no original.
    o2a = similarity(1.0, tx=20.3, ty=-12.6)
    ai = make_ai(original, o2a, (SIDE, SIDE))
    al = align_pair(original, ai)
    cov = al.coverage
    assert np.all(cov[:, :20] == 0)
    assert np.all(cov[SIDE - 12:, :] == 0)
    assert np.all(cov[20:SIDE - 20, 30:] == 1)
    assert 0.85 < cov.mean() < 0.97
    # A crop inside the original is covered everywhere.
    o2a = similarity(1.0, tx=-40, ty=-30)
    al = align_pair(original, make_ai(original, o2a, (SIDE - 80, SIDE - 60)))
    assert np.all(al.coverage == 1)


@pytest.mark.parametrize("name, o2a, size", [
    ("shift", similarity(1.0, tx=2.5, ty=-1.5), (SIDE, SIDE)),
    ("scale 1.25x", similarity(1.25, 1.0, tx=-60.5, ty=-40.25), (900, 900)),
])
def test_texture_not_doubled(original, name, o2a, size):
    """The pore band of the aligned original matches the truth on the AI grid."""
    ai = make_ai(original, o2a, size)
    al = align_pair(original, ai)
    truth = cv2.warpAffine(original, o2a[:2], size, flags=cv2.INTER_CUBIC,
                           borderMode=cv2.BORDER_REFLECT)
    inner = al.coverage == 1
    b_al, b_tr = band(al.original)[inner], band(truth)[inner]
    corr = np.corrcoef(b_al, b_tr)[0, 1]
    assert corr > 0.9, f"{name}: band correlation {corr:.3f}"
    # Pore-band energy inside the face: resampling must not wash it out.
    face = np.zeros(size[::-1], bool)
    fx, fy = o2a[:2, :2] @ [0.6 * SIDE, 0.25 * SIDE] + o2a[:2, 2]
    r = int(0.1 * SIDE * np.sqrt(np.linalg.det(o2a[:2, :2])))
    face[int(fy) - r:int(fy) + r, int(fx) - r:int(fx) + r] = True
    face &= inner
    ratio = np.mean(band(al.original)[face] ** 2) / np.mean(band(truth)[face] ** 2)
    assert 0.9 <= ratio <= 1.1, f"{name}: texture ratio {ratio:.3f}"


@pytest.mark.parametrize("kind", ["uint8", "uint16", "gray float32", "gray uint8"])
def test_dtypes_and_channels_preserved(original, kind):
    img = original
    if kind.startswith("gray"):
        img = luminance(img)
    if kind.endswith("uint8"):
        img = (img * 255).round().astype(np.uint8)
    elif kind.endswith("uint16"):
        img = (img * 65535).round().astype(np.uint16)
    o2a = similarity(1.0, 1.0, tx=3.5, ty=2.0, center=(C, C))
    ai = cv2.warpAffine(cv2.GaussianBlur(img, (0, 0), 1.5), o2a[:2], (SIDE, SIDE),
                        flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    al = align_pair(img, ai)
    assert al.original.dtype == img.dtype and al.original.shape == ai.shape
    assert mapping_error(al, affine_truth(o2a), ai.shape).max() <= 0.5


def test_summary_and_dict(original):
    o2a = similarity(1.25, tx=-5.5, ty=-7.25)
    al = align_pair(original, make_ai(original, o2a, (960, 960)), refine=False)
    line = al.summary()
    assert line.startswith("Aligned: scale 1.250, rotation") and "\n" not in line
    d = al.to_dict()
    json.dumps(d)  # JSON-able
    assert d["scale"] == pytest.approx(1.25, rel=1e-3)
    assert set(d) >= {"scale", "rotation_deg", "shift", "residual_px", "refined", "identity"}
    assert al.residual_px < 0.5


def test_bad_input_rejected(original):
    with pytest.raises(ValueError):
        align_pair(original[..., :2], original)
    with pytest.raises(ValueError):
        align_pair(original[:10, :10], original)


@pytest.fixture(scope="module")
def large(original):
    """A large frame (3072 px): 4x the face."""
    big = cv2.resize(original, (4 * SIDE, 4 * SIDE), interpolation=cv2.INTER_CUBIC)
    rng = np.random.default_rng(5)
    noise = cv2.GaussianBlur(rng.standard_normal(big.shape[:2]).astype(np.float32), (0, 0), 1.0)
    return (np.clip(big + 0.03 * noise[..., None] / noise.std(), 0, 1) * 255 + 0.5).astype(np.uint8)


@pytest.mark.parametrize("case", ["same", "shift", "liquify"])
def test_large_frames_take_the_same_decisions(large, case):
    h, w = large.shape[:2]
    ai = smooth(large)
    if case == "shift":  # a sub-pixel shift only full resolution can see
        ai = cv2.warpAffine(ai, np.float32([[1, 0, 0.6], [0, 1, 0]]), (w, h), flags=cv2.INTER_CUBIC,
                            borderMode=cv2.BORDER_REFLECT)
    elif case == "liquify":
        d = liquify_field(h, w, 12.0, cx=0.47 * w, cy=0.3 * h, radius=0.2 * w)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        ai = cv2.remap(ai, xx + d[..., 0], yy + d[..., 1], cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    al = align_pair(large, ai)
    assert al.identity == (case == "same")
    if case == "shift":
        assert abs(al.shift[0]) == pytest.approx(0.6, abs=0.2)
    if case == "liquify":
        assert al.refined


def test_alignment_off_needs_the_same_size(original):
    from processing.align import align_if_enabled

    ai = smooth(original)
    assert align_if_enabled(original, ai, enabled=False) is None
    with pytest.raises(AlignmentError, match="drop --no-align, or export both at the same size"):
        align_if_enabled(original, ai[:700], enabled=False, enable_hint="drop --no-align")


def test_full_coverage_stores_nothing(original):
    """An identity's coverage (and a crop's) is one value seen as a frame: no 576 MB of ones at 144 MP."""
    from processing.align.pair import covered_fraction
    from processing.align.resample import is_full_coverage

    al = align_pair(original, smooth(original))
    assert al.identity and al.coverage.shape == original.shape[:2] and al.coverage.dtype == np.float32
    assert is_full_coverage(al.coverage) and al.coverage.base.nbytes <= 4
    assert al.to_dict()["coverage_fraction"] == 1.0
    half = np.zeros((50, 60), np.float32)
    half[:, :21] = 0.9
    assert covered_fraction(half) == pytest.approx(21 / 60)
    assert not is_full_coverage(half) and not is_full_coverage(np.ones((4, 4), np.float32))


def test_same_pixels_compared_to_the_last_row(original):
    from processing.align.pair import _same_pixels

    img = (original * 255).round().astype(np.uint8)
    other = img.copy()
    assert _same_pixels(img, other) and _same_pixels(img, img)
    other[-1, 5, 1] ^= 1  # a difference the subsampled test does not see
    assert not _same_pixels(img, other)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(7, 2), (33, 51, 2)])
def test_vector_lengths_are_numpys_norms_bit_for_bit(dtype, shape):
    """The flows' lengths (and squared lengths) equal numpy's norm and sum over the last axis exactly."""
    from processing.align.geometry import squared_length, vector_length

    v = (np.random.default_rng(2).standard_normal(shape) * 7).astype(dtype)
    length = vector_length(v)
    assert length.dtype == dtype and length.shape == shape[:-1]
    assert np.array_equal(length, np.linalg.norm(v, axis=-1))
    assert np.array_equal(squared_length(v), (v * v).sum(axis=-1))


@pytest.mark.parametrize("seed", [0, 1])
def test_residual_at_textured_pixels_is_the_full_grid_residual(seed):
    """The residual measured at the textured pixels only equals the one taken
    from the model of the whole grid (the arithmetic it replaced), bit for bit."""
    from processing.align.flow import mean_residual

    rng = np.random.default_rng(seed)
    h, w = 61, 83
    angle, scale = rng.uniform(-0.02, 0.02), rng.uniform(0.98, 1.02)
    fit = np.array([[scale * np.cos(angle), -scale * np.sin(angle), rng.uniform(-2, 2)],
                    [scale * np.sin(angle), scale * np.cos(angle), rng.uniform(-2, 2)], [0, 0, 1]])
    flow = rng.normal(0, 1.5, (h, w, 2)).astype(np.float32)
    textured = rng.random((h, w)) < 0.4
    xx, yy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    model = np.dstack([fit[0, 0] * xx + fit[0, 1] * yy + fit[0, 2],
                       fit[1, 0] * xx + fit[1, 1] * yy + fit[1, 2]]).astype(np.float32)
    left = np.dstack([xx, yy]) + flow - model
    expected = float(np.mean(np.linalg.norm(left[textured], axis=-1))) * 2.5
    assert mean_residual(fit, flow, textured, 2.5) == expected
    assert mean_residual(fit, flow, np.zeros((h, w), bool), 2.5) == 0.0

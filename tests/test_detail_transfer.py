"""Detail transfer's 8-bit clip that keeps luminance (match mode on brightened skin)."""

import numpy as np
import pytest

from processing.detail_transfer import _clip_keeping_luminance

REC709 = np.array([0.2126, 0.7152, 0.0722])


def reference(t: np.ndarray) -> np.ndarray:
    """docs/METHODS.md, 'Where the AI brightened skin past white', on every pixel at once (float64)."""
    x = t.astype(np.float64)
    over = np.maximum(x - 255, 0)
    kept = np.clip(x, 0, 255)
    lost = over @ REC709
    room = kept < 255
    share = room @ REC709
    move = np.minimum(lost / np.maximum(share, 1e-3), over.max(axis=2))
    moved = kept + room * np.where(lost >= 0.5, move, 0)[..., None]
    return np.clip(np.floor(moved + 0.5), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("top", [250, 262, 400])
def test_equals_the_whole_frame_formula(top):
    rng = np.random.default_rng(top)
    t = rng.integers(-30, top, (120, 160, 3)).astype(np.int16)
    out = _clip_keeping_luminance(t)
    expected = reference(t)
    # float32 against float64 may round a value that lands on .5 the other way.
    assert np.abs(out.astype(int) - expected).max() <= 1
    assert (out != expected).mean() < 1e-3


def test_below_white_it_is_the_plain_clip():
    t = np.random.default_rng(1).integers(-40, 256, (64, 64, 3)).astype(np.int16)
    assert np.array_equal(_clip_keeping_luminance(t), np.clip(t, 0, 255).astype(np.uint8))


def test_a_clipped_red_hands_its_luminance_to_green_and_blue():
    t = np.array([[[275, 200, 180], [255, 255, 255], [300, 255, 100]]], np.int16)
    out = _clip_keeping_luminance(t).astype(float)
    assert out[0, 0, 0] == 255
    # The luminance lost above white reappears in the channels with room.
    assert out[0, 0] @ REC709 == pytest.approx(np.array([275, 200, 180]) @ REC709, abs=0.5)
    assert np.array_equal(out[0, 1], [255, 255, 255])
    # No channel moves by more than the largest overshoot (45): blue gets it all, not more.
    assert out[0, 2, 2] - 100 <= 45 and out[0, 2, 1] == 255


@pytest.mark.parametrize("channel", [0, 1, 2])
def test_one_channel_over_white_is_found_whichever_it_is(channel):
    """Blue carries the least luminance: a pixel with only blue over white must
    be handed on too."""
    t = np.full((3, 5, 3), 200, np.int16)
    t[1, 2, channel] = 300
    out = _clip_keeping_luminance(t)
    assert np.array_equal(out, reference(t))
    # handed on: brighter than the plain clip, the other pixels as they were
    assert out[1, 2] @ REC709 > np.clip(t[1, 2], 0, 255) @ REC709 + 2
    assert (out == 200).sum() == out.size - 3


@pytest.mark.parametrize("keep_luminance, channels", [(True, 3), (False, 3), (False, 1)])
def test_the_full_strength_swap_in_one_pass_is_the_general_swap(keep_luminance, channels):
    """A wide swap at full strength is made as O - G(O - A) in one pass; the
    general path A + s (O - A - G(O - A)) at a strength a hair below 1 gives
    the same pixels within a level, over white (kept luminance) included."""
    import cv2

    from processing.detail_transfer import add_detail

    rng = np.random.default_rng(channels + keep_luminance)
    shape = (300, 340) + ((channels,) if channels > 1 else ())
    original = np.clip(200 + rng.normal(0, 25, shape), 0, 255).astype(np.uint8)
    ai = cv2.GaussianBlur(original, (0, 0), 3.0)
    ai = np.clip(ai.astype(np.int16) + 30, 0, 255).astype(np.uint8)  # brightened: some pixels go past white
    mask = np.zeros(shape[:2], np.float32)
    mask[40:260, 50:300] = 1.0
    mask = cv2.GaussianBlur(mask, (0, 0), 8.0)
    one_pass = add_detail(original, ai, mask, 8.0, 1.0, True, exact=False, keep_luminance=keep_luminance)
    general = add_detail(original, ai, mask, 8.0, float(np.nextafter(1.0, 0.0)), True, exact=False,
                         keep_luminance=keep_luminance)
    difference = np.abs(one_pass.astype(int) - general)
    assert difference.max() <= 1 and (difference > 0).mean() < 1e-3
    assert np.abs(one_pass.astype(int) - ai).mean() > 5  # the swap did put texture back

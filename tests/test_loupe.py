"""The loupe's window: the full-size restore there, from a crop of the plan."""

import numpy as np
import pytest

from processing.loupe import restored_window


@pytest.mark.parametrize("settings", ["graft", "freqsep", "match", "synthetic"])
def test_loupe_window_is_the_full_restore_there(settings):
    from processing.demo import demo_pair
    from processing.pipeline import apply, plan, prepare_pair
    from processing.settings import (FreqSepSettings, GraftSettings, MatchSettings, Preset,
                                     SyntheticSettings)

    s = {"graft": GraftSettings(blemish=60.0), "freqsep": FreqSepSettings(blemish=80.0),
         "match": MatchSettings(), "synthetic": SyntheticSettings()}[settings]
    original, ai = demo_pair()
    restore_plan = plan(prepare_pair(original, ai, "auto", Preset(align=False)), s)
    full = apply(restore_plan, s)
    rng = np.random.default_rng(1)
    h, w = ai.shape[:2]
    corners = [(0, 0, 128), (w - 200, h - 200, 200)]  # the crop's margin cut short by the frame
    randoms = []
    for _ in range(4):
        side = int(rng.integers(64, 257))
        randoms.append((int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1)), side))
    for x0, y0, side in corners + randoms:
        window = (x0, y0, x0 + side, y0 + side)  # (x0, y0, x1, y1), as the loupe gives it
        got = restored_window(restore_plan, s, window)
        assert np.array_equal(got, full[y0:y0 + side, x0:x0 + side])

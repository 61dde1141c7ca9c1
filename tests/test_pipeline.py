"""The pipeline: one prepared pair, one plan, the pixels; a plan reused when only amounts change,
a 1:1 window equal to the full restore, previews on a reduced copy, the demo pair."""

import numpy as np
import pytest

from processing.image_io import LoadedImage
from processing.pipeline import PreparedPair, apply, plan
from processing.restore import window_mask
from processing.settings import (FreqSepSettings, GraftSettings, MatchSettings, SyntheticSettings, at_scale,
                                 plan_key)


def _blemished_pair():
    """A textured pair whose 'AI' copy is smoothed and lost three dark spots."""
    import cv2

    rng = np.random.default_rng(4)
    base = np.full((160, 200, 3), 150, np.float32) + rng.normal(0, 12, (160, 200, 1)).astype(np.float32)
    o = base.copy()
    for cx, cy in ((50, 50), (120, 90), (160, 40)):
        cv2.circle(o, (cx, cy), 4, (90, 90, 90), -1)
    a = cv2.GaussianBlur(base, (0, 0), 2.0)
    return np.clip(o, 0, 255).astype(np.uint8), np.clip(a, 0, 255).astype(np.uint8)


def _pair(o, a, mask=None, coverage=None):
    return PreparedPair(retouched=LoadedImage(pixels=a), original=o, skin_mask=mask, coverage=coverage)


SETTINGS = {"match": MatchSettings(), "match-8": MatchSettings(cutoff=8.0, strength=140.0),
            "graft-blemish": GraftSettings(blemish=60.0), "graft": GraftSettings(),
            "freqsep-blemish": FreqSepSettings(blemish=70.0, mode="replace"),
            "synthetic": SyntheticSettings(seed=5)}


@pytest.mark.parametrize("name", list(SETTINGS))
def test_a_plan_is_reused_when_only_the_amount_changes_and_the_loupe_window_matches(name):
    settings = SETTINGS[name]
    o, a = _blemished_pair()
    mask = np.zeros(a.shape[:2], np.float32)
    mask[10:150, 15:190] = 1.0
    pair = _pair(o, a, mask)
    restore_plan = plan(pair, settings)
    full = apply(restore_plan)
    assert not np.array_equal(full, a)
    # The loupe: a window restored with the whole image's plan gives the full-size pixels.
    x0, y0, x1, y1 = win = (50, 40, 98, 88)
    part = apply(restore_plan, window=win)
    assert np.array_equal(part[y0:y1, x0:x1], full[y0:y1, x0:x1])
    # A plan made at one strength, applied at another, equals a fresh plan at that strength.
    if hasattr(settings, "strength"):
        stronger = settings.replace(strength=180.0)
        assert plan_key(stronger) == plan_key(settings) and restore_plan.fits(stronger)
        assert np.array_equal(apply(restore_plan, stronger), apply(plan(pair, stronger)))
    if getattr(settings, "blemish", 0) > 0 and getattr(settings, "cutoff", 1) > 0:
        assert restore_plan.protection is not None and restore_plan.protection.shape == a.shape[:2]
        assert restore_plan.kept_clean_spots() >= 3
        for x, y in ((50, 50), (120, 90), (160, 40)):  # the removed spots are kept clean
            assert restore_plan.protection[y, x] < 0.5
        assert restore_plan.protection[145, 60] == pytest.approx(1.0)
    elif getattr(settings, "blemish", 0) == 0:
        assert restore_plan.protection is None and restore_plan.kept_clean_spots() == 0


@pytest.mark.parametrize("name", ["match", "graft-blemish", "freqsep-blemish"])
def test_kept_clean_spots_are_counted_as_on_the_whole_frame(name):
    """The count is made where the protection was found; the reference counts the
    components of the full-frame protection the page shows."""
    import cv2

    o, a = _blemished_pair()
    o, a = (np.pad(x, ((30, 50), (70, 20), (0, 0)), mode="reflect") for x in (o, a))
    mask = np.zeros(a.shape[:2], np.float32)
    mask[40:180, 85:260] = 1.0  # the spots' part of the frame, away from its edges
    restore_plan = plan(_pair(o, a, mask), SETTINGS[name])
    kept = (restore_plan.protection < 0.5).astype(np.uint8)
    reference = cv2.connectedComponents(kept)[0] - 1
    assert reference >= 3
    assert restore_plan.kept_clean_spots() == reference
    assert restore_plan.kept_clean_spots(0.9) == cv2.connectedComponents(
        (restore_plan.protection < 0.9).astype(np.uint8))[0] - 1


def test_a_plan_refuses_settings_that_move_the_texture():
    o, a = _blemished_pair()
    restore_plan = plan(_pair(o, a), GraftSettings(radius=2.0))
    with pytest.raises(ValueError, match="make a new plan"):
        apply(restore_plan, GraftSettings(radius=3.0))


def test_window_mask_keeps_only_the_window():
    mask = np.ones((50, 60), np.float32)
    wm = window_mask(mask, (10, 5, 20, 15))
    assert wm.sum() == 100 and wm[5:15, 10:20].min() == 1


def test_coverage_multiplies_into_the_mask():
    a = np.zeros((20, 30, 3), np.uint8)
    skin = np.full((20, 30), 0.5, np.float32)
    cov = np.zeros((20, 30), np.float32)
    cov[:, :15] = 1
    pair = _pair(a, a, skin, cov)
    assert pair.mask[:, :15].min() == 0.5 and pair.mask[:, 15:].max() == 0
    edited = pair.with_skin_mask(np.ones((20, 30), np.float32))
    assert edited.mask[:, :15].min() == 1 and edited.mask[:, 15:].max() == 0
    assert _pair(a, a, None, cov).mask is cov and _pair(a, a, skin).mask is skin
    with pytest.raises(ValueError, match="retouched image's size"):
        pair.with_skin_mask(np.ones((10, 10), np.float32))


def test_settings_at_scale_scale_pixels_and_stay_in_range():
    s = at_scale(GraftSettings(radius=4.0, strength=150.0), 0.25)
    assert s.radius == 1.0 and s.strength == 150.0
    assert at_scale(GraftSettings(radius=1.0), 0.1).radius == 0.5  # range minimum
    assert at_scale(MatchSettings(), 0.25).cutoff == 0  # automatic stays automatic
    assert at_scale(MatchSettings(cutoff=8), 0.25).cutoff == 2.0
    assert at_scale(SyntheticSettings(), 1.0) == SyntheticSettings()


def test_reduced_pair_is_the_same_pair_smaller():
    o, a = _blemished_pair()
    mask = np.zeros(a.shape[:2], np.float32)
    mask[40:120, 60:140] = 1
    small, scale = _pair(o, a, mask).reduced(100)
    assert scale == 0.5 and small.retouched.pixels.shape == (80, 100, 3) and small.original.shape == (80, 100, 3)
    assert small.mask.shape == (80, 100) and small.mask[20:60, 30:70].min() == 1 and small.mask[:15].max() == 0
    whole = _pair(o, a)
    assert whole.reduced(1000) == (whole, 1.0)


def test_demo_pair_is_deterministic_and_smoothed():
    from processing.demo import demo_files, demo_pair
    from processing.image_io import read_image
    from processing.metrics import band_energies
    from processing.skin_mask import propose_skin_mask

    o, a = demo_pair()
    assert o.shape == a.shape == (1024, 1024, 3) and o.dtype == np.uint8
    assert not o.flags.writeable
    diff = np.abs(o.astype(int) - a.astype(int)).max(axis=2)
    assert (diff == 0).mean() > 0.8  # background untouched
    face = propose_skin_mask(a, forehead=0.0).mask
    assert face.max() > 0.99
    e_o, e_a = band_energies(o, face), band_energies(a, face)
    assert e_a["fine"] < 0.3 * e_o["fine"]
    o_bytes, a_bytes = demo_files()
    assert np.array_equal(read_image(o_bytes).pixels, o)


def test_the_automatic_mask_and_its_redraw_stop_at_hair():
    """The pair's mask is measured on the retouched image, and so is its redraw with other settings."""
    import skimage.data

    from processing.pipeline import prepare_pair
    from processing.settings import Preset
    from processing.skin_mask import propose_skin_mask

    retouched = skimage.data.astronaut()
    fringe, cheek = (55, 224), (125, 197)  # (y, x): a lock of her fringe, her cheek
    pair = prepare_pair(retouched, retouched, "auto", Preset(align=False))
    np.testing.assert_array_equal(pair.skin_mask, propose_skin_mask(retouched).mask)
    assert pair.skin_mask[fringe] <= 0.2 and pair.skin_mask[cheek] > 0.9
    taller = pair.with_mask_settings(0.4, 0.02)
    assert taller.skin_mask[fringe] <= 0.2 and taller.skin_mask[cheek] > 0.9
    assert taller.faces[0].oval[:, 1].min() < pair.faces[0].oval[:, 1].min()  # the bound moved up


def test_a_reduced_copy_can_reuse_the_reduced_photos_of_another_mask():
    o, a = _blemished_pair()
    first = np.zeros(a.shape[:2], np.float32)
    first[40:120, 60:140] = 1
    second = np.zeros_like(first)
    second[10:50, 10:50] = 1
    small_first, scale = _pair(o, a, first).reduced(100)
    again, scale2 = _pair(o, a, second).reduced(100, photos_from=small_first)
    fresh, _ = _pair(o, a, second).reduced(100)
    assert scale2 == scale and again.original is small_first.original
    assert np.array_equal(again.mask, fresh.mask) and np.array_equal(again.retouched.pixels, fresh.retouched.pixels)


# --- Memory on large pairs (issue 14) ---

def _write_pair(folder):
    import cv2

    o, a = _blemished_pair()
    cv2.imwrite(str(folder / "o.png"), o[..., ::-1])
    cv2.imwrite(str(folder / "a.png"), a[..., ::-1])
    return folder / "o.png", folder / "a.png"


def test_one_file_given_twice_is_decoded_once(tmp_path):
    import shutil

    from processing.pipeline import prepare_pair

    _, a = _write_pair(tmp_path)
    twin = tmp_path / "copy" / "a.png"
    twin.parent.mkdir()
    shutil.copy(a, twin)
    once = prepare_pair(a, a, "none")
    assert once.original is once.retouched.pixels
    twice = prepare_pair(twin, a, "none")
    assert twice.original is not twice.retouched.pixels
    assert once.original_name == twice.original_name == "a.png"
    assert np.array_equal(apply(plan(once, GraftSettings())), apply(plan(twice, GraftSettings())))


def test_large_files_are_decoded_one_at_a_time(tmp_path, monkeypatch):
    import processing.pair as pair_module
    from processing.image_io import ImageReadError
    from processing.settings import Preset

    o, a = _write_pair(tmp_path)

    class NoThreads:
        def __init__(self, *args, **kwargs):
            raise AssertionError("decoded side by side")

    monkeypatch.setattr(pair_module, "ThreadPoolExecutor", NoThreads)
    monkeypatch.setattr(pair_module, "SIDE_BY_SIDE_MAX_PIXELS", 160 * 200 - 1)
    no_align = Preset(align=False)
    small = pair_module.prepare_pair(o, a, "none", no_align)
    assert np.array_equal(small.original, _blemished_pair()[0])
    # Problems are still reported in the same order: the original's first.
    with pytest.raises(ImageReadError, match="missing-o.png"):
        pair_module.prepare_pair(tmp_path / "missing-o.png", tmp_path / "missing-a.png", "none", no_align)
    monkeypatch.setattr(pair_module, "SIDE_BY_SIDE_MAX_PIXELS", 160 * 200)
    with pytest.raises(AssertionError, match="side by side"):
        pair_module.prepare_pair(o, a, "none", no_align)


def test_an_8bit_mask_file_times_the_coverage_stays_a_fraction():
    a = np.zeros((20, 30, 3), np.uint8)
    skin = np.full((20, 30), 255, np.uint8)   # a mask file is kept at its own depth
    skin[:, :5] = 0
    cov = np.ones((20, 30), np.float32)
    cov[:, 20:] = 0.5
    mask = _pair(a, a, skin, cov).mask
    assert mask.dtype == np.float32 and mask.max() == 1.0
    assert mask[:, :5].max() == 0 and mask[:, 20:].min() == 0.5


def test_window_mask_of_a_band_weight_and_of_everywhere():
    from processing.row_bands import BandWeight

    skin = np.zeros((50, 60), np.float32)
    skin[10:40, 10:50] = 0.5
    factor = np.full((50, 60), 0.5, np.float32)
    weight = BandWeight((50, 60), skin, (factor,))
    wm = window_mask(weight, (5, 5, 30, 30))
    assert np.array_equal(wm[5:30, 5:30], (skin * factor)[5:30, 5:30]) and wm[:5].max() == 0 == wm[:, 30:].max()
    everywhere = window_mask(None, (0, 0, 10, 10), (50, 60))
    assert everywhere.shape == (50, 60) and everywhere.sum() == 100


@pytest.mark.parametrize("settings", [GraftSettings(blemish=60.0), FreqSepSettings(blemish=70.0, mode="replace")])
def test_blemish_protection_of_graft_is_multiplied_in_band_by_band(settings):
    from processing.detail_transfer import add_detail
    from processing.row_bands import BandWeight

    o, a = _blemished_pair()
    mask = np.zeros(a.shape[:2], np.float32)
    mask[10:150, 15:190] = 0.8
    restore_plan = plan(_pair(o, a, mask), settings)
    assert isinstance(restore_plan.mask, BandWeight) and restore_plan.spots is not None
    whole = mask * restore_plan.blemish_weight  # the full-frame product, as one array
    p = settings.as_fractions()
    sigma = p["radius"] if isinstance(settings, GraftSettings) else p["blur"]
    expected = add_detail(o, a, whole, sigma, p["strength"], p.get("mode") == "replace")
    assert np.array_equal(restore_plan.mask.full(), whole)
    assert np.array_equal(apply(restore_plan), expected)
    assert all(restore_plan.protection[y, x] < 0.5 for x, y in ((50, 50), (120, 90), (160, 40)))


@pytest.mark.parametrize("name", list(SETTINGS))
def test_coverage_is_multiplied_in_band_by_band(name):
    """A restore with a coverage equals one with the skin x coverage product given as the mask."""
    o, a = _blemished_pair()
    skin = np.zeros(a.shape[:2], np.float32)
    skin[10:150, 15:190] = 0.9
    cov = np.ones(a.shape[:2], np.float32)
    cov[:, 150:] = np.linspace(1, 0, 50, dtype=np.float32)
    with_cover = _pair(o, a, skin, cov)
    assert not isinstance(with_cover.restore_mask(), np.ndarray)
    assert np.array_equal(apply(plan(with_cover, SETTINGS[name])),
                          apply(plan(_pair(o, a, skin * cov), SETTINGS[name])))


def test_stages_are_announced_as_each_starts(tmp_path, monkeypatch):
    """A front end hears 'read', 'faces', 'align' in that order, each before its work runs."""
    import processing.pair as pair_module
    from processing.settings import Preset

    from processing.demo import demo_files

    o, a = tmp_path / "o.png", tmp_path / "a.png"
    for path, data in zip((o, a), demo_files()):
        path.write_bytes(data)
    events = []
    for name in ("_decode", "_auto_mask", "_EarlyAlignment", "_align", "_use_alignment"):
        real = getattr(pair_module, name)

        def spy(*args, _real=real, _name=name, **kwargs):
            events.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(pair_module, name, spy)
    pair_module.prepare_pair(o, a, "auto", Preset(align=True), on_stage=events.append)
    assert [e for e in events if not e.startswith("_")] == ["read", "faces", "align"]
    # With the automatic mask the alignment starts beside the face search (it
    # waits for the faces where it needs them) and is taken up after "align".
    for stage, work in (("read", "_decode"), ("faces", "_EarlyAlignment"), ("faces", "_auto_mask"),
                        ("align", "_use_alignment")):
        assert events.index(stage) < events.index(work)
    assert "_align" not in events
    events.clear()
    pair_module.prepare_pair(o, a, "none", Preset(align=True),
                             on_stage=events.append)
    assert [e for e in events if not e.startswith("_")] == ["read", "align"]
    assert events.index("align") < events.index("_align") and "_EarlyAlignment" not in events
    events.clear()
    pair_module.prepare_pair(o, a, "none", Preset(align=False), on_stage=events.append)
    assert [e for e in events if not e.startswith("_")] == ["read"]

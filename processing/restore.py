"""Pixels out: apply a restore plan with a method's settings.

The last stage of the pipeline (:mod:`processing.pipeline`). The settings are
turned into fractions here, once; the methods take plain fractions and pixels.
"""

from __future__ import annotations

import numpy as np

from processing.frequency_separation import frequency_separation
from processing.graft import high_pass_graft
from processing.plan import RestorePlan
from processing.row_bands import weight_rows
from processing.settings import FreqSepSettings, GraftSettings, MatchSettings, Section, SyntheticSettings
from processing.synthetic import synthetic_texture


def apply(plan: RestorePlan, settings: Section | None = None,
          window: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """The restored image: the retouched one with texture put back as planned.

    Parameters
    ----------
    plan : RestorePlan
        From :func:`processing.plan.plan`.
    settings : Section, optional
        The method's settings; they may differ from the plan's only in how
        much texture goes back (strength, shadow and highlight protection).
        Default: the plan's own.
    window : (x0, y0, x1, y1), optional
        Restore only there (a 1:1 loupe): graft, frequency separation and grain
        then give exactly the whole-image pixels inside the window, and the
        retouched image elsewhere. Match mode restores the whole image (its wide
        swap runs on a reduced copy whose grid depends on the area restored):
        crop the result.

    Returns
    -------
    ndarray like the retouched image; equal to it bit for bit where the mask is 0.
    """
    settings = plan.settings if settings is None else settings
    if not plan.fits(settings):
        raise ValueError(f"These {settings.section} settings change where texture goes: make a new plan.")
    pair = plan.pair
    ai, original = pair.retouched.pixels, pair.original
    p = settings.as_fractions()
    amounts = dict(shadows=p["shadows"], highlights=p["highlights"])
    if isinstance(settings, MatchSettings):
        from processing.match import texture_match

        return texture_match(original, ai, plan.match, p["strength"], **amounts)
    mask = plan.mask
    if window is not None:
        mask = window_mask(mask, window, ai.shape)
    if isinstance(settings, SyntheticSettings):
        return synthetic_texture(ai, mask, p["amount"], p["grain_size"], p["monochrome"], p["seed"],
                                 p["opacity"], **amounts)
    if isinstance(settings, GraftSettings):
        return high_pass_graft(original, ai, mask, p["radius"], p["strength"], **amounts)
    if isinstance(settings, FreqSepSettings):
        return frequency_separation(original, ai, mask, p["blur"], p["strength"], p["mode"] == "replace",
                                    **amounts)
    raise TypeError(f"unknown settings {type(settings).__name__}")


def window_mask(mask, window: tuple[int, int, int, int], shape=None) -> np.ndarray:
    """The mask kept only inside ``window`` (x0, y0, x1, y1), zero elsewhere; float32.

    Restoring with it computes only the window (the methods skip the rest) yet
    gives there exactly the pixels of a whole-image restore. ``mask`` may be
    an ndarray, a :class:`~processing.row_bands.BandWeight` or None (everywhere,
    then ``shape`` gives the size).
    """
    shape = mask.shape if mask is not None else shape
    x0, y0, x1, y1 = window
    h, w = shape[:2]
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    out = np.zeros(tuple(shape[:2]), np.float32)
    if x0 < x1 and y0 < y1:
        out[y0:y1, x0:x1] = weight_rows(mask, y0, y1, x0, x1)
    return out

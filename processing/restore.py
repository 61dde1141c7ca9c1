"""Pixels out: apply a restore plan with a method's settings.

The last stage of the pipeline (:mod:`processing.pipeline`). The settings are
turned into fractions here, once; the methods take plain fractions and pixels.
"""

from __future__ import annotations

import numpy as np

from processing.dtypes import mask_to_float
from processing.frequency_separation import frequency_separation
from processing.graft import high_pass_graft
from processing.plan import RestorePlan
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
        mask = window_mask(np.ones(ai.shape[:2], np.float32) if mask is None else mask_to_float(mask), window)
    if isinstance(settings, SyntheticSettings):
        return synthetic_texture(ai, mask, p["amount"], p["grain_size"], p["monochrome"], p["seed"],
                                 p["opacity"], **amounts)
    if isinstance(settings, GraftSettings):
        return high_pass_graft(original, ai, mask, p["radius"], p["strength"], **amounts)
    if isinstance(settings, FreqSepSettings):
        return frequency_separation(original, ai, mask, p["blur"], p["strength"], p["mode"] == "replace",
                                    **amounts)
    raise TypeError(f"unknown settings {type(settings).__name__}")


def window_mask(mask: np.ndarray, window: tuple[int, int, int, int]) -> np.ndarray:
    """The mask kept only inside ``window`` (x0, y0, x1, y1), zero elsewhere.

    Restoring with it computes only the window (the methods skip the rest) yet
    gives there exactly the pixels of a whole-image restore.
    """
    x0, y0, x1, y1 = window
    out = np.zeros(mask.shape, np.float32)
    out[y0:y1, x0:x1] = mask[y0:y1, x0:x1]
    return out

"""Plan: what a restore decides from the whole pair before it touches a pixel.

The second stage of the pipeline (:mod:`processing.pipeline`). Match mode's
cut-off and weights and every method's removed-blemish protection depend on
the whole mask: they are decided here, once per pair and settings, so that a
slider that only changes how much texture goes back (strength, shadow and
highlight protection) re-applies the plan instead of analysing again, and a
1:1 loupe that restores a window shows exactly the pixels of the full result.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from processing.pair import PreparedPair
from processing.row_bands import BandWeight
from processing.settings import (FreqSepSettings, GraftSettings, MatchSettings, Preset, Section,
                                 SyntheticSettings, plan_key)

#: A pixel counts as "kept clean" where the blemish protection is below this.
KEPT_CLEAN_LEVEL = 0.5


@dataclass
class RestorePlan:
    """A pair and the decisions a restore of it takes with given settings.

    Attributes
    ----------
    pair : PreparedPair
    settings : Section
        The method's settings the plan was made with (in per cent and px).
    mask : ndarray (H, W), BandWeight or None
        The mask to restore with; for graft and frequency separation the
        removed-blemish protection is folded in (as a
        :class:`~processing.row_bands.BandWeight`, multiplied out band by band).
    match : MatchPlan or None
        Match mode's cut-off and weights (None for other methods or an empty mask).
    spots : BlemishSpots or None
        Graft and frequency separation: the removed-blemish protection folded
        into ``mask`` (None when off or nothing was found).
    """

    pair: PreparedPair
    settings: Section
    mask: object | None
    match: object | None = None
    spots: object | None = None
    # kept_clean_spots by level: a plan is made once and read at every slider move.
    _kept_clean: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def blemish_weight(self) -> np.ndarray | None:
        """Graft and frequency separation: the blemish protection as a float32 (H, W) frame, or None."""
        return None if self.spots is None else self.spots.full()

    @property
    def protection(self) -> np.ndarray | None:
        """Full-frame blemish protection (1 = texture goes back, 0 = kept clean), or None.

        Plans keep it at the size it was found at; the full frame (96 MB at 24 MP)
        is made on demand, for display.
        """
        if self.match is not None and self.match.spots is not None:
            return self.match.full(self.match.blemish, self.pair.retouched.pixels.shape)
        return self.blemish_weight

    def _protection_where_found(self) -> np.ndarray | None:
        """:attr:`protection` on the rectangle outside which it is 1 (the mask's box in
        match mode, the reduced map's extent otherwise), or None."""
        if self.match is not None and self.match.spots is not None:
            return self.match.blemish
        if self.spots is None:
            return None
        spots = self.spots
        (y0, x0), (h, w), f = spots.origin, spots.shape, spots.f
        r0, r1 = max(0, y0), min(h, y0 + spots.soft.shape[0] * f)
        c0, c1 = max(0, x0), min(w, x0 + spots.soft.shape[1] * f)
        return spots.rows(r0, r1, c0, c1) if r0 < r1 and c0 < c1 else None

    @property
    def method(self) -> str:
        return self.settings.section

    def fits(self, settings: Section) -> bool:
        """Whether ``settings`` can be applied with this plan (only amounts differ)."""
        return plan_key(settings) == plan_key(self.settings)

    def kept_clean_spots(self, level: float = KEPT_CLEAN_LEVEL) -> int:
        """How many separate places a removed blemish was kept clean.

        Counted on the part of the frame the protection was found on: it is 1
        everywhere else, so the count is the whole frame's, without making the
        96 MB frame of :attr:`protection` at 24 MP (0.4 s at every slider move).
        """
        if level not in self._kept_clean:
            protection = self._protection_where_found()
            kept = None if protection is None else (protection < level).astype(np.uint8)
            self._kept_clean[level] = 0 if kept is None or not kept.any() else \
                int(cv2.connectedComponents(kept)[0] - 1)
        return self._kept_clean[level]

    def summary(self) -> str | None:
        """What the plan decided (match mode) and how a RAW original's noise is treated, or None."""
        noise = self.noise_note()
        if not isinstance(self.settings, MatchSettings):
            return noise
        if self.match is None:
            return "The mask is empty: the retouched image is written unchanged."
        if self.settings.cutoff == 0:
            how = f"automatic: {self.match.reason}"
        else:
            how = f"set; automatic would be {self.match.auto_cutoff:.1f} px"
        return (f"Match: cut-off {self.match.cutoff:.1f} px ({how})"
                + ("; removed blemishes kept clean, with texture from the skin beside them."
                   if self.match.spots is not None else ".") + (f" {noise}" if noise else ""))

    def noise_note(self) -> str | None:
        """How a camera RAW original's sensor noise is treated, or None for a developed original."""
        if self.pair.original_noise is None or isinstance(self.settings, SyntheticSettings):
            return None
        from processing.image_io.raw import describe_noise

        return describe_noise(self.pair.original_noise)


def plan(pair: PreparedPair, settings: Section | Preset) -> RestorePlan:
    """Decide cut-off, weights and blemish protection of a restore from the whole mask.

    Parameters
    ----------
    pair : PreparedPair
        From :func:`processing.pair.prepare_pair`.
    settings : Preset or a method's settings
        The method to plan for (a preset's chosen method).

    Returns
    -------
    RestorePlan
    """
    if isinstance(settings, Preset):
        settings = settings.settings
    mask = pair.restore_mask()
    if isinstance(settings, SyntheticSettings):
        return RestorePlan(pair, settings, mask)
    original, ai = pair.original, pair.retouched.pixels
    if original is None:
        raise ValueError("This method needs the original image; only 'synthetic' works without it.")
    if original.shape != ai.shape:
        raise ValueError(f"The original is {original.shape[1]}x{original.shape[0]} but the retouched image is "
                         f"{ai.shape[1]}x{ai.shape[0]}: align the pair first.")
    p = settings.as_fractions()
    if isinstance(settings, MatchSettings):
        from processing.match import plan_match

        regions = {k: p[k] for k in ("forehead", "cheeks", "nose", "chin")}
        match = plan_match(original, ai, mask, p["cutoff"], p["blemish"], regions, pair.faces)
        return RestorePlan(pair, settings, mask, match)
    if isinstance(settings, (GraftSettings, FreqSepSettings)) and p["blemish"] > 0:
        from processing.blemish import graft_spots

        radius = p["radius"] if isinstance(settings, GraftSettings) else p["blur"]
        spots = graft_spots(original, ai, mask, p["blemish"], radius)
        if spots is not None:
            # mask x protection, multiplied out band by band by the method.
            return RestorePlan(pair, settings, BandWeight(ai.shape[:2], mask, (spots,)), spots=spots)
    return RestorePlan(pair, settings, mask)

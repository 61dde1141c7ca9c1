"""The restoration pipeline: pair in, mask, alignment, plan, pixels out.

The command line, every batch worker and the web app restore through these
three calls and nothing else::

    pair = prepare_pair(original, retouched, mask="auto", preset=preset)  # processing.pair
    restore_plan = plan(pair, preset)                                     # processing.plan
    pixels = apply(restore_plan, preset.settings)                         # processing.restore

- :func:`prepare_pair` decodes both photos (or takes arrays), gives the
  original the retouched image's layout, finds the faces and the skin mask
  (:mod:`processing.skin_mask`), and aligns the original onto the retouched
  image's grid (:mod:`processing.align`), multiplying the coverage into the mask.
- :func:`plan` analyses once what a method needs from the whole pair (match
  mode's cut-off and weights, removed-blemish protection, regional strength).
- :func:`apply` makes the pixels; a change of strength or of shadow and
  highlight protection only re-applies the plan.
"""

from __future__ import annotations

from processing.pair import PreparedPair, prepare_pair
from processing.plan import RestorePlan, plan
from processing.restore import apply

__all__ = ["PreparedPair", "RestorePlan", "apply", "plan", "prepare_pair", "restore_pair"]


def restore_pair(original, retouched, mask="auto", preset=None, **prepare_options):
    """All three stages at once: returns (pixels, plan). For scripts and tests;
    the front ends call the stages themselves to report between them."""
    from processing.settings import Preset

    preset = preset or Preset()
    pair = prepare_pair(original, retouched, mask, preset, **prepare_options)
    restore_plan = plan(pair, preset)
    return apply(restore_plan, preset.settings), restore_plan

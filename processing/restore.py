"""One entry point for the restoration methods, chosen by a preset or a settings object."""

from __future__ import annotations

import numpy as np

from processing.frequency_separation import frequency_separation
from processing.graft import high_pass_graft
from processing.settings import FreqSepSettings, GraftSettings, MatchSettings, Preset, SyntheticSettings
from processing.synthetic import synthetic_texture


def restore(original: np.ndarray | None, ai: np.ndarray, mask: np.ndarray | None,
            settings, faces=()) -> np.ndarray:
    """Restore texture with the method a settings object (or a Preset) names.

    ``original`` may be None for the synthetic method, which does not read it.
    ``faces`` (FaceMask list from the skin mask) enables regional strength in
    match mode.
    """
    if isinstance(settings, Preset):
        settings = settings.settings
    if isinstance(settings, SyntheticSettings):
        return synthetic_texture(ai, mask, settings)
    if original is None:
        raise ValueError("This method needs the original image; only 'synthetic' works without it.")
    if original.shape != ai.shape:
        raise ValueError(
            f"The original is {original.shape[1]}x{original.shape[0]} but the retouched image is "
            f"{ai.shape[1]}x{ai.shape[0]}: align the pair first.")
    if isinstance(settings, MatchSettings):
        from processing.match import texture_match

        return texture_match(original, ai, mask, settings, faces)
    if isinstance(settings, GraftSettings):
        return high_pass_graft(original, ai, mask, settings)
    if isinstance(settings, FreqSepSettings):
        return frequency_separation(original, ai, mask, settings)
    raise TypeError(f"unknown settings {type(settings).__name__}")

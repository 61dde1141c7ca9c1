"""Typed, validated settings for each method, and the JSON preset that holds them.

Amounts, strengths, opacities and luminance thresholds are in per cent, as a
retoucher reads them on a slider; radii and grain sizes are in pixels. The same
preset file drives the CLI, batch runs and the web app.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

METHODS = ("match", "synthetic", "graft", "freqsep")
PRESET_VERSION = 1


class SettingsError(ValueError):
    """A setting is unknown or out of range; the message names it and the range."""


def _check_number(section: str, name: str, value, lo: float, hi: float, unit: str = "") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SettingsError(f"{section}.{name} must be a number between {lo:g} and {hi:g}{unit} (got {value!r}).")
    if not lo <= value <= hi:
        raise SettingsError(f"{section}.{name} must be between {lo:g} and {hi:g}{unit} (got {value:g}).")
    return float(value)


# (low, high, unit) for every numeric field, the single source of the ranges
# used by validation, the CLI help and the web app's sliders.
RANGES: dict[str, dict[str, tuple[float, float, str]]] = {
    "synthetic": {"amount": (0.0, 10.0, " %"), "grain_size": (0.2, 5.0, " px"),
                  "opacity": (0.0, 100.0, " %"), "seed": (0, 2**31 - 1, ""),
                  "shadows": (0.0, 50.0, " %"), "highlights": (50.0, 100.0, " %")},
    "graft": {"radius": (0.5, 10.0, " px"), "strength": (0.0, 200.0, " %"), "blemish": (0.0, 100.0, " %"),
              "shadows": (0.0, 50.0, " %"), "highlights": (50.0, 100.0, " %")},
    "freqsep": {"blur": (1.0, 30.0, " px"), "strength": (0.0, 200.0, " %"), "blemish": (0.0, 100.0, " %"),
                "shadows": (0.0, 50.0, " %"), "highlights": (50.0, 100.0, " %")},
    "match": {"cutoff": (0.0, 24.0, " px (0 = automatic)"), "strength": (0.0, 200.0, " %"),
              "blemish": (0.0, 100.0, " %"), "forehead": (0.0, 200.0, " %"), "cheeks": (0.0, 200.0, " %"),
              "nose": (0.0, 200.0, " %"), "chin": (0.0, 200.0, " %"),
              "shadows": (0.0, 50.0, " %"), "highlights": (50.0, 100.0, " %")},
    "mask": {"forehead": (0.0, 0.6, " of the face height"), "feather": (0.0, 0.2, " of the face height")},
}


@dataclass(frozen=True)
class _Section:
    """Shared validation: every numeric field is checked against RANGES."""

    section = ""

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in RANGES.get(self.section, {}):
                lo, hi, unit = RANGES[self.section][f.name]
                checked = _check_number(self.section, f.name, value, lo, hi, unit)
                if f.type in ("int", int):
                    if checked != int(checked):
                        raise SettingsError(f"{self.section}.{f.name} must be a whole number (got {value!r}).")
                    checked = int(checked)
                object.__setattr__(self, f.name, checked)
            elif f.type in ("bool", bool) and not isinstance(value, bool):
                raise SettingsError(f"{self.section}.{f.name} must be true or false (got {value!r}).")

    @classmethod
    def from_dict(cls, data: dict):
        if not isinstance(data, dict):
            raise SettingsError(f"'{cls.section}' in the preset must be an object of settings.")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SettingsError(f"Unknown setting {cls.section}.{unknown[0]}; known ones are: {', '.join(sorted(known))}.")
        return cls(**data)

    def to_dict(self) -> dict:
        return asdict(self)

    def replace(self, **changes):
        return replace(self, **changes)


@dataclass(frozen=True)
class SyntheticSettings(_Section):
    """Method 1: synthetic grain in Overlay, no original needed.

    amount : grain strength, % of full scale (2-5 % looks like skin).
    grain_size : blur of the grain in px (0.5 for a 2 MP crop, larger for 24 MP).
    monochrome : one grain value for all channels (no colour speckle).
    seed : makes the grain reproducible.
    opacity : % of the Overlay result mixed in.
    shadows, highlights : luminosity protection thresholds in % (0 and 100 = off).
    """

    section = "synthetic"
    amount: float = 3.0
    grain_size: float = 0.5
    monochrome: bool = True
    seed: int = 0
    opacity: float = 100.0
    shadows: float = 0.0
    highlights: float = 100.0


@dataclass(frozen=True)
class GraftSettings(_Section):
    """Method 2: high-pass graft of the original's detail.

    radius : High Pass radius in px (1.5-3 px: pores).
    strength : % of the original's detail; 100 % = the original's amount
        (Photoshop's Linear Light at 50 % opacity), 200 % = doubled.
    blemish : sensitivity in % of the removed-blemish protection (0 = off).
    """

    section = "graft"
    radius: float = 2.0
    strength: float = 100.0
    blemish: float = 0.0
    shadows: float = 0.0
    highlights: float = 100.0


@dataclass(frozen=True)
class FreqSepSettings(_Section):
    """Method 3: hybrid frequency separation.

    blur : low-pass sigma in px, just past the blemish size (5-8 px).
    mode : 'add' puts the original's high band on top of the AI image (the
        classic workflow); 'replace' swaps the AI image's high band for it.
    strength : % of the original's high band.
    blemish : sensitivity in % of the removed-blemish protection (0 = off).
    """

    section = "freqsep"
    blur: float = 6.0
    mode: str = "add"
    strength: float = 100.0
    blemish: float = 0.0
    shadows: float = 0.0
    highlights: float = 100.0

    def __post_init__(self):
        super().__post_init__()
        if self.mode not in ("add", "replace"):
            raise SettingsError(f"freqsep.mode must be 'add' or 'replace' (got {self.mode!r}).")


@dataclass(frozen=True)
class MatchSettings(_Section):
    """Match mode: every band the AI smoothed gets the original's energy back.

    cutoff : px; bands finer than this are matched to the original. 0 = read it
        off the texture spectrum (where the AI's band ratio climbs back to 1).
    strength : % (100 = the original's energy in every matched band).
    blemish : sensitivity in % of the protection that keeps spots the AI
        removed from coming back (0 = off).
    forehead, cheeks, nose, chin : % strength per region of the face.
    """

    section = "match"
    cutoff: float = 0.0
    strength: float = 100.0
    blemish: float = 50.0
    forehead: float = 100.0
    cheeks: float = 100.0
    nose: float = 100.0
    chin: float = 100.0
    shadows: float = 0.0
    highlights: float = 100.0


@dataclass(frozen=True)
class MaskSettings(_Section):
    """Automatic skin mask: forehead extension and feather, fractions of the face height."""

    section = "mask"
    forehead: float = 0.25
    feather: float = 0.04


SECTIONS = {"match": MatchSettings, "synthetic": SyntheticSettings, "graft": GraftSettings,
            "freqsep": FreqSepSettings, "mask": MaskSettings}


@dataclass(frozen=True)
class Preset:
    """Everything a restore needs besides the images: the chosen method and the
    settings of every method (so switching methods in the app keeps them)."""

    method: str = "match"
    match: MatchSettings = field(default_factory=MatchSettings)
    synthetic: SyntheticSettings = field(default_factory=SyntheticSettings)
    graft: GraftSettings = field(default_factory=GraftSettings)
    freqsep: FreqSepSettings = field(default_factory=FreqSepSettings)
    mask: MaskSettings = field(default_factory=MaskSettings)
    align: bool = True

    def __post_init__(self):
        if self.method not in METHODS:
            raise SettingsError(f"method must be one of {', '.join(METHODS)} (got {self.method!r}).")
        if not isinstance(self.align, bool):
            raise SettingsError(f"align must be true or false (got {self.align!r}).")

    @property
    def settings(self):
        """The settings of the chosen method."""
        return getattr(self, self.method)

    def replace(self, **changes) -> "Preset":
        return replace(self, **changes)

    def to_dict(self) -> dict:
        out = {"retexture_preset": PRESET_VERSION, "method": self.method, "align": self.align}
        for name in SECTIONS:
            out[name] = getattr(self, name).to_dict()
        return out

    @classmethod
    def from_dict(cls, data) -> "Preset":
        if not isinstance(data, dict):
            raise SettingsError("A preset must be a JSON object such as {\"method\": \"graft\", \"graft\": {...}}.")
        known = {"retexture_preset", "method", "align", *SECTIONS}
        unknown = sorted(set(data) - known)
        if unknown:
            raise SettingsError(f"Unknown preset key {unknown[0]!r}; known keys are: {', '.join(sorted(known))}.")
        kwargs = {name: SECTIONS[name].from_dict(data[name]) for name in SECTIONS if name in data}
        for key in ("method", "align"):
            if key in data:
                kwargs[key] = data[key]
        return cls(**kwargs)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> "Preset":
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise SettingsError(f"The preset is not valid JSON ({exc.__class__.__name__} at {getattr(exc, 'pos', '?')}).") from None
        return cls.from_dict(data)

    def save(self, path) -> None:
        from processing.image_io import write_bytes_safely

        write_bytes_safely(path, self.to_json().encode())

    @classmethod
    def load(cls, path) -> "Preset":
        try:
            text = Path(path).read_bytes()
        except OSError as exc:
            raise SettingsError(f"The preset {path} cannot be read ({exc.strerror}).") from None
        return cls.from_json(text)

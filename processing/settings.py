"""Every setting described once, the typed sections that hold them, and the JSON preset.

Each setting is a dataclass field whose metadata (:class:`Spec`) gives its
range, unit, default, label and help text. Validation, the command line's
options and help, and the web app's sliders are all generated from it.

Amounts, strengths, opacities and luminance thresholds are in per cent, as a
retoucher reads them on a slider; radii and grain sizes are in pixels of the
full-size image; mask settings are fractions of the face height. The methods
themselves take plain fractions: :meth:`Section.as_fractions` converts once, at
the edge. The same preset file drives the CLI, batch runs and the web app.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

METHODS = ("match", "synthetic", "graft", "freqsep")
PRESET_VERSION = 1
#: ``batch --fast-align``: long side (px) of the alignment's working copies
#: (:func:`processing.align.align_pair`'s default is 1500).
FAST_ALIGN_SIDE = 1000
#: How the methods are named for people (CLI help, web app, reports).
METHOD_LABELS = {
    "match": "Match (automatic, from the original)",
    "graft": "High-pass graft (from the original)",
    "freqsep": "Frequency separation (from the original)",
    "synthetic": "Synthetic grain (no original needed)",
}


class SettingsError(ValueError):
    """A setting is unknown or out of range; the message names it and the range."""


@dataclass(frozen=True)
class Spec:
    """What a setting is, for people and for validation.

    Attributes
    ----------
    name : str
        Field name (the key in the preset).
    default : float, int, bool or str
    kind : str
        'float', 'int', 'bool' or 'str'.
    lo, hi : float or None
        Allowed range (None for text, choices and switches).
    unit : str
        '%', 'px', 'of the face height' or '' (plain number).
    label : str
        The slider's label in the web app.
    help : str
        One or two sentences in the retoucher's words (CLI help and web tooltip).
    step : float
        Slider step.
    flag : str
        Command-line option (without dashes); options shared by several methods
        apply to the chosen one.
    choices : tuple of str
        Allowed values of a text setting.
    """

    name: str
    default: object = None
    kind: str = "float"
    lo: float | None = None
    hi: float | None = None
    unit: str = ""
    label: str = ""
    help: str = ""
    step: float = 1.0
    flag: str = ""
    choices: tuple = ()

    def range_text(self) -> str:
        """``"0-200 %"``, ``"0.5-10 px"``: the range with its unit."""
        if self.lo is None:
            return " or ".join(f"'{c}'" for c in self.choices)
        unit = f" {self.unit}" if self.unit else ""
        return f"{number_text(self.lo)}-{number_text(self.hi)}{unit}"


def number_text(value: float) -> str:
    """A number as people write it: 100, 0.25, 2147483647 (never 2.14748e+09)."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def setting(default, lo=None, hi=None, unit="", label="", help="", step=1.0, flag="", choices=()):
    """A dataclass field carrying its :class:`Spec` (the name is filled in by the section)."""
    return field(default=default, metadata={"spec": dict(lo=lo, hi=hi, unit=unit, label=label, help=help,
                                                         step=step, flag=flag, choices=tuple(choices))})


def _check_number(where: str, value, spec: Spec) -> float:
    bounds = f"between {number_text(spec.lo)} and {number_text(spec.hi)}{' ' + spec.unit if spec.unit else ''}"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SettingsError(f"{where} must be a number {bounds} (got {value!r}).")
    if not spec.lo <= value <= spec.hi:
        raise SettingsError(f"{where} must be {bounds} (got {number_text(value)}).")
    return float(value)


# Texts shared by several methods' settings.
STRENGTH_HELP = ("How much of the original's fine detail goes back on: 100 % = exactly the original's "
                 "amount of texture (Photoshop's Linear Light at 50 % opacity; its own 100 % doubles it), "
                 "200 % = doubled. Go above 100 % only to compensate for a soft original.")
BLEMISH_HELP = ("Keeps the spots, pimples and marks the AI removed from coming back with the texture "
                "(in match mode they get skin texture borrowed from beside them instead). "
                "Higher catches fainter spots; 0 = off.")
SHADOWS_HELP = ("Leave the darkest tones alone: no texture is added below this brightness (0 = off). "
                "Use it when grain shows up in deep shadow under the jaw or in the nostrils.")
HIGHLIGHTS_HELP = ("Leave the brightest tones alone: no texture is added above this brightness (100 = off). "
                   "Use it to keep specular highlights on the forehead and nose clean.")
REGION_HELP = "Strength on this part of the face, relative to the main strength (100 % = same)."


def _strength(default=100.0):
    return setting(default, 0.0, 200.0, "%", "Strength (%)", STRENGTH_HELP)


def _blemish(default):
    return setting(default, 0.0, 100.0, "%", "Blemish protection (%)", BLEMISH_HELP)


def _shadows():
    return setting(0.0, 0.0, 50.0, "%", "Protect shadows below (%)", SHADOWS_HELP)


def _highlights():
    return setting(100.0, 50.0, 100.0, "%", "Protect highlights above (%)", HIGHLIGHTS_HELP)


def _region(part: str):
    return setting(100.0, 0.0, 200.0, "%", f"{part.capitalize()} (%)", REGION_HELP, flag=f"region-{part}")


@dataclass(frozen=True)
class Section:
    """Shared behaviour of the settings sections: validation against the specs,
    the preset's dict form, and the conversion of per cent to fractions."""

    section = ""

    @classmethod
    def specs(cls) -> list[Spec]:
        """The :class:`Spec` of every setting, in declaration order."""
        return [Spec(name=f.name, default=f.default, kind=f.type if isinstance(f.type, str) else f.type.__name__,
                     **f.metadata["spec"]) for f in fields(cls)]

    @classmethod
    def spec(cls, name: str) -> Spec:
        return next(s for s in cls.specs() if s.name == name)

    def __post_init__(self):
        for spec in self.specs():
            value = getattr(self, spec.name)
            where = f"{self.section}.{spec.name}"
            if spec.choices:
                if value not in spec.choices:
                    raise SettingsError(f"{where} must be {spec.range_text()} (got {value!r}).")
            elif spec.kind == "bool":
                if not isinstance(value, bool):
                    raise SettingsError(f"{where} must be true or false (got {value!r}).")
            else:
                checked = _check_number(where, value, spec)
                if spec.kind == "int":
                    if checked != int(checked):
                        raise SettingsError(f"{where} must be a whole number (got {value!r}).")
                    checked = int(checked)
                object.__setattr__(self, spec.name, checked)

    def as_fractions(self) -> dict:
        """The settings for the math: every per-cent value divided by 100, the rest as is."""
        units = {s.name: s.unit for s in self.specs()}
        return {k: (v / 100.0 if units.get(k) == "%" else v) for k, v in asdict(self).items()}

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
class MatchSettings(Section):
    """Match mode: every band the AI smoothed gets the original's energy back, no more."""

    section = "match"
    cutoff: float = setting(0.0, 0.0, 24.0, "px", "Cut-off (px, 0 = automatic)",
                            "Detail finer than this is brought back to the original's amount; coarser tone "
                            "stays the AI's. 0 reads it off the photo: the scale where the AI stopped smoothing.",
                            step=0.5)
    strength: float = _strength()
    blemish: float = _blemish(50.0)
    forehead: float = _region("forehead")
    cheeks: float = _region("cheeks")
    nose: float = _region("nose")
    chin: float = _region("chin")
    shadows: float = _shadows()
    highlights: float = _highlights()


@dataclass(frozen=True)
class SyntheticSettings(Section):
    """Synthetic grain in Overlay: no original needed."""

    section = "synthetic"
    amount: float = setting(3.0, 0.0, 10.0, "%", "Grain amount (%)",
                            "Strength of the grain, in % of full white. 2-5 % reads as skin; more looks like "
                            "film grain or sensor noise.", step=0.1)
    grain_size: float = setting(0.5, 0.2, 5.0, "px", "Grain size (px)",
                                "Softness of each grain. 0.5 px suits a 2 MP crop; a 24 MP file wants 1-2 px, "
                                "or the grain looks like digital noise.", step=0.1)
    monochrome: bool = setting(True, label="Monochrome grain",
                               help="One grain value for all three channels, like real skin texture. Off gives "
                                    "colour speckle, like sensor noise.", flag="color-grain")
    seed: int = setting(0, 0, 2**31 - 1, "", "Seed",
                        "Another number gives another grain pattern; the same number always gives the same "
                        "grain, so batch runs match.")
    opacity: float = setting(100.0, 0.0, 100.0, "%", "Opacity (%)",
                             "Mix of the grain layer, like a layer's opacity.")
    shadows: float = _shadows()
    highlights: float = _highlights()


@dataclass(frozen=True)
class GraftSettings(Section):
    """High-pass graft of the original's detail."""

    section = "graft"
    radius: float = setting(2.0, 0.5, 10.0, "px", "Detail radius (px)",
                            "Size of the detail taken from the original, like Photoshop's High Pass radius. "
                            "1.5-3 px picks up pores; larger radii bring back blemishes and tone changes too. "
                            "24 MP files want 2-3 px.", step=0.1)
    strength: float = _strength()
    blemish: float = _blemish(0.0)
    shadows: float = _shadows()
    highlights: float = _highlights()


@dataclass(frozen=True)
class FreqSepSettings(Section):
    """Hybrid frequency separation: tone from the AI image, texture from the original."""

    section = "freqsep"
    blur: float = setting(6.0, 1.0, 30.0, "px", "Low-pass blur (px)",
                          "The split between tone and texture: everything finer than this comes from the "
                          "original. Set it just past the size of the blemishes the AI removed (5-8 px on a "
                          "portrait), or they come back.", step=0.5)
    mode: str = setting("add", label="Mode", choices=("add", "replace"),
                        help="add: the original's texture goes on top of the AI image, as in the classic "
                             "Linear Light workflow (where the AI kept some texture, both stack); replace: the "
                             "AI image's own fine detail is swapped for the original's, which avoids doubling.")
    strength: float = _strength()
    blemish: float = _blemish(0.0)
    shadows: float = _shadows()
    highlights: float = _highlights()


@dataclass(frozen=True)
class MaskSettings(Section):
    """The automatic skin mask."""

    section = "mask"
    forehead: float = setting(0.25, 0.0, 0.6, "of the face height", "Forehead extension",
                              "Face landmarks stop below the hairline: this raises the top of the mask by up to "
                              "a fraction of the face height. The mask stops earlier where hair covers the "
                              "forehead; trim what still spills into the hair with the erase brush.",
                              step=0.01)
    feather: float = setting(0.04, 0.0, 0.2, "of the face height", "Feather",
                             "Softness of the mask's edge, as a fraction of the face height. A wider feather "
                             "hides the transition between restored and AI skin.", step=0.005)


SECTIONS = {"match": MatchSettings, "synthetic": SyntheticSettings, "graft": GraftSettings,
            "freqsep": FreqSepSettings, "mask": MaskSettings}
#: Settings that change how much texture goes back, never where: a plan made
#: with other values of these is still valid.
AMOUNT_SETTINGS = ("strength", "shadows", "highlights")
#: Settings in pixels of the full-size image (scaled with a reduced copy).
PIXEL_SETTINGS = ("radius", "blur", "grain_size", "cutoff")


def at_scale(settings: Section, scale: float) -> Section:
    """Settings for a copy at ``scale`` x the full size: pixel sizes scaled, kept in range.

    Radii, blurs, grain sizes and a hand-set cut-off are in full-size pixels; on a
    copy shrunk by ``scale`` they shrink with it, so the copy shows the same
    structures as the full-size result, only smaller. A cut-off of 0 (automatic)
    stays 0: it is measured on the copy itself.
    """
    if scale >= 1.0:
        return settings
    changes = {}
    for spec in settings.specs():
        value = getattr(settings, spec.name)
        if spec.name in PIXEL_SETTINGS and not (spec.name == "cutoff" and value == 0):
            changes[spec.name] = float(min(spec.hi, max(spec.lo, value * scale)))
    return replace(settings, **changes) if changes else settings


def plan_key(settings: Section) -> Section:
    """``settings`` with the amount settings at neutral values: two settings with the
    same key share a restore plan (see :func:`processing.plan.plan`)."""
    neutral = {f.name: f.default for f in fields(settings) if f.name in AMOUNT_SETTINGS}
    return replace(settings, **neutral) if neutral else settings


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

    def with_settings(self, settings: Section) -> "Preset":
        """This preset with ``settings`` as its method's settings (and that method chosen)."""
        return replace(self, method=settings.section, **{settings.section: settings})

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
        except RecursionError:  # thousands of nested brackets: no preset looks like that
            raise SettingsError("The preset is nested too deeply to be a Retexture preset.") from None
        except ValueError:  # Python refuses integers of more than 4300 digits
            raise SettingsError("The preset holds a number too long to be any setting.") from None
        return cls.from_dict(data)

    def save(self, path, inputs=()) -> None:
        """Write the preset as JSON, atomically, refusing any of ``inputs``."""
        from processing.image_io import write_bytes_safely

        write_bytes_safely(path, self.to_json().encode(), inputs=inputs)

    @classmethod
    def load(cls, path) -> "Preset":
        try:
            text = Path(path).read_bytes()
        except OSError as exc:
            raise SettingsError(f"The preset {path} cannot be read ({exc.strerror}).") from None
        return cls.from_json(text)

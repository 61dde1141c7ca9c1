"""Method and mask controls, and their round trip to the JSON preset.

Every slider's value lives in ``st.session_state[STORE]`` (a plain dict keyed
like ``"graft.strength"``) besides its widget key ``"w.graft.strength"``:
Streamlit forgets the state of widgets that are not drawn in a run (the
sliders of the methods not chosen), and the store keeps them, so switching
method and back, or downloading the preset, keeps every value. A preset
upload writes both.
"""

from __future__ import annotations

import streamlit as st

from processing.settings import METHODS, RANGES, SECTIONS, Preset

STORE = "_settings_store"
PRESET_DIGEST = "_preset_digest"

METHOD_LABELS = {
    "match": "Match (automatic, from the original)",
    "graft": "High-pass graft (from the original)",
    "freqsep": "Frequency separation (from the original)",
    "synthetic": "Synthetic grain (no original needed)",
}

STRENGTH_HELP = ("How much of the original's fine detail goes back on. 100 % = exactly the "
                 "original's amount of texture (what Photoshop calls Linear Light at 50 % "
                 "opacity; Photoshop's own 100 % doubles it). Go above 100 % only to "
                 "compensate for a soft original.")

# (section, field) -> (label, step, help)
SLIDERS = {
    ("graft", "radius"): ("Detail radius (px)", 0.1,
                          "Size of the detail taken from the original, like Photoshop's High Pass "
                          "radius. 1.5-3 px picks up pores; larger radii bring back blemishes and "
                          "tone changes too. Think in full-size pixels: 24 MP files want 2-3 px."),
    ("graft", "strength"): ("Strength (%)", 1.0, STRENGTH_HELP),
    ("freqsep", "blur"): ("Low-pass blur (px)", 0.5,
                          "The split between 'colour and tone' and 'texture': everything finer than "
                          "this comes from the original. Set it just past the size of the blemishes "
                          "the AI removed (5-8 px on a portrait), or they come back."),
    ("freqsep", "strength"): ("Strength (%)", 1.0, STRENGTH_HELP),
    ("synthetic", "amount"): ("Grain amount (%)", 0.1,
                              "Strength of the grain, in % of full white. 2-5 % reads as skin; more "
                              "looks like film grain or sensor noise."),
    ("synthetic", "grain_size"): ("Grain size (px)", 0.1,
                                  "Softness of each grain. 0.5 px suits a 2 MP crop; a 24 MP file "
                                  "wants 1-2 px, or the grain looks like digital noise."),
    ("synthetic", "opacity"): ("Opacity (%)", 1.0, "Mix of the grain layer, like a layer's opacity."),
    ("match", "cutoff"): ("Cut-off (px, 0 = automatic)", 0.5,
                          "Detail finer than this is brought back to the original's amount; coarser "
                          "tone stays the AI's. 0 reads it off the photo: the scale where the AI "
                          "stopped smoothing."),
    ("match", "strength"): ("Strength (%)", 1.0, STRENGTH_HELP),
}
BLEMISH_HELP = ("Keeps the spots, pimples and marks the AI removed from coming back with the "
                "texture. Higher catches fainter spots; 0 = off.")
REGION_HELP = "Strength on this part of the face, relative to the main strength (100 % = same)."
GENERIC = {
    "blemish": ("Blemish protection (%)", 1.0, BLEMISH_HELP),
    "forehead": ("Forehead (%)", 1.0, REGION_HELP),
    "cheeks": ("Cheeks (%)", 1.0, REGION_HELP),
    "nose": ("Nose (%)", 1.0, REGION_HELP),
    "chin": ("Chin (%)", 1.0, REGION_HELP),
}
SKIP = {"shadows", "highlights", "seed"}

PROTECT = {
    "shadows": ("Protect shadows below (%)", 1.0,
                "Leave the darkest tones alone: no texture is added below this brightness (0 = off). "
                "Use it when grain shows up in deep shadow under the jaw or in the nostrils."),
    "highlights": ("Protect highlights above (%)", 1.0,
                   "Leave the brightest tones alone: no texture is added above this brightness "
                   "(100 = off). Use it to keep specular highlights on the forehead and nose clean."),
}

MASK_SLIDERS = {
    "forehead": ("Forehead extension", 0.01,
                 "Face Mesh stops below the hairline: this raises the top of the mask by a fraction "
                 "of the face height. Trim what spills into the hair with the erase brush."),
    "feather": ("Feather", 0.005,
                "Softness of the mask's edge, as a fraction of the face height. A wider feather "
                "hides the transition between restored and AI skin."),
}


def store() -> dict:
    """The settings store in the session, filled from the default preset the first time."""
    if STORE not in st.session_state:
        st.session_state[STORE] = flatten(Preset())
    return st.session_state[STORE]


def flatten(preset: Preset) -> dict:
    """A preset as ``{"method": ..., "align": ..., "graft.strength": ..., ...}``."""
    data = preset.to_dict()
    flat = {"method": data["method"], "align": data["align"]}
    for section in SECTIONS:
        for name, value in data[section].items():
            flat[f"{section}.{name}"] = value
    return flat


def current_preset() -> Preset:
    """The preset the controls show now."""
    flat = store()
    data = {"method": flat["method"], "align": flat["align"]}
    for section in SECTIONS:
        data[section] = {k.split(".", 1)[1]: v for k, v in flat.items() if k.startswith(section + ".")}
    return Preset.from_dict(data)


def apply_preset(preset: Preset) -> None:
    """Set every control to a preset's values (before the widgets are drawn)."""
    flat = flatten(preset)
    st.session_state[STORE] = dict(flat)
    for name, value in flat.items():
        st.session_state[f"w.{name}"] = value


def _sync(name: str) -> None:
    store()[name] = st.session_state[f"w.{name}"]


def _prime(name: str) -> str:
    key = f"w.{name}"
    if key not in st.session_state:
        st.session_state[key] = store()[name]
    return key


def slider(section: str, name: str, label: str, step: float, help_text: str, fmt: str | None = None):
    """A slider bound to ``section.name`` with the range from :data:`RANGES`."""
    lo, hi, _ = RANGES[section][name]
    full = f"{section}.{name}"
    key = _prime(full)
    value = st.slider(label, min_value=float(lo), max_value=float(hi), step=float(step), key=key,
                      help=help_text, on_change=_sync, args=(full,), format=fmt)
    store()[full] = value
    return value


def _describe(section: str, name: str):
    """(label, step, help) of a setting; a plain fallback for settings added later."""
    if (section, name) in SLIDERS:
        return SLIDERS[(section, name)]
    if name in GENERIC:
        return GENERIC[name]
    lo, hi, unit = RANGES[section][name]
    span = hi - lo
    step = 0.01 if span <= 1 else 0.1 if span <= 30 else 1.0
    return f"{name.replace('_', ' ').capitalize()} ({unit.strip()})", step, f"{section}.{name}"


def _numeric_sliders(section: str, only=None, skip=()) -> None:
    """Sliders for a method's numeric settings, in :data:`RANGES` order."""
    regional = []
    for name in RANGES[section]:
        if name in SKIP or name in skip or (only is not None and name not in only):
            continue
        if name in ("forehead", "cheeks", "nose", "chin"):
            regional.append(name)
            continue
        slider(section, name, *_describe(section, name))
    if regional:
        with st.expander("Strength per face region"):
            for name in regional:
                slider(section, name, *_describe(section, name))


def method_controls() -> Preset:
    """The method picker and the chosen method's sliders; returns the preset they make."""
    key = _prime("method")
    method = st.radio("Method", METHODS, key=key, format_func=METHOD_LABELS.get,
                      on_change=_sync, args=("method",),
                      help="High-pass graft and frequency separation copy the real texture from "
                           "your original; synthetic grain invents a plausible one when you only "
                           "have the retouched file.")
    store()["method"] = method
    if method == "freqsep":
        _numeric_sliders("freqsep", only=("blur",))
        mode_key = _prime("freqsep.mode")
        mode = st.radio("Mode", ("add", "replace"), key=mode_key, horizontal=True,
                        on_change=_sync, args=("freqsep.mode",),
                        format_func={"add": "Add (classic)", "replace": "Replace"}.get,
                        help="Add: the original's texture goes on top of the AI image, as in the "
                             "classic Linear Light workflow; where the AI kept some texture, both "
                             "stack. Replace: the AI image's own fine detail is swapped for the "
                             "original's, which avoids doubling.")
        store()["freqsep.mode"] = mode
        _numeric_sliders("freqsep", skip=("blur",))
    elif method == "synthetic":
        _numeric_sliders("synthetic")
        seed_key = _prime("synthetic.seed")
        seed = st.number_input("Seed", min_value=0, max_value=int(RANGES["synthetic"]["seed"][1]),
                               step=1, key=seed_key, on_change=_sync, args=("synthetic.seed",),
                               help="Another number gives another grain pattern; the same number "
                                    "always gives the same grain, so batch runs match.")
        store()["synthetic.seed"] = int(seed)
        mono_key = _prime("synthetic.monochrome")
        mono = st.checkbox("Monochrome grain", key=mono_key, on_change=_sync,
                           args=("synthetic.monochrome",),
                           help="One grain value for all three channels, like real skin texture. "
                                "Off gives colour speckle, like sensor noise.")
        store()["synthetic.monochrome"] = bool(mono)
    else:
        _numeric_sliders(method)
    with st.expander("Shadow and highlight protection"):
        for name in ("shadows", "highlights"):
            slider(method, name, *PROTECT[name])
    return current_preset()


def mask_sliders() -> tuple[float, float]:
    """Forehead extension and feather sliders; returns their values."""
    forehead = slider("mask", "forehead", *MASK_SLIDERS["forehead"])
    feather = slider("mask", "feather", *MASK_SLIDERS["feather"], fmt="%.3f")
    return forehead, feather


def align_toggle() -> bool:
    """The alignment switch (part of the preset)."""
    key = _prime("align")
    value = st.toggle("Align the original to the retouched image", key=key, on_change=_sync,
                      args=("align",),
                      help="Needed when the retouching tool changed the size, cropped or warped "
                           "the photo. Off: both files must have the same size.")
    store()["align"] = bool(value)
    return bool(value)


def load_preset_upload(data: bytes | None) -> str | None:
    """Apply an uploaded preset once per upload; returns an error sentence or None."""
    if data is None:
        st.session_state.pop(PRESET_DIGEST, None)
        return None
    import hashlib

    dig = hashlib.blake2b(data, digest_size=16).hexdigest()
    if st.session_state.get(PRESET_DIGEST) == dig:
        return st.session_state.get("_preset_error")
    st.session_state[PRESET_DIGEST] = dig
    from processing.settings import SettingsError

    try:
        preset = Preset.from_json(data)
    except SettingsError as exc:
        st.session_state["_preset_error"] = f"This preset cannot be used: {exc}"
        return st.session_state["_preset_error"]
    st.session_state["_preset_error"] = None
    apply_preset(preset)
    return None

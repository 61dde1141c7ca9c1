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

from processing.settings import METHOD_LABELS, METHODS, SECTIONS, Preset

STORE = "_settings_store"
PRESET_DIGEST = "_preset_digest"
#: Settings drawn by hand below (not as plain sliders), and the regional ones (in an expander).
SPECIAL = {"seed", "monochrome", "mode", "shadows", "highlights"}
REGIONS = ("forehead", "cheeks", "nose", "chin")


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


def slider(section: str, name: str):
    """A slider bound to ``section.name``, with the range, label, step and help of its :class:`Spec`."""
    spec = SECTIONS[section].spec(name)
    full = f"{section}.{name}"
    key = _prime(full)
    fmt = slider_format(spec)
    value = st.slider(spec.label, min_value=float(spec.lo), max_value=float(spec.hi), step=float(spec.step),
                      key=key, help=spec.help, on_change=_sync, args=(full,), format=fmt)
    store()[full] = value
    return value


def slider_format(spec) -> str:
    """How a slider shows its value: as many decimals as its step needs, and its unit
    ("100 %", "2.0 px", "0.25 x face height")."""
    decimals = 0 if spec.step >= 1 else 1 if spec.step >= 0.1 else 2 if spec.step >= 0.01 else 3
    if spec.unit == "px":
        decimals = max(decimals, 1)  # "2.0 px": sizes read as sizes
    unit = {"%": " %%", "px": " px", "of the face height": " x face height"}.get(spec.unit, "")
    return f"%.{decimals}f{unit}"


def _numeric_sliders(section: str, only=None, skip=()) -> None:
    """Sliders for a method's numeric settings, in declaration order; regional ones in an expander."""
    names = [s.name for s in SECTIONS[section].specs()
             if s.name not in SPECIAL and s.name not in skip and (only is None or s.name in only)]
    for name in names:
        if name not in REGIONS:
            slider(section, name)
    regional = [n for n in names if n in REGIONS]
    if regional:
        with st.expander("Strength per face region"):
            for name in regional:
                slider(section, name)


def method_controls() -> Preset:
    """The method picker and the chosen method's sliders; returns the preset they make."""
    key = _prime("method")
    method = st.radio("Method", METHODS, key=key, format_func=METHOD_LABELS.get,
                      on_change=_sync, args=("method",),
                      help="Match (the default) brings every detail band the AI smoothed back to the original's "
                           "energy and keeps the blemishes it removed clean. Graft and frequency separation "
                           "are the classic recipes; synthetic grain invents a plausible texture when you "
                           "only have the retouched file.")
    store()["method"] = method
    if method == "freqsep":
        _numeric_sliders("freqsep", only=("blur",))
        mode_key = _prime("freqsep.mode")
        mode_spec = SECTIONS["freqsep"].spec("mode")
        mode = st.radio(mode_spec.label, mode_spec.choices, key=mode_key, horizontal=True,
                        on_change=_sync, args=("freqsep.mode",),
                        format_func={"add": "Add (classic)", "replace": "Replace"}.get, help=mode_spec.help)
        store()["freqsep.mode"] = mode
        _numeric_sliders("freqsep", skip=("blur",))
    elif method == "synthetic":
        _numeric_sliders("synthetic")
        seed_key = _prime("synthetic.seed")
        seed_spec = SECTIONS["synthetic"].spec("seed")
        seed = st.number_input(seed_spec.label, min_value=int(seed_spec.lo), max_value=int(seed_spec.hi),
                               step=1, key=seed_key, on_change=_sync, args=("synthetic.seed",),
                               help=seed_spec.help)
        store()["synthetic.seed"] = int(seed)
        mono_key = _prime("synthetic.monochrome")
        mono_spec = SECTIONS["synthetic"].spec("monochrome")
        mono = st.checkbox(mono_spec.label, key=mono_key, on_change=_sync, args=("synthetic.monochrome",),
                           help=mono_spec.help)
        store()["synthetic.monochrome"] = bool(mono)
    else:
        _numeric_sliders(method)
    with st.expander("Shadow and highlight protection"):
        for name in ("shadows", "highlights"):
            slider(method, name)
    return current_preset()


def mask_sliders() -> tuple[float, float]:
    """Forehead extension and feather sliders; returns their values."""
    forehead = slider("mask", "forehead")
    feather = slider("mask", "feather")
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

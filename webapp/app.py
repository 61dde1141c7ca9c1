"""Retexture web app: give back the skin texture AI retouching wiped away.

Run with ``streamlit run webapp/app.py``. Page code only: every computation
is a call into :mod:`processing`; what a session keeps between reruns lives in
:mod:`webapp.pair` (full-size arrays only for the loupe and the downloads).
File names and messages are shown as plain text (:func:`webapp.display.plain`).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

# `streamlit run webapp/app.py` puts webapp/ on sys.path, not the repository.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import altair as alt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402
from PIL import Image  # noqa: E402

from processing.dtypes import to_uint8  # noqa: E402
from processing.loupe import restored_window  # noqa: E402
from processing.memory import return_freed_memory  # noqa: E402
from processing.image_io import FORMAT_SUFFIX, READABLE, SUFFIX_FORMAT, encode_image  # noqa: E402
from processing.pipeline import apply, plan  # noqa: E402
from processing.settings import FreqSepSettings, GraftSettings, MatchSettings, at_scale  # noqa: E402
from processing.spectrum import spectrum_report  # noqa: E402
from webapp import canvas, controls, display  # noqa: E402
from webapp import pair as pairs  # noqa: E402
from webapp.batch_uploads import remove_stale_batch_folders_once  # noqa: E402

return_freed_memory()  # large blocks go back to the system when freed: closed sessions' photos too

IMAGE_TYPES = sorted(suffix.lstrip(".") for suffix in SUFFIX_FORMAT)  # what the library reads
#: Session-state hook for tests (AppTest cannot upload files):
#: {"original": (name, bytes), "ai": (name, bytes), "preset": bytes}.
TEST_UPLOADS = "_test_uploads"
STROKES = "_strokes"
#: This browser session's id (its arrays' key in webapp.pair.STORE), for tests.
SESSION = "_session"
# Not image/*: streamlit 1.60 with starlette >= 1.0 fails to serve image types
# from its media endpoint; the file name carries the type.
DOWNLOAD_MIME = "application/octet-stream"
BRUSH_COLORS = {"add": canvas.ADD_COLOR, "erase": canvas.ERASE_COLOR}


def _upload(label: str, key: str, help_text: str):
    f = st.file_uploader(label, type=IMAGE_TYPES, key=key, help=help_text)
    return None if f is None else (f.name, f.getvalue())


def choose_pair(original, ai, align: bool):
    """The pair to work on from the uploads, or the demo.

    Parameters
    ----------
    original, ai : (name, bytes) or None
        The uploaded files.

    Returns
    -------
    (uploads, pair, error, info)
        ``pair`` is None when there is nothing to show; ``error`` and ``info`` are
        sentences for the user, or None.
    """
    if original is None and ai is None:
        uploads = pairs.demo_uploads(align)
    elif original is None or ai is None:
        missing = "original" if original is None else "AI-retouched version"
        return None, None, None, f"Now upload the {missing} too: Retexture needs both files of the pair."
    else:
        uploads = pairs.Uploads(original, ai, bool(align))
    try:
        return uploads, pairs.load_pair(uploads), None, None
    except pairs.PairError as exc:
        return uploads, None, str(exc), None


def sidebar():
    """Uploads, alignment and preset; returns (original, ai, align)."""
    with st.sidebar:
        st.header("Your photos")
        st.caption("Kept in memory for this session only, never written to disk. "
                   f"{READABLE}, 8 or 16 bit.")
        original = _upload("Original (before retouching)", "up_original",
                           "The unretouched photo, straight from the raw converter.")
        ai = _upload("AI-retouched version", "up_ai",
                     "The same photo after Neural Filters, Evoto or any other AI skin smoothing.")
        align_slot = st.container()  # drawn after the preset is read: a preset sets it
        st.divider()
        st.header("Preset")
        preset_file = st.file_uploader(
            "Load settings (JSON preset)", type=["json"], key="up_preset",
            help="A preset saved from this page or written for the command line: it sets every slider.")
        preset_bytes = None if preset_file is None else preset_file.getvalue()
        hook = st.session_state.get(TEST_UPLOADS) or {}
        if "preset" in hook:
            preset_bytes = hook["preset"]
        error = controls.load_preset_upload(preset_bytes)
        if error:
            st.error(display.plain(error))
        elif preset_bytes is not None:
            st.success("Settings loaded from the preset.")
        with align_slot:
            align = controls.align_toggle()
    if "original" in hook or "ai" in hook:
        original, ai = hook.get("original"), hook.get("ai")
    return original, ai, align


def _stroke_state(pair) -> dict:
    state = st.session_state.get(STROKES)
    if state is None or state.get("pair") != pair.key:
        state = {"pair": pair.key, "objects": [], "initial": [], "version": 0, "mounted": None}
        st.session_state[STROKES] = state
    return state


def _undo() -> None:
    state = st.session_state[STROKES]
    state["objects"] = state["objects"][:-1]
    state["version"] += 1


def _reset() -> None:
    state = st.session_state[STROKES]
    state["objects"] = []
    state["version"] += 1


def _canvas_background(pair, forehead: float, feather: float):
    """The canvas photo with the automatic mask tinted over it (kept per slider values)."""
    def make():
        automatic = pairs.automatic_mask(pair, forehead, feather)
        return Image.fromarray(display.tint_mask(pair.canvas_photo, automatic.skin_mask)), automatic.faces, \
            automatic.mask_message

    return pairs.remember("canvas", (pair.key, forehead, feather), make)


def mask_section(pair):
    """The mask editor; returns the mask's recipe and the session's mask (full size and preview)."""
    st.subheader("2. Skin mask")
    left, right = st.columns([3, 2], gap="large")
    with right:
        forehead, feather = controls.mask_sliders()
        background, faces, message = _canvas_background(pair, forehead, feather)
        if faces:
            st.caption(message + " Paint with the brushes to fix the mask.")
        else:
            st.warning(message + " Choose 'Add skin' and paint over the skin to restore.")
        brush = st.radio("Brush", ("add", "erase"), horizontal=True, key="brush",
                         format_func={"add": "Add skin", "erase": "Erase"}.get,
                         help="Add skin paints the mask on (green), Erase takes it off (red): "
                              "hair, beard, eyelashes, jewellery, fabric.")
        size = st.slider("Brush size (px on the canvas)", 4, 80, 24, key="brush_size",
                         help="Brush diameter on the canvas above; on the full-size photo it is "
                              "larger by the canvas-to-photo ratio.")
        buttons = st.container()
        state = _stroke_state(pair)
    cw, ch = pair.canvas_size
    auto_key = f"{forehead:.4f}-{feather:.4f}"
    mount_key = f"canvas-{pair.key[:12]}-{state['version']}-{auto_key}"
    if state["mounted"] != mount_key:
        state["initial"] = list(state["objects"])
        state["mounted"] = mount_key
    with left:
        st.caption("Green tint: the automatic mask. Draw on the photo with the brush chosen on the right.")
        with st.container(key="mask-canvas"):
            objects = canvas.draw_mask_strokes(background, cw, ch, BRUSH_COLORS[brush], size,
                                               state["initial"], key=mount_key)
    if objects is not None:
        state["objects"] = objects
    with buttons:
        b1, b2 = st.columns(2)
        b1.button("Undo stroke", on_click=_undo, disabled=not state["objects"], width="stretch",
                  key="undo", help="Take back the last brush stroke.")
        b2.button("Reset to automatic", on_click=_reset, disabled=not state["objects"], width="stretch",
                  key="reset", help="Drop every brush stroke and go back to the automatic mask.")
    recipe = pairs.MaskRecipe(forehead, feather, tuple(canvas.strokes_from_fabric(state["objects"])),
                              pair.canvas_size)
    edit = pairs.edited_mask(pair, recipe)
    with right:
        with st.container(key="mask-coverage"):
            st.metric("Skin mask coverage", f"{edit.coverage:.2f} %",
                      help="Share of the photo the restore touches (soft edges count partly).")
        st.image(_png(edit.applied), caption=f"Mask as applied ({edit.strokes} brush strokes)",
                 output_format="PNG", width="stretch")
    return recipe, edit


def _url(png: bytes) -> str:
    return display.png_data_url(png)


def _png(image) -> str:
    """An 8-bit display image as an inline PNG URL for st.image.

    Inline data URLs, not Streamlit's media endpoint: with starlette >= 1.0 that
    endpoint answers 500 for image/png (streamlit 1.60's gzip middleware).
    """
    return display.png_data_url(display.encode_png(image))


def file_stem(name: str) -> str:
    """The stem of an uploaded file's name, safe as a download name: no folders,
    no control or reserved characters."""
    stem = Path(str(name).replace("\\", "/")).stem
    stem = re.sub(r'[\x00-\x1f\x7f<>:"/\\|?*]', "_", stem).strip(" .")
    return stem or "image"


def _uses_blemish(settings) -> bool:
    return isinstance(settings, (MatchSettings, GraftSettings, FreqSepSettings)) and settings.blemish > 0


@st.fragment
def restore_section(uploads, mask_recipe):
    """Method controls and results: a slider change reruns only this part.

    Called with the (small) uploads and mask recipe, not arrays: Streamlit keeps
    a fragment's arguments for its reruns, and the arrays belong to the store.
    """
    pair = pairs.load_pair(uploads)
    edit = pairs.edited_mask(pair, mask_recipe)
    small = edit.small
    st.subheader("3. Restore")
    ctl, res = st.columns([1, 3], gap="large")
    with ctl:
        preset = controls.method_controls()
    settings = preset.settings
    pairs.set_recipe(pairs.Recipe(uploads, mask_recipe, preset))  # what the download buttons make
    try:
        # The preview is the same pipeline on a reduced copy, with pixel sizes scaled.
        small_plan = plan(small, at_scale(settings, pair.scale))
        restored_small = apply(small_plan)
        full_plan = pairs.full_plan(pair, edit, settings)
    except ValueError as exc:
        res.error(display.plain(str(exc)))
        return
    display_restored = display.to_display(restored_small)
    with res:
        if pair.scale < 1:
            st.caption(f"Previews at {pair.scale * 100:.0f} % of {pair.size[0]}x{pair.size[1]} px: "
                       "pores only show in the 1:1 loupe below.")
        c1, c2, c3 = st.columns(3)
        with c1, st.container(key="img-original"):
            st.image(_url(pair.png_original), caption="Original", output_format="PNG", width="stretch")
        with c2, st.container(key="img-ai"):
            st.image(_url(pair.png_ai), caption="AI-retouched", output_format="PNG", width="stretch")
        with c3, st.container(key="img-restored"):
            st.image(_png(display.downscale(display_restored, pairs.TRIPTYCH_SIDE)[0]), caption="Restored",
                     output_format="PNG", width="stretch")
        tab_loupe, tab_compare, tab_texture = st.tabs(["1:1 loupe", "Before / after", "Texture"])
        with tab_loupe:
            loupe(pair, small, settings, full_plan)
        with tab_compare:
            compare(pair, display_restored, settings, small_plan)
        with tab_texture:
            texture_chart(pair, restored_small, small, settings, small_plan, full_plan)


def loupe(pair, small, settings, full_plan):
    """A 1:1 view of a small window at full resolution: original, AI, restored.

    The window is restored with the full-size plan on a crop around it
    (:func:`processing.loupe.restored_window`): the download's pixels, without
    restoring the whole photo at every slider move.
    """
    cx0, cy0 = display.loupe_start(small.faces, small.mask if small.mask is not None
                                   else np.ones(small.retouched.pixels.shape[:2], np.float32))
    s1, s2, s3 = st.columns([2, 2, 1])
    x = s1.slider("Loupe centre, left to right (%)", 0, 100, int(round(cx0 * 100)), key="loupe_x",
                  help="Where the loupe looks, across the photo (the yellow box on the thumbnail).")
    y = s2.slider("Loupe centre, top to bottom (%)", 0, 100, int(round(cy0 * 100)), key="loupe_y",
                  help="Where the loupe looks, down the photo.")
    zoom = s3.selectbox("Zoom", (1, 2, 3, 4), index=1, key="loupe_zoom", format_func=lambda z: f"{z}00 %",
                        help="Each photo pixel becomes a block of this many screen pixels.")
    side = 256 // zoom if zoom > 1 else 256
    window = display.loupe_window(pair.ai.pixels.shape, (x / 100, y / 100), side)
    restored = restored_window(full_plan, settings, window)
    crops = [display.enlarge(display.to_display(im), zoom)
             for im in (display.crop(pair.original_on_ai, window), display.crop(pair.ai.pixels, window), restored)]
    thumb, t_scale = display.downscale(pair.display_ai, 360)
    t = display.frame_box(thumb, window, t_scale * pair.scale)
    cols = st.columns([1, 3])
    cols[0].image(_png(t), caption="Where the loupe looks", output_format="PNG", width="stretch")
    with cols[1], st.container(key="loupe"):
        st.image(_png(display.side_by_side(crops, gap=6)),
                 caption=f"1:1 at full size, {window[2] - window[0]}x{window[3] - window[1]} px: "
                         "original | AI-retouched | restored", output_format="PNG")


def compare(pair, display_restored, settings, small_plan):
    """The before/after split, optionally with the kept-clean blemishes tinted."""
    pos = st.slider("Split (AI left, restored right)", 0, 100, 50, key="split",
                    help="Drag to move the line between the AI-retouched image and the result.")
    uses = _uses_blemish(settings)
    show = st.checkbox("Show where blemishes were kept clean", key="show_blemish", disabled=not uses,
                       help="Tints (magenta) the spots the AI removed where the original's texture was "
                            "left out, so they do not come back. Set by 'Blemish protection'.")
    image = display.split_compare(pair.display_ai, display_restored, pos / 100)
    if show and uses:
        image = display.blemish_overlay(image, small_plan.protection)
    st.image(_png(image), caption="Before / after", output_format="PNG", width="stretch")
    with st.container(key="blemish-note"):
        if not uses:
            st.caption("Blemish protection is off: raise 'Blemish protection' to keep removed spots clean.")
        else:
            n = small_plan.kept_clean_spots()
            if n == 0:
                st.caption("No removed blemish found at this sensitivity: the texture goes back everywhere "
                           "in the mask.")
            else:
                where = "on the preview" if pair.scale < 1 else "on the photo"
                st.caption(f"{n} removed blemish{'es' if n != 1 else ''} kept clean {where}: the "
                           "original's texture is left out there" + (" (magenta)." if show else "."))


def texture_chart(pair, restored_small, small, settings, small_plan, plan):
    """The texture spectrum: each octave band's energy inside the mask, AI and result vs the original."""
    mask_small = small.mask
    if mask_small is not None and float(mask_small.max(initial=0)) <= 0:
        st.info("The mask is empty: paint the skin to measure its texture.")
        return
    report = spectrum_report(small.original, small.retouched.pixels, restored_small, mask_small)
    rows = display.spectrum_rows(report, pair.scale)
    labels = [r["Band"] for r in rows]
    table = pd.DataFrame(rows)
    df = table.melt(id_vars=["Band", "Position"], value_vars=["AI-retouched", "Restored"],
                    var_name="Image", value_name="Ratio").dropna(subset=["Ratio"])
    df["x0"] = df["Position"] + df["Image"].map({"AI-retouched": 0.12, "Restored": 0.5})
    df["x1"] = df["x0"] + 0.38
    df["base"] = 0.0
    n = len(rows)
    label_expr = "[" + ", ".join(json.dumps(b) for b in labels) + "][floor(datum.value)] || ''"
    x_axis = alt.Axis(values=[k + 0.5 for k in range(n)], labelExpr=label_expr, grid=False,
                      title="Detail size (band of the spectrum)", labelAngle=0)
    bars = alt.Chart(df).mark_bar().encode(
        x=alt.X("x0:Q", scale=alt.Scale(domain=[0, n], nice=False, zero=True), axis=x_axis),
        x2="x1:Q",
        y=alt.Y("Ratio:Q", title="energy vs original (1 = same)", scale=alt.Scale(zero=True)),
        y2="base:Q",
        color=alt.Color("Image:N", scale=alt.Scale(domain=["AI-retouched", "Restored"],
                                                   range=["#b0b0b0", "#2e7d5b"]),
                        legend=alt.Legend(orient="top", title=None)),
        tooltip=["Band", "Image", alt.Tooltip("Ratio:Q", format=".2f")])
    layers = [bars, alt.Chart(pd.DataFrame({"y": [1.0]})).mark_rule(strokeDash=[4, 4], color="#555")
              .encode(y="y:Q")]
    cut_note = cut_caption = ""
    if small_plan.match is not None:
        # The preview's cut-off sits on the preview's ladder: the same axis as the bars.
        pos = min(max(display.ladder_position(small_plan.match.cutoff), 0.0), float(n))
        how = "automatic" if settings.cutoff == 0 else "set by hand"
        on_preview = small_plan.match.cutoff / pair.scale  # in full-size px, like the band labels
        cut_note = f"Cut-off {on_preview:.1f} px ({how})"
        cut_caption = cut_note
        full_cut = plan.match.cutoff if plan is not None and plan.match is not None else None
        if full_cut is not None and abs(full_cut - on_preview) >= 0.05:
            cut_caption = (f"Cut-off {full_cut:.1f} px ({how}) on the full-size photo, "
                           f"{on_preview:.1f} px on the preview")
        rule = pd.DataFrame({"x": [pos], "label": [cut_note]})
        layers.append(alt.Chart(rule).mark_rule(color="#c2185b", strokeWidth=2).encode(
            x="x:Q", tooltip=[alt.Tooltip("label:N", title="Match mode")]))
        layers.append(alt.Chart(rule).mark_text(align="left", dx=4, dy=-6, color="#c2185b", fontSize=12)
                      .encode(x="x:Q", y=alt.value(0), text="label:N"))
    with st.container(key="texture-chart"):
        st.altair_chart(alt.layer(*layers), height=300, width="stretch")
    if cut_caption:
        with st.container(key="cutoff-note"):
            st.caption(f"{cut_caption}: bands finer than the pink line are brought back to the original's "
                       "energy; coarser tone stays the AI's.")
    if pair.scale < 1:
        where = (f"measured on the {pair.scale * 100:.0f} % preview, band sizes in full-size pixels: "
                 f"on the preview they are {pair.scale:.2f} times these")
    else:
        where = "measured at full size"
    st.caption(f"Energy of each detail band (difference of Gaussians, one octave each) inside the mask, "
               f"relative to the original ({where}). Plastic skin sits well below 1; restored texture "
               "near 1; above 1 means doubled detail.")
    with st.expander("Numbers"):
        st.dataframe(table.drop(columns="Position").set_index("Band"), width="stretch")


def download_buttons(pair):
    """Full-size restored image, mask and preset, each made only when its button is clicked.

    Drawn at the start of a run, before anything slow, and outside the restore
    fragment: the buttons' callbacks are registered with Streamlit early in
    every full run and survive slider reruns. A callback holds only the session
    and pair ids, and makes its file from the session's latest recipe (the
    page as last drawn, :func:`webapp.pair.restored_pixels`), even after the
    session's arrays were dropped to make room for others.
    """
    session, key, ai = pairs.session_id(), pair.key, pair.ai
    stem = file_stem(ai.name)

    def restored_file() -> bytes:
        p, pixels = pairs.restored_pixels(session, key)
        a = p.ai
        return encode_image(pixels, a.format, alpha=a.alpha, icc_profile=a.icc_profile, exif=a.exif)

    def mask_file() -> bytes:
        mask = pairs.session_mask(session, key)
        if mask is None:
            mask = np.ones(pairs.load_pair(pairs.recipe_for(session, key).uploads, session).ai.pixels.shape[:2],
                           np.float32)
        return encode_image(to_uint8(mask), "PNG")

    def preset_file() -> str:
        return pairs.recipe_for(session, key).preset.to_json()

    st.subheader("4. Download")
    d1, d2, d3 = st.columns(3)
    depth = f"{ai.bit_depth}-bit" if ai.bit_depth != 32 else "32-bit float"
    d1.download_button(f"Restored image ({ai.format}, {depth})", data=restored_file,
                       file_name=f"{stem}_retextured{FORMAT_SUFFIX.get(ai.format, '.png')}",
                       mime=DOWNLOAD_MIME, key="dl_restored",
                       type="primary", on_click="ignore", width="stretch",
                       help="Full size, in the retouched file's format and bit depth, with its "
                            "colour profile and EXIF.")
    d2.download_button("Mask (PNG)", data=mask_file, file_name=f"{stem}_mask.png", mime=DOWNLOAD_MIME,
                       key="dl_mask", on_click="ignore", width="stretch",
                       help="White = full effect. Load it as a layer mask in Photoshop.")
    d3.download_button("Settings (JSON preset)", data=preset_file, file_name="retexture_preset.json",
                       mime="application/json", key="dl_preset", on_click="ignore", width="stretch",
                       help="The same preset the command line reads: `retexture --preset ...`.")


def main():
    # An emoji icon: the browser draws it (a Material icon would be fetched from Google's servers).
    st.set_page_config(page_title="Retexture", page_icon="🔍", layout="wide")
    st.session_state[SESSION] = pairs.session_id()
    remove_stale_batch_folders_once()  # a killed server's web batch left user photos in /tmp
    st.title("Retexture")
    st.caption("Gives back the real skin texture that AI retouching (Neural Filters, Evoto...) "
               "wipes away, and keeps the AI's tone and blemish work.")
    original, ai, align = sidebar()
    with st.spinner("Reading the photos..."):
        uploads, pair, error, info = choose_pair(original, ai, align)
    st.subheader("1. Photos")
    if error:
        st.error(display.plain(error))
        return
    if info:
        st.info(info)
        return
    w, h = pair.size
    depth = f"{pair.ai.bit_depth}-bit" if pair.ai.bit_depth != 32 else "32-bit float"
    if pair.is_demo:
        st.info("This is the built-in demo: an astronaut portrait and an AI-style smoothed copy made "
                "in code. Upload your own pair in the sidebar.", icon=":material/science:")
    st.markdown(f"**{display.plain(pair.original_name)}** and **{display.plain(pair.ai.name)}**: "
                f"{w}x{h} px, {depth} {pair.ai.format}.")
    if pair.align_summary:
        st.caption(display.plain(pair.align_summary))
    for note in pair.notes:
        st.caption(display.plain(note))
    # Page order: mask, restore, download; the download buttons are drawn first (see download_buttons).
    mask_slot, restore_slot, download_slot = st.container(), st.container(), st.container()
    with download_slot:
        download_buttons(pair)
    with mask_slot:
        mask_recipe, _ = mask_section(pair)
    with restore_slot:
        restore_section(uploads, mask_recipe)


main()

"""The Restore page: one pair, looked at closely (run by ``webapp/app_pages/restore.py``).

The picture is the largest thing on the page (controls in the sidebar): click
a spot to see it at 100 % in the loupe below, drag across it to move the
before/after line. The mask editor is a step the user opens. Page code only:
every computation is a call into :mod:`processing`; what a session keeps
between reruns lives in :mod:`webapp.pair`. File names and messages are shown
as plain text (:func:`webapp.display.plain`).
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from processing.comparison import comparison_sheet, spot_window
from processing.dtypes import to_uint8
from processing.image_io import FORMAT_SUFFIX, RAW_READABLE, RAW_SUFFIX_KIND, READABLE, SUFFIX_FORMAT, encode_image
from processing.loupe import restored_window
from processing.pipeline import apply
from processing.settings import FreqSepSettings, GraftSettings, MatchSettings, at_scale
from processing.spectrum import spectrum_report
from webapp import canvas, controls, display, picture
from webapp import pair as pairs
from webapp.batch_uploads import remove_stale_batch_folders_once

IMAGE_TYPES = sorted(suffix.lstrip(".") for suffix in SUFFIX_FORMAT)  # what the library reads
#: The original may also be the camera's RAW file (developed by the library, LibRaw).
ORIGINAL_TYPES = sorted(IMAGE_TYPES + [suffix.lstrip(".") for suffix in RAW_SUFFIX_KIND])
#: Session-state hook for tests (AppTest cannot upload files):
#: {"original": (name, bytes), "ai": (name, bytes), "preset": bytes}.
TEST_UPLOADS = "_test_uploads"
STROKES = "_strokes"
#: This browser session's id (its arrays' key in webapp.pair.STORE), for tests.
SESSION = "_session"
PICTURE = "picture_gesture"  # the click component's key
LAYOUT = "_picture_layout"
SAID = "_status_said"  # the status's last label, per pair
#: Where the user looks: {"pair", "x", "y" (the loupe's centre, full-size px), "split" (%),
#: "gen"}. Kept here, not in the sliders' state: a slider forgets its value in the runs it
#: is not drawn, and a new pair has another size. The fallback sliders' keys carry "gen",
#: which a click or drag on the picture moves on, so they show the new place.
SPOT = "_spot"
# Not image/*: streamlit 1.60 with starlette >= 1.0 fails to serve image types
# from its media endpoint; the file name carries the type.
DOWNLOAD_MIME = "application/octet-stream"
BRUSH_COLORS = {"add": canvas.ADD_COLOR, "erase": canvas.ERASE_COLOR}
#: Side of the loupe's window, px of the photo (each of the three crops).
LOUPE_SIDE = 256
ZOOMS = (1, 2, 4)
#: What the status says while a stage of the preparation runs.
STAGES = {"read": "Reading the photos...", "faces": "Finding faces...",
          "align": "Aligning the original to the retouched image...", "plan": "Analysing the texture..."}


def _upload(label: str, key: str, help_text: str, types=IMAGE_TYPES):
    f = st.file_uploader(label, type=types, key=key, help=help_text)
    return None if f is None else (f.name, f.getvalue())


def choose_uploads(original, ai, align: bool):
    """The pair to work on from the uploads, or the demo: (uploads, info sentence or None)."""
    if original is None and ai is None:
        return pairs.demo_uploads(align), None
    if original is None or ai is None:
        missing = "original" if original is None else "AI-retouched version"
        return None, f"Now upload the {missing} too: Retexture needs both files of the pair."
    return pairs.Uploads(original, ai, bool(align)), None


def sidebar():
    """Uploads, alignment, the method's controls and the preset; returns (original, ai, align, preset)."""
    with st.sidebar:
        st.header("Your photos")
        st.caption("Kept in memory for this session only, never written to disk. "
                   f"{READABLE}, 8 or 16 bit; the original may also be the camera's RAW file "
                   f"({RAW_READABLE}).")
        original = _upload("Original (before retouching)", "up_original",
                           "The unretouched photo: the camera's RAW file, which holds the texture before any "
                           "export sharpening or noise reduction, or a developed export.", ORIGINAL_TYPES)
        ai = _upload("AI-retouched version", "up_ai",
                     "The same photo after Neural Filters, Evoto or any other AI skin smoothing.")
        align_slot = st.container()  # drawn after the preset is read: a preset sets it
        st.header("Texture")
        method_slot = st.container()
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
        with method_slot:
            preset = controls.method_controls()
    if "original" in hook or "ai" in hook:
        original, ai = hook.get("original"), hook.get("ai")
    return original, ai, align, preset


# --- The mask editor ----------------------------------------------------------------------------------

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
        # A data URL made once per slider values: the canvas would encode a picture at every run.
        return _png(display.tint_mask(pair.canvas_photo, automatic.skin_mask)), automatic.faces, \
            automatic.mask_message

    return pairs.remember("canvas", (pair.key, forehead, feather), make)


def mask_section(pair):
    """The mask editor, in a step the user opens (open by itself when no face was found);
    returns the mask's recipe and the session's mask (full size and preview)."""
    faces_found = bool(pair.prepared.faces)
    with st.expander("Skin mask: check it, paint to fix it", expanded=not faces_found):
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
            size = st.slider("Brush size", 4, 80, 24, key="brush_size", format="%d px",
                             help="Brush diameter on the canvas; on the full-size photo it is larger by "
                                  "the canvas-to-photo ratio.")
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
                st.metric("Skin mask coverage", f"{edit.coverage:.1f} %",
                          help="Share of the photo the restore touches (soft edges count partly).")
            applied = pairs.remember("applied mask", (pair.key, edit.key), lambda: _png(edit.applied))
            st.image(applied, caption=f"Mask as applied ({edit.strokes} brush strokes)",
                     output_format="PNG", width="stretch")
    return recipe, edit


# --- The picture and the loupe --------------------------------------------------------------------------

def _png(image) -> str:
    """An 8-bit display image as an inline PNG URL for st.image.

    Inline data URLs, not Streamlit's media endpoint: with starlette >= 1.0 that
    endpoint answers 500 for image/png (streamlit 1.60's gzip middleware).
    """
    return display.png_data_url(display.encode_png(image))


def spot_state(pair, small) -> dict:
    """The session's :data:`SPOT` for this pair; a new pair puts the loupe on a cheek and
    the before/after line in the middle."""
    spot = st.session_state.get(SPOT)
    if spot is None or spot["pair"] != pair.key:
        mask = small.mask if small.mask is not None else np.ones(small.retouched.pixels.shape[:2], np.float32)
        fx, fy = display.loupe_start(small.faces, mask)
        w, h = pair.size
        spot = {"pair": pair.key, "x": min(int(fx * w), w - 1), "y": min(int(fy * h), h - 1), "split": 50,
                "gen": (spot or {}).get("gen", 0) + 1}
        st.session_state[SPOT] = spot
    return spot


def apply_gesture(gesture) -> None:
    """A click centres the loupe on the photo pixel clicked; a drag on the before/after
    view moves its line to where the mouse was let go."""
    spot = st.session_state.get(SPOT)
    if gesture is None or spot is None:
        return
    if gesture.kind == "drag":
        if st.session_state.get("view", "split") == "split":
            spot["split"] = int(round(gesture.end_fraction * 100))
            spot["gen"] += 1
        return
    layout = st.session_state.get(LAYOUT)
    w, h = layout.photo_size if layout else (1, 1)
    spot["x"] = min(max(int(gesture.point[0]), 0), w - 1)
    spot["y"] = min(max(int(gesture.point[1]), 0), h - 1)
    spot["gen"] += 1


def _from_slider(name: str, key: str) -> None:
    st.session_state[SPOT][name] = int(st.session_state[key])


def spot_slider(label: str, name: str, hi: int, fmt: str, help_text: str) -> None:
    """A keyboard fallback for a place set on the picture (the loupe's centre, the line)."""
    spot = st.session_state[SPOT]
    key = f"{name}-{spot['gen']}"
    st.slider(label, 0, hi, value=min(int(spot[name]), hi), key=key, format=fmt, help=help_text,
              on_change=_from_slider, args=(name, key))


def _on_picture() -> None:
    layout = st.session_state.get(LAYOUT)
    if layout is not None:
        apply_gesture(picture.read_gesture(st.session_state.get(PICTURE), layout))


def _uses_blemish(settings) -> bool:
    return isinstance(settings, (MatchSettings, GraftSettings, FreqSepSettings)) and settings.blemish > 0


def picture_section(pair, display_restored, settings, small_plan) -> None:
    """The large picture in the chosen view, with the loupe's spot outlined."""
    view = st.radio(  # the first view, "split", is the default
        "View", list(display.VIEWS), format_func=display.VIEWS.get, key="view", horizontal=True,
        help="Before / after: the AI-retouched photo left of the line, the restored one right of it "
             "(drag across the picture to move the line). Side by side: both whole. The other three "
             "show one version.")
    uses = _uses_blemish(settings)
    show = st.checkbox("Show where blemishes were kept clean", key="show_blemish", disabled=not uses,
                       help="Tints (magenta) the spots the AI removed, where the original's blemish is "
                            "kept from coming back (in match mode they get texture from the skin beside "
                            "them). Set by 'Blemish protection'.")
    spot = st.session_state[SPOT]
    split = spot["split"]
    # Each version at the picture's size first, then composed: the before/after line stays one crisp line.
    side = display.PICTURE_SIDE * 3 // 4 if view == "side" else display.PICTURE_SIDE
    restored = display.downscale(display_restored, side)[0]
    if show and uses:
        restored = display.blemish_overlay(restored, small_plan.protection)
    original, ai = pairs.remember("picture", (pair.key, side), lambda: (
        display.downscale(pair.display_original, side)[0], display.downscale(pair.display_ai, side)[0]))
    image, panels = display.compose_view(view, original, ai, restored, split / 100)
    window = spot_window(pair.ai.pixels.shape, (spot["x"], spot["y"]), LOUPE_SIDE)
    scale = (panels[0][1] - panels[0][0]) / pair.size[0]
    image = display.mark_spot(image, panels, window, scale)
    st.session_state[LAYOUT] = picture.PictureLayout(image.shape[1::-1], panels, pair.size)
    with st.container(key="picture"):
        picture.show_picture(image, PICTURE, _on_picture)
    hint = "Click a spot to see it at 100 % in the loupe below (the yellow box)."
    if view == "split":
        hint += " Drag across the picture to move the before/after line."
    if pair.scale < 1:
        hint += f" The picture is reduced ({pair.scale * 100:.0f} % of {pair.size[0]}x{pair.size[1]} px): " \
                "pores show in the loupe."
    st.caption(hint)
    if view == "split":
        spot_slider("Before / after line", "split", 100, "%d %%",
                    "Where the line between the AI-retouched photo (left) and the restored one (right) "
                    "sits, across the picture. Dragging on the picture does the same.")
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
                how = ("the AI's healing stays, with skin texture borrowed from beside each spot"
                       if small_plan.match is not None else "the original's texture is left out there")
                st.caption(f"{n} removed blemish{'es' if n != 1 else ''} kept clean {where}: {how}"
                           + (" (magenta)." if show else "."))


def _crop_html(name: str, src: str, size: tuple[int, int], zoom: int) -> str:
    w, h = size
    return (f'<figure style="margin:0;flex:0 0 auto">'
            f'<figcaption style="font-size:0.85rem;margin-bottom:2px">{html.escape(name)}</figcaption>'
            f'<img alt="{html.escape(name)}" src="{src}" width="{w * zoom}" height="{h * zoom}" '
            f'style="image-rendering:pixelated;max-width:none;display:block"></figure>')


def loupe_section(pair, settings, full_plan) -> None:
    """Original, AI-retouched and restored around the clicked spot, at 100, 200 or 400 %.

    The restored crop is the full-size plan applied around the window
    (:func:`processing.loupe.restored_window`): the download's pixels, without
    restoring the whole photo at every change. Each crop is sent at 1:1 and
    enlarged by the browser pixel for pixel. Side by side they are wider than the
    page at 200 and 400 %: the row scrolls sideways (kept in one row, so the
    versions stay next to each other).
    """
    st.subheader("1:1 loupe")
    z, k = st.columns([2, 3], vertical_alignment="bottom")
    zoom = z.radio("Zoom", ZOOMS, key="loupe_zoom", horizontal=True, format_func=lambda v: f"{v * 100} %",
                   help="100 %: one photo pixel per screen pixel, as the client will see it. "
                        "200 % and 400 % enlarge each pixel into a block to judge pores.")
    spot = st.session_state[SPOT]
    x, y = spot["x"], spot["y"]
    window = spot_window(pair.ai.pixels.shape, (x, y), LOUPE_SIDE)
    restored = restored_window(full_plan, settings, window)
    # The two sources change only with the spot: encoded once for it, not at every slider move.
    sources = pairs.remember("loupe sources", (pair.key, window), lambda: [
        _png(display.to_display(display.crop(pair.original_on_ai, window))),
        _png(display.to_display(display.crop(pair.ai.pixels, window)))])
    x0, y0, x1, y1 = window
    crops = [("Original", sources[0]), ("AI-retouched", sources[1]),
             ("Restored", _png(display.to_display(restored)))]
    more = " Scroll the row sideways, or close the sidebar for room." if zoom > 1 else ""
    k.caption(f"{x1 - x0}x{y1 - y0} px around x {x}, y {y} of the full-size photo, at {zoom * 100} %. "
              f"Click the picture to move it.{more}")
    body = "".join(_crop_html(name, src, (x1 - x0, y1 - y0), zoom) for name, src in crops)
    with st.container(key="loupe"):
        st.html(f'<div style="display:flex;gap:8px;overflow-x:auto;padding-bottom:4px">{body}</div>')
    with st.expander("Move the loupe with the keyboard"):
        w, h = pair.size
        spot_slider("Loupe centre, across", "x", w - 1, "%d px",
                    "Where the loupe looks, from the left edge of the full-size photo.")
        spot_slider("Loupe centre, down", "y", h - 1, "%d px",
                    "Where the loupe looks, from the top edge of the full-size photo.")


def texture_chart(pair, restored_small, small, settings, small_plan, plan) -> None:
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


# --- Downloads ----------------------------------------------------------------------------------------

def file_stem(name: str) -> str:
    """The stem of an uploaded file's name, safe as a download name: no folders,
    no control or reserved characters."""
    stem = Path(str(name).replace("\\", "/")).stem
    stem = re.sub(r'[\x00-\x1f\x7f<>:"/\\|?*]', "_", stem).strip(" .")
    return stem or "image"


def download_buttons(pair):
    """Full-size restored image, mask, preset and the client comparison, each made only
    when its button is clicked.

    Drawn at the start of a run, before anything slow: the buttons' callbacks
    are registered early in every run. A callback holds only the session and
    pair ids, and makes its file from the session's latest recipe (the page as
    last drawn, :func:`webapp.pair.restored_pixels`), even after the session's
    arrays were dropped to make room for others.
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

    def comparison_file(fmt: str):
        def make() -> bytes:
            p, pixels = pairs.restored_pixels(session, key)
            sheet, _ = comparison_sheet(p.ai.pixels, pixels, pairs.recipe_for(session, key).spot)
            return encode_image(sheet, fmt, icc_profile=p.ai.icc_profile)
        return make

    st.subheader("Download")
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
    c1, c2, _ = st.columns(3)
    sheet_help = ("For a client: the AI-retouched and restored photos side by side with labels, and a "
                  "100 % crop of the spot in the loupe under each.")
    c1.download_button("Comparison for the client (PNG)", data=comparison_file("PNG"),
                       file_name=f"{stem}_comparison.png", mime=DOWNLOAD_MIME, key="dl_compare_png",
                       on_click="ignore", width="stretch", help=sheet_help + " Lossless.")
    c2.download_button("Comparison for the client (JPEG)", data=comparison_file("JPEG"),
                       file_name=f"{stem}_comparison.jpg", mime=DOWNLOAD_MIME, key="dl_compare_jpeg",
                       on_click="ignore", width="stretch", help=sheet_help + " Smaller, for e-mail.")


# --- The page -----------------------------------------------------------------------------------------

def _found_text(pair, settings, full_plan) -> str:
    """What the preparation found, in one line: faces, alignment, cut-off, spots kept clean."""
    faces = len(pair.prepared.faces or ())
    parts = [f"{faces} face{'s' if faces != 1 else ''} found" if faces else "no face found"]
    if pair.align_summary:
        parts.append(pair.align_summary.rstrip("."))
    if full_plan.match is not None:
        parts.append(f"cut-off {full_plan.match.cutoff:.1f} px")
    if _uses_blemish(settings):
        n = full_plan.kept_clean_spots()
        parts.append(f"{n} removed blemish{'es' if n != 1 else ''} kept clean")
    return "Ready: " + " · ".join(parts)


class StatusLine:
    """What the page is doing with the pair, then what it found: one line that opens on details.

    ``st.status`` while something runs; a page whose pair and plan are ready draws a
    plain expander that looks the same (``st.status`` waits 50 ms each time it is made).
    """

    def __init__(self, said: str | None):
        self.slot, self.status = st.empty(), None
        if said is None:
            self.running(STAGES["read"])
        else:
            self.slot.expander(said, icon=":material/check:")

    def running(self, label: str) -> None:
        self._show(label, "running")

    def failed(self, label: str) -> None:
        self._show(label, "error")

    def _show(self, label: str, state: str) -> None:
        if self.status is None:
            self.status = self.slot.status(label, state=state)
        else:
            self.status.update(label=label, state=state)

    def done(self, label: str, details: list[str]) -> None:
        """``label`` holds no file names (no Markdown to escape); ``details`` are escaped lines."""
        if self.status is not None:
            self.status.update(label=label, state="complete")
            box = self.status
        else:
            box = self.slot.expander(label, icon=":material/check:")
        with box:
            for line in details:
                st.caption(line)


def main():
    st.set_page_config(page_title="Restore · Retexture", page_icon="🔍", layout="wide")
    st.session_state[SESSION] = pairs.session_id()
    remove_stale_batch_folders_once()  # a killed server's web batch left user photos in /tmp
    st.title("Restore")
    st.caption("Retexture gives back the real skin texture that AI retouching (Neural Filters, Evoto...) "
               "wipes away, and keeps the AI's tone and blemish work.")
    original, ai, align, preset = sidebar()
    uploads, info = choose_uploads(original, ai, align)
    if info:
        st.info(info)
        return
    # A pair already read opens with what was last said of it (a slider move changes it in a blink).
    said = st.session_state.get(SAID, {}).get(uploads.key) if pairs.is_loaded(uploads) else None
    status = StatusLine(said)
    try:
        pair = pairs.load_pair(uploads, on_stage=lambda stage: status.running(STAGES[stage]))
    except pairs.PairError as exc:
        status.failed("These photos cannot be used")
        st.error(display.plain(str(exc)))
        return
    w, h = pair.size
    depth = f"{pair.ai.bit_depth}-bit" if pair.ai.bit_depth != 32 else "32-bit float"
    if pair.is_demo:
        st.info("This is the built-in demo: an astronaut portrait and an AI-style smoothed copy made "
                "in code. Upload your own pair in the sidebar.", icon=":material/science:")
    st.markdown(f"**{display.plain(pair.original_name)}** and **{display.plain(pair.ai.name)}**: "
                f"{w}x{h} px, {depth} {pair.ai.format}.")
    details = ([display.plain(pair.align_summary)] if pair.align_summary else []) + \
        [display.plain(note) for note in pair.notes]
    # Page order: picture, loupe, mask, texture, downloads. The downloads are drawn first (see
    # download_buttons) and the mask before the picture, which shows the restore inside it.
    picture_slot, loupe_slot, mask_slot, texture_slot, download_slot = (st.container() for _ in range(5))
    with download_slot:
        download_buttons(pair)
    with mask_slot:
        mask_recipe, edit = mask_section(pair)
    small = edit.small
    settings = preset.settings
    spot = spot_state(pair, small)
    fake = picture.take_fake_gesture()  # logic tests' clicks (the browser's come through _on_picture)
    if fake is not None and st.session_state.get(LAYOUT) is not None:
        apply_gesture(picture.read_gesture(fake, st.session_state[LAYOUT]))
    # What the download buttons make (the comparison's crop sits on the loupe's spot).
    pairs.set_recipe(pairs.Recipe(uploads, mask_recipe, preset, (spot["x"], spot["y"])))
    try:
        if not pairs.has_full_plan(pair, edit, settings):
            status.running(STAGES["plan"])
        full_plan = pairs.full_plan(pair, edit, settings)
        # The picture is the same pipeline on a reduced copy, with pixel sizes scaled.
        small_plan = pairs.preview_plan(pair, edit, settings)
        restored_small = apply(small_plan, at_scale(settings, pair.scale))
    except ValueError as exc:
        status.failed("The restore could not be made")
        st.error(display.plain(str(exc)))
        return
    found = _found_text(pair, settings, full_plan)
    st.session_state[SAID] = {uploads.key: found}
    noise = full_plan.noise_note()
    status.done(found, details + ([display.plain(noise)] if noise else []))
    display_restored = display.to_display(restored_small)
    with picture_slot:
        picture_section(pair, display_restored, settings, small_plan)
    with loupe_slot:
        loupe_section(pair, settings, full_plan)
    with texture_slot:
        # A switch, not an expander: the spectrum is measured only while it is shown.
        if st.toggle("Texture spectrum: how much detail came back, band by band", key="show_spectrum",
                     help="Measures each detail band's energy inside the mask, AI-retouched and restored "
                          "against the original, and draws the match mode's cut-off."):
            texture_chart(pair, restored_small, small, settings, small_plan, full_plan)


"""Batch page: restore many pairs at once and download the results as a zip.

Page code only: the uploads, zips and the run live in :mod:`webapp.batch_uploads`,
the pairing and the batch itself in :mod:`processing.batch`.
Each upload is unpacked once into the session's private temporary folder
(mode 0700, removed with the session); the batch runs in another one, deleted
right after. Folders a killed server left behind go at the first page run.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parent.parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import streamlit as st  # noqa: E402

from processing.batch import CONTACT_SHEET, BatchError, pair_names  # noqa: E402
from processing.image_io import RAW_READABLE, RAW_SUFFIX_KIND  # noqa: E402
from processing.settings import Preset, SettingsError  # noqa: E402
from webapp.batch_uploads import (UploadFolder, remove_stale_batch_folders_once,  # noqa: E402
                                   run_batch_on_uploads, split_uploads)

TYPES = ["jpg", "jpeg", "png", "tif", "tiff", "webp", "zip"]
#: Originals may be the camera's RAW files too.
ORIGINAL_TYPES = TYPES + sorted(suffix.lstrip(".") for suffix in RAW_SUFFIX_KIND)
RESULT = "_batch_result"
UPLOADS = "_batch_uploads"


def current_preset(upload) -> tuple[Preset, str, str | None]:
    """(preset, where it comes from, error sentence or None)."""
    if upload is not None:
        try:
            return Preset.from_json(upload.getvalue()), f"the preset {upload.name}", None
        except SettingsError as exc:
            return Preset(), "the defaults", f"{upload.name} cannot be used: {exc}"
    try:
        from webapp import controls

        if controls.STORE in st.session_state:
            return controls.current_preset(), "the settings of the Restore page", None
    except Exception:  # the main page's store is optional here
        pass
    return Preset(), "the default settings", None


def describe(preset: Preset) -> str:
    s = preset.settings
    text = {"match": lambda: ("match, which gives every band the AI smoothed its original energy back"
                              + (" and keeps removed blemishes clean" if s.blemish else "")
                              + f", strength {s.strength:g} %"),
            "synthetic": lambda: f"synthetic grain, amount {s.amount:g} %, grain {s.grain_size:g} px",
            "graft": lambda: f"high-pass graft, radius {s.radius:g} px, strength {s.strength:g} %",
            "freqsep": lambda: f"frequency separation ({s.mode}), blur {s.blur:g} px, strength {s.strength:g} %"}
    main = text.get(preset.method, lambda: preset.method)()
    return f"{main}; alignment {'on' if preset.align else 'off'}"


def contact_sheet(zip_bytes: bytes) -> str | None:
    """The contact sheet inside the results zip as an inline PNG data URL, or None.

    Inline, not through Streamlit's media endpoint: with starlette >= 1.0 that
    endpoint answers 500 for image/png (streamlit 1.60's gzip middleware).
    """
    import base64
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as zf:
        if CONTACT_SHEET not in zf.namelist():
            return None
        return "data:image/png;base64," + base64.b64encode(zf.read(CONTACT_SHEET)).decode()


def digest(files, preset: Preset, suffix: str) -> str:
    """Key of a run's inputs: the settings and the uploads (Streamlit gives each upload its own id)."""
    h = hashlib.sha256(preset.to_json().encode() + suffix.encode())
    for f in files:
        h.update(f.name.encode() + b"\0" + f.file_id.encode() + b"\0")
    return h.hexdigest()


def upload_folder() -> UploadFolder:
    """This session's folder of unpacked uploads."""
    if UPLOADS not in st.session_state:
        st.session_state[UPLOADS] = UploadFolder()
    return st.session_state[UPLOADS]


remove_stale_batch_folders_once()


st.set_page_config(page_title="Batch · Retexture", page_icon="🔍", layout="wide")
st.title("Batch")
st.caption("Restore many photos at once: upload the originals and their AI-retouched versions "
           "(files with the same name are paired, any of JPEG/PNG/TIFF/WebP), or one zip with the "
           "folders 'originals' and 'retouched'. Unpacked into a private temporary folder that is "
           "deleted when you leave.")

left, right = st.columns(2)
with left:
    up_o = st.file_uploader("Originals (images or a zip)", type=ORIGINAL_TYPES, accept_multiple_files=True,
                            key="batch_originals",
                            help="The photos before AI retouching: developed files or the camera's RAW files "
                                 f"({RAW_READABLE}), which pair with the exports by name.")
with right:
    up_r = st.file_uploader("AI-retouched (images or a zip)", type=TYPES, accept_multiple_files=True,
                            key="batch_retouched",
                            help="The same photos after AI skin smoothing, with the same names.")

c1, c2 = st.columns(2)
with c1:
    suffix = st.text_input("Ending of the retouched names", value="", key="batch_suffix",
                           placeholder="_retouched",
                           help="Ignored when pairing: IMG_1_retouched.jpg pairs with IMG_1.jpg.").strip()
with c2:
    up_preset = st.file_uploader("Preset (optional)", type=["json"], key="batch_preset",
                                 help="A preset downloaded from the Restore page or saved by the command line.")

preset, source, preset_error = current_preset(up_preset)
if preset_error:
    st.error(preset_error)
st.caption(f"Settings: {describe(preset)} (from {source}). Photos without a face are reported and skipped.")

uploads = list(up_o or []) + list(up_r or [])
if UPLOADS in st.session_state:  # removed uploads leave the disk too
    st.session_state[UPLOADS].keep(f.file_id for f in uploads)
if not uploads:
    st.info("Upload the originals and the retouched photos to start.")
    st.stop()

folder = upload_folder()
try:
    originals, retouched = split_uploads(
        folder.collect((f.name, f.file_id, f) for f in (up_o or [])),
        folder.collect((f.name, f.file_id, f) for f in (up_r or [])), suffix)
except BatchError as exc:
    st.warning(str(exc))
    st.stop()
except OSError as exc:
    st.warning(f"The uploads could not be unpacked on this server ({exc.strerror or exc}).")
    st.stop()

pairing = pair_names([n for n, _ in originals], [n for n, _ in retouched], suffix)
n_pairs = len(pairing.pairs)
st.write(f"**{n_pairs} pair{'s' if n_pairs != 1 else ''}** found"
         + (f"; {len(pairing.unmatched_retouched)} retouched without an original" if pairing.unmatched_retouched else "")
         + (f"; {len(pairing.unmatched_originals)} originals without a retouched version" if pairing.unmatched_originals else "")
         + ".")
if pairing.unmatched_retouched or pairing.conflicts:
    st.caption("Not paired: " + ", ".join(pairing.unmatched_retouched + [n for n, _ in pairing.conflicts]))

key = digest(uploads, preset, suffix)
result = st.session_state.get(RESULT)
if result is not None and result["key"] != key:
    result = None

if st.button(f"Restore {n_pairs} pair{'s' if n_pairs != 1 else ''}", type="primary",
             disabled=n_pairs == 0, key="batch_run",
             help="Restores every pair with the settings named above; the results, a report and a "
                  "contact sheet come back as one zip."):
    bar = st.progress(0.0, text="Starting...")

    def progress(done: int, total: int, rec: dict) -> None:
        bar.progress(done / max(total, 1), text=f"{done}/{total}: {rec['name']} {rec['status']}")

    try:
        data, res = run_batch_on_uploads(originals, retouched, preset, suffix, progress=progress)
    except (BatchError, OSError) as exc:
        st.error(f"The batch could not run: {exc}")
        st.stop()
    bar.progress(1.0, text="Done.")
    result = {"key": key, "zip": data, "records": res.records, "sheet": contact_sheet(data),
              "counts": {s: res.count(s) for s in ("done", "skipped", "failed")}}
    st.session_state[RESULT] = result

if result is not None:
    counts = result["counts"]
    st.success(f"{counts['done']} restored, {counts['failed']} failed.")
    rows = [{"file": r["name"], "status": r["status"], "faces": r["faces"],
             "pores before": (r.get("texture") or {}).get("pores", {}).get("ai_ratio"),
             "pores after": (r.get("texture") or {}).get("pores", {}).get("restored_ratio"),
             "seconds": r["seconds"], "error": r["error"] or ""} for r in result["records"]]
    st.dataframe(rows, hide_index=True, width="stretch")
    st.download_button("Download the results (zip)", result["zip"], file_name="retexture_batch.zip",
                       mime="application/octet-stream", type="primary", key="batch_download",
                       on_click="ignore",
                       help="Every restored photo under its retouched file's name, with report.csv, "
                            "report.json and the contact sheet.")
    if result.get("sheet") is not None:
        with st.container(key="batch_sheet"):
            st.image(result["sheet"], caption="Contact sheet: AI-retouched (left) and restored (right) of each face")

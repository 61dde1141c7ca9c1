"""Retexture web app: give back the skin texture AI retouching wiped away.

Run with ``streamlit run webapp/app.py``. This file only names the pages, in
the retoucher's words: "Restore" (one pair, looked at closely) and "Batch"
(many pairs, one zip). Each page is a script in ``webapp/app_pages/`` (a folder
named ``pages/`` would be listed by Streamlit too, under the files' names).
"""

from __future__ import annotations

import sys
from pathlib import Path

# `streamlit run webapp/app.py` puts webapp/ on sys.path, not the repository.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import streamlit as st  # noqa: E402

from processing.memory import return_freed_memory, settle_long_lived_objects  # noqa: E402
from processing.row_bands import one_blas_thread  # noqa: E402

return_freed_memory()  # large blocks go back to the system when freed: closed sessions' photos too
one_blas_thread()  # the sessions' own threads share the cores

# No icons: the page names are the labels (an emoji needs a font the machine may lack).
PAGES = [st.Page("app_pages/restore.py", title="Restore", default=True),
         st.Page("app_pages/batch.py", title="Batch", url_path="batch")]
st.navigation(PAGES).run()
# After the first whole run everything imported is loaded: Streamlit's collection
# after each run then walks only what came since.
settle_long_lived_objects()

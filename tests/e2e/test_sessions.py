"""Five people on one server at once: each sees and downloads only its own pair.

Five browser contexts (five Streamlit sessions) against the one ``streamlit run``
of the e2e suite. Every step is issued to all five before any is waited for, so
the server runs the five sessions' scripts side by side: uploads, reruns and
download requests overlap, as they do when several retouchers share a server.
"""

from __future__ import annotations

import re

import cv2
import numpy as np
import pytest

from tests.e2e.conftest import APP_TIMEOUT_MS, shot, wait_for_app_run, wait_for_page_to_settle

pytestmark = pytest.mark.browser

SESSIONS = 5
RESTORED = ".st-key-loupe img[alt=Restored]"
DOWNLOAD = re.compile(r"Restored image \(PNG, 8-bit\)")


def session_pair(k: int):
    """A pair of its own for session ``k``: the demo portrait at its own size and
    framing, mirrored or brightened, so no two sessions' pairs or results agree."""
    from processing.demo import demo_pair

    side = 320 + 32 * k
    out = []
    for img in demo_pair():
        img = np.asarray(img)
        h, w = img.shape[:2]
        crop = img[8 * k:h - 8 * (SESSIONS - k), 4 * k:w - 4 * (SESSIONS - k)]
        img = cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA)
        if k % 2:
            img = img[:, ::-1]
        img = np.clip(img.astype(np.int16) + 6 * k, 0, 255).astype(np.uint8)
        out.append(np.ascontiguousarray(img))
    return out


def expected_restore(original_path, ai_path) -> np.ndarray:
    """What the page's download must hold: the pipeline run here on the same files
    with the page's defaults (automatic mask, default preset)."""
    from processing.image_io import read_image
    from processing.pipeline import restore_pair

    original, ai = read_image(original_path), read_image(ai_path)
    return restore_pair(original, ai)[0]


def test_five_sessions_each_download_their_own_result(browser, app_url, tmp_path):
    from processing.image_io import read_image

    pairs = []
    for k in range(SESSIONS):
        paths = []
        for role, img in zip(("original", "ai"), session_pair(k)):
            path = tmp_path / f"s{k}_{role}.png"
            cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
            paths.append(path)
        pairs.append(paths)

    contexts = [browser.new_context(viewport={"width": 1440, "height": 900}, accept_downloads=True)
                for _ in range(SESSIONS)]
    pages = [c.new_page() for c in contexts]
    try:
        for page in pages:
            page.set_default_timeout(APP_TIMEOUT_MS)
            page.goto(app_url)
        for page in pages:
            page.wait_for_selector(RESTORED)
        # The demo's run goes on after its result shows (loupe, downloads): a file
        # chosen before it ends can be dropped by Streamlit's uploader, so wait as a
        # person would for the page to settle.
        for page in pages:
            wait_for_page_to_settle(page)
        # Each step goes to every session before any is waited for.
        for page, (original, _) in zip(pages, pairs):
            page.locator(".st-key-up_original input[type=file]").set_input_files(str(original))
        # The second file once the page asks for it, as a person does (a file chosen
        # while the first one's run is still going can be dropped by Streamlit's uploader).
        for page in pages:
            page.get_by_text("Now upload the AI-retouched version too").wait_for()
            wait_for_page_to_settle(page)
        for page, (_, ai) in zip(pages, pairs):
            page.locator(".st-key-up_ai input[type=file]").set_input_files(str(ai))
        for k, page in enumerate(pages):
            side = 320 + 32 * k
            page.get_by_text(f"{side}x{side} px, 8-bit PNG").wait_for()
            page.get_by_text(f"s{k}_ai.png", exact=True).first.wait_for()
            wait_for_app_run(page)
            page.wait_for_selector(RESTORED)
        for k, page in enumerate(pages):
            shot(page, f"20_session_{k}")
            assert page.locator('[data-testid="stException"], [data-testid="stAlertContentError"]').count() == 0
            # No other session's file name anywhere on this page.
            text = page.locator('[data-testid="stApp"]').inner_text()
            assert [j for j in range(SESSIONS) if j != k and f"s{j}_" in text] == []

        downloads = [[] for _ in pages]
        for k, page in enumerate(pages):
            page.on("download", lambda d, k=k: downloads[k].append(d))
        for page in pages:
            page.get_by_role("button", name=DOWNLOAD).click()
        for k, page in enumerate(pages):
            page.wait_for_event("download", timeout=APP_TIMEOUT_MS) if not downloads[k] else None
        for k, (page, (original, ai)) in enumerate(zip(pages, pairs)):
            assert len(downloads[k]) == 1
            download = downloads[k][0]
            assert download.suggested_filename == f"s{k}_ai_retextured.png"
            path = tmp_path / f"download_{k}.png"
            download.save_as(str(path))
            got = read_image(path).pixels
            expected = expected_restore(original, ai)
            assert got.shape == expected.shape
            assert np.array_equal(got, expected), f"session {k} downloaded another image than its own"
            assert not np.array_equal(got, read_image(ai).pixels)  # texture went back
    except Exception:
        for k, page in enumerate(pages):
            shot(page, f"20_session_{k}_failed")
        raise
    finally:
        for c in contexts:
            c.close()

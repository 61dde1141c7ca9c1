"""Screenshots of the Restore page for the README and docs/, with the built-in demo pair.

Starts ``streamlit run webapp/app.py`` on a free localhost port and drives Debian's
headless chromium (as the browser tests do). Run from the repository:
``.venv/bin/python docs/make_screenshots.py``. Writes:

- ``docs/restore-1440x900.png``: the page as it opens on a 1440 x 900 screen;
- ``docs/restore-1024x768.png``: the same on a 1024 x 768 screen;
- ``docs/restore-loupe-1440x900.png``: after a click on the cheek, scrolled to the loupe (100 %).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import (CHROMIUM, CHROMIUM_ARGS, RESTORED_CROP, free_port, start_app,  # noqa: E402
                                stop_app, wait_for_app_run, wait_until_up)

DOCS = ROOT / "docs"


def main() -> None:
    from playwright.sync_api import sync_playwright

    port = free_port()
    proc = start_app(port, Path("/tmp/retexture-screenshots.log"))
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, proc)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            for width, height in ((1440, 900), (1024, 768)):
                page = browser.new_page(viewport={"width": width, "height": height})
                page.set_default_timeout(120_000)
                page.goto(url)
                wait_for_app_run(page)
                page.wait_for_selector(RESTORED_CROP)
                page.wait_for_timeout(1500)
                page.screenshot(path=str(DOCS / f"restore-{width}x{height}.png"))
                if width == 1440:
                    img = page.frame_locator(".st-key-picture iframe").locator("#image")
                    box = img.bounding_box()
                    page.mouse.click(box["x"] + 0.53 * box["width"], box["y"] + 0.30 * box["height"])
                    wait_for_app_run(page)
                    page.wait_for_timeout(1000)
                    page.get_by_role("heading", name="1:1 loupe").scroll_into_view_if_needed()
                    page.mouse.move(800, 400)
                    page.mouse.wheel(0, 350)
                    page.wait_for_timeout(800)
                    page.screenshot(path=str(DOCS / "restore-loupe-1440x900.png"))
                page.close()
            browser.close()
    finally:
        stop_app(proc)
    for name in ("restore-1440x900.png", "restore-1024x768.png", "restore-loupe-1440x900.png"):
        print(DOCS / name)


if __name__ == "__main__":
    main()

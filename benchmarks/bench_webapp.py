"""Slider latency of the web app on a 24 MP pair, measured in a real browser.

Starts ``streamlit run webapp/app.py`` on a free localhost port, opens it in
headless chromium (Debian's /usr/bin/chromium through Playwright), uploads a
generated 6000 x 4000 pair (the demo portrait enlarged, JPEG), then moves the
Strength slider with the keyboard, a step to a new value each time, and times how
long the picture (the restored preview) and then the 1:1 loupe's restored crop
take to show the new pixels.

Run: ``.venv/bin/python benchmarks/bench_webapp.py [--repeats 7]``
Prints one line per move and the medians; the targets are 0.25 s and 0.3 s (issue 13).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from tests.e2e.conftest import (CHROMIUM, CHROMIUM_ARGS, free_port, start_app, stop_app,  # noqa: E402
                                wait_for_app_run, wait_until_up)

RESTORED = ".st-key-loupe img[alt=Restored]"


def make_pair(folder: Path, width: int = 6000, height: int = 4000) -> tuple[Path, Path]:
    """The demo pair enlarged to `height` px and padded (mirrored) to `width`: a 24 MP JPEG pair."""
    from processing.demo import demo_pair

    paths = []
    for name, img in zip(("bench_original.jpg", "bench_ai.jpg"), demo_pair()):
        big = cv2.resize(np.asarray(img), (height, height), interpolation=cv2.INTER_CUBIC)
        pad = (width - height) // 2
        big = cv2.copyMakeBorder(big, 0, 0, pad, width - height - pad, cv2.BORDER_REFLECT_101)
        path = folder / name
        cv2.imwrite(str(path), cv2.cvtColor(big, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
        paths.append(path)
    return paths[0], paths[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7, help="slider moves to time (default 7)")
    ap.add_argument("--method", default="match", choices=("match", "graft", "freqsep", "synthetic"),
                    help="method whose Strength/Amount slider is moved (default match, the app's)")
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        original, ai = make_pair(tmp)
        print(f"pair: 6000x4000 JPEG ({original.stat().st_size / 1e6:.1f} + {ai.stat().st_size / 1e6:.1f} MB), "
              f"made in {time.perf_counter() - t0:.1f} s")
        port = free_port()
        proc = start_app(port, tmp / "streamlit.log")
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_up(url, proc)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
                page = browser.new_page(viewport={"width": 1500, "height": 2200})
                page.set_default_timeout(300_000)
                page.goto(url)
                wait_for_app_run(page)
                page.wait_for_selector(RESTORED)
                t0 = time.perf_counter()
                page.locator(".st-key-up_original input[type=file]").set_input_files(str(original))
                wait_for_app_run(page)
                page.locator(".st-key-up_ai input[type=file]").set_input_files(str(ai))
                wait_for_app_run(page)
                page.wait_for_function("() => !document.body.innerText.includes('built-in demo')")
                page.wait_for_selector(RESTORED)
                print(f"upload to first results: {time.perf_counter() - t0:.1f} s")
                if page.locator('[data-testid="stException"], [data-testid="stAlertContentError"]').count():
                    print("the app shows an error:", page.locator('[data-testid="stAlertContentError"]')
                          .first.inner_text())
                    return 1
                if args.method != "match":
                    page.locator('[data-testid="stRadio"]').filter(has_text="Method").get_by_text(
                        {"graft": "High-pass graft", "freqsep": "Frequency separation",
                         "synthetic": "Synthetic grain"}[args.method]).click()
                    wait_for_app_run(page)
                label = "Grain amount (%)" if args.method == "synthetic" else "Strength (%)"
                thumb = page.locator('[data-testid="stSlider"]').filter(has_text=label).first.locator(
                    'input[type="range"]')
                # Every move shows pixels not shown before: Streamlit resends a message the
                # browser already has as a reference to it, so going back and forth between
                # two values would time its cache. From 0 %, Page Up steps by a tenth of the
                # range: ten new values up, then ten down.
                thumb.focus()
                thumb.press("Home")
                times, loupe_times = [], []
                picture = page.frame_locator(".st-key-picture iframe").locator("#image")
                for i in range(args.repeats):
                    wait_for_app_run(page)
                    page.wait_for_timeout(300)
                    before = picture.evaluate("i => i.src")
                    before_loupe = page.locator(RESTORED).get_attribute("src")
                    thumb.focus()
                    t0 = time.perf_counter()
                    thumb.press("PageUp" if (i // 10) % 2 == 0 else "PageDown")
                    try:
                        # The picture (the restored preview) first, then the loupe's full-size crop.
                        picture.evaluate("(i, s) => new Promise(r => { const f = () => i.src !== s && "
                                         "i.complete ? r() : requestAnimationFrame(f); f(); })", before)
                        times.append(time.perf_counter() - t0)
                        page.wait_for_function(f"s => document.querySelector('{RESTORED}').src !== s",
                                               arg=before_loupe, polling="raf", timeout=60_000)
                        loupe_times.append(time.perf_counter() - t0)
                    except Exception:
                        shot = ROOT / "test-artifacts" / "bench_webapp_timeout.png"
                        shot.parent.mkdir(exist_ok=True)
                        page.screenshot(path=str(shot))
                        print(f"no new pixels within 60 s; screenshot in {shot}")
                        raise
                    print(f"move {i + 1}: new restored picture after {times[-1] * 1000:.0f} ms, "
                          f"loupe after {loupe_times[-1] * 1000:.0f} ms")
                wait_for_app_run(page)
                browser.close()
        finally:
            stop_app(proc)
    print(f"slider latency, 24 MP pair, {args.method}: picture median {statistics.median(times) * 1000:.0f} ms "
          f"(max {max(times) * 1000:.0f}), 1:1 loupe median {statistics.median(loupe_times) * 1000:.0f} ms "
          f"(max {max(loupe_times) * 1000:.0f}) over {len(times)} moves (targets <= 250 and <= 300 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

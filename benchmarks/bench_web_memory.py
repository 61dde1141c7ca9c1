"""Server memory of the web app with 144 MP pairs, and what it gives back when the tabs close.

Starts ``streamlit run webapp/app.py`` on a free localhost port and samples the
server's resident memory (VmRSS of its process, every 0.1 s) while headless
chromium (Debian's /usr/bin/chromium through Playwright) goes through:

1. idle: one tab on the demo page, every run finished (libraries and the face
   model loaded: the server at rest);
2. one 12000 x 12000 pair uploaded in a second tab, until its results show;
3. another 144 MP pair in a third tab, the first still open;
4. every tab closed: memory sampled each second for up to 60 s.

The pairs are the demo portrait enlarged to 12000 x 12000 (JPEG, each pair
its own crop), so the face search, mask, plan and loupe all run at 144 MP.

Targets (issue 14): a 144 MP pair keeps the server under 2.5 GB; within a
minute of the last tab closing, memory is back within 150 MB of idle.

Run: ``.venv/bin/python benchmarks/bench_web_memory.py [--side 12000]``
Prints each phase's peak and end figures and their ratio to idle.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from tests.e2e.conftest import (CHROMIUM, CHROMIUM_ARGS, free_port, start_app, stop_app,  # noqa: E402
                                wait_for_app_run, wait_until_up)

RESTORED = ".st-key-loupe img[alt=Restored]"
MB = 2 ** 20


def rss(pid: int) -> int:
    """Resident memory of a process, bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class Sampler:
    """Samples a process's RSS in the background; ``peak()`` since the last ``mark()``."""

    def __init__(self, pid: int, every: float = 0.1):
        self.pid, self.every = pid, every
        self._peak = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                value = rss(self.pid)
            except OSError:
                return
            with self._lock:
                self._peak = max(self._peak, value)
            time.sleep(self.every)

    def mark(self) -> None:
        with self._lock:
            self._peak = rss(self.pid)

    def peak(self) -> int:
        with self._lock:
            return self._peak

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def make_pair(folder: Path, k: int, side: int) -> tuple[Path, Path]:
    """The demo pair enlarged to ``side`` x ``side`` px (crop ``k``), as JPEGs."""
    from processing.demo import demo_pair

    paths = []
    for name, img in zip((f"bench{k}_original.jpg", f"bench{k}_ai.jpg"), demo_pair()):
        img = np.asarray(img)
        h, w = img.shape[:2]
        crop = img[8 * k:h - 8 * (2 - k), 8 * k:w - 8 * (2 - k)]  # each pair its own framing
        big = cv2.resize(crop, (side, side), interpolation=cv2.INTER_LINEAR)
        path = folder / name
        cv2.imwrite(str(path), cv2.cvtColor(big, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
        del big
        paths.append(path)
    return paths[0], paths[1]


def open_page(browser, url: str):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.set_default_timeout(900_000)
    page.goto(url)
    wait_for_app_run(page)
    page.wait_for_selector(RESTORED)
    wait_for_app_run(page)
    return context, page


def upload(page, original: Path, ai: Path, side: int) -> float:
    t0 = time.perf_counter()
    page.locator(".st-key-up_original input[type=file]").set_input_files(str(original))
    page.get_by_text("Now upload the AI-retouched version too").wait_for()
    page.locator(".st-key-up_ai input[type=file]").set_input_files(str(ai))
    page.get_by_text(f"{side}x{side} px").first.wait_for()
    page.wait_for_selector(RESTORED)
    wait_for_app_run(page)
    page.wait_for_timeout(1000)
    wait_for_app_run(page)
    if page.locator('[data-testid="stException"], [data-testid="stAlertContentError"]').count():
        raise RuntimeError("the app shows an error: "
                           + page.locator('[data-testid="stAlertContentError"]').first.inner_text())
    return time.perf_counter() - t0


def settle(pid: int, seconds: float = 3.0) -> int:
    """RSS once it has stopped moving by more than 5 MB over ``seconds`` (at most 30 s)."""
    last = rss(pid)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        time.sleep(seconds)
        now = rss(pid)
        if abs(now - last) < 5 * MB:
            return now
        last = now
    return last


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--side", type=int, default=12000, help="pair side, px (default 12000: 144 MP)")
    ap.add_argument("--wait", type=float, default=60.0, help="seconds to wait after closing (default 60)")
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    rows = []

    def report(name: str, value: int, note: str = "") -> None:
        rows.append((name, value, note))
        print(f"{name:<44} {value / MB:8.0f} MB {note}", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        pairs = [make_pair(tmp, k, args.side) for k in range(2)]
        mp = args.side * args.side / 1e6
        print(f"pairs: {args.side}x{args.side} ({mp:.0f} MP) JPEG, "
              f"{sum(p.stat().st_size for pr in pairs for p in pr) / MB:.0f} MB in all, "
              f"made in {time.perf_counter() - t0:.0f} s", flush=True)
        port = free_port()
        proc = start_app(port, tmp / "streamlit.log")
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_up(url, proc)
            sampler = Sampler(proc.pid)
            report("server started, no tab", rss(proc.pid))
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
                contexts = []
                ctx, _ = open_page(browser, url)
                contexts.append(ctx)
                idle = settle(proc.pid)
                report("idle: demo tab open, runs finished", idle)
                for k, (original, ai) in enumerate(pairs):
                    sampler.mark()
                    ctx, page = open_page(browser, url)
                    contexts.append(ctx)
                    took = upload(page, original, ai, args.side)
                    report(f"pair {k + 1}: peak while preparing and showing", sampler.peak(),
                           f"({took:.0f} s to results)")
                    report(f"pair {k + 1}: results shown", settle(proc.pid))
                sampler.mark()
                for ctx in contexts:
                    ctx.close()
                browser.close()
            t_closed = time.monotonic()
            back = None
            while time.monotonic() - t_closed < args.wait:
                time.sleep(1.0)
                if back is None and rss(proc.pid) <= idle + 150 * MB:
                    back = time.monotonic() - t_closed
            final = rss(proc.pid)
            sampler.stop()
            report(f"{args.wait:.0f} s after closing every tab", final,
                   f"(within 150 MB of idle after {back:.0f} s)" if back is not None
                   else "(not within 150 MB of idle)")
        finally:
            stop_app(proc)
    print()
    print(f"{'phase':<44} {'MB':>8} {'x idle':>7}")
    for name, value, _ in rows:
        print(f"{name:<44} {value / MB:8.0f} {value / idle:7.2f}")
    peak1 = max(v for n, v, _ in rows if n.startswith("pair 1"))
    print(f"\none {args.side * args.side / 1e6:.0f} MP pair: peak {peak1 / MB:.0f} MB (target at 144 MP: "
          f"< 2560 MB); "
          f"after closing: {final / MB:.0f} MB, {(final - idle) / MB:+.0f} MB vs idle (target within 150 MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

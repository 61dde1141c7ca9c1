"""Browser tests: one `streamlit run webapp/app.py` for the session, driven by
Debian's headless chromium through Playwright (Streamlit's e2e_playwright style)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("RETEXTURE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
#: The loupe's restored crop: on the page once a pair is restored.
RESTORED_CROP = ".st-key-loupe img[alt=Restored]"
# Generous: two cores shared with other test runs.
APP_TIMEOUT_MS = 120_000


def _no_browser():
    """Skip on a developer machine without chromium; in CI (.ci/run installs it) fail."""
    message = f"{CHROMIUM} is not installed (apt-get install chromium)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(port: int, log_path: Path) -> subprocess.Popen:
    """Start `streamlit run webapp/app.py` on 127.0.0.1:port (logs to log_path)."""
    log = open(log_path, "wb")
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "webapp" / "app.py"),
           "--server.headless", "true", "--server.port", str(port), "--server.address", "127.0.0.1",
           "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)


def wait_until_up(url: str, proc: subprocess.Popen, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"streamlit did not answer on {url} within {timeout:.0f} s")


def stop_app(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def wait_for_app_run(page, timeout: float = APP_TIMEOUT_MS) -> None:
    """Wait until Streamlit has finished the current script run.

    The app root carries ``data-test-script-state``; while a run is going the
    status widget shows "Running...". Both are checked, after a short pause
    that lets a just-triggered rerun start.
    """
    page.wait_for_timeout(250)
    page.wait_for_function(
        """() => {
            const app = document.querySelector('[data-testid="stApp"]');
            if (!app) return false;
            const state = app.getAttribute('data-test-script-state');
            const running = document.querySelector('[data-testid="stStatusWidget"]');
            const busy = running && /Running|Connecting/i.test(running.textContent || '');
            return state !== 'running' && state !== 'initial' && !busy;
        }""",
        timeout=timeout,
    )


def wait_for_page_to_settle(page, quiet_ms: int = 1000, timeout: float = APP_TIMEOUT_MS) -> None:
    """Wait until no script run has been going for `quiet_ms` in a row.

    A result on the page does not mean its run is over (the loupe, the downloads and the
    picture's click component follow it), and one run can start right after another.
    """
    page.evaluate("() => { window.__settledSince = null; }")  # quiet counted from now on
    page.wait_for_function(
        """quiet => {
            const app = document.querySelector('[data-testid="stApp"]');
            const state = app ? app.getAttribute('data-test-script-state') : 'initial';
            const running = document.querySelector('[data-testid="stStatusWidget"]');
            const busy = !app || state === 'running' || state === 'initial'
                || (running && /Running|Connecting/i.test(running.textContent || ''));
            const now = performance.now();
            if (busy) { window.__settledSince = null; return false; }
            if (window.__settledSince == null) window.__settledSince = now;
            return now - window.__settledSince >= quiet;
        }""",
        arg=quiet_ms, polling=100, timeout=timeout,
    )


def choose_file(page, key: str, paths) -> None:
    """Choose a file (or files) in the uploader with the given widget key, as a person does:
    once the page has settled. Streamlit's uploader can drop a file chosen while a run is
    still going (seen under load in CI)."""
    wait_for_page_to_settle(page)
    files = [str(p) for p in paths] if isinstance(paths, (list, tuple)) else str(paths)
    page.locator(f".st-key-{key} input[type=file]").set_input_files(files)
    wait_for_app_run(page)


def download(page, button, timeout: float = APP_TIMEOUT_MS):
    """Click a download button (a label, as text or regex, or a locator) once the page has
    settled, and return Playwright's Download.

    Streamlit refuses a click whose file id a rerun has just replaced ("Failed to generate
    file for download" under the button for 5 s); a person clicks again, and so does this,
    once. Any other silence fails, saying what the button said.
    """
    if isinstance(button, (str, re.Pattern)):
        button = page.get_by_role("button", name=button)
    refused = page.locator('[data-testid="stDownloadButtonError"]')
    said = []
    for _ in range(2):
        wait_for_page_to_settle(page)
        got = []

        def keep(file):
            got.append(file)

        page.on("download", keep)
        try:
            button.click()
            deadline = time.monotonic() + timeout / 1000
            while not got and time.monotonic() < deadline:
                if refused.count():
                    said.append(refused.first.inner_text())
                    break
                page.wait_for_timeout(100)
        finally:
            page.remove_listener("download", keep)
        if got:
            return got[0]
        if not said:
            break  # neither a file nor a refusal: clicking again would hide the fault
        refused.first.wait_for(state="detached", timeout=10_000)
    raise AssertionError(f"no download from {button}; the button said {said or 'nothing'} "
                         "(the server's log is at the end of the report)")


def server_log_tail(lines: int = 40) -> str:
    path = ARTIFACTS / "streamlit-e2e.log"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A browser test that fails (or whose page fails to open) ends its report with the
    server's last log lines (CI keeps nothing else of the server)."""
    outcome = yield
    report = outcome.get_result()
    if report.when in ("setup", "call") and report.failed and "app_url" in getattr(item, "fixturenames", ()):
        report.sections.append(("streamlit server log (end)", server_log_tail()))


@pytest.fixture(scope="session")
def app_url(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        _no_browser()
    ARTIFACTS.mkdir(exist_ok=True)
    port = free_port()
    proc = start_app(port, ARTIFACTS / "streamlit-e2e.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, proc)
        yield url
    finally:
        stop_app(proc)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        _no_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser, app_url):
    context = browser.new_context(viewport={"width": 1500, "height": 2500}, accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(APP_TIMEOUT_MS)
    pg.goto(app_url)
    pg.wait_for_selector('[data-testid="stApp"]')
    wait_for_app_run(pg)
    pg.wait_for_selector(RESTORED_CROP)
    yield pg
    context.close()

"""The batch page in a real browser: three uploaded pairs in, a zip of three
restored images and the report out. Screenshots go to test-artifacts/."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image

from tests.e2e.conftest import APP_TIMEOUT_MS, choose_file, download, shot, wait_for_app_run

pytestmark = pytest.mark.browser


def write_pairs(folder, textured) -> tuple[list, list]:
    """Three pairs in three formats; the retouched names carry a suffix on one."""
    ai = cv2.bilateralFilter(textured, 9, 40, 5)
    o, r = folder / "originals", folder / "retouched"
    o.mkdir()
    r.mkdir()
    Image.fromarray(textured).save(o / "bride.jpg", quality=95)
    Image.fromarray(ai).save(r / "bride.jpg", quality=95)
    cv2.imwrite(str(o / "groom.png"), cv2.cvtColor(textured.astype(np.uint16) * 257, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(r / "groom.png"), cv2.cvtColor(ai.astype(np.uint16) * 257, cv2.COLOR_RGB2BGR))
    tifffile.imwrite(o / "witness.tif", textured, photometric="rgb")
    tifffile.imwrite(r / "witness.tif", ai, photometric="rgb")
    return sorted(o.iterdir()), sorted(r.iterdir())


@pytest.fixture
def batch_page(browser, app_url):
    context = browser.new_context(viewport={"width": 1400, "height": 1100}, accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(APP_TIMEOUT_MS)
    pg.goto(f"{app_url}/batch")
    pg.wait_for_selector('[data-testid="stApp"]')
    wait_for_app_run(pg)
    yield pg
    context.close()


def test_batch_page_restores_three_pairs_into_a_zip(batch_page, tmp_path, textured_face):
    page = batch_page
    page.get_by_role("heading", name="Batch").wait_for()
    # Opened at its own address, the navigation still names the two pages in the retoucher's words.
    nav = page.locator('[data-testid="stSidebarNav"] a')
    assert [t.strip() for t in nav.all_inner_texts()] == ["Restore", "Batch"]
    shot(page, "batch_01_empty")
    originals, retouched = write_pairs(tmp_path, textured_face)
    choose_file(page, "batch_originals", originals)
    choose_file(page, "batch_retouched", retouched)
    page.get_by_text("3 pairs").first.wait_for()
    shot(page, "batch_02_uploaded")

    page.locator(".st-key-batch_run").get_by_role("button", name=re.compile(r"Restore \d+ pairs")).click()
    wait_for_app_run(page)
    download_button = page.locator(".st-key-batch_download").get_by_role(
        "button", name="Download the results (zip)")
    download_button.wait_for()
    assert page.locator('[data-testid="stException"]').count() == 0
    sheet = page.locator(".st-key-batch_sheet img").first
    sheet.wait_for()
    page.wait_for_function("i => i.complete && i.naturalWidth > 0", arg=sheet.element_handle())
    assert sheet.evaluate("i => i.naturalWidth") > 2 * 192
    shot(page, "batch_03_done")

    got = download(page, download_button)
    assert got.suggested_filename == "retexture_batch.zip"
    path = tmp_path / "results.zip"
    got.save_as(str(path))
    with zipfile.ZipFile(path) as zf:
        names = sorted(zf.namelist())
        assert names == ["bride.jpg", "contact_sheet.png", "groom.png", "report.csv", "report.json",
                         "witness.tif"]
        report = json.loads(zf.read("report.json"))
        images = {n: zf.read(n) for n in ("bride.jpg", "groom.png", "witness.tif")}
    assert {r["name"]: r["status"] for r in report["images"]} == {
        "bride.jpg": "done", "groom.png": "done", "witness.tif": "done"}
    from processing.image_io import read_image

    assert read_image(images["groom.png"], name="groom.png").pixels.dtype == np.uint16
    for name, data in images.items():
        img = read_image(data, name=name)
        assert img.pixels.shape == (512, 512, 3)


def test_batch_page_refuses_a_zip_bomb_without_unpacking_it(batch_page, tmp_path):
    """A 1 MB zip of a 200 MB zero-filled 'photo': one sentence, nothing of it on the server's disk."""
    import tempfile

    from tests.test_batch_safety import zero_bomb

    bomb = tmp_path / "shoot.zip"
    bomb.write_bytes(zero_bomb(200))
    page = batch_page
    page.get_by_role("heading", name="Batch").wait_for()
    choose_file(page, "batch_originals", bomb)
    warning = page.get_by_text("refused as a possible zip bomb")
    warning.first.wait_for()
    text = warning.first.inner_text()
    assert text.startswith("shoot.zip would expand") and text.count("\n") == 0, text
    assert page.locator('[data-testid="stException"]').count() == 0
    shot(page, "batch_04_zip_bomb")
    # The server (same user, same temporary folder) wrote none of it.
    big = [p for d in Path(tempfile.gettempdir()).glob("retexture-batch-*") if d.is_dir() and not d.is_symlink()
           for p in d.rglob("*") if p.is_file() and p.stat().st_size > 50 * 2**20]
    assert not big, f"unpacked on the server: {big}"

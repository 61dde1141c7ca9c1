"""One pipeline: the command line, a batch worker and the web app give the same pixels
for the same pair and settings."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from skimage.restoration import denoise_tv_chambolle

from processing.cli import main
from processing.image_io import read_image


def _ai_version(original: np.ndarray) -> np.ndarray:
    """A retouch made with a library smoother (scikit-image's total variation) and a warmer tone."""
    smooth = denoise_tv_chambolle(original / 255.0, weight=0.08, channel_axis=-1)
    smooth = smooth * np.array([1.04, 1.0, 0.97]) + 0.01
    return np.clip(smooth * 255 + 0.5, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("method, options", [("match", []), ("freqsep", ["--mode", "replace", "--blur", "5"])])
def test_cli_batch_and_web_app_give_the_same_pixels(app, tmp_path, textured_face, method, options):
    originals, retouched, out_dir = tmp_path / "originals", tmp_path / "retouched", tmp_path / "out"
    originals.mkdir()
    retouched.mkdir()
    Image.fromarray(textured_face).save(originals / "portrait.png")
    Image.fromarray(_ai_version(textured_face)).save(retouched / "portrait.png")
    preset = tmp_path / "preset.json"

    assert main(["restore", str(originals / "portrait.png"), str(retouched / "portrait.png"),
                 "-o", str(tmp_path / "cli.png"), "--method", method, *options,
                 "--save-preset", str(preset)]) == 0
    cli = read_image(tmp_path / "cli.png").pixels

    # In its own process: AppTest leaves the page as __main__, which pool workers would re-run.
    subprocess.run([sys.executable, "-m", "processing", "batch", str(originals), str(retouched),
                    "-o", str(out_dir), "--jobs", "1", "--preset", str(preset)], check=True, capture_output=True)
    batch = read_image(out_dir / "portrait.png").pixels

    at = app()
    at.session_state["_test_uploads"] = {
        "original": ("portrait.png", (originals / "portrait.png").read_bytes()),
        "ai": ("portrait.png", (retouched / "portrait.png").read_bytes()),
        "preset": preset.read_bytes()}
    at.run()
    assert not at.exception and not at.error
    from webapp import pair as pairs

    session = at.session_state["_session"]
    _, web = pairs.restored_pixels(session, pairs.RECIPES[session].uploads.key)  # what the download encodes

    ai = read_image(retouched / "portrait.png").pixels
    assert not np.array_equal(cli, ai)  # texture went back
    assert np.array_equal(cli, batch)
    assert np.array_equal(cli, web)

"""The face model's native log lines (mediapipe, TFLite, absl) never reach the
user's terminal: each command that finds faces is run as the user runs it."""

import re
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]

# What mediapipe, TFLite and absl print on stderr when left alone.
NATIVE_LOG = re.compile(r"^[IWEF]\d{4} |^INFO: |^WARNING: All log messages|TensorFlow Lite|XNNPACK|"
                        r"\.cc:\d+\]|absl::|inference_feedback_manager|gl_context", re.M)


@pytest.fixture(scope="module")
def face_folder(tmp_path_factory, astronaut):
    d = tmp_path_factory.mktemp("faces")
    (d / "o").mkdir()
    (d / "r").mkdir()
    Image.fromarray(astronaut).save(d / "o" / "p.png")
    Image.fromarray(cv2.GaussianBlur(astronaut, (0, 0), 2)).save(d / "r" / "p.png")
    return d


def run(*argv, cwd):
    return subprocess.run([sys.executable, "-m", "processing", *map(str, argv)], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


def test_the_pattern_knows_the_log_lines():
    # Lines as mediapipe 1.x and TFLite print them, so the tests below can fail.
    for line in ("W0000 00:00:1795607944.017550    3545 face_landmarker_graph.cc:181] Sets FaceBlendshapes",
                 "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
                 "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"):
        assert NATIVE_LOG.search(line), line
    assert not NATIVE_LOG.search("[####################] 1/1,  3.46s/pair, 00:00 left | p.png: done")


def test_restore_with_the_automatic_mask_is_quiet(face_folder, tmp_path):
    done = run("restore", face_folder / "o" / "p.png", face_folder / "r" / "p.png", "-o", tmp_path / "out.png",
               cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Found 1 face" in done.stdout  # the model did run
    assert done.stderr == ""


def test_mask_is_quiet(face_folder, tmp_path):
    done = run("mask", face_folder / "r" / "p.png", "-o", tmp_path / "m.png", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Found 1 face" in done.stdout
    assert done.stderr == ""


def test_batch_is_quiet(face_folder, tmp_path):
    """Workers are separate processes that load the model themselves: stderr
    holds the progress lines and nothing else."""
    done = run("batch", face_folder / "o", face_folder / "r", "-o", tmp_path / "out", "--jobs", "1",
               cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "p.png").exists()
    assert not NATIVE_LOG.search(done.stderr), done.stderr
    lines = done.stderr.splitlines()
    assert lines and all(line.startswith("[") for line in lines), done.stderr

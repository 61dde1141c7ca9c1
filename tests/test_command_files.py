"""CommandFiles: outputs checked against inputs through links, written all or nothing."""

import os
import stat

import pytest

from processing.image_io import writing
from processing.command_files import CommandFiles
from processing.image_io import ImageWriteError


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "orig.jpg"
    path.write_bytes(b"the original photo")
    return path


def files_for(photo, *outputs):
    files = CommandFiles()
    files.read(photo, "original")
    for path, what in outputs:
        files.write(path, what)
    return files


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".retexture-"))


def test_all_outputs_written_together(photo, tmp_path):
    out, preset = tmp_path / "out.jpg", tmp_path / "used.json"
    files = files_for(photo, (out, "result"), (preset, "saved preset"))
    files.check()
    assert files.write_all({out: b"pixels", preset: b"{}"}) == [out, preset]
    assert out.read_bytes() == b"pixels" and preset.read_bytes() == b"{}"
    assert leftovers(tmp_path) == []


def test_a_failed_output_leaves_no_output_at_all(photo, tmp_path, monkeypatch):
    out, preset = tmp_path / "out.jpg", tmp_path / "used.json"
    out.write_bytes(b"last week's result")  # an existing output keeps its bytes on failure
    real_stage = writing._stage_beside
    calls = []

    def stage_then_fail(path, data):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real_stage(path, data)

    monkeypatch.setattr(writing, "_stage_beside", stage_then_fail)
    files = files_for(photo, (out, "result"), (preset, "saved preset"))
    with pytest.raises(ImageWriteError, match="No space left.*Nothing was written"):
        files.write_all({out: b"new pixels", preset: b"{}"})
    assert out.read_bytes() == b"last week's result"
    assert not preset.exists()
    assert leftovers(tmp_path) == []
    assert photo.read_bytes() == b"the original photo"


def test_an_interrupt_while_writing_leaves_no_temporary_file(photo, tmp_path, monkeypatch):
    out = tmp_path / "out.jpg"

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(writing.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        files_for(photo, (out, "result")).write_all({out: b"pixels"})
    assert not out.exists() and leftovers(tmp_path) == []


def test_a_link_made_after_the_check_is_still_refused(photo, tmp_path):
    out = tmp_path / "out.jpg"
    files = files_for(photo, (out, "result"))
    files.check()
    out.symlink_to(photo)  # appears while the restore runs
    with pytest.raises(ImageWriteError, match="is the original you gave"):
        files.write_all({out: b"pixels"})
    assert photo.read_bytes() == b"the original photo"


@pytest.mark.parametrize("spelling", ["hard link", "symlink", "dot-dot", "linked folder"])
def test_every_spelling_of_an_input_is_that_input(photo, tmp_path, spelling):
    (tmp_path / "sub").mkdir()
    if spelling == "hard link":
        out = tmp_path / "sub" / "copy.jpg"
        os.link(photo, out)
    elif spelling == "symlink":
        out = tmp_path / "sub" / "link.jpg"
        out.symlink_to(photo)
    elif spelling == "dot-dot":
        out = tmp_path / "sub" / ".." / "orig.jpg"
    else:
        (tmp_path / "alias").symlink_to(tmp_path, target_is_directory=True)
        out = tmp_path / "alias" / "orig.jpg"
    with pytest.raises(ImageWriteError, match="is the original you gave"):
        files_for(photo, (out, "result")).check()


def test_two_outputs_on_one_file_are_refused(photo, tmp_path):
    out = tmp_path / "out.jpg"
    (tmp_path / "alias").symlink_to(tmp_path, target_is_directory=True)
    files = files_for(photo, (out, "result"), (tmp_path / "alias" / "out.jpg", "saved preset"))
    with pytest.raises(ImageWriteError, match="both be written"):
        files.check()


def test_a_new_file_gets_the_usual_permissions(photo, tmp_path):
    out = tmp_path / "out.jpg"
    old = os.umask(0o022)
    try:
        files_for(photo, (out, "result")).write_all({out: b"pixels"})
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o644  # not mkstemp's private 0600


def test_a_read_only_folder_is_refused_before_writing(photo, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root may write into read-only folders")
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(ImageWriteError, match="not writable"):
            files_for(photo, (folder / "out.jpg", "result")).check()
    finally:
        folder.chmod(0o700)

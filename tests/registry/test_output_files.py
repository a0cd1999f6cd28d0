"""Files a user asks for with ``-o`` (issue 19, part 8): never into a folder of devices or over
something that is not a file, with the mode the user's umask gives, and a replaced file is
said to be replaced."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from cli_helpers import run, train


@pytest.fixture(scope="module")
def floor_home(tmp_path_factory):
    return tmp_path_factory.mktemp("outputs-home")


@pytest.fixture
def floor(floor_home, monkeypatch):
    """A closed-form run to sample from (made once for the module)."""
    monkeypatch.setenv("GENZOO_HOME", str(floor_home))
    from genzoo.registry.store import RunStore

    found = RunStore().list_runs(model="independent")
    return found[0].run_id if found else train("independent", "--dataset", "digits",
                                               "--steps", 0)


@pytest.fixture
def umask():
    """Set the umask for one test; the previous one is put back."""
    previous = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(previous)


def test_nothing_is_written_into_a_folder_of_devices(floor):
    target = Path("/dev/genzoo-test-samples.png")
    try:
        for folder in ("/dev", "/proc", "/sys", "/dev/shm/../"):
            target_here = Path(folder) / target.name
            result = run("sample", floor, "-n", "4", "-o", target_here, ok=False)
            assert result.exit_code == 2 and "holds devices" in result.stderr, result.output
            assert not target.exists()
    finally:
        target.unlink(missing_ok=True)


def test_something_that_is_not_a_file_is_not_written_over(floor, tmp_path):
    fifo = tmp_path / "grid.png"
    os.mkfifo(fifo)  # a reader would wait on it for ever
    result = run("sample", floor, "-n", "4", "-o", fifo, ok=False)
    assert result.exit_code == 2 and "not a regular file" in result.stderr, result.output
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    folder = tmp_path / "folder.png"
    folder.mkdir()
    result = run("sample", floor, "-n", "4", "-o", folder, ok=False)
    assert result.exit_code == 2 and "is a directory" in result.stderr and folder.is_dir()


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_a_written_file_has_the_mode_the_umask_gives(floor, tmp_path, umask, mask, mode):
    umask(mask)
    out = tmp_path / "samples.png"
    run("sample", floor, "-n", "4", "-o", out)
    assert stat.S_IMODE(out.stat().st_mode) == mode


def test_a_replaced_file_is_said_to_be_replaced(floor, tmp_path):
    out = tmp_path / "samples.png"
    first = run("sample", floor, "-n", "4", "-o", out)
    assert "(replaced" not in first.stdout
    out.write_bytes(b"the user's own file")
    second = run("sample", floor, "-n", "4", "-o", out)
    assert "replaced the file that was there" in second.stdout
    assert out.read_bytes().startswith(b"\x89PNG")


def test_one_guard_writes_every_picture_file(tmp_path):
    """sample, complete, explore and restore share check_output_path and write_pictures
    (issue 20, part 3): the suffix picks .npy or .png, and only the one written is built."""
    import numpy as np

    from genzoo.registry.errors import GenzooError
    from genzoo.registry.outputs import (
        IMAGE_SUFFIXES,
        check_output_path,
        grid_scale,
        write_pictures,
    )

    built = []

    def array():
        built.append("array")
        return np.arange(6).reshape(2, 3)

    def picture():
        built.append("picture")
        return np.zeros((4, 4), dtype=np.uint8)

    npy = check_output_path(tmp_path / "x.npy", IMAGE_SUFFIXES, "pictures")
    assert write_pictures(npy, array=array, picture=picture) is False
    assert np.load(npy).tolist() == [[0, 1, 2], [3, 4, 5]] and built == ["array"]
    assert write_pictures(npy, array=array, picture=picture) is True  # replaced, and says so
    png = tmp_path / "x.png"
    write_pictures(png, array=array, picture=picture)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and built[-1] == "picture"
    for bad, words in [(tmp_path / "x.gif", "use a file ending in .png or .npy"),
                       (tmp_path / "no" / "x.png", "does not exist")]:
        with pytest.raises(GenzooError, match=words):
            check_output_path(bad, IMAGE_SUFFIXES, "pictures")
    assert (grid_scale(8, 8, least=2), grid_scale(28, 28, least=2), grid_scale(8, 8)) == (8, 2, 8)
    assert grid_scale(8, 8, columns=4, target_px=160) == 5

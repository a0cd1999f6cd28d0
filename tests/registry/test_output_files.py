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

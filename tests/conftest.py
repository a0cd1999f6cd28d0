"""Shared fixtures: every test gets its own empty runs store, and only built-in plugins."""

from __future__ import annotations

import pytest
import torch

# One thread: the models under test are tiny, and on a shared 2-core machine a second thread
# spinning for work makes them many times slower, not faster.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """A fresh GENZOO_HOME per test, so tests never see each other's runs (or the user's)."""
    home = tmp_path / "genzoo-home"
    monkeypatch.setenv("GENZOO_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def registry():
    """The registry of built-in plugins (shared: building it is cheap but not free)."""
    from genzoo.registry.plugins import get_registry

    return get_registry(environ={"GENZOO_PLUGINS": ""})

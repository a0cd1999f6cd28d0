"""Fixtures for the dashboard tests: a runs store with the demo runs, trained once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory) -> Path:
    """A store holding the four demo runs at 5% of their budgets (a few seconds on a CPU)."""
    from genzoo.registry.demo import ensure_demo_runs
    from genzoo.registry.plugins import get_registry
    from genzoo.registry.store import RunStore

    home = tmp_path_factory.mktemp("genzoo-demo-home")
    registry = get_registry()
    records = ensure_demo_runs(registry, RunStore(home), scale=0.05, progress=False,
                               log=lambda message: None)
    assert {r.model for r in records} >= {"independent", "pixelcnn", "ar", "neural-ar"}
    assert all(r.status == "completed" for r in records)
    return home


@pytest.fixture
def demo_store(demo_home, monkeypatch) -> Path:
    """Point ``GENZOO_HOME`` (which the dashboard reads on every run) at the demo store."""
    monkeypatch.setenv("GENZOO_HOME", str(demo_home))
    return demo_home


@pytest.fixture
def empty_store(tmp_path, monkeypatch) -> Path:
    """Point ``GENZOO_HOME`` at a fresh, empty store."""
    home = tmp_path / "empty-home"
    monkeypatch.setenv("GENZOO_HOME", str(home))
    return home


@pytest.fixture
def app():
    """A fresh AppTest of the dashboard, not yet run; ``app(page)`` runs it on ``page``."""
    from streamlit.testing.v1 import AppTest

    def open_page(page: str | None = None) -> AppTest:
        at = AppTest.from_file(str(APP), default_timeout=120)
        at.run()
        if page is not None:
            at.switch_page(f"views/{page}.py").run()
        return at

    return open_page

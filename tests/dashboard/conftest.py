"""Fixtures for the dashboard tests: a runs store with the demo runs, trained once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"


# The runs a store like the demo's holds, trained in this process (a worker pool's processes
# would each pay torch's import): (model, dataset, steps, seconds, overrides, parent model).
STORE_RUNS = (
    ("independent", "digits", 0, None, {}, None),
    ("pixelcnn", "digits", None, 3.0, {}, None),
    ("vae", "digits", None, 1.5, {}, None),  # the latent explorer's first run
    ("vqvae", "digits", None, 1.0, {}, None),  # a code grid for the explorer and the lecture ...
    ("vqvae-prior", "digits", None, 0.75, {}, "vqvae"),  # ... and its bound
    ("codeformer", "digits", None, 1.5, {}, "vqvae"),  # restoration by code lookup
    ("gan", "digits", None, 1.5, {}, None),  # the implicit branch: samples, no likelihood
    # the course's next chapters: a diffusion model (its page) and a flow (z = f(x))
    ("ddpm", "digits", None, 1.5, {"timesteps": "40", "channels": "8", "depth": "1"}, None),
    ("realnvp", "digits", None, 1.0, {"hidden": "16", "couplings": "1"}, None),
    ("gmm", "8-gaussians", 0, None, {}, None),  # the 2-d densities page: a closed-form fit ...
    ("pixelcnn", "8-gaussians", None, 0.5, {}, None),  # ... and the chain rule over (x, y)
    ("realnvp", "8-gaussians", None, 1.0, {"hidden": "16"}, None),  # a continuous density
    ("ar", "sunspots", 0, None, {"p": "9"}, None),
    ("neural-ar", "sunspots", 75, None, {"p": "9"}, None),
)


def train_store(registry, store) -> list:
    """Train :data:`STORE_RUNS` into ``store`` and score the digits runs' samples (the Sample
    quality page draws stored scores); returns the records."""
    from genzoo.registry.quality import run_quality
    from genzoo.registry.training import LoopSettings, start_run

    done = []
    for model, dataset, steps, seconds, overrides, parent in STORE_RUNS:
        parent_id = next((r.run_id for r in done if r.model == parent), None) if parent else None
        done.append(start_run(registry, store, model, None if parent_id else dataset,
                              parent=parent_id, overrides=overrides, steps=steps,
                              seconds=seconds, seed=0, device="cpu", tags=["demo"],
                              settings=LoopSettings(progress=False)))
    for record in done:
        if record.dataset == "digits" and record.model not in ("vqvae",):
            run_quality(store, registry, record.run_id)
    return [store.get(r.run_id) for r in done]


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory) -> Path:
    """A store like the demo's, at short budgets (a few seconds each on a CPU)."""
    from genzoo.registry.plugins import get_registry
    from genzoo.registry.store import RunStore

    home = tmp_path_factory.mktemp("genzoo-demo-home")
    records = train_store(get_registry(), RunStore(home))
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

"""The Latent explorer page, driven through AppTest on a store with a VAE and a VQ-VAE run."""

from __future__ import annotations

import pytest

from genzoo.registry.plugins import get_registry
from genzoo.registry.store import RunStore
from genzoo.registry.training import LoopSettings, start_run

from page_helpers import array, assert_clean, charts_by_title, texts

PAGE = "latent"


@pytest.fixture(scope="module")
def latent_home(tmp_path_factory):
    """A VAE with a 2-d latent and a small VQ-VAE, both on 8x8 shapes (known factors)."""
    home = tmp_path_factory.mktemp("latent-home")
    registry, store = get_registry(), RunStore(home)
    quiet = LoopSettings(progress=False)
    vae = start_run(registry, store, "vae", "shapes", steps=30, settings=quiet,
                    overrides={"size": "8", "latent_dim": "2", "hidden": "32"})
    vq = start_run(registry, store, "vqvae", "shapes", steps=30, settings=quiet,
                   overrides={"size": "8", "hidden": "16", "codebook_size": "8"})
    start_run(registry, store, "vae", "shapes", steps=30, settings=quiet,  # a β-VAE beside it
              overrides={"size": "8", "latent_dim": "2", "hidden": "32", "beta": "4"})
    return home, vae, vq


@pytest.fixture
def latent_store(latent_home, monkeypatch):
    home, vae, vq = latent_home
    monkeypatch.setenv("GENZOO_HOME", str(home))
    return vae, vq


def pick_run(at, run_id: str) -> None:
    """Choose a run in the page's run picker (its options read "model on data · ... · id")."""
    options = at.selectbox[0].options
    at.selectbox[0].select_index(next(i for i, o in enumerate(options) if run_id in o)).run()


def test_vae_run_shows_formulas_views_and_the_factor_table(app, latent_store):
    vae, _ = latent_store
    at = app(PAGE)
    assert_clean(at)
    latex = texts(at.latex)
    for formula in (r"\mathcal{N}(0, I)", r"D_{KL}", r"\log \sigma_j^2 - \mu_j^2",
                    r"\mathrm{sg}[z_e(x)]", r"\frac{1}{K} \sum_{k=1}^{K}"):
        assert formula in latex
    pick_run(at, vae.run_id)
    assert_clean(at)
    headers = texts(at.header)
    assert {"Reconstructions", "Traversals", "Interpolation"} <= set(headers.splitlines())
    assert "The 2-d latent manifold" in texts(at.subheader)
    assert len(at.image) == 4  # reconstructions, traversal, manifold, interpolation
    figures = charts_by_title(at)
    scatter = next(f for t, f in figures.items() if t.startswith("Test-set codes"))
    assert "the 2-d latent itself" in scatter["layout"]["title"]["text"]
    assert {trace["name"] for trace in scatter["data"]} == {"0", "1", "2", "3"}  # shape labels
    factors = next(f for t, f in figures.items() if t.startswith("How strongly"))
    assert factors["data"][0]["x"] == ["shape", "size", "row", "col"]
    assert factors["data"][0]["y"] == ["z0", "z1"]
    assert factors["layout"]["xaxis"]["title"]["text"] == "known factor"
    assert "Download the table (CSV)" in [b.label for b in at.download_button]


def test_vqvae_run_shows_codebook_usage_and_an_image_code_grid(app, latent_store):
    _, vq = latent_store
    at = app(PAGE)
    pick_run(at, vq.run_id)
    assert_clean(at)
    assert "Traversals" not in texts(at.header)  # a discrete code is not walked
    figures = charts_by_title(at)
    usage = next(f for t, f in figures.items() if t.startswith("Codebook usage"))
    assert "of 8 codes used, perplexity" in usage["layout"]["title"]["text"]
    assert usage["layout"]["yaxis"]["title"]["text"] == "uses on the test set (code positions)"
    grid = figures["Codes of test image 0"]
    assert grid["data"][0]["type"] == "heatmap"
    factors = next(f for t, f in figures.items() if t.startswith("How strongly"))
    assert factors["data"][0]["y"][0] == "PC1"  # principal axes of the one-hot code grid


def test_a_flow_is_explored_through_its_invertible_code(app, demo_store):
    """A flow's code is z = f(x), of the data's own size: the explorer walks it like a VAE's."""
    (flow,) = [r for r in RunStore(demo_store).list_runs(status="completed")
               if r.model == "realnvp" and r.dataset == "digits"]
    at = app(PAGE)
    pick_run(at, flow.run_id)
    assert_clean(at)
    assert "a continuous code of shape (64,)" in texts(at.caption)
    assert {"Reconstructions", "Traversals", "Interpolation"} <= set(texts(at.header).splitlines())
    from genzoo.dashboard import formulas

    assert formulas.CHANGE_OF_VARIABLES in texts(at.latex)


def test_a_vae_on_shapes_shows_its_mig_and_the_beta_tradeoff_over_runs(app, latent_store):
    vae, _ = latent_store
    at = app(PAGE)
    pick_run(at, vae.run_id)
    assert_clean(at)
    assert "Disentanglement: the mutual information gap" in texts(at.subheader)
    latex = texts(at.latex)
    assert r"\mathrm{MIG}" in latex and r"- \beta\," in latex
    (mig,) = [m for m in at.metric if m.label == "MIG"]
    assert 0.0 <= float(mig.value) <= 1.0
    assert {m.label for m in at.metric} >= {"gap: shape", "gap: size", "gap: row", "gap: col"}
    figures = charts_by_title(at)
    information = next(f for t, f in figures.items() if t.startswith("Mutual information"))
    assert information["data"][0]["x"] == ["shape", "size", "row", "col"]
    tradeoff = next(f for t, f in figures.items() if t.startswith("The β-VAE trade-off"))
    betas = sorted(float(x) for trace in tradeoff["data"] for x in array(trace["x"]))
    assert betas == [1.0, 1.0, 4.0, 4.0]  # each run in both panels
    assert tradeoff["layout"]["xaxis"]["type"] == "log"

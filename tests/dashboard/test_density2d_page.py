"""The 2-d densities page, driven through AppTest on a store with runs on 8-gaussians."""

from __future__ import annotations

import pytest

from genzoo.plugins.toy2d import load_toy
from genzoo.registry import density2d
from genzoo.registry.plugins import get_registry
from genzoo.registry.store import RunStore
from genzoo.registry.training import LoopSettings, start_run

from page_helpers import assert_clean, charts_by_title, texts

PAGE = "density2d"


@pytest.fixture(scope="module")
def toy_home(tmp_path_factory):
    """An exact model (gmm), a bound (vae) and a model that can only sample (a VQ-VAE without
    its prior), all on 8-gaussians at the default 32x32 grid; and a gmm on a 16x16 grid."""
    home = tmp_path_factory.mktemp("toy2d-home")
    registry, store = get_registry(), RunStore(home)
    quiet = LoopSettings(progress=False)
    runs = {
        "gmm": start_run(registry, store, "gmm", "8-gaussians", steps=0, settings=quiet),
        "vae": start_run(registry, store, "vae", "8-gaussians", steps=20, settings=quiet),
        "vqvae": start_run(registry, store, "vqvae", "8-gaussians", steps=5, settings=quiet,
                           overrides={"hidden": "8", "codebook_size": "8"}),
    }
    coarse = start_run(registry, store, "gmm", "8-gaussians", steps=0, settings=quiet,
                       overrides={"grid": "16"})
    return home, runs, coarse


@pytest.fixture
def toy_store(toy_home, monkeypatch):
    home, runs, _ = toy_home
    monkeypatch.setenv("GENZOO_HOME", str(home))
    return runs


def test_runs_on_8_gaussians_are_drawn_next_to_the_true_density(app, toy_store):
    at = app(PAGE)
    assert_clean(at)
    assert at.title[0].value == "2-d densities"
    intro = texts(at.markdown)
    assert "p(x) p(y | x)" in intro and "chain rule" in intro and "modes" in intro
    assert at.selectbox[0].value == "8-gaussians"
    assert at.radio[0].options == ["16", "32"] and at.radio[0].value == 32
    figures = charts_by_title(at)
    true = figures["True density: 8-gaussians"]
    zmax = true["data"][0]["zmax"]
    assert true["layout"]["xaxis"]["title"]["text"] == "x (grid cell)"
    assert true["layout"]["yaxis"]["title"]["text"] == "y (grid cell)"
    for model, record in toy_store.items():
        figure = figures[f"{model} ({record.run_id})"]
        assert figure["data"][0]["type"] == "heatmap"
        assert figure["data"][0]["zmax"] == zmax  # one colour scale for every map
    # the VQ-VAE cannot score without its prior: its samples are drawn over the true modes
    scatter = figures["vqvae: samples over the true density"]
    assert [trace["type"] for trace in scatter["data"]] == ["heatmap", "scatter"]
    captions = texts(at.caption)
    assert "exact density" in captions and "lower bound: exp(ELBO)" in captions
    assert "histogram of samples" in captions and "KL(true ‖ model)" in captions
    assert "no model can average below 4.07" in captions  # H/2 of 8-gaussians at 32x32

    table = at.dataframe[0].value.set_index("model")
    assert set(table.index) == {"gmm", "vae", "vqvae"}
    assert table.loc["gmm", "kind"] == "exact density"
    assert table.loc["gmm", "mass on the grid"] == pytest.approx(1.0, abs=1e-6)
    assert table.loc["gmm", "KL(true ‖ model), bits/point"] < 0.1  # EM finds the 8 modes
    assert table.loc["gmm", "test bits/dim"] == pytest.approx(
        toy_store["gmm"].metrics["test_bits_per_dim"])
    assert table.loc["vae", "mass on the grid"] < 1.0  # a bound loses mass
    assert table.loc["vqvae", "mass on the grid"] == pytest.approx(1.0)


def test_runs_on_another_grid_are_shown_on_their_own_grid(app, toy_home, toy_store):
    coarse = toy_home[2]
    at = app(PAGE)
    at.radio[0].set_value(16).run()
    assert_clean(at)
    figures = charts_by_title(at)
    assert set(figures) == {"True density: 8-gaussians", f"gmm ({coarse.run_id})"}
    assert len(figures["True density: 8-gaussians"]["layout"]["xaxis"]["range"]) == 2
    assert figures[f"gmm ({coarse.run_id})"]["layout"]["xaxis"]["range"][1] == 15.5
    floor = density2d.entropy_bits(load_toy("8-gaussians", 16).true_density) / 2
    assert f"no model can average below {floor:.3f} bits/dim" in texts(at.caption)
    assert floor < 3.5  # 4.07 on the 32x32 grid: a cell 4 times larger, 1 bit/dim less
    assert list(at.dataframe[0].value["run"]) == [coarse.run_id]


def test_a_dataset_without_runs_shows_its_density_and_how_to_train(app, toy_store):
    at = app(PAGE)
    at.selectbox[0].select("ring").run()
    assert_clean(at)
    assert "True density: ring" in charts_by_title(at)
    assert "No completed run on ring (32x32)" in texts(at.info)
    assert "genzoo train pixelcnn --dataset ring --seconds 30" in [c.value for c in at.code]


def test_empty_store_says_how_to_make_a_run(app, empty_store):
    at = app(PAGE)
    assert_clean(at)
    assert set(at.selectbox[0].options) >= {"8-gaussians", "moons", "ring", "checkerboard"}
    assert list(charts_by_title(at)) == ["True density: 8-gaussians"]
    info = texts(at.info)
    assert "No completed run on 8-gaussians" in info and str(empty_store) in info
    assert "genzoo train pixelcnn --dataset 8-gaussians --seconds 30" in [c.value for c in
                                                                          at.code]
    assert not at.dataframe


def test_a_flows_map_is_its_density_integrated_over_each_cell(app, demo_store):
    """The demo-like store's realnvp on 8-gaussians: drawn as its continuous density integrated
    over each cell (summing to 1), not as exp of its dequantization bound."""
    at = app(PAGE)
    assert_clean(at)
    table = at.dataframe[0].value.set_index("model")
    assert table.loc["realnvp", "kind"] == "exact continuous density, integrated over each cell"
    assert table.loc["realnvp", "mass on the grid"] == pytest.approx(1.0, abs=2e-2)

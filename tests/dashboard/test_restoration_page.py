"""The "Restoration" page, driven through AppTest on a store with a tiny vqvae + codeformer."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from genzoo.registry.degrade import parse_degradation

from page_helpers import array, assert_clean, charts, texts
from test_axes import axes_without_units, unlabelled_axes

PAGE = "restoration"


@pytest.fixture(scope="module")
def homes(tmp_path_factory) -> dict:
    """Two stores: one with a vqvae run only, one with a codeformer run on it and the digits
    reference classifier cached (trained 15 steps each: a few seconds)."""
    from genzoo.registry import quality
    from genzoo.registry.plugins import get_registry
    from genzoo.registry.runs import load_dataset
    from genzoo.registry.store import RunStore
    from genzoo.registry.training import LoopSettings, start_run

    registry = get_registry(environ={"GENZOO_PLUGINS": ""})
    full = tmp_path_factory.mktemp("restoration") / "full"
    quiet = LoopSettings(progress=False)
    vqvae = start_run(registry, RunStore(full), "vqvae", "digits", steps=15, settings=quiet,
                      overrides={"hidden": "8", "code_dim": "4"})
    only_vqvae = full.parent / "only-vqvae"
    shutil.copytree(full, only_vqvae)
    codeformer = start_run(registry, RunStore(full), "codeformer", None, parent=vqvae.run_id,
                           steps=15, settings=quiet,
                           overrides={"d_model": "16", "layers": "1", "heads": "2"})
    quality.reference_classifier(RunStore(full), "digits", load_dataset(registry, "digits"))
    return {"full": full, "only_vqvae": only_vqvae, "vqvae": vqvae.run_id,
            "codeformer": codeformer.run_id}


@pytest.fixture
def full_store(homes, monkeypatch):
    monkeypatch.setenv("GENZOO_HOME", str(homes["full"]))
    monkeypatch.setenv("GENZOO_PLUGINS", "")
    return homes


def heatmap(figure: dict) -> np.ndarray:
    (trace,) = figure["data"]
    assert trace["type"] == "heatmap"
    return array(trace["z"]).astype(float)


def test_degraded_restored_and_clean_side_by_side_with_the_table(app, full_store):
    from genzoo.plugins.datasets import load_digits

    at = app(PAGE)
    assert_clean(at)
    assert at.title[0].value == "Restoration by codebook lookup"
    assert at.selectbox[0].value.run_id == full_store["codeformer"]
    figures = charts(at)
    titles = [f["layout"]["title"]["text"] for f in figures]
    assert titles[:4] == ["degraded (mask:0.5)", "nearest-code lookup", "restored (w=0.5)",
                          "clean"]
    assert titles[4].startswith("Fidelity against w (mask:0.5")
    captions = [c.value for c in at.caption]
    measured = [c for c in captions if c.startswith("PSNR ")]
    assert len(measured) == 3 and all(" dB · classified as " in c for c in measured)
    label = int(load_digits().test_labels[0])
    assert f"classified as {label}" in captions  # the clean image: the classifier is right
    for figure in figures:  # every chart names its axes
        assert not unlabelled_axes(figure) and not axes_without_units(figure), figure["layout"]
    clean = load_digits().test[:1]
    assert np.array_equal(heatmap(figures[3]), clean[0, 0].numpy())
    degraded = parse_degradation("mask:0.5").apply(clean, 17, torch.Generator().manual_seed(0))
    assert np.array_equal(heatmap(figures[0]), degraded[0, 0].numpy())
    curve = next(t for t in figures[4]["data"] if t["type"] == "scatter")
    assert np.allclose(array(curve["x"]), np.linspace(0, 1, 11))

    table = at.dataframe[0].value
    assert list(table["degradation"])[:2] == ["none (clean input)", "mask:0.25"]
    assert len(table) == 10
    assert {"PSNR codeformer w=0 (dB)", "PSNR codeformer w=0.5 (dB)",
            "accuracy nearest-code lookup", "accuracy codeformer w=0.5"} <= set(table.columns)
    assert table["PSNR degraded input (dB)"].iloc[0] == pytest.approx(100.0)
    assert at.download_button[0].label == "Download CSV"
    assert "No reference classifier" not in texts(at.info)


def test_choices_change_what_is_restored(app, full_store):
    from genzoo.registry.plugins import get_registry
    from genzoo.registry.runs import load_run
    from genzoo.registry.store import RunStore

    at = app(PAGE)
    at.selectbox[1].set_value("noise").run()  # degradation
    at.slider(key="restore-w").set_value(0.0).run()
    at.number_input(key="restore-seed").set_value(2).run()
    assert_clean(at)
    figures = charts(at)
    assert figures[0]["layout"]["title"]["text"] == "degraded (noise:3)"
    assert figures[2]["layout"]["title"]["text"] == "restored (w=0)"
    # w = 0: the restoration is the decoding of the predicted codes of what is shown degraded
    model = load_run(full_store["codeformer"], RunStore(), get_registry()).model
    degraded = torch.from_numpy(heatmap(figures[0])).long().view(1, 1, 8, 8)
    codes = model.predict_codes(degraded)
    expected = model.vqvae.decode(codes).round().long()
    assert np.array_equal(heatmap(figures[2]), expected[0, 0].numpy())
    assert "PSNR codeformer w=0.5 (dB)" not in at.dataframe[0].value.columns  # w = 0 only


def test_with_only_a_vqvae_run_it_says_how_to_train_codeformer_on_it(app, homes,
                                                                      monkeypatch):
    monkeypatch.setenv("GENZOO_HOME", str(homes["only_vqvae"]))
    at = app(PAGE)
    assert_clean(at)
    assert "No completed codeformer runs" in texts(at.info)
    assert [c.value for c in at.code] == [
        f"genzoo train codeformer --parent {homes['vqvae']} --seconds 90"]
    assert not charts(at)


def test_empty_store_gives_both_commands(app, empty_store):
    at = app(PAGE)
    assert_clean(at)
    assert str(empty_store) in texts(at.info)
    (code,) = [c.value for c in at.code]
    assert code.startswith("genzoo train vqvae --dataset digits")
    assert "genzoo train codeformer --parent RUN_ID" in code


def test_a_vqvae_without_bound_points_to_its_prior_not_to_codeformer(homes):
    """codeformer registers before vqvae-prior, but only the prior gives the vqvae a bound."""
    from genzoo.dashboard import likelihood_data
    from genzoo.registry.plugins import get_registry
    from genzoo.registry.store import RunStore

    records = RunStore(homes["full"]).list_runs()
    reasons = likelihood_data.no_likelihood_models(
        get_registry(environ={"GENZOO_PLUGINS": ""}), records, "digits")
    assert f"`genzoo train vqvae-prior --parent {homes['vqvae']}`" in reasons["vqvae"]
    assert "implicit model" in reasons["codeformer"]

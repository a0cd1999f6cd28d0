"""Every dashboard page, driven through Streamlit's AppTest on a store with the demo runs.

The CSV upload is driven through the page's real ``st.file_uploader`` (AppTest can set its
value), so the page, ``timeseries_data.csv_numeric_columns`` and ``timeseries_data.fit_csv_ar``
are tested together.
"""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from genzoo.registry.store import RunStore

from page_helpers import array, assert_clean, charts, texts

PAGES = ["overview", "samples", "likelihood", "timeseries", "latent", "quality"]


def demo_runs(home) -> dict:
    """The demo's runs on digits and sunspots by model (the 2-d point runs have their page)."""
    return {r.model: r for r in RunStore(home).list_runs(status="completed")
            if r.dataset in ("digits", "sunspots")}


# -- every page, empty store --------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES)
def test_empty_store_says_run_genzoo_demo(app, empty_store, page):
    at = app(None if page == "overview" else page)
    assert_clean(at)
    assert "No " in texts(at.info) and "`genzoo demo`" in texts(at.info)
    assert "genzoo demo" in [code.value for code in at.code]
    assert str(empty_store) in texts(at.info)  # it names the store it read


def test_sidebar_names_the_store(app, empty_store):
    at = app()
    assert str(empty_store) in texts(at.sidebar.caption)
    assert "generative models side by side" in texts(at.sidebar.markdown)


# -- overview -----------------------------------------------------------------------------------


def test_overview_builds_taxonomy_claims_and_runs(app, demo_store):
    at = app()
    assert_clean(at)
    assert r"\prod_{i=1}^{n} p(x_i \mid x_1, \dots, x_{i-1})" in texts(at.latex)
    taxonomy = at.dataframe[0].value
    assert set(taxonomy["model"]) >= {"independent", "pixelcnn", "ar", "neural-ar"}
    assert list(taxonomy.columns[:3]) == ["branch", "leaf", "model"]
    assert at.download_button[0].label == "Download CSV"  # the taxonomy table as a file
    branches = taxonomy.set_index("model")["branch"]
    assert set(branches[["independent", "pixelcnn", "ar", "neural-ar"]]) == {
        "explicit density: tractable"}
    headers = texts(at.header)
    assert "Explicit density: tractable" in headers and "Implicit density" in headers
    # the tree: every registered model under its branch, through its leaf (if it has one) and
    # its family
    (tree,) = [c for c in charts(at) if c["data"][0]["type"] == "treemap"]
    trace = tree["data"][0]
    parent_of = dict(zip(trace["ids"], trace["parents"]))
    from genzoo.registry.plugins import get_registry

    for spec in get_registry().models.values():
        (node,) = [i for i in trace["ids"] if i.endswith(f"/{spec.name}")
                   and i.startswith(spec.branch + "/")]
        family = parent_of[node]
        assert family.endswith("/" + spec.family)
        above = parent_of[family]
        assert above == (f"{spec.branch}/{spec.leaf}" if spec.leaf else spec.branch)
        assert parent_of[spec.branch] == "generative models"

    frames = [d.value for d in at.dataframe[1:]]
    claims = pd.concat([f for f in frames if "claim" in f.columns])
    runs = pd.concat([f for f in frames if "run id" in f.columns])
    # a claim tested by test_bits_per_dim shows the demo's measured number next to it
    exact = claims[claims["tested by"] == "test_bits_per_dim"]
    bits = demo_runs(demo_store)["independent"].metrics["test_bits_per_dim"]
    assert f"{bits:.3f} bits/dim" in set(exact["measured"])
    # pixelcnn's "sequential => slow" claim sits next to its run's measured sampling time
    pixelcnn_run = demo_runs(demo_store)["pixelcnn"]
    slow = claims[claims["claim"].str.contains("Sequential generation => slow")
                  & claims["run"].str.startswith(pixelcnn_run.run_id)]
    ms = pixelcnn_run.metrics["sample_ms_per_image_b1"]
    (measured,) = slow["measured"]
    assert measured.endswith("ms/image (batch 1)")
    assert float(measured.split()[0]) == pytest.approx(ms, rel=0.01, abs=0.01)
    # ... and next to how many times slower that is than the fastest model on digits
    fastest = min((r for r in demo_runs(demo_store).values() if r.dataset == "digits"
                   and "sample_ms_per_image_b1" in (r.metrics or {})),
                  key=lambda r: r.metrics["sample_ms_per_image_b1"])
    assert fastest.model != "pixelcnn"
    (compared,) = slow["against the others"]
    ratio = ms / fastest.metrics["sample_ms_per_image_b1"]
    assert compared == f"{ratio:,.1f}x slower than the best, {fastest.model}"
    assert set(runs["run id"]) == {r.run_id for r in RunStore(demo_store).list_runs()}
    assert (runs["status"] == "completed").all()
    assert any("bits/dim" in s for s in runs["test score"])
    assert any("nats/obs" in s for s in runs["test score"])

    # the GAN's "no likelihood" con is tested by its samples: its Fréchet distance sits there
    from genzoo.dashboard.data import format_metric

    gan_run = demo_runs(demo_store)["gan"]
    no_bits = claims[claims["claim"].str.contains("no bits/dim")
                     & (claims["tested by"] == "quality_frechet_distance")]
    assert len(no_bits) == 1
    no_bits = no_bits.iloc[0]
    assert no_bits["measured"] == format_metric(gan_run.metrics["quality_frechet_distance"])
    assert no_bits["run"] == f"{gan_run.run_id} (digits)"
    assert "on digits" in no_bits["against the others"]  # ranked among the digits models

    # every table has its CSV: the taxonomy, each model's claims, each model's runs
    keys = {button.key for button in at.download_button}
    with_runs = {r.model for r in RunStore(demo_store).list_runs()}
    assert keys >= {f"csv-genzoo-claims-{name}" for name in get_registry().models}
    assert keys >= {f"csv-genzoo-runs-{name}" for name in with_runs}
    assert all(button.label == "Download CSV" for button in at.download_button)
    assert len(at.download_button) == len(at.dataframe)  # one under each table, no more


def test_claims_rank_a_number_against_every_model_on_the_same_dataset(registry):
    from genzoo.dashboard.overview_data import compare_to_others
    from genzoo.registry.store import RunRecord

    def run(model, dataset="digits", **metrics):
        return RunRecord(run_id=model + dataset, model=model, dataset=dataset, config={},
                         seed=0, device="cpu", status="completed", metrics=metrics)

    records = [run("a", test_bits_per_dim=1.8, sample_ms_per_image_b1=40.0),
               run("b", test_bits_per_dim=2.4, sample_ms_per_image_b1=0.5),
               run("c", test_bits_per_dim=2.0), run("a", "mnist", test_bits_per_dim=0.1)]
    a, b, c = records[:3]
    assert compare_to_others(registry, "sample_ms_per_image_b1", a, records) == \
        "80.0x slower than the best, b"
    assert compare_to_others(registry, "sample_ms_per_image_b1", b, records) == \
        "best of 2 models on digits"
    # lower bits/dim is better, and mnist's number is not digits' competitor
    assert compare_to_others(registry, "test_bits_per_dim", c, records) == \
        "2 of 3 on digits; best: a 1.800 bits/dim"
    assert compare_to_others(registry, "layers", a, records) == ""  # a config value: no rank
    assert compare_to_others(registry, "test_bits_per_dim", a, records[:1]) == ""


def test_overview_warns_about_a_broken_plugin(app, demo_store, monkeypatch):
    from genzoo.dashboard import data
    from genzoo.registry.plugins import PluginInfo, get_registry

    registry = get_registry()
    registry.plugins["genzoo-broken"] = PluginInfo(
        name="genzoo-broken", version="0.1", module="genzoo_broken", builtin=False,
        error="failed to import: ModuleNotFoundError: No module named 'tensorflow' (broken.py:3)")
    monkeypatch.setattr(data, "registry", lambda: registry)
    at = app()
    assert not at.exception
    warning = texts(at.warning)
    assert "genzoo-broken" in warning and "No module named 'tensorflow'" in warning
    assert "pixelcnn" in set(at.dataframe[0].value["model"])  # the others still show


# -- samples ------------------------------------------------------------------------------------


def test_samples_page_shows_a_grid_per_model_and_the_real_images(app, demo_store):
    at = app("samples")
    assert_clean(at)
    assert at.selectbox[0].value == "digits"
    assert at.selectbox[0].options == ["digits"]  # no 2-d point set among the pictures
    assert sorted(at.multiselect[0].value) == ["codeformer", "ddpm", "gan", "independent",
                                               "pixelcnn", "realnvp", "vae", "vqvae",
                                               "vqvae-prior"]
    # a diffusion model's cell offers its step count, a flow's its temperature
    assert at.number_input(key="steps-ddpm").value == 40
    assert at.slider(key="temp-realnvp").value == 1.0
    assert [h.value for h in at.subheader][-1] == "real test images"
    assert {"independent", "pixelcnn", "vae", "gan"} <= {h.value for h in at.subheader}
    assert len(at.image) == len(at.multiselect[0].value) + 1  # every model and the real images
    assert len(at.download_button) == len(at.image)
    assert "ms/image" in texts(at.caption)

    at.multiselect[0].set_value(["independent"]).run()
    at.number_input[0].set_value(7).run()  # seed
    assert_clean(at)
    assert len(at.image) == 2
    assert "picked with seed 7" in texts(at.caption)


def test_same_seed_same_samples_and_another_seed_differs(demo_store):
    from genzoo.dashboard import samples_data

    record = demo_runs(demo_store)["independent"]
    first = samples_data.image_samples(record, 0, 8)
    again = samples_data.image_samples(record, 0, 8)
    other = samples_data.image_samples(record, 1, 8)
    assert first["png"] == again["png"] and first["png"] != other["png"]
    assert first["png"].startswith(b"\x89PNG")


# -- likelihood ---------------------------------------------------------------------------------


def test_likelihood_page_bars_floor_table_and_curves(app, demo_store):
    at = app("likelihood")
    assert_clean(at)
    assert r"\text{bits/dim} = \frac{-\log_2 p(x)}{D}" in texts(at.latex)
    bars, curves, *_ = charts(at)
    bar = next(trace for trace in bars["data"] if trace["name"] == "exact likelihood")
    assert list(bar["x"]) == ["pixelcnn"]  # the baseline is a line, not a bar
    assert "bits/dim" in bars["layout"]["yaxis"]["title"]["text"]
    floor = bars["layout"]["shapes"][0]
    bits = demo_runs(demo_store)["independent"].metrics["test_bits_per_dim"]
    assert floor["y0"] == pytest.approx(bits)
    assert bars["layout"]["annotations"][0]["text"] == f"independent pixels (floor): {bits:.3f}"
    # gmm, the other registered baseline, has no run on digits: the page says how to add it
    assert "`genzoo train gmm --dataset digits`" in texts(at.caption)

    table = at.dataframe[0].value
    assert set(table["model"]) == {"independent", "pixelcnn", "vae", "vqvae-prior", "ddpm",
                                   "realnvp"}
    assert table.set_index("model").loc["ddpm", "bound"] == "vlb"
    assert table.set_index("model").loc["realnvp", "bound"] == "dequant"
    assert table.set_index("model").loc["vae", "bound"] == "elbo"
    elbo = next(trace for trace in bars["data"] if trace["name"] == "elbo likelihood")
    assert list(elbo["x"]) == ["vae", "vqvae-prior"]  # bounds drawn apart from exact numbers
    assert table.set_index("model").loc["independent", "bits/dim"] == pytest.approx(bits)
    assert {"run id", "bound", "steps", "train seconds"} <= set(table.columns)
    assert at.download_button[0].label == "Download CSV"

    assert curves["layout"]["xaxis"]["title"]["text"] == "training step"
    assert curves["layout"]["yaxis"]["title"]["text"] == "training loss (nats/dim)"
    pixelcnn = demo_runs(demo_store)["pixelcnn"].run_id
    vae = demo_runs(demo_store)["vae"].run_id
    prior = demo_runs(demo_store)["vqvae-prior"].run_id
    trained = [demo_runs(demo_store)[m].run_id for m in ("ddpm", "realnvp")]
    assert sorted(trace["name"] for trace in curves["data"]) == sorted([pixelcnn, vae, prior,
                                                                        *trained])
    assert "logged no training steps" in texts(at.caption)  # independent: closed form

    # the terms of the loss, one panel each, for a run that took steps
    at.selectbox(key="parts-run").set_value(pixelcnn).run()
    assert_clean(at)
    parts = charts(at)[-1]
    titles = [a["text"] for a in parts["layout"]["annotations"]]
    assert titles == ["bits_per_dim", "loss"]  # what PixelCNN logs, examples/s left out
    assert parts["layout"]["yaxis"]["title"]["text"] == "bits/dim"
    at.selectbox(key="parts-run").set_value(vae).run()  # the ELBO's two terms, apart
    titles = [a["text"] for a in charts(at)[-1]["layout"]["annotations"]]
    assert {"recon", "kl", "loss"} <= set(titles)


def test_likelihood_bars_carry_error_bars_over_seeds(app, monkeypatch, tmp_path, registry):
    from genzoo.registry.training import LoopSettings, start_run

    home = tmp_path / "seeds-home"
    store = RunStore(home)
    # pixelcnn, not independent: the floor model is a line, and a line has no error bars
    bits = [start_run(registry, store, "pixelcnn", "digits", steps=0, seed=seed, device="cpu",
                      settings=LoopSettings(progress=False)).metrics["test_bits_per_dim"]
            for seed in (0, 1)]
    monkeypatch.setenv("GENZOO_HOME", str(home))
    at = app("likelihood")
    assert_clean(at)
    bars = charts(at)[0]
    (bar,) = [trace for trace in bars["data"] if trace["name"] == "exact likelihood"]
    assert list(bar["x"]) == ["pixelcnn"] and array(bar["y"])[0] == pytest.approx(np.mean(bits))
    assert bar["error_y"]["visible"] is True and bar["error_y"]["type"] == "data"
    assert array(bar["error_y"]["array"])[0] == pytest.approx(np.std(bits, ddof=1))
    assert "error bars one std" in texts(at.caption)


def test_likelihood_summary_averages_seeds():
    from genzoo.dashboard.likelihood_data import likelihood_summary

    frame = pd.DataFrame({"run id": ["a3", "a2", "a1", "b1"], "model": ["m", "m", "m", "n"],
                          "bound": ["exact", "exact", "exact", "elbo"],
                          "bits/dim": [2.0, 4.0, 9.0, 1.5], "seed": [0, 1, 0, 0]})
    summary = likelihood_summary(frame).set_index("model")
    # the newest run per seed (a3 for seed 0, a2 for seed 1), not the older a1
    assert summary.loc["m", "bits/dim"] == pytest.approx(3.0)
    assert summary.loc["m", "std"] == pytest.approx(2 ** 0.5)
    assert summary.loc["m", "seeds"] == 2 and summary.loc["n", "bound"] == "elbo"
    assert pd.isna(summary.loc["n", "std"])


# -- time series --------------------------------------------------------------------------------


def test_every_registered_baseline_is_a_line_and_the_models_are_bars(registry):
    from genzoo.dashboard.likelihood_data import baseline_bits, likelihood_figure

    summary = pd.DataFrame({"model": ["pixelcnn", "gmm", "independent", "vae"],
                            "bound": ["exact", "exact", "exact", "elbo"],
                            "bits/dim": [1.84, 2.38, 2.43, 1.92], "std": [0.01, None, None, None],
                            "seeds": [2, 1, 1, 1], "runs": ["a, b", "c", "d", "e"]})
    baselines = baseline_bits(registry, summary)
    assert baselines == {"gmm": 2.38, "independent": 2.43}
    fig = likelihood_figure(summary, "digits", baselines).to_plotly_json()
    drawn = [x for trace in fig["data"] if trace["type"] == "bar" for x in trace["x"]]
    assert sorted(drawn) == ["pixelcnn", "vae"]
    lines = sorted((s["y0"], a["text"]) for s, a in zip(fig["layout"]["shapes"],
                                                        fig["layout"]["annotations"]))
    assert lines == [(2.38, "gmm (baseline): 2.380"),
                     (2.43, "independent pixels (floor): 2.430")]


def test_timeseries_page_forecasts_and_fit_table(app, demo_store):
    at = app("timeseries")
    assert_clean(at)
    assert r"X_t = c + \phi_1 X_{t-1}" in texts(at.latex)
    assert at.selectbox[0].value == "sunspots"
    figures = charts(at)
    assert len(figures) == 2
    for figure in figures:
        names = [trace["name"] for trace in figure["data"]]
        assert names == ["training split", "95% interval", "80% interval", "forecast mean",
                         "held-out validation values", "held-out test values"]
        assert figure["layout"]["xaxis"]["title"]["text"] == "year"
        val_years, test_years = array(figure["data"][-2]["x"]), array(figure["data"][-1]["x"])
        assert val_years[0] == 1916 and val_years[-1] == 1946
        assert test_years[0] == 1947 and test_years[-1] == 2008
        # the forecast runs from the end of training over exactly the held-out years
        assert np.array_equal(array(figure["data"][3]["x"]),
                              np.concatenate([val_years, test_years]))
    table = at.dataframe[0].value.set_index("model")
    assert len(table.loc["ar", "coefficients φ₁…φₚ"].split(", ")) == 9
    assert table.loc["ar", "sigma²"] > 0 and table.loc["ar", "llf (nats)"] < 0
    runs = demo_runs(demo_store)
    for model in ("ar", "neural-ar"):
        assert table.loc[model, "test nats/obs"] == pytest.approx(
            runs[model].metrics["test_nats_per_obs"])


GOOD_CSV = "year,value\n" + "\n".join(
    f"{1900 + t},{10 + 5 * ((t * 7) % 11) + (t % 3)}" for t in range(40))


def upload(app, name: str, content: str):
    at = app("timeseries")
    at.file_uploader[0].set_value((name, content.encode(), "text/csv")).run()
    return at


def test_upload_good_csv_fits_ar_and_forecasts(app, demo_store):
    at = upload(app, "series.csv", GOOD_CSV)
    assert_clean(at)
    column = at.selectbox[-1]
    assert column.label == "Column" and column.options == ["value", "year"]
    assert column.value == "value"
    fit = charts(at)[-1]
    assert fit["layout"]["title"]["text"] == "AR(2) on series.csv:value"
    assert fit["layout"]["xaxis"]["title"]["text"] == "year"
    names = [t["name"] for t in fit["data"]]
    assert names[:2] == ["uploaded series", "one-step fit"] and "95% interval" in names
    forecast = next(t for t in fit["data"] if t["name"] == "forecast mean")
    assert list(array(forecast["x"])) == list(range(1940, 1960))
    table = at.dataframe[-1].value
    assert table.loc[0, "p"] == 2
    assert len(table.loc[0, "coefficients φ₁…φₚ"].split(", ")) == 2

    at.number_input[0].set_value(4).run()  # order p
    assert_clean(at)
    assert charts(at)[-1]["layout"]["title"]["text"] == "AR(4) on series.csv:value"


def test_upload_without_numeric_column_shows_one_line_error(app, demo_store):
    at = upload(app, "bad.csv", "name,colour\nann,red\nbob,blue\ncid,green\n")
    assert not at.exception
    assert len(at.error) == 1
    message = at.error[0].value
    assert "bad.csv has no numeric column" in message and "\n" not in message
    assert "genzoo-upload-" not in message  # the temp folder stays hidden


@pytest.mark.parametrize("name, payload, message", [
    ("picture.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\xff\xfe", "picture.csv"),
    ("empty.csv", b"", "empty.csv"),
    ("latin1.csv", "température\n1,5\n2,5\n".encode("latin-1"), "latin1.csv"),
])
def test_upload_that_is_not_a_csv_shows_one_line_error(app, demo_store, name, payload, message):
    at = app("timeseries")
    at.file_uploader[0].set_value((name, payload, "text/csv")).run()
    assert not at.exception, texts(at.exception)
    assert len(at.error) == 1
    text = at.error[0].value
    assert message in text and "\n" not in text and "Traceback" not in text


def test_upload_too_short_for_p_shows_error(app, demo_store):
    at = upload(app, "short.csv", "value\n1.0\n2.5\n0.7\n")
    assert not at.exception
    assert "too short for AR(2)" in texts(at.error) and "p+2 = 4" in texts(at.error)


def test_quality_page_scores_every_model_next_to_the_real_floor(app, demo_store):
    at = app("quality")
    assert_clean(at)
    assert at.selectbox[0].options == ["digits"]
    table = at.dataframe[0].value.set_index("model")
    assert list(table.index)[0] == "real data (floor)"
    assert {"independent", "pixelcnn", "vae", "gan", "vqvae-prior"} <= set(table.index)
    assert "vqvae" not in table.index  # scored through its prior, whose samples are the pipeline's
    assert table.loc["gan", "likelihood kind"] == "none"  # implicit: scored all the same
    assert table.loc["vae", "likelihood kind"] == "elbo"
    stored = demo_runs(demo_store)["pixelcnn"].metrics
    assert table.loc["pixelcnn", "Fréchet distance"] == pytest.approx(
        stored["quality_frechet_distance"])
    # the real data is the floor: no model's samples are closer to the test set than it
    assert (table["Fréchet distance"].drop("real data (floor)")
            > table.loc["real data (floor)", "Fréchet distance"]).all()
    # memorization against held-out digits, none of which repeats a training image
    assert table.loc["real data (floor)", ["memorized fraction", "copy rate", "NN ratio"]
                     ].tolist() == [0.0, 0.0, 1.0]
    assert table["copy rate"].notna().all()  # every demo run scored with the copy rate
    assert at.download_button[0].label == "Download CSV"
    assert not at.warning  # every demo image run was scored

    scores, pr, coverage = charts(at)
    assert [a["text"] for a in scores["layout"]["annotations"]][:2] == [
        "Fréchet distance (lower is better)", "precision (higher is better)"]
    assert "real data (floor)" in {trace["name"] for trace in pr["data"]}
    assert {"real data (floor)", "gan"} <= {trace["name"] for trace in coverage["data"]}
    assert coverage["layout"]["xaxis"]["title"]["text"] == "predicted class"
    from genzoo.registry.parzen import NOTE

    assert NOTE not in texts(at.caption)  # no Parzen estimate in the demo: no warning


def test_quality_page_keeps_a_parzen_estimate_apart_from_bits_per_dim(app, demo_home, tmp_path,
                                                                     monkeypatch):
    from click.testing import CliRunner

    from genzoo.registry.cli import cli
    from genzoo.registry.parzen import NOTE

    home = tmp_path / "parzen-home"
    shutil.copytree(demo_home, home)  # the demo's runs, scores and reference classifier
    monkeypatch.setenv("GENZOO_HOME", str(home))
    gan = demo_runs(home)["gan"].run_id
    result = CliRunner().invoke(cli, ["eval", gan, "--parzen", "200", "--json"])
    assert result.exit_code == 0, result.output
    estimate = RunStore(home).get(gan).metrics["parzen_bits_per_dim_estimate"]

    at = app("quality")
    assert_clean(at)
    table = at.dataframe[0].value.set_index("model")
    # its own column: the GAN still has no bits/dim, and no likelihood kind
    assert table.loc["gan", "Parzen estimate (bits/dim)"] == pytest.approx(estimate)
    assert pd.isna(table.loc["gan", "bits/dim"]) and table.loc["gan", "likelihood kind"] == "none"
    assert table.loc["pixelcnn", "bits/dim"] == pytest.approx(
        demo_runs(home)["pixelcnn"].metrics["test_bits_per_dim"])
    assert pd.isna(table.loc["pixelcnn", "Parzen estimate (bits/dim)"])
    assert NOTE in texts(at.caption)  # what the number is worth, shown with it


def test_a_csv_download_is_written_when_clicked_and_holds_the_table(monkeypatch):
    import pandas as pd

    from genzoo.dashboard import widgets

    buttons = []
    monkeypatch.setattr(widgets.st, "download_button",
                        lambda label, payload, **options: buttons.append((label, payload, options)))
    frame = pd.DataFrame({"model": ["pixelcnn", "vae"], "bits/dim": [1.9, 2.1]})
    widgets.csv_download(frame, "t.csv", key="k")
    (label, payload, options), = buttons
    assert callable(payload) and options["file_name"] == "t.csv" and options["key"] == "k"
    assert payload() == b"model,bits/dim\npixelcnn,1.9\nvae,2.1\n"

"""The Speed and Plugins pages, driven through AppTest, and the data functions behind them.

The Speed page reads two things from the runs store: the numbers every run records when it
finishes training, and the results `genzoo bench` saves there; a tiny store with two image runs
and one tiny benchmark stands in for both. The Plugins page reads the registry (a real broken
entry-point plugin is installed for one test) and the conformance results its button caches.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from genzoo.registry.store import RunStore

from page_helpers import assert_clean, charts, texts
from plugin_packages import make_distribution

IMAGE_RUNS = ("independent", "pixelcnn")  # a closed-form fit and a sequential sampler


def frame_with(at, column: str) -> pd.DataFrame:
    """The first table on the page that has ``column``."""
    found = [d.value for d in at.dataframe if column in d.value.columns]
    assert found, f"no table with a {column!r} column"
    return found[0]


def download_labels(at) -> list[str]:
    """The labels of the page's download buttons, in page order."""
    return [button.label for button in at.get("download_button")]


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def built_ins():
    """The registry of the built-in plugins only."""
    from genzoo.registry.plugins import get_registry

    return get_registry(environ={"GENZOO_PLUGINS": ""})


@pytest.fixture(scope="module")
def runs_home(tmp_path_factory, built_ins):
    """A store with a run of each of two image models on digits (seconds to train)."""
    from genzoo.registry.training import LoopSettings, start_run

    home = tmp_path_factory.mktemp("speed-runs") / "home"
    store = RunStore(home)
    for model, steps in zip(IMAGE_RUNS, (0, 2)):
        record = start_run(built_ins, store, model, "digits", steps=steps, device="cpu",
                           settings=LoopSettings(progress=False))
        assert record.status == "completed"
    return home


@pytest.fixture(scope="module")
def bench_home(tmp_path_factory, runs_home, built_ins):
    """The runs store above plus one tiny `genzoo bench` result saved in it."""
    from genzoo.registry.bench import run_benchmarks

    home = tmp_path_factory.mktemp("speed-bench") / "home"
    shutil.copytree(runs_home, home)
    result = run_benchmarks(built_ins, list(IMAGE_RUNS), steps=2, device="cpu", sizes=(4, 8),
                            home=home, log=lambda message: None)
    assert (home / "bench").is_dir() and result["saved"].startswith(str(home / "bench"))
    return home


@pytest.fixture
def store_at(monkeypatch):
    """Point the dashboard (``GENZOO_HOME``) at a copy of a module store, so a test may write."""
    def point(home, tmp):
        """Copy the store at ``home`` under ``tmp`` and point the dashboard at the copy."""
        copy = tmp / "home"
        shutil.copytree(home, copy)
        monkeypatch.setenv("GENZOO_HOME", str(copy))
        return copy
    return point


def newest_runs(home) -> dict:
    """The newest completed run of each model in the store at ``home``."""
    return {r.model: r for r in reversed(RunStore(home).list_runs(status="completed"))}


# -- Speed page ---------------------------------------------------------------------------------


def test_speed_page_without_bench_shows_the_runs_numbers_and_names_genzoo_bench(
        app, runs_home, store_at, tmp_path):
    home = store_at(runs_home, tmp_path)
    at = app("speed")
    assert_clean(at)
    table = frame_with(at, "run id").set_index("model")
    runs = newest_runs(home)
    assert list(table.index) == list(IMAGE_RUNS)  # every image model with a run, registry order
    for model, record in runs.items():
        row, metrics = table.loc[model], record.metrics
        assert row["run id"] == record.run_id and row["device"] == record.device == "cpu"
        assert row["sample ms/image (b=1)"] == pytest.approx(metrics["sample_ms_per_image_b1"])
        assert row["sample ms/image (b=64)"] == pytest.approx(metrics["sample_ms_per_image_b64"])
        assert row["parameters"] == metrics["parameters"]
    assert table.loc["pixelcnn", "train examples/s"] == pytest.approx(
        runs["pixelcnn"].metrics["train_examples_per_s"])
    assert pd.isna(table.loc["independent", "train examples/s"])  # closed form: no steps
    assert "independent: fitted in closed form" in texts(at.caption)
    # the parallel baseline is the fastest sampler, PixelCNN (a pass per pixel) many times slower
    assert table.loc["independent", "b=1 × fastest"] == pytest.approx(1.0)
    assert table.loc["pixelcnn", "b=1 × fastest"] == pytest.approx(
        runs["pixelcnn"].metrics["sample_ms_per_image_b1"]
        / runs["independent"].metrics["sample_ms_per_image_b1"])
    assert table.loc["pixelcnn", "b=1 × fastest"] > 10
    # no benchmark yet: the page says what `genzoo bench` adds and shows the command
    assert "No `genzoo bench` results" in texts(at.info) and str(home) in texts(at.info)
    assert "genzoo bench" in [code.value for code in at.code]
    assert download_labels(at) == ["Download CSV"]
    (bars,) = charts(at)
    assert bars["layout"]["yaxis"]["type"] == "log"
    assert bars["layout"]["yaxis"]["title"]["text"] == "sampling time (ms/image, log scale)"
    assert {trace["name"] for trace in bars["data"]} == {"batch 1", "batch 64"}
    assert list(bars["data"][0]["x"]) == list(IMAGE_RUNS)


def test_speed_page_shows_the_newest_bench_from_the_store(app, bench_home, store_at, tmp_path):
    from genzoo.registry.bench import load_results, save_result

    home = store_at(bench_home, tmp_path)
    (newest,) = load_results(home)
    older = json.loads(json.dumps(newest))
    older["environment"]["time"] = "2000-01-01 00:00:00"
    for row in older["rows"]:
        row["sample_ms_per_image_b1"] = 1234.5
    older_path = save_result(older, home)
    older_path.rename(older_path.with_name("20000101-000000-000000.json"))  # an earlier name

    at = app("speed")
    assert_clean(at)
    assert at.selectbox[0].label == "Benchmark (newest first)"
    assert at.selectbox[0].options[0].startswith(newest["environment"]["time"])
    assert len(at.selectbox[0].options) == 2
    table = frame_with(at, "growth k").set_index("model")
    assert list(table.index) == list(IMAGE_RUNS)
    for row in newest["rows"]:
        shown = table.loc[row["model"]]
        assert shown["sample ms/image (b=1)"] == pytest.approx(row["sample_ms_per_image_b1"])
        assert shown["sample ms/image (b=64)"] == pytest.approx(row["sample_ms_per_image_b64"])
        assert shown["train examples/s"] == pytest.approx(row["train_examples_per_s"])
        assert shown["parameters"] == row["parameters"]
        assert shown["device"] == newest["environment"]["device"]
        assert pd.isna(shown["peak memory (MiB)"])  # measured on CUDA only
    assert "Peak memory: n/a on CPU" in texts(at.caption)
    assert newest["environment"]["device"] in texts(at.caption)
    # sampling time against image size: a line per model over the sizes timed, log-log
    sizes = frame_with(at, "image size")
    assert sorted(set(sizes["image size"])) == ["4x4", "8x8"]
    lines = next(c for c in charts(at) if c["layout"]["xaxis"].get("type") == "log")
    assert [t["name"].split(" (k=")[0] for t in lines["data"]] == list(IMAGE_RUNS)
    assert lines["layout"]["yaxis"]["title"]["text"] == "sampling time (ms/image, log scale)"
    assert lines["layout"]["xaxis"]["title"]["text"].startswith("image size (pixels")
    bars = [c for c in charts(at) if c["layout"]["xaxis"].get("type") != "log"]
    assert {c["layout"]["yaxis"]["title"]["text"] for c in bars} == {
        "sampling time (ms/image, log scale)", "training throughput (examples/s, log scale)"}
    assert all(c["layout"]["yaxis"]["type"] == "log" for c in bars)
    assert len(download_labels(at)) == 3  # the bench, the size sweep, the runs
    assert frame_with(at, "run id")["model"].tolist() == list(IMAGE_RUNS)  # runs still shown

    at.selectbox[0].set_value(1).run()  # the older benchmark
    assert_clean(at)
    assert set(frame_with(at, "growth k")["sample ms/image (b=1)"]) == {1234.5}


def test_speed_page_on_an_empty_store_says_what_to_run(app, empty_store):
    at = app("speed")
    assert_clean(at)
    info = texts(at.info)
    assert "`genzoo demo`" in info and "`genzoo bench`" in info and str(empty_store) in info
    assert {"genzoo demo", "genzoo bench"} <= {code.value for code in at.code}
    assert not at.dataframe and not charts(at)


def test_speed_page_reports_an_unreadable_bench_file_and_goes_on(app, runs_home, store_at,
                                                                 tmp_path):
    home = store_at(runs_home, tmp_path)
    (home / "bench").mkdir()
    (home / "bench" / "20990101-000000-000000.json").write_text("{ half a file")
    at = app("speed")
    assert not at.exception
    assert "20990101-000000-000000.json" in texts(at.warning)
    assert frame_with(at, "run id")["model"].tolist() == list(IMAGE_RUNS)


# -- Speed data ---------------------------------------------------------------------------------


def test_times_fastest_for_times_and_throughputs():
    from genzoo.dashboard.speed_data import times_fastest

    times = times_fastest(pd.Series([2.0, 1.0, None, 8.0]))
    assert times.tolist()[:2] == [2.0, 1.0] and pd.isna(times[2]) and times[3] == 8.0
    rates = times_fastest(pd.Series([100.0, 400.0]), higher_is_better=True)
    assert rates.tolist() == [4.0, 1.0]
    assert times_fastest(pd.Series([None, None])).isna().all()


BENCH = {"environment": {"device": "NVIDIA H100", "device_type": "cuda", "time": "t"},
         "dataset": "digits", "steps": 5, "file": "x.json",
         "rows": [{"model": "slow", "family": "f", "sampling": "sequential", "parameters": 10,
                   "train_examples_per_s": 50.0, "sample_ms_per_image_b1": 30.0,
                   "sample_ms_per_image_b64": 3.0, "peak_memory_mib": 12.5},
                  {"model": "fast", "family": "f", "sampling": "parallel", "parameters": 20,
                   "train_examples_per_s": 500.0, "sample_ms_per_image_b1": 1.5,
                   "sample_ms_per_image_b64": 0.5, "peak_memory_mib": 3.0}],
         "scaling": [{"model": "slow", "size": 4, "pixels": 16, "batch": 1,
                      "sample_ms_per_image": 10.0},
                     {"model": "slow", "size": 8, "pixels": 64, "batch": 1,
                      "sample_ms_per_image": 40.0},
                     {"model": "slow", "size": 16, "pixels": 256, "batch": 1,
                      "note": "not timed: over budget"},
                     {"model": "fast", "size": 4, "pixels": 16, "batch": 1,
                      "error": "ValueError: too small"}],
         "growth": [{"model": "slow", "batch": 1, "exponent": 1.0}]}


def test_bench_frame_ratios_memory_growth_and_device():
    from genzoo.dashboard.speed_data import bench_frame, bench_on_cpu

    table = bench_frame(BENCH).set_index("model")
    assert table.loc["slow", "b=1 × fastest"] == pytest.approx(20.0)
    assert table.loc["slow", "b=64 × fastest"] == pytest.approx(6.0)
    assert table.loc["slow", "training × fastest"] == pytest.approx(10.0)
    assert table.loc["fast", "training × fastest"] == pytest.approx(1.0)
    assert table.loc["slow", "peak memory (MiB)"] == 12.5
    assert table.loc["slow", "growth k"] == 1.0 and pd.isna(table.loc["fast", "growth k"])
    assert set(table["device"]) == {"NVIDIA H100"}
    assert not bench_on_cpu(BENCH)
    assert bench_on_cpu({"environment": {"device": "cpu (2 threads)"}})  # older results


def test_scaling_frame_and_figure_keep_the_reasons_and_the_exponent():
    from genzoo.dashboard.speed_data import scaling_figure, scaling_frame

    frame = scaling_frame(BENCH)
    notes = dict(zip(frame["model"] + " " + frame["image size"], frame["note"]))
    assert notes["slow 16x16"] == "not timed: over budget"
    assert notes["fast 4x4"] == "ValueError: too small" and notes["slow 8x8"] == ""
    figure = scaling_figure(frame, BENCH["growth"])
    (line,) = figure.data  # "fast" has no time at any size: no line
    assert line.name == "slow (k=1.00)" and list(line.x) == [16, 64]
    assert figure.layout.xaxis.type == "log" and figure.layout.yaxis.type == "log"
    assert "ms/image" in figure.layout.yaxis.title.text


def test_runs_frame_takes_the_newest_completed_run_of_registered_models(built_ins):
    from genzoo.dashboard.speed_data import runs_frame, speed_datasets
    from genzoo.registry.store import RunRecord

    def record(run_id, model, status="completed", dataset="digits", **metrics):
        """A run record with only what the table reads."""
        return RunRecord(run_id=run_id, model=model, dataset=dataset, config={}, seed=0,
                         device="cuda:0", status=status, metrics=metrics)

    records = [record("p2", "pixelcnn", sample_ms_per_image_b1=40.0),
               record("p1", "pixelcnn", sample_ms_per_image_b1=99.0),
               record("v1", "vae", status="failed", sample_ms_per_image_b1=1.0),
               record("g1", "gone-model", sample_ms_per_image_b1=0.1),
               record("i1", "independent", sample_ms_per_image_b1=0.5),
               record("a1", "ar", dataset="sunspots")]  # no speed numbers at all
    table = runs_frame(built_ins, records, "digits").set_index("model")
    assert list(table.index) == ["independent", "pixelcnn"]
    assert table.loc["pixelcnn", "run id"] == "p2"  # newest first
    assert table.loc["pixelcnn", "b=1 × fastest"] == pytest.approx(80.0)
    assert set(table["device"]) == {"cuda:0"}
    assert speed_datasets(built_ins, records) == ["digits"]


def test_bench_results_in_the_store_newest_first(tmp_path):
    from genzoo.registry.bench import load_results, result_files, save_result

    first = save_result({"rows": [], "n": 1}, tmp_path)
    second = save_result({"rows": [], "n": 2, "saved": "not stored"}, tmp_path)
    (tmp_path / "bench" / "00000000-broken.json").write_text("[1, 2]")
    assert [p.name for p in result_files(tmp_path)][:2] == [second.name, first.name]
    results = load_results(tmp_path)
    assert [r.get("n") for r in results] == [2, 1, None]
    assert "saved" not in results[0] and results[0]["file"] == second.name
    assert "not a genzoo bench result" in results[2]["error"]
    assert not list((tmp_path / "bench").glob(".*tmp"))  # nothing half-written left behind


# -- Plugins page -------------------------------------------------------------------------------


COPYCAT = """
    from genzoo.registry import hookimpl, ModelSpec
    from genzoo.plugins.independent import IndependentPixels, IndependentConfig

    class Copy(IndependentPixels):
        '''The independent model under another name.'''

    @hookimpl
    def register_models(register):
        register(ModelSpec(name="speedcat", model_class=Copy, config_class=IndependentConfig,
                           family="test", density="exact", sampling="parallel", data="image"))
"""


def test_plugins_page_lists_every_plugin_its_hooks_and_what_it_registered(app, empty_store,
                                                                          built_ins):
    from genzoo.registry.plugins import builtin_plugins

    at = app("plugins")
    assert_clean(at)
    table = frame_with(at, "hooks").set_index("plugin")
    assert set(builtin_plugins()) <= set(table.index)
    for name, info in built_ins.plugins.items():
        row = table.loc[name]
        assert row["source"] == "built-in" and row["distribution"] == "genzoo"
        assert row["version"] == info.version and row["status"] == "loaded"
        assert row["models"] == ", ".join(info.models)
        assert row["datasets"] == ", ".join(info.datasets)
        assert row["hooks"] == ", ".join(info.hooks) and row["hooks"]
    registered = frame_with(at, "kind")
    models = registered[registered["kind"] == "model"].set_index("name")
    assert set(models.index) == set(built_ins.models)
    for name in built_ins.models:
        assert models.loc[name, "plugin"] == built_ins.plugin_of("models", name)
    assert set(registered.loc[registered["kind"] == "dataset", "name"]) == set(
        built_ins.datasets)
    checks = frame_with(at, "what it tests")
    assert "normalized" in set(checks["check"])
    assert "have not been run" in texts(at.info)  # nothing runs on page load
    assert not (empty_store / "conformance.json").exists()
    assert download_labels(at) == ["Download CSV", "Download CSV"]


def test_plugins_page_shows_a_broken_entry_point_and_the_rest(app, empty_store, tmp_path,
                                                              monkeypatch):
    make_distribution(tmp_path, "genzoo-speedtest",
                      {"speedtest-good": "speedtest_good", "speedtest-broken": "speedtest_broken"},
                      {"speedtest_good": COPYCAT,
                       "speedtest_broken": "raise ImportError('needs tensorflow, not here')\n"},
                      version="0.3")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("GENZOO_PLUGINS", "speedtest-good,speedtest-broken")  # its own registry
    at = app("plugins")
    assert not at.exception
    warning = texts(at.warning)
    assert "speedtest-broken" in warning and "needs tensorflow, not here" in warning
    table = frame_with(at, "hooks").set_index("plugin")
    broken, good = table.loc["speedtest-broken"], table.loc["speedtest-good"]
    assert broken["status"] == "broken" and "needs tensorflow, not here" in broken["error"]
    assert broken["source"] == "entry point" and broken["distribution"] == "genzoo-speedtest"
    assert good["status"] == "loaded" and good["models"] == "speedcat"
    assert good["version"] == "0.3" and good["hooks"] == "register_models"
    assert list(table.index[:2]) != ["speedtest-broken", "speedtest-good"]  # built-ins first
    assert "pixelcnn" in set(frame_with(at, "kind")["name"])  # the others still render


@pytest.fixture
def one_model_registry(monkeypatch):
    """The dashboard's registry limited to the built-in independent-pixels plugin."""
    from genzoo.dashboard import data
    from genzoo.registry.conformance import genzoo_version
    from genzoo.registry.plugins import GenzooPluginManager

    pm = GenzooPluginManager()
    pm.load_plugin("genzoo.independent", "genzoo.plugins.independent", builtin=True,
                   version=genzoo_version())
    registry = pm.registry()
    assert list(registry.models) == ["independent"]
    monkeypatch.setattr(data, "registry", lambda: registry)
    return registry


def test_conformance_button_runs_the_checks_caches_them_and_marks_them_stale(
        app, empty_store, one_model_registry, monkeypatch):
    from genzoo.dashboard import plugins_data
    from genzoo.registry.conformance import CHECKS, run_conformance

    # the page's registry is this test's: run the checks on it here (the checks process of a
    # real click is tested below)
    monkeypatch.setattr(plugins_data, "start_conformance", lambda: bool(run_conformance(
        one_model_registry, home=empty_store)) and "started the checks")
    at = app("plugins")
    assert_clean(at)
    assert "have not been run" in texts(at.info)
    at.button[0].click().run()
    assert_clean(at)
    cached = json.loads((empty_store / "conformance.json").read_text())
    assert list(cached["models"]) == ["independent"]
    assert cached["plugins"] == {"genzoo.independent": one_model_registry.plugins[
        "genzoo.independent"].version}
    results = cached["models"]["independent"]["results"]
    assert [r["check"] for r in results] == [c.name for c in CHECKS]
    assert all(r["passed"] for r in results)
    matrix = frame_with(at, "stale").set_index("model")
    assert list(matrix.index) == ["independent"]
    assert [matrix.loc["independent", c.name] for c in CHECKS] == ["✓ passed"] * len(CHECKS)
    assert "Every cached check that applies passed (7 checks on 1 models)" in texts(at.success)
    assert "Download CSV" in download_labels(at)[-1]

    # a later visit reads the cache (no button press); an upgrade of the plugin makes it stale
    cached["models"]["independent"]["plugin_version"] = "0.0.1"
    (empty_store / "conformance.json").write_text(json.dumps(cached))
    at = app("plugins")
    assert not at.exception
    assert "independent: checked with genzoo.independent 0.0.1" in texts(at.warning)
    assert frame_with(at, "stale").loc[0, "stale"].startswith("checked with")


def test_a_failed_check_shows_its_message(app, empty_store, one_model_registry):
    from genzoo.registry.conformance import genzoo_version

    entry = {"plugin": "genzoo.independent", "genzoo_version": genzoo_version(),
             "plugin_version": one_model_registry.plugins["genzoo.independent"].version,
             "time": "t", "results": [
                 {"check": "loss", "passed": True, "message": "", "seconds": 0.1},
                 {"check": "sample", "passed": False, "seconds": 0.1,
                  "message": "ContractViolation: sample(3) returned 2 items"}]}
    (empty_store).mkdir(parents=True, exist_ok=True)
    (empty_store / "conformance.json").write_text(json.dumps({"models": {"independent": entry}}))
    at = app("plugins")
    assert not at.exception
    assert "sample(3) returned 2 items" in texts(at.error) and "independent" in texts(at.error)
    matrix = frame_with(at, "stale").set_index("model")
    assert matrix.loc["independent", "sample"] == "✗ failed"
    assert not at.success


# -- conformance cache --------------------------------------------------------------------------


def test_run_conformance_merges_with_earlier_results_and_tracks_versions(tmp_path, built_ins):
    from genzoo.registry.conformance import (
        load_conformance,
        run_conformance,
        stale_results,
        unchecked_models,
    )

    assert load_conformance(tmp_path) is None
    seen = []
    run_conformance(built_ins, ["independent"], home=tmp_path,
                    progress=lambda done, total, model: seen.append((done, total, model)))
    assert seen == [(0, 1, "independent"), (1, 1, "")]
    run_conformance(built_ins, ["gan"], home=tmp_path)
    document = load_conformance(tmp_path)
    assert set(document["models"]) == {"gan", "independent"}  # the first run's results kept
    assert stale_results(document, built_ins) == {}
    assert "pixelcnn" in unchecked_models(document, built_ins)

    document["models"]["gan"]["genzoo_version"] = "0.0.0"
    document["models"]["gone"] = {"plugin": "genzoo.gone", "results": []}
    stale = stale_results(document, built_ins)
    assert stale["gan"].startswith("checked with genzoo 0.0.0")
    assert stale["gone"] == "no loaded plugin registers this model now"
    assert set(stale) == {"gan", "gone"}

    (tmp_path / "conformance.json").write_text("{")
    assert "cannot be read" in load_conformance(tmp_path)["error"]


def test_conformance_frame_and_matrix_from_a_document(built_ins):
    from genzoo.dashboard.plugins_data import conformance_frame, conformance_matrix, failures

    document = {"models": {"gan": {"plugin": "genzoo.gan", "time": "t", "results": [
        {"check": "loss", "passed": True, "message": ""},
        {"check": "sample", "passed": False, "message": "ContractViolation: bad"}]}}}
    frame = conformance_frame(document, built_ins)
    assert frame["result"].tolist() == ["✓ passed", "✗ failed"]
    assert frame["stale"].iloc[0].startswith("checked with genzoo.gan None")
    matrix = conformance_matrix(frame)
    assert matrix.columns.tolist() == ["model", "plugin", "loss", "sample", "stale"]
    assert failures(frame).to_dict("records") == [
        {"model": "gan", "check": "sample", "message": "ContractViolation: bad"}]
    assert conformance_matrix(conformance_frame(None, built_ins)).empty


def test_growth_exponent_is_the_log_log_slope():
    from genzoo.registry.bench import growth, growth_exponent

    assert growth_exponent([16, 64, 256], [1.0, 4.0, 16.0]) == pytest.approx(1.0)
    assert growth_exponent([64], [1.0]) is None and growth_exponent([64, 64], [1.0, 2.0]) is None
    rows = [{"model": "m", "pixels": p, "batch": 1, "sample_ms_per_image": 2.0 * p ** 2}
            for p in (4, 16)] + [{"model": "m", "pixels": 64, "batch": 1, "error": "x"}]
    (only,) = growth(rows)
    assert only["exponent"] == pytest.approx(2.0) and np.isfinite(only["exponent"])


def test_speed_page_shows_precision_variants_and_the_work_per_step(app, runs_home, store_at,
                                                                   tmp_path, built_ins):
    from genzoo.registry.bench import run_benchmarks

    home = store_at(runs_home, tmp_path)
    result = run_benchmarks(built_ins, ["independent", "vae"], steps=2, device="cpu", sizes=(),
                            home=home, log=lambda message: None, precisions=("fp32", "bf16"))
    at = app("speed")
    assert_clean(at)
    variants = frame_with(at, "speed-up")
    assert list(zip(variants["model"], variants["precision"])) == [
        ("independent", "fp32"), ("independent", "bf16"), ("vae", "fp32"), ("vae", "bf16")]
    vae = {v["precision"]: v for v in result["rows"][1]["variants"]}
    shown = variants.set_index(["model", "precision"]).loc["vae"]
    assert shown.loc["fp32", "speed-up"] == pytest.approx(1.0)
    assert shown.loc["bf16", "speed-up"] == pytest.approx(vae["bf16"]["train_speedup"])
    assert shown.loc["bf16", "train step ms"] == pytest.approx(vae["bf16"]["train_step_ms"])
    (figure,) = [c for c in charts(at)
                 if c["layout"]["title"]["text"].startswith("Training speed-up")]
    assert [t["name"] for t in figure["data"]] == ["fp32, eager", "bf16, eager"]
    assert figure["layout"]["yaxis"]["title"]["text"] == "examples/s ÷ first variant (×)"
    work = frame_with(at, "GFLOP/step").set_index("model")
    assert list(work.index) == ["vae"]  # the closed-form baseline takes no steps to count
    assert work.loc["vae", "GFLOP/step"] == pytest.approx(
        result["rows"][1]["train_step_flops"] / 1e9)


def test_the_checks_run_in_a_process_of_their_own_one_at_a_time(app, empty_store, monkeypatch):
    """A click starts the checks outside the server (the server's own copy of them is never
    called), a second click while they run starts nothing, and the page shows the results."""
    import time

    from genzoo.dashboard import plugins_data
    from genzoo.registry import conformance

    monkeypatch.setenv("GENZOO_PLUGINS", "")  # built-ins only, in the checks process too

    def not_here(*args, **kwargs):
        raise AssertionError("the checks ran inside the dashboard's process")

    monkeypatch.setattr(conformance, "run_conformance", not_here)
    at = app("plugins")
    (button,) = [b for b in at.button if b.label == "Run conformance checks"]
    button.click().run()
    assert not at.exception, at.exception
    assert "started the checks" in texts(at.info)
    runner = plugins_data.checks_running()
    assert runner is not None
    assert plugins_data.start_conformance() == "the checks are already running for this runs store"
    deadline = time.time() + 240
    while plugins_data.checks_running() is not None and time.time() < deadline:
        time.sleep(0.5)
    assert plugins_data.checks_running() is None
    assert plugins_data.checks_outcome() is None  # it ended well
    at.run()
    matrix = frame_with(at, "stale").set_index("model")
    assert matrix.loc["pixelcnn", "sample"] == "✓ passed"
    monkeypatch.setenv("GENZOO_READ_ONLY", "1")
    at.run()
    assert "Running the checks is off" in texts(at.info)
    assert not [b for b in at.button if b.label == "Run conformance checks"]

"""The genzoo CLI: the JSON fields later tools rely on, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from cli_helpers import last_json, run

TINY = ["--set", "hidden=8", "--set", "layers=1"]


@pytest.fixture(autouse=True)
def builtins_only(monkeypatch):
    monkeypatch.setenv("GENZOO_PLUGINS", "")


def test_plugins_models_datasets_json():
    plugins = json.loads(run("plugins", "--json").stdout)
    assert {"name", "version", "hooks", "models", "datasets", "error"} <= set(plugins[0])
    models = {m["name"]: m for m in json.loads(run("models", "--json").stdout)}
    assert models["pixelcnn"]["density"] == "exact"
    assert models["pixelcnn"]["sampling"] == "sequential" and models["pixelcnn"]["data"] == "image"
    assert models["ar"]["data"] == "series" and models["pixelcnn"]["plugin"] == "genzoo.pixelcnn"
    assert {"name", "family", "density", "sampling", "data", "plugin", "paper", "pros",
            "cons"} <= set(models["pixelcnn"])
    datasets = {d["name"]: d for d in json.loads(run("datasets", "--json").stdout)}
    assert datasets["digits"]["shape"] == [1, 8, 8] and datasets["digits"]["levels"] == 17
    digits = datasets["digits"]
    assert digits["n_train"] + digits["n_val"] + digits["n_test"] == 1797
    assert (digits["n_val"], digits["n_test"]) == (144, 360)  # 10% of train; test as it was
    assert datasets["sunspots"]["kind"] == "series" and datasets["nile"]["n_train"] == 70
    assert all(d["n_val"] for d in datasets.values()), "every dataset has a validation split"


def test_train_eval_sample_runs_end_to_end(tmp_path):
    record = last_json(run("train", "pixelcnn", "--dataset", "digits", "--steps", 6, *TINY,
                           "--json", "-q"))
    assert {"run_id", "model", "dataset", "status", "config", "metrics"} <= set(record)
    assert record["status"] == "completed" and record["config"]["hidden"] == 8
    run_id = record["run_id"]
    evaluation = json.loads(run("eval", run_id, "--json").stdout)
    assert evaluation["bound"] == "exact" and evaluation["split"] == "test"
    assert evaluation["bits_per_dim"] == pytest.approx(record["metrics"]["test_bits_per_dim"])
    assert {"run_id", "model", "dataset", "model_info"} <= set(evaluation)
    png, npy = tmp_path / "s.png", tmp_path / "s.npy"
    run("sample", run_id, "-n", 4, "-o", png, "--seed", 1)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    run("sample", run_id, "-n", 4, "-o", npy, "--seed", 1)
    images = np.load(npy)
    assert images.shape == (4, 1, 8, 8) and images.min() >= 0 and images.max() < 17
    listed = json.loads(run("runs", "--json").stdout)
    assert [r["run_id"] for r in listed] == [run_id]


def test_series_train_eval_and_csv_samples(tmp_path):
    record = last_json(run("train", "ar", "--dataset", "sunspots", "--set", "p=3", "--json"))
    evaluation = json.loads(run("eval", record["run_id"], "--json").stdout)
    assert evaluation["nats_per_obs"] > 0 and len(evaluation["model_info"]["coefs"]) == 3
    out = tmp_path / "paths.csv"
    run("sample", record["run_id"], "-n", 3, "-o", out)
    header, *rows = out.read_text().splitlines()
    assert header == "sample_0,sample_1,sample_2" and len(rows) == 20


def test_csv_dataset_with_column(tmp_path):
    csv = tmp_path / "temps.csv"
    values = np.sin(np.arange(80) / 3.0) * 10 + np.arange(80) * 0.1
    csv.write_text("day,label,temp\n" + "".join(f"{i},x,{v}\n" for i, v in enumerate(values)))
    record = last_json(run("train", "ar", "--dataset", csv, "--column", "temp", "--json"))
    assert record["status"] == "completed" and record["dataset"] == str(csv.resolve())
    run("eval", record["run_id"])  # the run reloads its CSV from the stored absolute path


BAD_INPUTS = [
    (["train", "pixelcnm", "--dataset", "digits"], "unknown model 'pixelcnm'; known models:"),
    (["train", "pixelcnn", "--dataset", "digitz"], "unknown dataset 'digitz'; known datasets:"),
    (["train", "pixelcnn", "--dataset", "digits", "--set", "colour=red"],
     "unknown config key 'colour'"),
    (["train", "pixelcnn", "--dataset", "digits", "--set", "hidden=many"],
     "--set hidden='many': expected int"),
    (["train", "pixelcnn", "--dataset", "digits", "--set", "hidden"], "expects key=value"),
    (["train", "pixelcnn", "--dataset", "digits", "--set", "lr=-1"], "must be positive"),
    (["train", "pixelcnn", "--dataset", "digits", "--steps", "3", "--seconds", "2"],
     "not both"),
    (["train", "ar", "--dataset", "digits"], "works on series data"),
    (["train", "ar", "--dataset", "missing.csv"], "CSV file not found: missing.csv"),
    (["eval", "no-such-run"], "no run with id 'no-such-run'"),
    (["sample", "no-such-run", "-o", "x.png"], "no run with id 'no-such-run'"),
]


@pytest.mark.parametrize("args,message", BAD_INPUTS, ids=lambda v: " ".join(v)
                         if isinstance(v, list) else None)
def test_bad_input_is_one_line_and_exit_code_2(args, message):
    result = run(*args, ok=False)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert json.loads(run("runs", "--json").stdout) == []  # nothing written half-way


@pytest.mark.parametrize("content,message", [
    ("", "is empty"),
    ("a,b\n", "has a header but no rows"),
    ("name,city\nann,paris\nbob,rome\n", "has no numeric column"),
    ("x\n1\n2\n\n3\nnan\n5\n", "missing or non-numeric value"),
    ("x\n1\n2\n3\n4\n", "too short for a model of order p=9"),
])
def test_bad_csv_files(tmp_path, content, message):
    csv = tmp_path / "bad.csv"
    csv.write_text(content)
    result = run("train", "ar", "--dataset", csv, "--set", "p=9", ok=False)
    assert result.exit_code == 2 and message in result.stderr, result.stderr


def test_corrupt_checkpoint_is_named(tmp_path):
    record = last_json(run("train", "independent", "--dataset", "digits", "--json"))
    from genzoo.registry.store import RunStore

    for path in RunStore().run_dir(record["run_id"]).glob("*.safetensors"):
        path.write_bytes(b"not a safetensors file")
    result = run("eval", record["run_id"], ok=False)
    assert result.exit_code == 2 and "corrupt" in result.stderr and ".safetensors" in result.stderr


def test_sample_to_an_unsupported_file_type(tmp_path):
    record = last_json(run("train", "independent", "--dataset", "digits", "--json"))
    result = run("sample", record["run_id"], "-o", tmp_path / "x.csv", ok=False)
    assert result.exit_code == 2 and "use a file ending in .png or .npy" in result.stderr
    assert not (tmp_path / "x.csv").exists()


def test_console_script_is_installed():
    out = subprocess.run([sys.executable, "-m", "genzoo.registry.cli", "--help"],
                         capture_output=True, text=True, check=True).stdout
    for command in ("train", "eval", "sample", "runs", "plugins", "models", "datasets",
                    "dashboard", "bench"):
        assert command in out


def test_resume_from_the_cli_continues_to_a_new_total():
    record = last_json(run("train", "pixelcnn", "--dataset", "digits", "--steps", 3, *TINY,
                           "--json", "-q"))
    resumed = last_json(run("resume", record["run_id"], "--steps", 5, "--json", "-q"))
    assert resumed["run_id"] == record["run_id"] and resumed["step"] == 5
    assert resumed["status"] == "completed"

"""`--set` for dataset options, `--parent` for second-stage models, `eval --iwae`: the CLI's
routing and its one-line errors (models with an encoder are tested end to end in
tests/plugins/test_latent_cli.py)."""

from __future__ import annotations

import pytest

from cli_helpers import last_json, run

TINY = ["--set", "hidden=8", "--set", "layers=1"]


@pytest.fixture(autouse=True)
def builtins_only(monkeypatch):
    monkeypatch.setenv("GENZOO_PLUGINS", "")


def test_set_size_picks_the_shapes_canvas_and_the_run_is_stored_under_its_name():
    record = last_json(run("train", "independent", "-d", "shapes", "--set", "size=8",
                           "--steps", 0, "--json", "-q"))
    assert record["dataset"] == "shapes-8" and record["dataset_options"] == {}
    assert record["status"] == "completed"
    # a model field and a dataset option in one command, each where it belongs
    record = last_json(run("train", "pixelcnn", "-d", "shapes", "--set", "size=8", *TINY,
                           "--steps", 1, "--json", "-q"))
    assert record["dataset"] == "shapes-8" and record["config"]["hidden"] == 8


@pytest.mark.parametrize("args, message", [
    (["-d", "shapes", "--set", "size=12"], "shapes size must be one of 8, 16, 28, 32 pixels, "
                                           "got 12"),
    (["-d", "shapes", "--set", "size=big"], "--set size='big': expected int"),
    (["-d", "digits", "--set", "size=8"], "unknown config key 'size' for PixelCNNConfig"),
    (["-d", "digits", "--parent", "abc"], "--parent applies to models trained on another run"),
    ([], "give a dataset to train 'pixelcnn' on"),
])
def test_bad_options_are_one_line_errors(args, message):
    result = run("train", "pixelcnn", *args, "--steps", 1, "-q", ok=False)
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
    assert "No runs" in run("runs").output or "(none)" in run("runs").output


def test_iwae_is_refused_for_an_exact_model_and_for_k_below_one():
    record = last_json(run("train", "pixelcnn", "-d", "digits", *TINY, "--steps", 1,
                           "--json", "-q"))
    result = run("eval", record["run_id"], "--iwae", 10, ok=False)
    assert result.exit_code == 2
    assert "'pixelcnn' has an exact likelihood: there is no bound for --iwae" in result.output
    result = run("eval", record["run_id"], "--iwae", 0, ok=False)
    assert result.exit_code == 2 and "--iwae K needs K >= 1" in result.output

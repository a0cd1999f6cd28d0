"""`--set` for dataset options, `--parent` for second-stage models, `eval --iwae`: the CLI's
routing and its one-line errors (models with an encoder are tested end to end in
tests/registry/test_latent_cli.py)."""

from __future__ import annotations

import sys

import pytest

from genzoo.registry.store import RunStore

from cli_helpers import last_json, run
from plugin_packages import make_distribution

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


VQ_TINY = ["--set", "hidden=8", "--set", "codebook_size=4", "--set", "code_dim=4",
           "--set", "batch_size=16"]


def test_iwae_is_refused_for_the_vqvae_and_its_prior():
    """Both have a bound (the prior's ELBO) but no sampled q(z|x) to importance-weight."""
    vq = last_json(run("train", "vqvae", "-d", "digits", *VQ_TINY, "--steps", 1, "--json",
                       "-q"))["run_id"]
    prior = last_json(run("train", "vqvae-prior", "--parent", vq, "--set", "hidden=8",
                          "--set", "batch_size=16", "--steps", 1, "--json", "-q"))["run_id"]
    for run_id, name in ((vq, "vqvae"), (prior, "vqvae-prior")):
        result = run("eval", run_id, "--iwae", 10, ok=False)
        assert result.exit_code == 2
        message = result.output.strip()
        assert message.startswith(f"error: {name!r} offers no importance-weighted bound")
        assert "\n" not in message and "Traceback" not in result.output
        assert "test_bits_per_dim_iwae_10" not in RunStore().get(run_id).metrics


# -- a plugin's unlabelled image dataset ----------------------------------------------------

UNLABELLED_PLUGIN = """
    import torch
    from genzoo.registry import DatasetSpec, ImageData, hookimpl

    def load():
        generator = torch.Generator().manual_seed(0)
        return ImageData(name="plain-noise", levels=2,
                         train=torch.randint(2, (32, 1, 8, 8), generator=generator),
                         test=torch.randint(2, (8, 1, 8, 8), generator=generator))

    @hookimpl
    def register_datasets(register):
        register(DatasetSpec(name="plain-noise", kind="image", load=load,
                             summary="binary noise without class labels"))
"""


@pytest.fixture
def unlabelled_dataset(tmp_path, monkeypatch):
    """An installed-looking plugin that provides ``plain-noise``, an image dataset with no
    labels, and only it allowed besides the built-ins."""
    make_distribution(tmp_path, "genzoo-plain-noise", {"plain-noise": "plain_noise_plugin"},
                      {"plain_noise_plugin": UNLABELLED_PLUGIN})
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("GENZOO_PLUGINS", "plain-noise")
    yield "plain-noise"
    sys.modules.pop("plain_noise_plugin", None)


def train_conditional(dataset):
    return run("train", "gated-pixelcnn", "-d", dataset, "--set", "conditional=true",
               "--set", "hidden=8", "--steps", 1, "-q", ok=False)


def test_conditional_on_an_unlabelled_dataset_is_a_one_line_error(unlabelled_dataset):
    assert last_json(run("train", "independent", "-d", unlabelled_dataset, "--steps", 0,
                         "--json", "-q"))["status"] == "completed"  # the plugin loads
    result = train_conditional(unlabelled_dataset)
    assert result.exit_code == 2
    message = result.output.strip()
    assert message.startswith("error: dataset 'plain-noise': conditional=true needs a "
                              "labelled dataset")
    assert "has no class labels" in message and "\n" not in message
    assert {r.model for r in RunStore().list_runs()} == {"independent"}  # no run left behind

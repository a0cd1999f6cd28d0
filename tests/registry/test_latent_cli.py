"""The latent-variable models from the command line: the VQ-VAE's missing bound, its prior as
a second run linked to the first (`--parent`), and `eval --iwae K` on a VAE."""

from __future__ import annotations

import json

import pytest

from genzoo.registry.store import RunStore

from cli_helpers import last_json, run

VQ_TINY = ["--set", "hidden=8", "--set", "codebook_size=4", "--set", "code_dim=4"]


@pytest.fixture(autouse=True)
def builtins_only(monkeypatch):
    monkeypatch.setenv("GENZOO_PLUGINS", "")


def test_vqvae_prior_is_a_second_run_on_the_first(tmp_path):
    vq = last_json(run("train", "vqvae", "-d", "digits", *VQ_TINY, "--steps", 3, "--json", "-q"))
    assert vq["metrics"]["bound"] == "none" and "test_bits_per_dim" not in vq["metrics"]
    said = json.loads(run("eval", vq["run_id"], "--json").stdout)
    assert said["bits_per_dim"] is None and "vqvae-prior --parent" in said["note"]

    prior = last_json(run("train", "vqvae-prior", "--parent", vq["run_id"], "--set", "hidden=8",
                          "--steps", 3, "--json", "-q"))
    assert prior["dataset"] == "digits"  # the parent's, without --dataset
    assert prior["config"]["parent_run"] == vq["run_id"]
    assert json.loads(prior["config"]["parent_config"])["codebook_size"] == 4
    assert prior["metrics"]["bound"] == "elbo" and prior["metrics"]["test_bits_per_dim"] > 0
    run("sample", prior["run_id"], "-n", 4, "-o", tmp_path / "prior.png")
    assert (tmp_path / "prior.png").stat().st_size > 0

    # the prior's checkpoint holds its own copy of the VQ-VAE: it reloads without the parent
    RunStore().update(vq["run_id"], status="failed")
    again = json.loads(run("eval", prior["run_id"], "--json").stdout)
    assert again["bits_per_dim"] == pytest.approx(prior["metrics"]["test_bits_per_dim"])


def test_a_prior_needs_a_completed_vqvae_run_on_the_same_data():
    pixelcnn = last_json(run("train", "pixelcnn", "-d", "digits", "--set", "hidden=8",
                             "--set", "layers=1", "--steps", 1, "--json", "-q"))["run_id"]
    vq = last_json(run("train", "vqvae", "-d", "digits", *VQ_TINY, "--steps", 1, "--json",
                       "-q"))["run_id"]
    cases = [
        ([], "'vqvae-prior' learns from a trained 'vqvae' run: give --parent RUN_ID"),
        (["--parent", pixelcnn], f"run {pixelcnn!r} is a 'pixelcnn' run; 'vqvae-prior' needs "
                                 "a 'vqvae' run"),
        (["--parent", "nope"], "nope"),
        (["--parent", vq, "-d", "mnist"], "trains on the same data, not on 'mnist'"),
    ]
    for args, message in cases:
        result = run("train", "vqvae-prior", *args, "--steps", 1, "-q", ok=False)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output and "Traceback" not in result.output
    assert {r.model for r in RunStore().list_runs()} == {"pixelcnn", "vqvae"}  # no prior run


def test_eval_iwae_reports_and_keeps_the_tighter_bound():
    vae = last_json(run("train", "vae", "-d", "digits", "--set", "hidden=16", "--steps", 20,
                        "--json", "-q"))
    said = json.loads(run("eval", vae["run_id"], "--iwae", 20, "--json").stdout)
    assert said["bound"] == "iwae-20" and said["bits_per_dim"] > 0
    stored = RunStore().get(vae["run_id"]).metrics
    assert stored["test_bits_per_dim_iwae_20"] == pytest.approx(said["bits_per_dim"])
    assert stored["bound"] == "elbo"  # the run's own number stays the ELBO
    result = run("eval", vae["run_id"], "--iwae", 0, ok=False)
    assert result.exit_code == 2 and "--iwae K needs K >= 1" in result.output


def test_eval_parzen_is_kept_apart_from_the_likelihood_and_bad_input_is_refused():
    gan = last_json(run("train", "gan", "-d", "digits", "--steps", 3, "--json", "-q"))
    said = run("eval", gan["run_id"], "--parzen", 200)
    assert "implicit model" in said.stdout and "Parzen-window estimate (not a likelihood)" in \
        said.stdout
    metrics = RunStore().get(gan["run_id"]).metrics
    assert "test_bits_per_dim" not in metrics  # never in the likelihood column
    assert 0 < metrics["parzen_bits_per_dim_estimate"] < 10 and metrics["parzen_n_samples"] == 200

    for args, message in ((["--parzen", 0], "n_samples must be an integer of at least 1"),
                          (["--parzen", 5, "--split", "train"], "--parzen scores the test split")):
        refused = run("eval", gan["run_id"], *args, ok=False)
        assert refused.exit_code == 2 and message in refused.output

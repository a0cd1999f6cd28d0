"""``genzoo sample --steps K --eta E`` (a diffusion model's few-step sampler) and
``--temperature T`` (a flow's), and their refusals: one line, exit code 2."""

from __future__ import annotations

import numpy as np
import pytest

from cli_helpers import run, train

# fixed posterior variances: with them, DDIM with eta 1 on all T steps is ancestral sampling
TINY_DDPM = ["--set", "timesteps=12", "--set", "channels=8", "--set", "depth=1", "--set",
             "objective=simple"]
TINY_FLOW = ["--set", "hidden=8", "--set", "couplings=1"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A ddpm, a realnvp and a pixelcnn run on digits, two training steps each."""
    import os

    home = tmp_path_factory.mktemp("sampler-options")
    before = os.environ.get("GENZOO_HOME")
    os.environ["GENZOO_HOME"] = str(home)
    try:
        ids = {"ddpm": train("ddpm", "--dataset", "digits", "--steps", "2", *TINY_DDPM),
               "realnvp": train("realnvp", "--dataset", "digits", "--steps", "2", *TINY_FLOW),
               "pixelcnn": train("pixelcnn", "--dataset", "digits", "--steps", "2", "--set",
                                 "hidden=8", "--set", "layers=1")}
    finally:
        if before is None:
            os.environ.pop("GENZOO_HOME")
        else:
            os.environ["GENZOO_HOME"] = before
    return home, ids


@pytest.fixture
def home(runs, monkeypatch):
    monkeypatch.setenv("GENZOO_HOME", str(runs[0]))
    monkeypatch.setenv("GENZOO_PLUGINS", "")
    return runs[1]


def samples(path) -> np.ndarray:
    return np.load(path)


def test_ddim_steps_sample_and_eta_one_with_all_steps_is_ancestral(home, tmp_path):
    ddpm = home["ddpm"]
    result = run("sample", ddpm, "-n", "6", "--steps", "4", "-o", tmp_path / "k4.npy")
    assert "with 4 DDIM steps (eta 0)" in result.output
    few = samples(tmp_path / "k4.npy")
    assert few.shape == (6, 1, 8, 8) and few.dtype == np.int64
    assert few.min() >= 0 and few.max() < 17
    run("sample", ddpm, "-n", "6", "--steps", "4", "-o", tmp_path / "again.npy")
    assert np.array_equal(few, samples(tmp_path / "again.npy"))  # eta 0: deterministic
    run("sample", ddpm, "-n", "6", "-o", tmp_path / "ancestral.npy")
    run("sample", ddpm, "-n", "6", "--steps", "12", "--eta", "1", "-o", tmp_path / "eta1.npy")
    assert np.array_equal(samples(tmp_path / "ancestral.npy"), samples(tmp_path / "eta1.npy"))


def test_a_flow_samples_at_a_temperature(home, tmp_path):
    flow = home["realnvp"]
    run("sample", flow, "-n", "32", "--temperature", "0.05", "-o", tmp_path / "cold.npy")
    run("sample", flow, "-n", "32", "-o", tmp_path / "warm.npy")
    cold, warm = samples(tmp_path / "cold.npy"), samples(tmp_path / "warm.npy")
    assert cold.shape == warm.shape == (32, 1, 8, 8)
    # near the mode every sample is nearly the same image; at T = 1 they spread out
    assert cold.std(0).mean() < warm.std(0).mean()


@pytest.mark.parametrize("which,args,message", [
    ("ddpm", ["--steps", "0"], "--steps must be a whole number from 1 to 12 (the model's T)"),
    ("ddpm", ["--steps", "13"], "from 1 to 12"),
    ("ddpm", ["--steps", "-3"], "from 1 to 12"),
    ("ddpm", ["--steps", "4", "--eta", "2"], "--eta must be in [0, 1]"),
    ("ddpm", ["--eta", "0.5"], "give --steps K with it"),
    ("ddpm", ["--temperature", "0.5"], "--temperature applies to normalizing flows"),
    ("realnvp", ["--temperature", "0"], "the sampling temperature must be a positive number"),
    ("realnvp", ["--temperature", "nan"], "the sampling temperature must be a positive number"),
    ("realnvp", ["--steps", "5"], "--steps applies to models that sample through a chain"),
    ("pixelcnn", ["--steps", "5"], "(pixelcnn) is not one"),
])
def test_bad_sampler_options_are_one_line_and_exit_2(home, tmp_path, which, args, message):
    result = run("sample", home[which], "-n", "2", *args, "-o", tmp_path / "x.npy", ok=False)
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "x.npy").exists()


@pytest.mark.parametrize("args,message", [
    (["--set", "schedule=quadratic"], "schedule"),
    (["--set", "timesteps=0"], "timesteps"),
])
def test_bad_ddpm_config_is_one_line(args, message):
    result = run("train", "ddpm", "--dataset", "digits", "--steps", "1", *args, ok=False)
    assert result.exit_code == 2 and message in result.stderr, result.stderr


@pytest.mark.parametrize("model", ["ddpm", "realnvp", "glow"])
def test_series_data_is_refused_in_one_line(model):
    result = run("train", model, "--dataset", "sunspots", "--steps", "1", ok=False)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and len(result.stderr.strip().splitlines()) == 1


def test_a_flow_tightens_its_bound_by_importance_sampling_the_noise(home):
    """eval --iwae K takes a flow (its dequantization noise u is what is sampled): the number
    is labelled iwae-K and is no worse than the plain bound on average."""
    import json

    flow = home["realnvp"]
    plain = json.loads(run("eval", flow, "--json").stdout)
    tight = json.loads(run("eval", flow, "--iwae", "16", "--json").stdout)
    assert plain["bound"] == "dequant" and tight["bound"] == "iwae-16"
    assert tight["bits_per_dim"] <= plain["bits_per_dim"] + 1e-3
    result = run("eval", home["pixelcnn"], "--iwae", "4", ok=False)
    assert result.exit_code == 2 and "exact likelihood" in result.stderr

"""``genzoo restore``: pictures, the metrics table, and one-line errors for bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from genzoo.registry.degrade import parse_degradation
from genzoo.registry.plugins import get_registry
from genzoo.registry.runs import load_run
from genzoo.registry.store import RunStore

from cli_helpers import run, train

TINY_VQ = ["--set", "hidden=8", "--set", "code_dim=4"]
TINY_CF = ["--set", "d_model=16", "--set", "layers=1", "--set", "heads=2",
           "--set", "cft_hidden=8"]


@pytest.fixture(autouse=True)
def builtins_only(monkeypatch):
    monkeypatch.setenv("GENZOO_PLUGINS", "")


@pytest.fixture(scope="module")
def module_home(tmp_path_factory):
    return tmp_path_factory.mktemp("restore-home")


@pytest.fixture
def runs(module_home, monkeypatch):
    """A tiny vqvae on digits and a codeformer on it (20 steps each), once for the module."""
    monkeypatch.setenv("GENZOO_HOME", str(module_home))
    monkeypatch.setenv("GENZOO_PLUGINS", "")
    if not hasattr(runs, "ids"):
        vqvae = train("vqvae", "--dataset", "digits", "--steps", 20, *TINY_VQ)
        codeformer = train("codeformer", "--parent", vqvae, "--steps", 20, *TINY_CF)
        runs.ids = {"vqvae": vqvae, "codeformer": codeformer}
    return runs.ids


def digits_test():
    from genzoo.plugins.datasets import load_digits

    return load_digits().test


def test_npy_holds_degraded_restored_and_clean(runs, tmp_path):
    out = tmp_path / "r.npy"
    result = run("restore", runs["codeformer"], "--degrade", "mask:0.5", "--w", "0", "-n", 5,
                 "-o", out, "--seed", 3)
    assert "wrote 5 restorations (mask:0.5, w=0)" in result.stdout
    assert "dB degraded" in result.stdout and "dB nearest-code lookup" in result.stdout
    degraded, restored, clean = torch.from_numpy(np.load(out))
    assert degraded.shape == restored.shape == clean.shape == (5, 1, 8, 8)
    assert torch.equal(clean, digits_test()[:5])
    expected = parse_degradation("mask:0.5").apply(clean, 17, torch.Generator().manual_seed(3))
    assert torch.equal(degraded, expected)  # the seeded degradation, reproducible
    model = load_run(runs["codeformer"], RunStore(), get_registry()).model
    assert torch.equal(restored, model.restore(degraded, 0.0))
    again = tmp_path / "again.npy"
    run("restore", runs["codeformer"], "--degrade", "mask:0.5", "-n", 5, "-o", again,
        "--seed", 4)
    assert not np.array_equal(np.load(again)[0], degraded.numpy())  # another seed, another mask


def test_png_has_three_rows(runs, tmp_path):
    out = tmp_path / "r.png"
    run("restore", runs["codeformer"], "--degrade", "noise:3", "--w", "0.5", "-n", 4, "-o", out)
    picture = np.asarray(Image.open(out))
    scale, pad = 8, 1  # 64 // 8: digits are drawn 8 times larger
    row = 8 * scale + 2 * pad
    assert picture.shape == (3 * row + 2 * 2 * pad, 4 * (8 * scale + pad) + pad)


def test_table_measures_every_degradation_and_keeps_the_gain(runs, tmp_path):
    out = tmp_path / "table.csv"
    result = run("restore", runs["codeformer"], "--table", "--w", "0.5", "-n", 40, "--json",
                 "-o", out)
    document = json.loads(result.stdout)
    rows = document["rows"]
    assert [r["degradation"] for r in rows][:3] == ["none (clean input)", "mask:0.25",
                                                     "mask:0.5"]
    assert len(rows) == 10 and 0.5 < document["reference_accuracy"] <= 1
    assert {"PSNR codeformer w=0 (dB)", "PSNR codeformer w=0.5 (dB)",
            "accuracy nearest-code lookup"} <= set(rows[0])
    assert rows[0]["PSNR degraded input (dB)"] == pytest.approx(100.0)
    assert out.read_text().splitlines()[0].startswith("degradation,PSNR degraded input (dB)")
    metrics = RunStore().get(runs["codeformer"]).metrics
    gain = np.mean([r["PSNR codeformer w=0 (dB)"] - r["PSNR nearest-code lookup (dB)"]
                    for r in rows[1:]])
    assert metrics["restoration_psnr_gain_db"] == pytest.approx(gain)

    text = run("restore", runs["codeformer"], "--table", "--degrade", "down:2", "-n", 20)
    lines = text.stdout.splitlines()
    assert "reference classifier:" in lines[0]
    assert lines[1].split() == ["degradation", "method", "PSNR", "(dB)", "accuracy"]
    assert len(lines) == 2 + 2 * 4  # clean and down:2, four methods each


@pytest.mark.parametrize(("args", "message"), [
    (["--degrade", "blurr:1"], "unknown degradation 'blurr:1'; known: mask:P"),
    (["--degrade", "mask:1.5"], "strength out of range: P in [0, 1], got 1.5"),
    (["--degrade", "down:9"], "strength out of range: F in 1..8"),
    (["--w", "1.5"], "w must be in [0, 1]"),
    (["--w", "-0.1"], "w must be in [0, 1]"),
    (["--w", "much"], "w must be a number in [0, 1]"),
    (["--degrade", "mask:0.5", "--degrade", "noise:2"], "give one --degrade for pictures")])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(runs, tmp_path, args, message):
    out = tmp_path / "r.png"
    result = run("restore", runs["codeformer"], *args, "-o", out, ok=False)
    assert result.exit_code == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_a_vqvae_run_says_to_train_codeformer_on_it(runs, tmp_path):
    result = run("restore", runs["vqvae"], "-o", tmp_path / "r.png", ok=False)
    assert result.exit_code == 2
    assert (f"train one on it first, `genzoo train codeformer --parent {runs['vqvae']}`"
            in result.stderr)


def test_other_runs_and_files_are_refused(runs, tmp_path):
    independent = train("independent", "--dataset", "digits", "--steps", 0)
    result = run("restore", independent, "-o", tmp_path / "r.png", ok=False)
    assert result.exit_code == 2 and "is not a restoration model" in result.stderr
    assert "codeformer" in result.stderr
    for args, message in [(["-o", tmp_path / "r.txt"], "use a file ending in .png or .npy"),
                          (["--table", "-o", tmp_path / "t.png"], "ending in .csv"),
                          ([], "give -o FILE"),
                          (["-o", tmp_path / "missing" / "r.png"], "does not exist")]:
        result = run("restore", runs["codeformer"], *args, ok=False)
        assert result.exit_code == 2 and message in result.stderr, result.stderr
    result = run("restore", "no-such-run", "-o", tmp_path / "r.png", ok=False)
    assert result.exit_code == 2 and "no-such-run" in result.stderr


def test_a_file_the_os_refuses_and_the_seed_range_are_met_as_elsewhere(runs, tmp_path):
    """restore writes through the same guard as sample, complete and explore (issue 20, part
    3): a name too long for the file system is one line, not a traceback, and --seed takes the
    same range as the other commands' (any 64-bit integer)."""
    result = run("restore", runs["codeformer"], "-n", 2, "-o", tmp_path / ("r" * 300 + ".png"),
                 ok=False)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "cannot write" in result.stderr and "File name too long" in result.stderr
    for seed in (-1, 2**63 - 1):
        assert run("restore", runs["codeformer"], "-n", 2, "-o", tmp_path / "s.png",
                   "--seed", seed).exit_code == 0
    result = run("restore", runs["codeformer"], "-o", tmp_path / "s.png", "--seed", 2**64,
                 ok=False)
    assert result.exit_code == 2 and "--seed" in result.stderr

"""benchmarks/tune.py chooses on validation bits/dim, averaged over budgets and seeds, never
on test, and writes what it measured."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository: benchmarks.*

from benchmarks import tune  # noqa: E402


def test_the_grid_is_every_combination_as_set_overrides():
    assert tune.parse_grid("dropout=0,0.3;hidden=8,16") == [
        {"dropout": "0", "hidden": "8"}, {"dropout": "0", "hidden": "16"},
        {"dropout": "0.3", "hidden": "8"}, {"dropout": "0.3", "hidden": "16"}]


def test_the_choice_is_the_lowest_mean_validation_number_whatever_the_test_numbers_say():
    rows = [  # a: best at the last budget alone; b: best on average; c: best on test
        {"config": {"d": d}, "stage_one_step": step, "val_bits_per_dim": val,
         "test_bits_per_dim": test}
        for d, step, val, test in [("a", 1, 2.0, 2.0), ("a", 2, 1.0, 2.0), ("b", 1, 1.1, 2.0),
                                   ("b", 2, 1.1, 2.0), ("c", 1, 3.0, 0.1), ("c", 2, 3.0, 0.1)]]
    best, averages = tune.choose(rows)
    assert best == {"d": "b"} and averages == {"d=a": 1.5, "d=b": 1.1, "d=c": 3.0}


def test_a_tiny_sweep_runs_and_reports_both_splits(tmp_path):
    script = Path(tune.__file__)
    subprocess.run([sys.executable, str(script), "--model", "pixelcnn", "--grid",
                    "dropout=0,0.3;hidden=4;layers=1", "--steps", "2,3", "--out", str(tmp_path)],
                   check=True, capture_output=True, env={"GENZOO_HOME": str(tmp_path / "home"),
                                                         "PATH": "/usr/bin:/bin"})
    result = json.loads((tmp_path / "tune-pixelcnn.json").read_text())
    assert [row["stage_one_step"] for row in result["rows"]] == [2, 3, 2, 3]
    assert all(row["val_bits_per_dim"] != row["test_bits_per_dim"] for row in result["rows"])
    means = {d: sum(r["val_bits_per_dim"] for r in result["rows"] if r["config"]["dropout"] == d)
             / 2 for d in ("0", "0.3")}
    assert result["chosen"]["dropout"] == min(means, key=means.get)
    assert "**chosen**" in (tmp_path / "tune-pixelcnn.md").read_text()

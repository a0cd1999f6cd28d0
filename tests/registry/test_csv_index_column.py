"""A CSV whose first column is a time index: the series is the column after it, and the column
used is named in the run's dataset and in any error about the series."""

from __future__ import annotations

import numpy as np
import pytest

from genzoo.registry.data import is_regular_index, load_csv_series

from cli_helpers import last_json, run


def write(path, header: str, rows) -> str:
    path.write_text(header + "\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")
    return str(path)


def noisy(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.round(50 + 30 * np.sin(np.arange(n) / 5) + rng.normal(0, 5, n), 3)


@pytest.mark.parametrize("header, index", [("year,spots", np.arange(1700, 1800)),
                                           ("t,value", np.arange(100)),
                                           ("step,value", np.arange(0, 500, 5))])
def test_a_regular_index_column_is_passed_over(tmp_path, header, index):
    path = write(tmp_path / "s.csv", header, zip(index, noisy(len(index))))
    data = load_csv_series(path)
    assert data.name == f"s.csv:{header.split(',')[1]}"
    assert f"column {header.split(',')[1]!r}" in data.source


def test_an_index_is_used_when_it_is_the_only_column_or_asked_for(tmp_path):
    only = write(tmp_path / "only.csv", "year", [[y] for y in range(1700, 1750)])
    assert load_csv_series(only).name == "only.csv:year"
    both = write(tmp_path / "both.csv", "year,spots", zip(range(1700, 1800), noisy(100)))
    assert load_csv_series(both, column="year").name == "both.csv:year"


def test_what_is_and_is_not_a_regular_index():
    assert is_regular_index([0, 1, 2, 3]) and is_regular_index([1.5, 2.0, 2.5])
    assert not is_regular_index([3, 2, 1]) and not is_regular_index([0, 1, 3])
    assert not is_regular_index([5, 5, 5]) and not is_regular_index(noisy(20))


def test_the_run_names_the_column_and_an_error_about_the_series_does_too(tmp_path):
    path = write(tmp_path / "sun.csv", "year,spots", zip(range(1700, 1800), noisy(100)))
    record = last_json(run("train", "ar", "--dataset", path, "--set", "p=3", "--json", "-q"))
    assert record["dataset"].endswith("sun.csv") and record["status"] == "completed"
    from genzoo.registry.store import RunStore

    assert RunStore().get(record["run_id"]).dataset_options == {"column": "spots"}
    flat = write(tmp_path / "flat.csv", "year,level", [(y, 7.0) for y in range(1700, 1800)])
    result = run("train", "ar", "--dataset", flat, "--set", "p=3", ok=False)
    assert result.exit_code == 2
    assert "column 'level' of flat.csv; choose another with --column NAME" in result.stderr


def test_a_bad_value_in_the_default_column_names_it_and_the_way_out(tmp_path):
    rows = [(y, "" if y == 1710 else v) for y, v in zip(range(1700, 1800), noisy(100))]
    path = write(tmp_path / "gap.csv", "year,spots", rows)
    result = run("train", "ar", "--dataset", path, "--set", "p=3", ok=False)
    assert result.exit_code == 2
    assert "column 'spots'" in result.stderr and "--column NAME" in result.stderr


def test_the_dashboard_offers_the_series_before_the_index(tmp_path):
    from genzoo.dashboard.timeseries_data import csv_numeric_columns

    path = write(tmp_path / "up.csv", "year,spots", zip(range(1700, 1800), noisy(100)))
    assert csv_numeric_columns(open(path, "rb").read()) == ["spots", "year"]

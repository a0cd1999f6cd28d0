"""Numbers that are not JSON (issue 19, part 6): a budget of inf or nan is refused on the CLI
as the Train form refuses it, and what the CLI prints as JSON is strict (no ``Infinity`` or
``NaN`` tokens: ``null`` with a note that says what the number was)."""

from __future__ import annotations

import json
import sqlite3

import pytest

from cli_helpers import run, train


def strict(text: str):
    """``text`` parsed as JSON that has no NaN or Infinity tokens."""
    def refuse(token):
        raise AssertionError(f"not strict JSON: {token}")
    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("seconds", ["inf", "-inf", "nan", "1e309"])
def test_a_budget_that_is_not_finite_is_refused(seconds):
    for args in (["train", "independent", "--dataset", "digits"], ["resume", "any-run"],
                 ["compare", "--models", "independent", "--dataset", "digits"]):
        result = run(*args, "--seconds", seconds, ok=False)
        assert result.exit_code == 2 and "--seconds" in result.stderr, (args, result.output)
        assert "Traceback" not in result.output


def test_a_stored_number_that_is_not_finite_prints_as_null_with_a_note(isolated_home):
    run_id = train("independent", "--dataset", "digits", "--steps", 0)
    with sqlite3.connect(isolated_home / "runs.sqlite") as db:  # as an older genzoo stored it
        db.execute("UPDATE runs SET target_seconds = ?, metrics = ? WHERE run_id = ?",
                   (float("inf"), '{"test_bits_per_dim": Infinity, "x": NaN}', run_id))
    listed = strict(run("runs", "--json").stdout)
    record = next(r for r in listed if r["run_id"] == run_id)
    assert record["target_seconds"] is None
    assert record["metrics"]["test_bits_per_dim"] is None and record["metrics"]["x"] is None
    assert "not a finite number" in record["metrics"]["test_bits_per_dim_note"]

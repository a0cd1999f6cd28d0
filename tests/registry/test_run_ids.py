"""Run ids name folders and appear in printed commands: an explicit id is checked by a full
match, an automatic one is derived through the same rule from whatever the model and dataset
are called, and an id printed in a command is quoted for the shell (issue 19, part 2)."""

from __future__ import annotations

import shlex
import sqlite3

from hypothesis import given, settings
from hypothesis import strategies as st

from genzoo.registry.store import RunStore, check_run_id, new_run_id

from cli_helpers import last_json, run

SERIES = "\n".join(["value"] + [str(round(10 + 5 * ((i * 7919) % 13) / 13, 3))
                                for i in range(120)]) + "\n"


def test_an_explicit_id_ending_in_a_newline_is_refused():
    for bad in ("nl\n", "a\nb", "ok\r", "tab\t"):
        result = run("train", "independent", "--dataset", "digits", "--steps", 0,
                     "--run-id", bad, ok=False)
        assert result.exit_code == 2 and "--run-id" in result.stderr, (bad, result.stderr)
    assert RunStore().list_runs() == []


def test_a_csv_with_shell_characters_in_its_name_gives_an_id_that_works_everywhere(tmp_path):
    csv = tmp_path / "my data (v2);$(id).csv"
    csv.write_text(SERIES)
    record = last_json(run("train", "ar", "--dataset", str(csv), "--json", "-q"))
    run_id = record["run_id"]
    assert check_run_id(run_id) == run_id and run_id.startswith("ar-my-data-v2-id-")
    assert shlex.quote(run_id) == run_id  # nothing a shell would read
    assert RunStore().run_dir(run_id).is_dir()
    evaluated = last_json(run("eval", run_id, "--json"))  # the id finds its run again
    assert evaluated["run_id"] == run_id


def test_a_very_long_csv_name_gives_an_id_that_fits_a_folder_name(tmp_path):
    csv = tmp_path / ("s" * 248 + ".csv")
    csv.write_text(SERIES)
    record = last_json(run("train", "ar", "--dataset", str(csv), "--json", "-q"))
    assert len(record["run_id"]) <= 128 and record["status"] == "completed"
    assert RunStore().run_dir(record["run_id"]).is_dir()


@settings(max_examples=300, deadline=None, derandomize=True)
@given(model=st.text(max_size=40), dataset=st.text(max_size=300))
def test_every_automatic_id_passes_the_explicit_rule(model, dataset):
    run_id = new_run_id(model, dataset)
    assert check_run_id(run_id) == run_id and len(run_id) <= 128


def test_an_old_id_with_shell_characters_is_quoted_in_the_commands_printed(tmp_path):
    """A store written before ids were checked may hold one: the hint quotes it."""
    store = RunStore()
    parent = last_json(run("train", "vqvae", "--dataset", "digits", "--steps", 1, "--set",
                           "hidden=8", "--json", "-q"))["run_id"]
    old = "old run;$(id)"
    with sqlite3.connect(store.db_path) as db:
        db.execute("UPDATE runs SET run_id = ?, status = 'interrupted' WHERE run_id = ?",
                   (old, parent))
    result = run("train", "vqvae-prior", "--parent", old, "--steps", 1, ok=False)
    assert result.exit_code == 2
    assert f"`genzoo resume {shlex.quote(old)}`" in result.stderr, result.stderr

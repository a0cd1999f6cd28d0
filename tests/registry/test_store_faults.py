"""The runs store itself when it is not what genzoo expects: a home that is a file or under
one, a read-only home, a damaged, truncated or locked SQLite file, a store of another version
and a column that is not JSON. Each is one line naming the file and what to do, exit 2; a
read-only store is read (issue 19, part 1)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from genzoo.registry import store as store_module
from genzoo.registry.store import RunStore

from cli_helpers import run, train


def refused(result, *words):
    """``result`` exited 2 with one ``error:`` line holding ``words``, and no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert "Traceback" not in result.output
    return lines[0]


def test_a_home_that_is_a_file_or_under_one_is_named(tmp_path, monkeypatch):
    a_file = tmp_path / "home-file"
    a_file.write_text("not a folder\n")
    monkeypatch.setenv("GENZOO_HOME", str(a_file))
    refused(run("runs", ok=False), str(a_file), "is a file", "GENZOO_HOME")
    monkeypatch.setenv("GENZOO_HOME", str(a_file / "deeper" / "home"))
    refused(run("runs", ok=False), str(a_file), "which is a file")
    refused(run("train", "independent", "--dataset", "digits", "--steps", 0, ok=False),
            "GENZOO_HOME")


def test_a_damaged_or_truncated_store_is_named_with_what_to_do(isolated_home):
    train("independent", "--dataset", "digits", "--steps", 0)
    train("independent", "--dataset", "digits", "--steps", 0)
    db = isolated_home / "runs.sqlite"
    with sqlite3.connect(db) as connection:  # everything in the main file, nothing in WAL
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 2])
    line = refused(run("runs", ok=False), str(db))
    assert "damaged" in line or "another version" in line, line
    db.write_bytes(b"this is not an SQLite file at all" * 200)
    refused(run("runs", ok=False), str(db), "damaged", "move it aside")
    refused(run("train", "independent", "--dataset", "digits", "--steps", 0, ok=False),
            str(db), "damaged")


def test_a_store_of_another_schema_says_so(isolated_home):
    isolated_home.mkdir(parents=True)
    with sqlite3.connect(isolated_home / "runs.sqlite") as db:
        db.execute("CREATE TABLE runs (run_id TEXT PRIMARY KEY, name TEXT)")
        db.execute("INSERT INTO runs VALUES ('old', 'x')")
    refused(run("runs", ok=False), "another version of genzoo", "runs.sqlite")


def test_a_column_that_is_not_json_names_the_run(isolated_home):
    run_id = train("independent", "--dataset", "digits", "--steps", 0)
    with sqlite3.connect(isolated_home / "runs.sqlite") as db:
        db.execute("UPDATE runs SET config = '{not json' WHERE run_id = ?", (run_id,))
    refused(run("runs", ok=False), run_id, "config", "not JSON")
    refused(run("eval", run_id, ok=False), run_id, "config")
    with sqlite3.connect(isolated_home / "runs.sqlite") as db:  # nested past Python's limit
        db.execute("UPDATE runs SET config = ? WHERE run_id = ?",
                   ("[" * 100_000 + "]" * 100_000, run_id))
    refused(run("runs", ok=False), run_id, "config")


def test_a_locked_store_says_who_holds_it_after_the_wait(isolated_home, monkeypatch):
    RunStore()  # made
    monkeypatch.setattr(store_module, "BUSY_SECONDS", 0.3)
    holder = sqlite3.connect(isolated_home / "runs.sqlite", isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        refused(run("train", "independent", "--dataset", "digits", "--steps", 0, ok=False),
                "locked", "try again")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    train("independent", "--dataset", "digits", "--steps", 0)  # free again: it works


# -- a read-only home -----------------------------------------------------------------------

READER = textwrap.dedent("""
    import json, sys
    from click.testing import CliRunner
    from genzoo.registry.cli import cli
    for args in json.loads(sys.argv[1]):
        result = CliRunner().invoke(cli, args)
        print(json.dumps({"args": args, "exit": result.exit_code, "stdout": result.stdout,
                          "stderr": result.stderr,
                          "exception": None if result.exception is None
                          or isinstance(result.exception, SystemExit)
                          else repr(result.exception)}))
""")


def as_reader(home: Path, scratch: Path, script: str, *args) -> subprocess.CompletedProcess:
    """Run ``script`` with ``home`` as a GENZOO_HOME this process cannot write: as root (who
    writes anything), as the unprivileged ``nobody`` (util-linux's setpriv); otherwise as
    ourselves, the fixture's chmod being enough."""
    env = {**os.environ, "GENZOO_HOME": str(home), "HOME": str(scratch),
           "MPLCONFIGDIR": str(scratch), "XDG_CACHE_HOME": str(scratch)}
    as_nobody = (["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
                 if os.geteuid() == 0 else [])
    return subprocess.run([*as_nobody, sys.executable, "-c", script, *args], env=env,
                          cwd=scratch, capture_output=True, text=True, timeout=300)


@pytest.fixture
def read_only_home(monkeypatch):
    """A store with two runs whose folders and files nobody but root may write (under /tmp,
    so that the unprivileged user can reach it), and a scratch folder anyone may write."""
    top = Path(tempfile.mkdtemp(prefix="genzoo-read-only-"))
    home, scratch = top / "home", top / "scratch"
    monkeypatch.setenv("GENZOO_HOME", str(home))
    floor = train("independent", "--dataset", "digits", "--steps", 0)
    series = train("ar", "--dataset", "sunspots", "--set", "p=3")
    for path in [home, *home.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    scratch.mkdir()
    scratch.chmod(0o777)
    top.chmod(0o755)
    yield home, scratch, floor, series
    for path in [home, *home.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    subprocess.run(["rm", "-rf", str(top)], check=False)


def test_a_read_only_home_is_read_and_a_write_says_why(read_only_home):
    home, scratch, floor, series = read_only_home
    calls = [["runs", "--json"], ["eval", floor, "--json"], ["eval", series, "--json"],
             ["sample", floor, "-n", "4", "-o", str(scratch / "floor.png")],
             ["train", "independent", "--dataset", "digits", "--steps", "0"]]
    done = as_reader(home, scratch, READER, json.dumps(calls))
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert [r["args"] for r in results] == calls
    listed, floor_eval, series_eval, sampled, trained = results
    for result in (listed, floor_eval, series_eval, sampled):
        assert result["exit"] == 0 and result["exception"] is None, result
    assert {r["run_id"] for r in json.loads(listed["stdout"])} == {floor, series}
    assert json.loads(floor_eval["stdout"].splitlines()[-1])["bits_per_dim"] > 0
    assert "nats_per_obs" in json.loads(series_eval["stdout"].splitlines()[-1])
    assert (scratch / "floor.png").read_bytes().startswith(b"\x89PNG")
    assert trained["exit"] == 2 and trained["exception"] is None, trained
    assert "read-only" in trained["stderr"] and "GENZOO_HOME" in trained["stderr"]
    assert "Traceback" not in trained["stderr"]


PAGES = textwrap.dedent("""
    import sys
    from streamlit.testing.v1 import AppTest
    for page in sys.argv[2:]:
        at = AppTest.from_file(sys.argv[1], default_timeout=240)
        at.run()
        at.switch_page(f"views/{page}.py").run()
        shown = [str(e.value) for e in at.error]
        print(page, "exception" if at.exception else "ok", len(shown), "|".join(shown)[:300])
        print("info", page, "|".join(str(e.value) for e in at.info)[:600])
""")


def test_a_read_only_home_serves_the_pages(read_only_home):
    home, scratch, *_ = read_only_home
    app = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
    pages = ["overview", "likelihood", "samples", "timeseries", "train"]
    done = as_reader(home, scratch, PAGES, str(app), *pages)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.split(" ")[0] in pages]
    assert [line.split(" ")[0] for line in lines] == pages, done.stdout
    assert all(line.split(" ")[1:3] == ["ok", "0"] for line in lines), done.stdout  # no error
    train_info = next(line for line in done.stdout.splitlines() if line.startswith("info train"))
    assert "Training is off" in train_info and "cannot be written" in train_info, train_info

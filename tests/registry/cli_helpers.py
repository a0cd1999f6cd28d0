"""Helpers shared by the CLI tests: run genzoo in-process and read its JSON."""

from __future__ import annotations

import json

from click.testing import CliRunner

from genzoo.registry.cli import cli


def run(*args, ok=True):
    """Invoke ``genzoo ARGS`` in-process; with ``ok`` assert it exited 0."""
    result = CliRunner().invoke(cli, [str(a) for a in args])
    if ok:
        assert result.exit_code == 0, result.output + str(result.exception)
    return result


def last_json(result):
    """The JSON document on the last line of stdout (``train --json`` prints the record there)."""
    return json.loads(result.stdout.strip().splitlines()[-1])


def train(*args) -> str:
    """``genzoo train ARGS --json -q``, asserted to succeed; the new run's id."""
    return last_json(run("train", *args, "--json", "-q"))["run_id"]

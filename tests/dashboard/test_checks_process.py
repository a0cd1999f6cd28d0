"""The Plugins page's checks process: its wall-clock time limit and memory limit, each failure
shown as one line to every session, one process per store however many clicks come at once.

The checks themselves stand in as tiny commands here (a sleep, an allocation): the real checks
process is run by test_speed_plugins_pages.py."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time

import pytest

from genzoo.dashboard import plugins_data

from page_helpers import texts

SLEEP = [sys.executable, "-c", "import time; time.sleep(60)"]


@pytest.fixture
def stand_in(monkeypatch, empty_store):
    """``stand_in(command)``: the page's checks process runs ``command``; every process it
    starts is killed at the end of the test."""
    def use(command):
        monkeypatch.setattr(plugins_data, "checks_command", lambda home: list(command))

    yield use
    for process, _ in list(plugins_data._STARTED):
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
    plugins_data._STARTED.clear()


def wait_until_done(timeout: float = 20.0) -> None:
    deadline = time.time() + timeout
    while plugins_data.checks_running() is not None and time.time() < deadline:
        time.sleep(0.1)
    assert plugins_data.checks_running() is None


def test_the_time_limit_is_wall_clock_and_its_end_is_one_line_for_every_session(
        stand_in, monkeypatch, app):
    """A process that sleeps uses no CPU time: the alarm set before exec stops it anyway."""
    monkeypatch.setattr(plugins_data, "CHECK_SECONDS", 1)
    stand_in(SLEEP)
    assert plugins_data.start_conformance() == "started the checks"
    assert plugins_data.checks_running() is not None
    assert plugins_data.checks_outcome() is None  # still running
    wait_until_done()
    outcome = plugins_data.checks_outcome()
    assert outcome.startswith("the checks were stopped at their time limit of 1 s")
    assert "\n" not in outcome
    plugins_data._STARTED.clear()  # another server, or a later session, reads the same line
    assert plugins_data.checks_outcome() == outcome
    at = app("plugins")
    assert not at.exception, at.exception
    assert texts(at.error) == outcome[:1].upper() + outcome[1:]


def test_running_out_of_memory_is_one_line(stand_in):
    allocate = ("from genzoo.registry.conformance import limit_memory; "
                "limit_memory(64 * 2**20); bytearray(512 * 2**20)")
    stand_in([sys.executable, "-c", allocate])
    assert plugins_data.start_conformance() == "started the checks"
    wait_until_done()
    outcome = plugins_data.checks_outcome()
    assert outcome.startswith("the checks ran out of their 4 GiB of memory"), outcome


def test_another_failure_is_its_last_line_and_success_is_silent(stand_in):
    stand_in([sys.executable, "-c", "raise SystemExit('no registry here')"])
    plugins_data.start_conformance()
    wait_until_done()
    assert plugins_data.checks_outcome() == "the checks failed (exit code 1): no registry here"
    stand_in([sys.executable, "-c", "pass"])
    plugins_data.start_conformance()
    wait_until_done()
    assert plugins_data.checks_outcome() is None  # a new run replaces the last one's outcome


def test_a_run_whose_server_is_gone_and_left_no_results_says_so(empty_store):
    empty_store.mkdir(parents=True)
    (empty_store / plugins_data.RUNNER_FILE).write_text(json.dumps(
        {"pid": 2**22 + 1, "started": None, "since": time.time()}))  # above pid_max: dead
    assert "ended without writing results" in plugins_data.checks_outcome()
    (empty_store / "conformance.json").write_text(json.dumps({"models": {}}))
    assert plugins_data.checks_outcome() is None


def test_clicks_at_once_start_one_process(stand_in):
    stand_in(SLEEP)
    barrier = threading.Barrier(4)
    answers = []

    def click():
        barrier.wait()
        answers.append(plugins_data.start_conformance())

    threads = [threading.Thread(target=click) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == ["started the checks"] + 3 * [
        "the checks are already running for this runs store"]
    assert len(plugins_data._STARTED) == 1


def test_the_page_shows_the_running_process_and_a_second_click_starts_none(
        stand_in, app, monkeypatch):
    from genzoo.registry import conformance

    def not_here(*args, **kwargs):
        raise AssertionError("the checks ran inside the dashboard's process")

    monkeypatch.setattr(conformance, "run_conformance", not_here)
    stand_in(SLEEP)
    at, other_tab = app("plugins"), app("plugins")  # both drawn before the checks start
    (button,) = [b for b in at.button if b.label == "Run conformance checks"]
    button.click().run()
    assert not at.exception, at.exception
    assert "started the checks" in texts(at.info)
    runner = plugins_data.checks_running()
    assert runner is not None
    progress = at.get("progress")
    assert progress and f"process {runner['pid']}" in progress[0].proto.text
    (late,) = [b for b in other_tab.button if b.label == "Run conformance checks"]
    late.click().run()  # its button was drawn enabled before the first click
    assert not other_tab.exception, other_tab.exception
    assert "started the checks" not in texts(other_tab.info)
    assert plugins_data.start_conformance() == "the checks are already running for this runs store"
    assert [p.pid for p, _ in plugins_data._STARTED] == [runner["pid"]]
    at.run()
    (button,) = [b for b in at.button if b.label == "Run conformance checks"]
    assert button.disabled  # while it runs


def test_a_read_only_dashboard_starts_no_checks(empty_store, monkeypatch):
    from genzoo.dashboard import access

    monkeypatch.setenv("GENZOO_READ_ONLY", "1")
    with pytest.raises(access.ReadOnly, match="served read-only"):
        plugins_data.start_conformance()
    assert not plugins_data._STARTED

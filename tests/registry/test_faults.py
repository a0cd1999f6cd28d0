"""Faults, with nothing lost: SIGKILL at random steps, truncated, corrupt and code-carrying
checkpoints, two trainers and a dashboard on one store, and a disk that fills up mid-checkpoint.

The subprocess tests run the real ``genzoo`` command (one thread each, a small PixelCNN) against
the test's own ``GENZOO_HOME``; the others train in-process with a checkpoint every 5 steps.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import pickle
import random
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from genzoo.dashboard import train_jobs
from genzoo.registry.checkpoints import (
    list_checkpoints,
    load_checkpoint,
    load_latest,
    meta_digest,
    save_checkpoint,
)
from genzoo.registry.errors import CheckpointError
from genzoo.registry.process import LOCK_FILE, OWNER_FILE, read_owner
from genzoo.registry.runs import load_run
from genzoo.registry.store import RunStore
from genzoo.registry.training import LoopSettings, resume_run, start_run

from cli_helpers import run

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
TINY = {"hidden": "4", "layers": "1", "batch_size": "16"}
TINY_ARGS = [arg for key, value in TINY.items() for arg in ("--set", f"{key}={value}")]
EVERY_5 = LoopSettings(progress=False, checkpoint_every=5, log_seconds=0.0)  # a point each step


@pytest.fixture(autouse=True)
def builtins_only(monkeypatch):
    monkeypatch.setenv("GENZOO_PLUGINS", "")


def genzoo(*args, log: Path, **env) -> subprocess.Popen:
    """Start ``genzoo ARGS`` on the test's store, one thread, output to ``log``."""
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "genzoo.registry.cli", *map(str, args)],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "OMP_NUM_THREADS": "1", **env})


def wait_for(condition, what: str, timeout: float = 120.0, proc=None, log=None):
    """Poll ``condition``; fail naming ``what`` (and the process's output) if it never holds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited ({proc.returncode}) before {what}:\n"
                                 f"{log.read_text()}")
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def points(store, run_id, name="loss") -> list[dict]:
    return [p for p in store.curves(run_id) if p["name"] == name]


def assert_one_timeline(store, run_id) -> None:
    """No step is logged twice under any name: the curve is one run, not two spliced."""
    by_name: dict[str, list[int]] = {}
    for p in store.curves(run_id):
        by_name.setdefault(p["name"], []).append(p["step"])
    for name, steps in by_name.items():
        assert steps == sorted(set(steps)), f"{name} logged twice at some step: {steps}"


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:  # as in test_runs: resume is exact, up to float reassociation
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)


# -- 1. SIGKILL at random steps ----------------------------------------------------------------

KILLS = 8


@pytest.mark.slow
def test_sigkill_at_random_steps_resumes_from_the_last_checkpoint_and_matches(registry,
                                                                              tmp_path):
    """``kill -9`` a training 8 times at random moments, resuming each time; then finish it.

    The first command asks for far more steps than the kills leave time for (the loop never
    meets a finished process, on any machine); the last resume sets the real budget, and an
    uninterrupted run with that budget and seed must end with the same weights and bits/dim.
    A checkpoint comes every 250 steps (the CLI's own setting), about a second here, so a kill
    lands sometimes before the next checkpoint and sometimes after one or more. The first kill
    waits for the first checkpoint: a run killed before it has none, and resumes unseeded
    (test_a_run_killed_before_its_first_checkpoint_resumes_as_its_seed_says).
    """
    store, rng, log = RunStore(), random.Random(10), tmp_path / "killed.log"
    run_dir = store.run_dir("killed")
    kept, before, killed_at, progressed = 0, [], 0.0, 0
    for kill in range(KILLS):
        args = (["train", "pixelcnn", "-d", "digits", "--steps", 1_000_000, "--device", "cpu",
                 "--run-id", "killed", *TINY_ARGS, "-q"] if kill == 0
                else ["resume", "killed", "-q"])
        proc = genzoo(*args, log=log, GENZOO_LOG_SECONDS="0.05")
        try:  # owned by this process and marked running: the steps begin
            wait_for(lambda proc=proc: getattr(read_owner(run_dir), "pid", None) == proc.pid
                     and store.get("killed").status == "running",
                     f"process {kill + 1} to train the run", proc=proc, log=log)
            if kill == 0:
                wait_for(lambda: list_checkpoints(run_dir), "the first checkpoint", proc=proc,
                         log=log)
            time.sleep(rng.uniform(0.05, 1.0))
            assert proc.poll() is None, log.read_text()
        finally:
            proc.kill()  # SIGKILL: no handler runs, nothing is cleaned up
            proc.wait()
        killed_at, previous_kill = time.time(), killed_at

        # the owner file is left behind, naming a dead process
        owner = read_owner(run_dir)
        assert owner.pid == proc.pid and owner.alive() is False
        # every checkpoint on disk is whole: the newest loads, nothing to fall back over
        checkpoint, errors = load_latest(run_dir)
        assert errors == []
        step = checkpoint.step if checkpoint else 0
        assert step >= kept  # never behind the checkpoint this process resumed from
        progressed += step > kept
        # the curve: one timeline; what the resumed checkpoint covers is as it was; the new
        # process logged only steps after that checkpoint
        now = points(store, "killed")
        assert_one_timeline(store, "killed")
        assert [p for p in now if p["step"] <= kept] == [p for p in before if p["step"] <= kept]
        new = [p for p in now if p["wall_time"] > previous_kill]
        assert all(p["step"] > kept for p in new)
        if new:  # an older process's points past ``kept`` survive only below the new ones
            assert all(p["step"] < new[0]["step"] for p in now if p["wall_time"] <= previous_kill)
        assert store.get("killed").step <= step
        # a reader (the dashboard's Train page) sees a dead trainer, says so and stores it
        (activity,) = [a for a in train_jobs.activities(store, "web-x")
                       if a.run_id == "killed"]
        assert store.get("killed").status == "interrupted"
        assert activity.status == "interrupted" and not activity.cancellable
        assert "genzoo resume killed" in activity.note
        listed = {r["run_id"]: r for r in json.loads(run("runs", "--json").stdout)}
        assert listed["killed"]["status"] == "interrupted"
        kept, before = step, now

    budget = kept + 150
    out = tmp_path / "finished.json"
    with open(out, "wb") as stdout, open(log, "ab") as stderr:  # to the end this time, while
        final = subprocess.Popen(  # the same run trains straight in here
            [sys.executable, "-m", "genzoo.registry.cli", "resume", "killed", "--steps",
             str(budget), "--json", "-q"], stdout=stdout, stderr=stderr,
            env={**os.environ, "OMP_NUM_THREADS": "1"})
    straight = start_run(registry, store, "pixelcnn", "digits", steps=budget, overrides=TINY,
                         device="cpu", settings=LoopSettings(progress=False), run_id="straight")
    assert final.wait(timeout=300) == 0, log.read_text()
    finished = json.loads(out.read_text().strip().splitlines()[-1])
    assert finished["status"] == "completed" and finished["step"] == budget
    assert points(store, "killed")[-1]["step"] == budget
    assert_one_timeline(store, "killed")
    # two whole checkpoints, the newest at the end; no owner, temporary or orphan file (the
    # lock a trainer takes the run with stays: process.LOCK_FILE)
    (newest, previous) = list_checkpoints(run_dir)
    assert newest.name == f"ckpt-{budget:08d}.json"
    assert sorted(p.name for p in run_dir.iterdir() if p.name != LOCK_FILE) == sorted(
        name for c in (newest, previous) for name in (c.name, c.with_suffix(".safetensors").name))

    assert_same_weights(load_run("straight", store, registry).model.state_dict(),
                        load_run("killed", store, registry).model.state_dict())
    # Resume is exact by design (the same batches, dropout masks and Adam state), and both runs
    # do the same float operations on one CPU thread: the bits/dim agree to the last bit (0.0
    # measured). 1e-9 leaves room for nothing more; one step more or less moves it by 2e-6 to
    # 3e-5 here, another seed by 5e-3, so a lost or repeated step cannot pass.
    gap = finished["metrics"]["test_bits_per_dim"] - straight.metrics["test_bits_per_dim"]
    assert abs(gap) <= 1e-9
    print(f"\n{KILLS} kills survived, {progressed} after a new checkpoint; "
          f"finished at step {budget}; bits/dim gap {gap!r}")


def test_a_run_killed_before_its_first_checkpoint_resumes_as_its_seed_says(registry):
    store = RunStore()
    straight = start_run(registry, store, "pixelcnn", "digits", steps=10, overrides=TINY,
                         settings=EVERY_5, run_id="straight")
    start_run(registry, store, "pixelcnn", "digits", steps=10, overrides=TINY, settings=EVERY_5,
              run_id="killed")
    for path in store.run_dir("killed").iterdir():  # as SIGKILL before step 5 leaves it
        path.unlink()
    resumed = resume_run(registry, store, "killed", settings=EVERY_5)
    assert resumed.step == 10 and [p["step"] for p in points(store, "killed")] == list(range(1, 11))
    assert_same_weights(load_run("straight", store, registry).model.state_dict(),
                        load_run("killed", store, registry).model.state_dict())
    assert resumed.metrics["test_bits_per_dim"] == straight.metrics["test_bits_per_dim"]


# -- 2. truncated and corrupt checkpoints --------------------------------------------------------


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def flip_bytes(path: Path) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle:middle + 8] = bytes(b ^ 0xFF for b in data[middle:middle + 8])
    path.write_bytes(bytes(data))


def change_a_digit(path: Path) -> None:
    """A one-character change that leaves valid JSON: the last digit of Adam's learning rate."""
    text = path.read_text()
    changed = re.sub(r'("lr": [\d.e-]*)(\d)\b', lambda m: m[1] + str((int(m[2]) + 1) % 10), text,
                     count=1)
    assert changed != text and json.loads(changed)
    path.write_text(changed)


CORRUPTIONS = {  # name: (what is done to the newest checkpoint, which of its files)
    "tensors-truncated": (truncate, ".safetensors"),
    "tensors-flipped": (flip_bytes, ".safetensors"),
    "json-truncated": (truncate, ".json"),
    "json-digit-changed": (change_a_digit, ".json"),
}


def test_the_next_checkpoint_clears_what_a_killed_writer_and_a_fallback_left(tmp_path):
    model = torch.nn.Linear(2, 2)
    save_checkpoint(tmp_path, 5, model)
    bad = save_checkpoint(tmp_path, 10, model)
    truncate(bad.with_suffix(".safetensors"))
    checkpoint, errors = load_latest(tmp_path)  # a resume goes back to step 5
    assert checkpoint.step == 5 and bad.with_suffix(".safetensors").name in errors[0]
    # SIGKILL inside atomic_write_bytes, and between the tensor and the JSON rename
    (tmp_path / ".ckpt-00000007.safetensors.x1y2.tmp").write_bytes(b"half")
    (tmp_path / "ckpt-00000006.safetensors").write_bytes(b"no JSON names it")
    save_checkpoint(tmp_path, 7, model)  # the resumed run's next checkpoint
    # the unreadable step-10 checkpoint is of the past the run left: it does not take the
    # place of step 5 among the two kept
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"ckpt-{s:08d}.{ext}" for s in (5, 7) for ext in ("json", "safetensors")]
    checkpoint, errors = load_latest(tmp_path)
    assert checkpoint.step == 7 and errors == []
    assert load_checkpoint(tmp_path / "ckpt-00000005.json").step == 5


@pytest.fixture(scope="module")
def fifteen_steps(registry, tmp_path_factory):
    """The weights of an uninterrupted 15-step run, to compare resumed runs with."""
    store = RunStore(tmp_path_factory.mktemp("reference-home"))
    record = start_run(registry, store, "pixelcnn", "digits", steps=15, overrides=TINY,
                       settings=EVERY_5, run_id="straight")
    return load_run(record.run_id, store, registry).model.state_dict()


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_a_corrupt_newest_checkpoint_is_named_and_the_previous_one_resumes(registry,
                                                                          corruption,
                                                                          fifteen_steps):
    store = RunStore()
    start_run(registry, store, "pixelcnn", "digits", steps=10, overrides=TINY, settings=EVERY_5,
              run_id="hurt")
    newest, older = list_checkpoints(store.run_dir("hurt"))
    before = points(store, "hurt")
    damage, suffix = CORRUPTIONS[corruption]
    damaged = newest.with_suffix(suffix)
    damage(damaged)

    with pytest.raises(CheckpointError, match=re.escape(str(damaged))):
        load_checkpoint(newest)
    listed = json.loads(run("runs", "--json").stdout)
    assert [(r["run_id"], r["status"]) for r in listed] == [("hurt", "completed")]
    evaluated = run("eval", "hurt", "--json")
    assert json.loads(evaluated.stdout)["step"] == 5  # the previous checkpoint
    (warning,) = evaluated.stderr.strip().splitlines()
    assert warning.startswith("warning: ") and damaged.name in warning
    assert "used an older checkpoint" in warning

    resumed = resume_run(registry, store, "hurt", steps=15, settings=EVERY_5)
    assert resumed.status == "completed" and resumed.step == 15
    after = points(store, "hurt")
    assert [p for p in after if p["step"] <= 5] == [p for p in before if p["step"] <= 5]
    assert [p["step"] for p in after] == list(range(1, 16))
    assert_one_timeline(store, "hurt")
    # it continued from step 5, exactly: the same weights as 15 steps without a fault
    assert_same_weights(load_run("hurt", store, registry).model.state_dict(), fifteen_steps)
    assert [p.name for p in list_checkpoints(store.run_dir("hurt"))] == [
        "ckpt-00000015.json", "ckpt-00000010.json"]  # the bad one was written over


def test_with_no_readable_checkpoint_resume_and_eval_say_why_in_one_line(registry):
    store = RunStore()
    start_run(registry, store, "pixelcnn", "digits", steps=10, overrides=TINY, settings=EVERY_5,
              run_id="hurt")
    newest, older = list_checkpoints(store.run_dir("hurt"))
    truncate(newest.with_suffix(".safetensors"))
    change_a_digit(older)
    for args in (["resume", "hurt"], ["eval", "hurt"]):
        result = run(*args, ok=False)
        assert result.exit_code == 2
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith("error: ") and "'hurt'" in line
        assert newest.with_suffix(".safetensors").name in line and older.name in line
    record = store.get("hurt")
    assert record.status == "completed" and record.step == 10  # nothing was changed
    assert [r["run_id"] for r in json.loads(run("runs", "--json").stdout)] == ["hurt"]
    assert not (store.run_dir("hurt") / OWNER_FILE).exists()


# -- 3. a checkpoint that tries to run code -----------------------------------------------------


class Plant:
    """What a malicious checkpoint carries: unpickling it creates the file at ``path``."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def pickled(marker: Path) -> bytes:
    return pickle.dumps({"model.net.0.weight": Plant(marker)})


def torch_saved(marker: Path) -> bytes:
    buffer = io.BytesIO()
    torch.save({"model.net.0.weight": Plant(marker)}, buffer)
    return buffer.getvalue()


PAYLOADS = {"pickle": (pickled, pickle.loads),
            "torch.save": (torch_saved, lambda b: torch.load(io.BytesIO(b), weights_only=False))}


@pytest.mark.parametrize("kind", list(PAYLOADS))
def test_a_checkpoint_that_would_run_code_is_refused_and_runs_nothing(registry, tmp_path, kind):
    make, unsafe_load = PAYLOADS[kind]
    canary = tmp_path / "canary"
    unsafe_load(make(canary))
    assert canary.exists()  # the payload is live: an unpickling loader would run it

    store = RunStore()
    start_run(registry, store, "pixelcnn", "digits", steps=5, overrides=TINY, settings=EVERY_5,
              run_id="planted")
    (meta_path,) = list_checkpoints(store.run_dir("planted"))
    tensors = meta_path.with_suffix(".safetensors")
    marker = tmp_path / "pwned"
    payload = make(marker)
    tensors.write_bytes(payload)
    # the JSON vouches for the payload: only the file format stands between it and a loader
    meta = json.loads(meta_path.read_text())
    meta["sha256"] = hashlib.sha256(payload).hexdigest()
    meta["meta_sha256"] = meta_digest(meta)
    meta_path.write_text(json.dumps(meta))

    with pytest.raises(CheckpointError, match="not a readable safetensors file") as caught:
        load_checkpoint(meta_path)
    assert str(tensors) in str(caught.value) and "SHA-256" not in str(caught.value)
    with pytest.raises(CheckpointError, match="cannot resume run 'planted'"):
        resume_run(registry, store, "planted", steps=10, settings=EVERY_5)
    for args in (["eval", "planted"], ["sample", "planted", "-o", tmp_path / "s.png"]):
        result = run(*args, ok=False)
        (line,) = result.stderr.strip().splitlines()
        assert result.exit_code == 2 and tensors.name in line and "safetensors" in line
    assert not marker.exists()


# -- 4. two trainings and a dashboard on one store ------------------------------------------------


@pytest.mark.slow
def test_two_trainings_and_a_dashboard_share_the_store_without_loss_or_lock_errors(registry,
                                                                                  tmp_path):
    from streamlit.testing.v1 import AppTest

    store = RunStore()
    ids = ("left", "right")
    logs = {run_id: tmp_path / f"{run_id}.log" for run_id in ids}
    procs = {run_id: genzoo("train", "pixelcnn", "-d", "digits", "--seconds", 5, "--seed", seed,
                            "--run-id", run_id, *TINY_ARGS, "-q", log=logs[run_id],
                            GENZOO_LOG_SECONDS="0.02")  # 50 commits a second each
             for seed, run_id in enumerate(ids)}
    reads, failures, stop = [0], [], threading.Event()

    def read_like_the_dashboard():
        reader = RunStore()  # its own connection, as the dashboard's process has
        while not stop.is_set():
            try:
                for record in reader.list_runs():
                    reader.curves(record.run_id)
                    reader.get(record.run_id)
                train_jobs.activities(reader, "web-x")
                reads[0] += 1
            except sqlite3.OperationalError as exc:  # "database is locked", above all
                failures.append(repr(exc))
            except Exception as exc:  # noqa: BLE001  anything else a page would show
                failures.append(repr(exc))

    reader = threading.Thread(target=read_like_the_dashboard, daemon=True)
    try:
        for run_id in ids:
            wait_for(lambda run_id=run_id: bool(store.curves(run_id)), f"{run_id} to log",
                     proc=procs[run_id], log=logs[run_id])
        reader.start()
        at = AppTest.from_file(str(APP), default_timeout=120)
        at.run()  # the Overview page, drawn while both train
        assert not at.exception, [e.value for e in at.exception]
        shown = " ".join(frame.value.to_csv() for frame in at.dataframe)
        assert all(run_id in shown for run_id in ids)
        rendered_while = [run_id for run_id in ids if procs[run_id].poll() is None]
        for run_id in ids:
            assert procs[run_id].wait(timeout=180) == 0, logs[run_id].read_text()
    finally:
        stop.set()
        for proc in procs.values():
            proc.kill()
            proc.wait()
    reader.join(timeout=30)

    assert failures == [] and reads[0] > 0
    assert rendered_while, "both trainings ended before the page was drawn"
    assert sorted(r.run_id for r in store.list_runs()) == sorted(ids)
    for run_id in ids:
        record = store.get(run_id)
        assert record.status == "completed" and record.metrics["test_bits_per_dim"] > 0
        assert points(store, run_id)[-1]["step"] == record.step > 0
        assert list_checkpoints(store.run_dir(run_id))[0].name == f"ckpt-{record.step:08d}.json"
        assert load_run(run_id, store, registry).step == record.step
        assert_one_timeline(store, run_id)
        assert "locked" not in logs[run_id].read_text()
    at.switch_page("views/likelihood.py").run()
    assert not at.exception, [e.value for e in at.exception]
    print(f"\n2 trainings held at once, {reads[0]} dashboard reads, page drawn while "
          f"{', '.join(rendered_while)} trained")


# -- 5. disk full while writing a checkpoint ----------------------------------------------------


def fill_the_disk_at(monkeypatch, which: str, nth: int) -> dict:
    """Make the fsync of the ``nth`` checkpoint's tensor or JSON file fail with ENOSPC, as a
    full disk does; returns a switch (``state["full"] = False`` frees the disk)."""
    real_fsync, state = os.fsync, {"full": True, "seen": 0}

    def fsync(fd):
        name = os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))
        if state["full"] and name.startswith(".ckpt-") and f".{which}." in name:
            state["seen"] += 1
            if state["seen"] == nth:
                raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return state


@pytest.mark.parametrize("which,nth", [("safetensors", 2), ("json", 2), ("safetensors", 1)])
def test_a_full_disk_keeps_the_old_checkpoint_stops_the_run_and_it_resumes(registry,
                                                                          monkeypatch, which,
                                                                          nth):
    store = RunStore()
    disk = fill_the_disk_at(monkeypatch, which, nth)
    with pytest.raises(CheckpointError) as caught:
        start_run(registry, store, "pixelcnn", "digits", steps=12, overrides=TINY,
                  settings=EVERY_5, run_id="full")
    message = str(caught.value)
    run_dir = store.run_dir("full")
    kept = 5 * (nth - 1)
    assert "\n" not in message and str(run_dir) in message
    assert f"checkpoint of step {5 * nth}" in message
    assert "the disk is full (No space left on device)" in message
    assert (f"the previous checkpoint (step {kept}) is kept" if kept
            else "no earlier checkpoint exists") in message
    assert "genzoo resume full" in message
    # nothing of the failed checkpoint, no temporary file, no owner: only the old checkpoint
    # (and the lock a trainer takes the run with, which is never removed: process.LOCK_FILE)
    assert sorted(p.name for p in run_dir.iterdir() if p.name != LOCK_FILE) == (
        [f"ckpt-{kept:08d}.json", f"ckpt-{kept:08d}.safetensors"] if kept else [])
    if kept:
        assert load_checkpoint(run_dir / f"ckpt-{kept:08d}.json").step == kept
    record = store.get("full")
    assert record.status == "interrupted" and record.error == message
    assert [a.status for a in train_jobs.activities(store, "web-x")] == []  # not active
    assert [r["status"] for r in json.loads(run("runs", "--json").stdout)] == ["interrupted"]

    disk["full"] = False  # space again
    resumed = resume_run(registry, store, "full", settings=EVERY_5)
    assert resumed.status == "completed" and resumed.step == 12 and resumed.error is None
    assert [p["step"] for p in points(store, "full")] == list(range(1, 13))
    assert_one_timeline(store, "full")


def test_genzoo_runs_shows_a_run_whose_process_is_gone_as_interrupted(registry):
    """A run left 'running' by a killed trainer (its owner file names a dead process) is listed
    as interrupted with the resume command, before any page has settled it."""
    from genzoo.registry.process import OWNER_FILE

    store = RunStore()
    record = store.create_run(model="pixelcnn", dataset="digits", config={}, seed=0,
                              device="cpu", data_info={}, run_id="orphan")
    store.update("orphan", status="running")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (store.run_dir(record.run_id) / OWNER_FILE).write_text(json.dumps(
        {"pid": dead.pid, "host": socket.gethostname(), "started": None, "since": 0.0}))
    (listed,) = json.loads(run("runs", "--json").stdout)
    assert listed["status"] == "interrupted" and "genzoo resume orphan" in listed["error"]
    assert "interrupted" in run("runs").stdout
    assert store.get("orphan").status == "running"  # shown, not written: the page records it

"""One run, one training process: SIGTERM cancels cleanly, a run id can be chosen, a run that a
live process trains cannot be resumed by a second one, and liveness sees through zombies and
reused pids."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Literal

import pytest

from genzoo.registry.checkpoints import list_checkpoints
from genzoo.registry.config import build_config, field_choices
from genzoo.registry.errors import BadConfig, Cancelled, GenzooError
from genzoo.registry.model import ModelConfig
from genzoo.registry.process import OWNER_FILE, own_run, pid_alive, process_start, read_owner
from genzoo.registry.store import ACTIVE, RunStore
from genzoo.registry.training import LoopSettings, cancel_on_sigterm, resume_run, start_run

from cli_helpers import last_json, run

QUIET = LoopSettings(progress=False, checkpoint_every=100)
TINY = {"hidden": "8", "layers": "1", "batch_size": "16"}


@pytest.fixture(autouse=True)
def builtins_only(monkeypatch):
    monkeypatch.setenv("GENZOO_PLUGINS", "")


def write_owner(run_dir, pid, started=None):
    (run_dir / OWNER_FILE).write_text(json.dumps({"pid": pid, "host": socket.gethostname(),
                                                  "started": started, "since": time.time()}))


def test_sigterm_checkpoints_marks_cancelled_and_the_run_resumes(registry, monkeypatch):
    from genzoo.plugins.pixelcnn import PixelCNN

    original = PixelCNN.training_step
    calls = {"n": 0}
    seen_owner = []

    def terminated_at_7(self, batch, optimizers):
        calls["n"] += 1
        if calls["n"] == 1:
            seen_owner.append(read_owner(store.run_dir(store.list_runs()[0].run_id)))
        if calls["n"] == 7:
            os.kill(os.getpid(), signal.SIGTERM)  # what the dashboard's Cancel sends
        return original(self, batch, optimizers)

    monkeypatch.setattr(PixelCNN, "training_step", terminated_at_7)
    store = RunStore()
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Cancelled), cancel_on_sigterm():
        start_run(registry, store, "pixelcnn", "digits", steps=50, overrides=TINY,
                  settings=QUIET)
    assert signal.getsignal(signal.SIGTERM) is before  # the handler is put back
    (record,) = store.list_runs()
    assert record.status == "cancelled" and record.step == 6
    assert "cancelled at step 6" in record.error
    assert f"genzoo resume {record.run_id}" in record.error
    run_dir = store.run_dir(record.run_id)
    assert [p.name for p in list_checkpoints(run_dir)] == ["ckpt-00000006.json"]
    assert seen_owner[0].pid == os.getpid()  # owned while it trained ...
    assert not (run_dir / OWNER_FILE).exists()  # ... and released when it stopped
    monkeypatch.setattr(PixelCNN, "training_step", original)
    resumed = resume_run(registry, store, record.run_id, steps=8, settings=QUIET)
    assert resumed.status == "completed" and resumed.step == 8 and resumed.error is None


def test_train_takes_a_run_id_and_refuses_a_taken_or_bad_one():
    record = last_json(run("train", "independent", "--dataset", "digits", "--steps", 0,
                           "--run-id", "floor.v1", "--json", "-q"))
    assert record["run_id"] == "floor.v1" and record["status"] == "completed"
    taken = run("train", "independent", "--dataset", "digits", "--steps", 0,
                "--run-id", "floor.v1", ok=False)
    assert taken.exit_code == 2 and "run id 'floor.v1' is taken" in taken.stderr
    for bad in ("../escape", "a/b", "-x", ""):
        result = run("train", "independent", "--dataset", "digits", "--run-id", bad, ok=False)
        assert result.exit_code == 2 and "--run-id" in result.stderr, (bad, result.stderr)
    listed = json.loads(run("runs", "--json").stdout)
    assert [r["run_id"] for r in listed] == ["floor.v1"]  # nothing else written
    assert RunStore().get("floor.v1").status == "completed"  # the first is untouched


def test_a_run_that_a_live_process_trains_is_not_resumed_by_another(registry):
    store = RunStore()
    record = start_run(registry, store, "pixelcnn", "digits", steps=2, overrides=TINY,
                       settings=QUIET)
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        write_owner(store.run_dir(record.run_id), sleeper.pid, process_start(sleeper.pid))
        with pytest.raises(GenzooError, match=f"being trained right now by process "
                                              f"{sleeper.pid}"):
            resume_run(registry, store, record.run_id, steps=4, settings=QUIET)
        assert store.get(record.run_id).target_steps == 2  # nothing changed
    finally:
        sleeper.kill()
        sleeper.wait()
    # the owner is gone now: its stale file is taken over
    resumed = resume_run(registry, store, record.run_id, steps=4, settings=QUIET)
    assert resumed.step == 4 and not (store.run_dir(record.run_id) / OWNER_FILE).exists()


def test_pid_alive_sees_dead_zombie_and_reused_pids(tmp_path):
    me = os.getpid()
    assert pid_alive(me) and pid_alive(me, process_start(me))
    assert not pid_alive(me, process_start(me) + 1)  # the number is reused by someone else
    assert not pid_alive(None) and not pid_alive(0)
    finished = subprocess.Popen(["true"])
    deadline = time.time() + 10
    while pid_alive(finished.pid) and time.time() < deadline:  # a zombie until reaped
        time.sleep(0.05)
    assert not pid_alive(finished.pid)
    finished.wait()
    assert not pid_alive(finished.pid)
    with own_run(tmp_path, "r"):
        owner = read_owner(tmp_path)
        assert owner.pid == me and owner.local and owner.alive()
    assert read_owner(tmp_path) is None


def test_conditional_update_never_overwrites_a_final_status():
    store = RunStore()
    record = store.create_run(model="m", dataset="digits", config={}, seed=0, device="cpu",
                              data_info={})
    store.update(record.run_id, status="completed")
    assert not store.update(record.run_id, when_status=ACTIVE, status="interrupted")
    assert store.get(record.run_id).status == "completed"
    store.update(record.run_id, status="running")
    assert store.update(record.run_id, when_status=ACTIVE, status="interrupted")
    assert store.get(record.run_id).status == "interrupted"


@dataclasses.dataclass
class ChoiceConfig(ModelConfig):
    arch: Literal["conv", "mlp"] = "conv"
    decoder: str = dataclasses.field(default="auto", metadata={"choices": ("auto", "logistic")})
    name: str = "free"


def test_fields_declare_their_choices_and_other_values_are_refused():
    assert field_choices(ChoiceConfig) == {"arch": ("conv", "mlp"),
                                           "decoder": ("auto", "logistic")}
    config = build_config(ChoiceConfig, {"arch": "mlp", "decoder": "logistic", "name": "x"})
    assert (config.arch, config.decoder, config.name) == ("mlp", "logistic", "x")
    with pytest.raises(BadConfig, match="arch='rnn': must be one of conv, mlp"):
        build_config(ChoiceConfig, {"arch": "rnn"})
    with pytest.raises(BadConfig, match="decoder='gauss': must be one of auto, logistic"):
        build_config(ChoiceConfig, {"decoder": "gauss"})


def test_two_resumes_started_together_never_both_train(registry):
    """Ownership is an exclusive lock: started at the same moment, 20 times, one resume
    trains and the other is refused in one line (or, if it comes after, finds nothing left to
    do); no round ends with two trainers, a lost file or a record that disagrees with itself."""
    import threading

    store = RunStore()
    record = start_run(registry, store, "pixelcnn", "digits", steps=1, overrides=TINY,
                       settings=QUIET)
    for round_ in range(20):
        target = 2 + round_
        barrier, outcomes = threading.Barrier(2), []

        def resume(barrier=barrier, outcomes=outcomes, target=target):
            barrier.wait()
            try:
                outcomes.append(resume_run(registry, store, record.run_id, steps=target,
                                           settings=QUIET).status)
            except GenzooError as exc:
                assert "being trained right now" in str(exc), exc
                outcomes.append("refused")

        threads = [threading.Thread(target=resume) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes) in (["completed", "refused"], ["completed", "completed"]), \
            (round_, outcomes)
        now = store.get(record.run_id)
        assert (now.status, now.step, now.error) == ("completed", target, None), (round_, now)
        assert not (store.run_dir(record.run_id) / OWNER_FILE).exists()
        steps = [p["step"] for p in store.curves(record.run_id) if p["name"] == "loss"]
        assert steps == sorted(set(steps)), (round_, steps)  # every step logged once


def test_two_resume_processes_started_together_one_trains(registry):
    store = RunStore()
    record = start_run(registry, store, "pixelcnn", "digits", steps=1, overrides=TINY,
                       settings=QUIET)
    command = [sys.executable, "-m", "genzoo.registry.cli", "resume", record.run_id,
               "--steps", "400", "-q"]
    both = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    results = [(p.wait(120), p.stderr.read()) for p in both]
    codes = sorted(code for code, _ in results)
    refused = [err for code, err in results if code == 2]
    assert codes in ([0, 2], [0, 0]), results
    assert all("being trained right now" in err for err in refused), results
    now = store.get(record.run_id)
    assert (now.status, now.step, now.error) == ("completed", 400, None)


def test_out_of_cpu_memory_leaves_the_run_interrupted_with_a_smaller_batch_suggested():
    """A real allocation failure (the address space capped with prlimit): one line, exit 2,
    the run ``interrupted`` (it stayed ``running`` for ever, its owner file gone)."""
    store = RunStore()
    done = subprocess.run(["prlimit", "--as=2500000000", sys.executable, "-m",
                           "genzoo.registry.cli", "train", "pixelcnn", "--dataset", "digits",
                           "--set", "batch_size=8192", "--set", "hidden=1024", "--steps", "2",
                           "-q"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr
    line = done.stderr.strip().splitlines()[-1]
    assert "out of CPU memory" in line and "batch_size=4096" in line, line
    [record] = store.list_runs()
    assert record.status == "interrupted" and record.error == "out of CPU memory"
    assert not (store.run_dir(record.run_id) / OWNER_FILE).exists()


def test_a_bug_in_a_models_step_marks_the_run_failed_not_running(registry, monkeypatch):
    from genzoo.plugins.pixelcnn import PixelCNN

    def broken(self, *args, **kwargs):
        raise ValueError("a plugin's bug")

    store = RunStore()
    monkeypatch.setattr(PixelCNN, "training_step", broken)
    with pytest.raises(ValueError):
        start_run(registry, store, "pixelcnn", "digits", steps=3, overrides=TINY,
                  settings=QUIET)
    [record] = store.list_runs()
    assert record.status == "failed" and "ValueError at step 1: a plugin's bug" in record.error


def test_a_running_run_that_no_process_holds_reads_as_interrupted(registry):
    import fcntl

    from genzoo.registry.process import LOCK_FILE, as_seen_now

    store = RunStore()
    record = start_run(registry, store, "pixelcnn", "digits", steps=1, overrides=TINY,
                       settings=QUIET)
    store.update(record.run_id, status="running")  # its trainer gone, owner file and all
    seen = as_seen_now(store, store.get(record.run_id))
    assert seen.status == "interrupted" and "without a trace" in seen.error
    lock = os.open(store.run_dir(record.run_id) / LOCK_FILE, os.O_RDWR)
    try:  # a trainer holds it: still running
        fcntl.flock(lock, fcntl.LOCK_EX)
        assert as_seen_now(store, store.get(record.run_id)).status == "running"
    finally:
        os.close(lock)

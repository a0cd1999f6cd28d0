"""The Train page, driven through AppTest: a form built from the model's config dataclass, bad
values refused on the page, a start that launches `genzoo train` with the form's values, and
the runs in progress with their progress, loss curve and Cancel button.

No test here trains: the process start is replaced by a harmless command where a start is
clicked (the real processes are tested in ``test_train_jobs.py``), and a running run is a
record in the store whose trainer is a ``sleep``.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time

import pytest

from genzoo.dashboard import train_jobs
from genzoo.registry.process import OWNER_FILE, process_start
from genzoo.registry.store import RunStore
from page_helpers import array, assert_clean, texts


def start_button(at):
    (button,) = [b for b in at.button if b.label == "Start training"]
    return button


@pytest.fixture
def launches(monkeypatch):
    """Record the commands the page starts, and run a ``sleep`` in their place.

    The stand-in lives until the test ends: one that exited at once (``true``) made the page
    see its run finish within the same script run, and on a busy machine sometimes redraw
    itself (dropping the "Started run" message) before the test could read it.
    """
    started, processes = [], []

    def fake_start(argv, log, env):
        started.append((argv, env))
        processes.append(subprocess.Popen(["sleep", "60"], stdout=log,
                                          stderr=subprocess.STDOUT))
        return processes[-1]

    monkeypatch.setattr(train_jobs, "_start_process", fake_start)
    yield started
    for process in processes:
        process.kill()
        process.wait()


def test_the_form_is_built_from_the_config_and_offers_compatible_choices(app, empty_store):
    at = app("train")
    assert_clean(at)
    assert at.selectbox(key="model").value == "pixelcnn"
    datasets = at.selectbox(key="dataset").options
    assert datasets[0] == "digits" and "mnist" in datasets and "sunspots" not in datasets
    assert at.selectbox(key="device").options == train_jobs.device_choices()
    inputs = {n.key: n.value for n in at.number_input}
    assert inputs["config-pixelcnn-hidden"] == 32 and inputs["config-pixelcnn-dropout"] == 0.3
    assert inputs["steps"] == train_jobs.DEFAULT_STEPS
    assert "Nothing is training" in texts(at.info)

    at.selectbox(key="model").set_value("ar").run()  # a series model: series datasets only
    assert_clean(at)
    datasets = at.selectbox(key="dataset").options
    assert datasets[0] == "sunspots" and "digits" not in datasets
    assert "config-ar-p" in {n.key for n in at.number_input}

    at.selectbox(key="model").set_value("gated-pixelcnn").run()  # a bool field: a checkbox
    assert at.checkbox(key="config-gated-pixelcnn-conditional").value is False

    at.selectbox(key="model").set_value("vqvae-prior").run()  # needs a vqvae run first
    assert "learns from a trained vqvae run" in texts(at.info)
    assert start_button(at).disabled
    assert not {n.key for n in at.number_input} & {"config-vqvae-prior-parent_run"}


@pytest.mark.parametrize("key,value,message", [
    ("config-pixelcnn-batch_size", -4, "batch_size=-4: must be positive"),
    ("config-pixelcnn-lr", 0.0, "lr=0.0: must be positive"),
    ("config-pixelcnn-dropout", 1.5, "dropout must be in [0, 1), got 1.5"),
    ("steps", -1, "steps must be 0 or more"),
])
def test_a_bad_value_is_an_error_on_the_page_and_starts_nothing(app, empty_store, launches,
                                                                key, value, message):
    at = app("train")
    at.number_input(key=key).set_value(value)
    start_button(at).click().run()
    assert not at.exception, texts(at.exception)
    assert message in texts(at.error) and "Not started" in texts(at.error)
    assert "Traceback" not in texts(at.error)
    assert launches == []
    store = RunStore(empty_store)
    assert store.list_runs() == [] and not train_jobs.jobs_dir(store).exists()


def test_start_launches_genzoo_train_with_the_form_values(app, empty_store, launches):
    at = app("train")
    at.number_input(key="config-pixelcnn-hidden").set_value(8)
    at.number_input(key="config-pixelcnn-layers").set_value(1)
    at.number_input(key="steps").set_value(7)
    at.number_input(key="seed").set_value(2)
    start_button(at).click().run()
    assert not at.exception, texts(at.exception)
    ((argv, env),) = launches
    (job,) = train_jobs.list_jobs(RunStore(empty_store))
    assert f"Started run `{job.run_id}`" in texts(at.success)
    command = " ".join(argv[4:])
    assert command == (f"pixelcnn --dataset digits --steps 7 --device cpu --seed 2 --set "
                       f"hidden=8 --set layers=1 --run-id {job.run_id} --quiet")
    assert env["GENZOO_HOME"] == str(empty_store)  # the store this page reads
    assert job.run_id in texts(at.markdown)  # listed with the runs below


@pytest.fixture
def running_run(empty_store):
    """A run that the store says is training, its trainer a ``sleep`` started from a shell."""
    store = RunStore(empty_store)
    record = store.create_run(model="pixelcnn", dataset="digits", config={}, seed=0,
                              device="cpu", data_info={}, target_steps=100)
    store.update(record.run_id, status="running")
    store.log_metrics(record.run_id, 10, {"loss": 2.5, "examples_per_s": 100.0})
    store.log_metrics(record.run_id, 20, {"loss": 2.0, "examples_per_s": 100.0})
    trainer = subprocess.Popen(["sleep", "60"])
    owner = {"pid": trainer.pid, "host": socket.gethostname(),
             "started": process_start(trainer.pid), "since": time.time()}
    (store.run_dir(record.run_id) / OWNER_FILE).write_text(json.dumps(owner))
    yield record, trainer
    trainer.kill()
    trainer.wait()


def test_a_running_run_shows_progress_and_its_loss_curve_and_cancels(app, running_run):
    record, trainer = running_run
    at = app("train")
    assert_clean(at)
    assert f"`{record.run_id}`" in texts(at.markdown) and ":blue[running]" in texts(at.markdown)
    (bar,) = at.get("progress")
    assert bar.proto.value == 20 and bar.proto.text == "step 20 of 100"
    (chart,) = at.get("plotly_chart")
    (trace,) = json.loads(chart.proto.spec)["data"]
    assert list(array(trace["x"])) == [10, 20] and list(array(trace["y"])) == [2.5, 2.0]

    at.button(key=f"cancel-{record.run_id}").click().run()
    assert "asked process" in texts(at.info)
    assert trainer.wait(timeout=10) == -signal.SIGTERM
    at.run()
    assert ":gray[cancelled]" in texts(at.markdown)  # still listed, with an honest status
    assert f"genzoo resume {record.run_id}" in texts(at.warning)
    assert not [b for b in at.button if b.key == f"cancel-{record.run_id}"]

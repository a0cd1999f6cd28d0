"""The Train page, driven through AppTest: a form built from the model's config dataclass, bad
values refused on the page, a click that queues `genzoo train` with the form's values for this
session, and the runs in progress with their place in line, progress, loss curve and Cancel.

No test here trains: the worker pool's start is replaced by a no-op (the pool is tested in
``tests/registry/test_queue.py``), and a running job is a record in the store whose trainer is
a ``sleep``.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time

import pytest

from genzoo.dashboard import access, train_jobs
from genzoo.registry.jobs import JobQueue
from genzoo.registry.process import OWNER_FILE, process_start
from genzoo.registry.store import RunStore

from page_helpers import array, assert_clean, texts


def start_button(at):
    (button,) = [b for b in at.button if b.label == "Queue training"]
    return button


@pytest.fixture
def launches(monkeypatch):
    """Record the pool starts the page asks for, and start none."""
    started = []
    monkeypatch.setattr(train_jobs, "start_pool_process",
                        lambda store, workers=None: started.append(store.home))
    monkeypatch.setattr(train_jobs, "ensure_pool", lambda store: None)
    return started


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
    ("steps", -1, "steps must be 0 or more"),
    ("seconds", 86400.0, "at most 21600 s"),
])
def test_a_bad_value_is_an_error_on_the_page_and_starts_nothing(app, empty_store, launches,
                                                                key, value, message):
    at = app("train")
    if key == "seconds":
        at.radio(key="budget").set_value("seconds").run()
    at.number_input(key=key).set_value(value)
    start_button(at).click().run()
    assert not at.exception, texts(at.exception)
    assert message in texts(at.error) and "Not queued" in texts(at.error)
    assert "Traceback" not in texts(at.error)
    assert launches == []
    store = RunStore(empty_store)
    assert store.list_runs() == [] and JobQueue(store).list() == []


def test_number_inputs_carry_the_configs_declared_ranges(app, empty_store):
    at = app("train")
    batch = at.number_input(key="config-pixelcnn-batch_size")
    assert (batch.min, batch.max) == (1, 8192)
    hidden = at.number_input(key="config-pixelcnn-hidden")
    assert (hidden.min, hidden.max) == (1, 1024)  # PixelCNN's own, not the conventional 2048


def test_queue_submits_genzoo_train_with_the_form_values(app, empty_store, launches):
    at = app("train")
    at.number_input(key="config-pixelcnn-hidden").set_value(8)
    at.number_input(key="config-pixelcnn-layers").set_value(1)
    at.number_input(key="steps").set_value(7)
    at.number_input(key="seed").set_value(2)
    start_button(at).click().run()
    assert not at.exception, texts(at.exception)
    assert launches == [RunStore(empty_store).home]
    (job,) = JobQueue(RunStore(empty_store)).list()
    assert f"Queued run `{job.run_id}`" in texts(at.success)
    assert job.owner == at.session_state[access.SESSION_KEY] and job.owner.startswith("web-")
    command = " ".join(job.request.argv(job.run_id)[4:])
    assert command == (f"pixelcnn --dataset digits --steps 7 --device cpu --seed 2 --set "
                       f"hidden=8 --set layers=1 --run-id {job.run_id} --quiet")
    assert job.run_id in texts(at.markdown) and ":gray[queued]" in texts(at.markdown)
    assert "number 1 in line" in texts(at.caption)
    at.button(key=f"cancel-{job.job_id}").click().run()
    assert "before it started" in texts(at.info)
    assert JobQueue(RunStore(empty_store)).get(job.job_id).status == "cancelled"


def test_a_read_only_dashboard_queues_nothing(app, empty_store, launches, monkeypatch):
    monkeypatch.setenv("GENZOO_READ_ONLY", "1")
    at = app("train")
    assert "read-only" in texts(at.info)
    assert start_button(at).proto.disabled
    assert JobQueue(RunStore(empty_store)).list() == [] and launches == []


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


def test_a_running_run_shows_progress_and_its_loss_curve_and_no_cancel(app, running_run):
    """A run trained from a shell is listed with its progress, but no visitor can stop it."""
    record, trainer = running_run
    at = app("train")
    assert_clean(at)
    assert f"`{record.run_id}`" in texts(at.markdown) and ":blue[running]" in texts(at.markdown)
    (bar,) = at.get("progress")
    assert bar.proto.value == 20 and bar.proto.text == "step 20 of 100"
    (chart,) = at.get("plotly_chart")
    (trace,) = json.loads(chart.proto.spec)["data"]
    assert list(array(trace["x"])) == [10, 20] and list(array(trace["y"])) == [2.5, 2.0]
    assert not [b for b in at.button if str(b.key).startswith("cancel-")]
    assert "only its owner can stop it" in texts(at.caption)
    assert trainer.poll() is None  # untouched

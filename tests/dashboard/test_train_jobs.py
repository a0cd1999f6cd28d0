"""Training started from the dashboard: real ``genzoo train`` processes, followed through the
store, cancelled with SIGTERM, and the checks that refuse a bad request before anything starts.

The two real jobs are started once for the module (each process pays torch's import, several
seconds on a shared CPU): a short run that completes while a long one trains next to it, and
the long one is then cancelled and resumed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import time
from typing import Literal

import pytest
import torch

from genzoo.dashboard import train_jobs
from genzoo.dashboard.train_jobs import TrainRequest
from genzoo.registry.checkpoints import list_checkpoints
from genzoo.registry.errors import GenzooError
from genzoo.registry.model import ModelConfig
from genzoo.registry.process import OWNER_FILE, pid_alive, process_start
from genzoo.registry.runs import load_run
from genzoo.registry.spec import ModelSpec
from genzoo.registry.store import RunStore
from genzoo.registry.training import LoopSettings, resume_run

TINY = {"hidden": "8", "layers": "1", "batch_size": "16"}


def wait_for(condition, what: str, timeout: float = 90.0):
    """Poll ``condition`` until it is true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def status_of(store, run_id: str) -> str:
    return next(a.status for a in train_jobs.activities(store, limit=50) if a.run_id == run_id)


@pytest.fixture(scope="module")
def two_jobs(tmp_path_factory, registry):
    """A short and a long pixelcnn run started at once; yields when the short one completed
    and the long one is training."""
    store = RunStore(tmp_path_factory.mktemp("train-jobs-home"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GENZOO_PLUGINS", "")  # the children load built-ins only: quicker
        patch.setenv("OMP_NUM_THREADS", "1")
        short = train_jobs.launch(registry, store, TrainRequest(
            "pixelcnn", "digits", steps=5, config=TINY, seed=1))
        long = train_jobs.launch(registry, store, TrainRequest(
            "pixelcnn", "digits", seconds=600, config=TINY))
    try:
        wait_for(lambda: status_of(store, short.run_id) == "completed"
                 and not pid_alive(short.pid, short.started)
                 and status_of(store, long.run_id) == "running"
                 and len(store.curves(long.run_id)) > 0, "one run done, the other training")
        yield store, short, long
    finally:
        for job in (short, long):
            if pid_alive(job.pid, job.started):
                os.killpg(job.pid, signal.SIGKILL)


def test_a_short_run_completes_in_the_store_while_another_trains(two_jobs, registry):
    store, short, long = two_jobs
    record = store.get(short.run_id)
    assert record.status == "completed" and record.step == 5 and record.seed == 1
    assert record.config["hidden"] == 8 and record.config["batch_size"] == 16  # the form's values
    assert record.metrics["test_bits_per_dim"] > 0
    assert [p["step"] for p in store.curves(short.run_id) if p["name"] == "loss"][-1] == 5
    (activity,) = [a for a in train_jobs.activities(store) if a.run_id == short.run_id]
    assert activity.job.pid == short.pid and not activity.alive and not activity.cancellable
    assert train_jobs.progress(activity.record, store.curves(short.run_id))[0] == 1.0
    assert "completed after 5 steps" in train_jobs.log_tail(store, short.run_id)
    # the long run leads a session of its own: a closed tab or terminal does not reach it
    assert os.getsid(long.pid) == long.pid != os.getsid(0)
    # it writes next to the short one, in its own folder and under its own id
    assert store.run_dir(long.run_id) != store.run_dir(short.run_id)
    assert json.loads((store.run_dir(long.run_id) / OWNER_FILE).read_text())["pid"] == long.pid
    assert not (store.run_dir(short.run_id) / OWNER_FILE).exists()
    assert load_run(short.run_id, store, registry).step == 5


def test_cancel_stops_the_process_keeps_a_checkpoint_and_the_run_resumes(two_jobs, registry):
    store, short, long = two_jobs
    (live,) = [a for a in train_jobs.activities(store) if a.run_id == long.run_id]
    assert live.status == "running" and live.cancellable
    assert "asked process" in train_jobs.cancel(store, long.run_id)
    # job_activity reaps the child once it has exited (the dashboard does the same)
    wait_for(lambda: train_jobs.job_activity(store, long).alive is False,
             "the cancelled process to exit", 30)
    with pytest.raises(ProcessLookupError):
        os.killpg(long.pid, 0)  # nothing is left of its process group, not even a zombie
    record = store.get(long.run_id)
    assert record.status == "cancelled" and record.step > 0
    assert f"cancelled at step {record.step}" in record.error
    assert list_checkpoints(store.run_dir(long.run_id))[0].name == f"ckpt-{record.step:08d}.json"
    assert not (store.run_dir(long.run_id) / OWNER_FILE).exists()
    (activity,) = [a for a in train_jobs.activities(store) if a.run_id == long.run_id]
    assert activity.status == "cancelled" and not activity.cancellable
    assert "not training any more" in train_jobs.cancel(store, long.run_id)
    # both runs are whole: the cancelled one resumes to completion, the other still loads
    resumed = resume_run(registry, store, long.run_id, steps=record.step + 2,
                         settings=LoopSettings(progress=False))
    assert resumed.status == "completed" and resumed.step == record.step + 2
    assert store.get(short.run_id).status == "completed"
    assert load_run(short.run_id, store, registry).step == 5


def fake_job(store, record, pid, started=None) -> train_jobs.Job:
    job = train_jobs.Job(run_id=record.run_id, pid=pid, host=socket.gethostname(), argv=[],
                         created_at=time.time(), model=record.model, dataset=record.dataset,
                         started=started)
    train_jobs.jobs_dir(store).mkdir(parents=True, exist_ok=True)
    (train_jobs.jobs_dir(store) / f"{record.run_id}.json").write_text(json.dumps(job.to_json()))
    return job


def running_record(store, **fields):
    record = store.create_run(model="pixelcnn", dataset="digits", config={}, seed=0,
                              device="cpu", data_info={}, target_steps=100)
    store.update(record.run_id, status="running", **fields)
    return store.get(record.run_id)


def test_a_running_run_whose_process_is_gone_is_marked_interrupted():
    store = RunStore()
    record = running_record(store)
    finished = subprocess.Popen(["true"])
    finished.wait()
    fake_job(store, record, finished.pid)
    (activity,) = train_jobs.activities(store)
    assert activity.status == "interrupted" and not activity.cancellable
    assert f"genzoo resume {record.run_id}" in activity.note
    assert store.get(record.run_id).status == "interrupted"  # written, so the CLI agrees
    # a job whose process ended before it created its run failed, and says why
    os.makedirs(train_jobs.jobs_dir(store), exist_ok=True)
    train_jobs.log_path(store, "pixelcnn-digits-gone").write_text(
        "loading\nerror: unknown dataset 'digitz'; known datasets: digits\n")
    gone = fake_job(store, dataclasses.replace(record, run_id="pixelcnn-digits-gone"),
                    finished.pid)
    activity = train_jobs.job_activity(store, gone)
    assert activity.status == "failed" and activity.note.startswith("error: unknown dataset")


def test_a_job_whose_run_was_deleted_after_training_is_deleted_not_failed():
    store = RunStore()
    record = running_record(store)
    finished = subprocess.Popen(["true"])
    finished.wait()
    job = fake_job(store, record, finished.pid)
    train_jobs.log_path(store, record.run_id).write_text(
        f"{record.run_id}: completed after 100 steps (2.0 s, fp32); test bits/dim 2.0 (exact)\n")
    store.delete(record.run_id)  # the trainer's report names it: the run existed, then went
    activity = train_jobs.job_activity(store, job)
    assert activity.status == "deleted" and not activity.cancellable
    assert activity.note.startswith(f"run {record.run_id} was deleted from the runs store")


def test_cancel_of_a_run_started_elsewhere_signals_only_its_trainer():
    store = RunStore()
    record = running_record(store)
    trainer = subprocess.Popen(["sleep", "30"])  # stands in for a `genzoo train` from a shell
    try:
        owner = {"pid": trainer.pid, "host": socket.gethostname(),
                 "started": process_start(trainer.pid), "since": time.time()}
        (store.run_dir(record.run_id) / OWNER_FILE).write_text(json.dumps(owner))
        (activity,) = train_jobs.activities(store)
        assert activity.status == "running" and activity.cancellable and activity.job is None
        assert "asked process" in train_jobs.cancel(store, record.run_id)
        assert trainer.wait(timeout=10) == -signal.SIGTERM  # our own group was not signalled
    finally:
        trainer.kill()
        trainer.wait()
    (activity,) = train_jobs.activities(store)  # it stays listed, with an honest status
    assert activity.status == "cancelled" and store.get(record.run_id).status == "cancelled"


BAD_REQUESTS = [
    (TrainRequest("pixelcnn", "digits", steps=5, config={"batch_size": "-4"}),
     "batch_size=-4: must be positive"),
    (TrainRequest("pixelcnn", "digits", steps=5, config={"lr": "0.0"}), "lr=0.0: must be positive"),
    (TrainRequest("pixelcnn", "digits", steps=5, config={"dropout": "1.5"}),
     "dropout must be in [0, 1), got 1.5"),
    (TrainRequest("pixelcnn", "digits", steps=5, config={"hidden": "0"}),
     "hidden must be at least 1"),
    (TrainRequest("vae", "digits", steps=5, config={"decoder": "bernoulli"}),
     "decoder=bernoulli needs binary data"),  # the model's own check, built on meta
    (TrainRequest("pixelcnn", "sunspots", steps=5), "works on image data"),
    (TrainRequest("ar", "digits", steps=5), "works on series data"),
    (TrainRequest("pixelcnn", "digits", steps=-1), "steps must be 0 or more"),
    (TrainRequest("pixelcnn", "digits", seconds=0.0), "seconds must be positive"),
    (TrainRequest("pixelcnn", "digits"), "either a number of steps or a number of seconds"),
    (TrainRequest("pixelcnn", "shapes", steps=5, dataset_options={"size": "big"}),
     "size='big': expected int"),
    (TrainRequest("vqvae-prior", None, steps=5), "learns from a trained 'vqvae' run"),
    (TrainRequest("pixelcnn", "digits", steps=5, device="tpu"), "device 'tpu' is not available"),
]


@pytest.mark.parametrize("request_,message", BAD_REQUESTS,
                         ids=[m for _, m in BAD_REQUESTS])
def test_a_bad_request_names_the_problem_and_starts_nothing(registry, request_, message):
    store = RunStore()
    with pytest.raises(GenzooError) as caught:
        train_jobs.launch(registry, store, request_)
    assert message in train_jobs.form_message(caught.value)
    assert "--set" not in train_jobs.form_message(caught.value)
    assert store.list_runs() == [] and not train_jobs.jobs_dir(store).exists()


def test_devices_offer_cuda_only_with_a_gpu(registry):
    assert train_jobs.device_choices() == (["cpu", "cuda"] if torch.cuda.is_available()
                                           else ["cpu"])
    if not torch.cuda.is_available():
        with pytest.raises(GenzooError, match="device 'cuda' is not available"):
            train_jobs.check_request(registry, RunStore(),
                                     TrainRequest("pixelcnn", "digits", steps=1, device="cuda"))


@dataclasses.dataclass
class ChoiceConfig(ModelConfig):
    arch: Literal["conv", "mlp"] = "conv"
    decoder: str = dataclasses.field(default="auto", metadata={"choices": ("auto", "logistic")})
    note: str = ""
    warm: bool = False
    scale: float | None = None
    sizes: tuple = (1, 2)  # not settable from the command line: no input


def test_form_fields_follow_the_config_dataclass(registry):
    fields = {f.name: f for f in train_jobs.form_fields(registry.model("pixelcnn"))}
    assert (fields["batch_size"].kind, fields["batch_size"].default) == ("int", 64)
    assert (fields["dropout"].kind, fields["dropout"].default) == ("float", 0.3)
    assert fields["lr"].kind == "float" and not fields["lr"].optional
    gan = {f.name: f for f in train_jobs.form_fields(registry.model("gan"))}
    assert gan["lr"].kind == "float" and gan["lr"].optional and gan["lr"].default is None
    prior = {f.name for f in train_jobs.form_fields(registry.model("vqvae-prior"))}
    assert "hidden" in prior and not prior & set(train_jobs.PARENT_FIELDS)
    base = registry.model("pixelcnn")
    spec = ModelSpec(name="choosy", model_class=base.model_class, config_class=ChoiceConfig,
                     family="test", density="exact", sampling="parallel", data="image")
    kinds = {f.name: (f.kind, f.choices) for f in train_jobs.form_fields(spec)}
    assert kinds == {"batch_size": ("int", ()), "lr": ("float", ()),
                     "arch": ("choice", ("conv", "mlp")),
                     "decoder": ("choice", ("auto", "logistic")), "note": ("text", ()),
                     "warm": ("bool", ()), "scale": ("float", ())}
    changed = train_jobs.changed_settings(train_jobs.form_fields(spec),
                                          {"batch_size": 64, "lr": 0.01, "warm": True,
                                           "scale": None, "arch": "mlp"})
    assert changed == {"lr": "0.01", "warm": "true", "arch": "mlp"}
    assert train_jobs.as_setting(None) == "none" and train_jobs.as_setting(2e-3) == "0.002"


def test_datasets_match_the_kind_of_model(registry):
    images = train_jobs.compatible_datasets(registry, registry.model("pixelcnn"))
    series = train_jobs.compatible_datasets(registry, registry.model("ar"))
    assert images[0] == "digits" and series[0] == "sunspots"
    assert {registry.datasets[d].kind for d in images} == {"image"}
    assert {registry.datasets[d].kind for d in series} == {"series"}
    assert set(images) | set(series) == set(registry.datasets)
    assert [f.name for f in train_jobs.dataset_fields(registry, "shapes")] == ["size"]


def test_the_command_is_genzoo_train_with_the_run_id():
    argv = TrainRequest("pixelcnn", "digits", seconds=30.0, device="cpu", seed=3,
                        config={"hidden": "8"}, dataset_options={"size": "16"}).argv("r-1")
    assert argv[1:5] == ["-m", "genzoo.registry.cli", "train", "pixelcnn"]
    text = " ".join(argv[4:])
    assert text == ("pixelcnn --dataset digits --seconds 30.0 --device cpu --seed 3 "
                    "--set hidden=8 --set size=16 --run-id r-1 --quiet")
    staged = TrainRequest("vqvae-prior", None, steps=10, parent="vqvae-digits-1").argv("r-2")
    assert "--parent" in staged and "--dataset" not in staged

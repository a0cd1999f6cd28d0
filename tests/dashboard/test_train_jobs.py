"""The Train page's logic: requests checked once by the registry and queued for a browser
session, the caps a served dashboard holds, cancel by the owner only, a read-only server that
refuses on the server side, and the form built from the config dataclass.

The queue and the worker pool themselves (real trainer processes, cancel, a pool killed
mid-queue) are tested in ``tests/registry/test_queue.py``.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import subprocess
import time
from typing import Literal

import pytest
import torch

from genzoo.dashboard import access, train_jobs
from genzoo.dashboard.train_jobs import TrainRequest
from genzoo.registry.errors import GenzooError
from genzoo.registry.jobs import JobQueue, QueueFull
from genzoo.registry.model import ModelConfig
from genzoo.registry.process import OWNER_FILE, process_start
from genzoo.registry.spec import ModelSpec
from genzoo.registry.store import RunStore

TINY = {"hidden": "8", "layers": "1", "batch_size": "16"}
REQUEST = TrainRequest("pixelcnn", "digits", steps=5, config=TINY)


@pytest.fixture
def no_pool(monkeypatch):
    """Queue without starting a worker pool (the pool has its own tests); records the calls."""
    calls = []
    monkeypatch.setattr(train_jobs, "start_pool_process", lambda store, workers=None:
                        calls.append(store.home))
    return calls


def test_a_request_is_queued_for_its_session_and_a_pool_is_started(registry, no_pool):
    store = RunStore()
    job = train_jobs.submit(registry, store, REQUEST, session="web-a")
    assert job.status == "queued" and job.owner == "web-a" and no_pool == [store.home]
    (activity,) = train_jobs.activities(store, "web-a")
    assert activity.status == "queued" and activity.place == 1 and activity.cancellable
    assert "number 1 in line" in activity.note
    assert train_jobs.activities(store, "web-b") == []  # another visitor's list is their own


def test_a_session_holds_at_most_its_cap_and_a_full_queue_says_so(registry, no_pool,
                                                                  monkeypatch):
    store = RunStore()
    for _ in range(access.session_cap()):
        train_jobs.submit(registry, store, REQUEST, session="web-a")
    with pytest.raises(QueueFull, match="at most 2 at a time"):
        train_jobs.submit(registry, store, REQUEST, session="web-a")
    monkeypatch.setenv("GENZOO_QUEUE_JOBS", "3")
    train_jobs.submit(registry, store, REQUEST, session="web-b")
    with pytest.raises(QueueFull, match="the queue is full"):
        train_jobs.submit(registry, store, REQUEST, session="web-c")
    assert len(JobQueue(store).list()) == 3


def test_a_session_cancels_its_own_jobs_only(registry, no_pool):
    store = RunStore()
    job = train_jobs.submit(registry, store, REQUEST, session="web-a")
    with pytest.raises(GenzooError, match="only the session that queued it"):
        train_jobs.cancel(store, job.job_id, session="web-b")
    assert "before it started" in train_jobs.cancel(store, job.job_id, session="web-a")
    (activity,) = train_jobs.activities(store, "web-a")
    assert activity.status == "cancelled" and not activity.cancellable


def test_a_read_only_dashboard_refuses_on_the_server_side(registry, no_pool, monkeypatch):
    store = RunStore()
    job = train_jobs.submit(registry, store, REQUEST, session="web-a")
    monkeypatch.setenv("GENZOO_READ_ONLY", "1")
    with pytest.raises(access.ReadOnly, match="read-only"):
        train_jobs.submit(registry, store, REQUEST, session="web-a")
    with pytest.raises(access.ReadOnly, match="read-only"):
        train_jobs.cancel(store, job.job_id, session="web-a")
    assert len(JobQueue(store).list()) == 1 and JobQueue(store).get(job.job_id).open


def test_a_run_started_from_a_terminal_is_listed_but_never_cancellable(registry):
    store = RunStore()
    record = store.create_run(model="pixelcnn", dataset="digits", config={}, seed=0,
                              device="cpu", data_info={}, target_steps=100)
    store.update(record.run_id, status="running")
    trainer = subprocess.Popen(["sleep", "60"])
    try:
        owner = {"pid": trainer.pid, "host": socket.gethostname(),
                 "started": process_start(trainer.pid), "since": time.time()}
        (store.run_dir(record.run_id) / OWNER_FILE).write_text(json.dumps(owner))
        (activity,) = train_jobs.activities(store, "web-a")
        assert activity.status == "running" and not activity.cancellable
        assert "started from a terminal" in activity.note
    finally:
        trainer.kill()
        trainer.wait()
    (activity,) = train_jobs.activities(store, "web-a")  # its trainer died without a word
    assert activity.status == "interrupted" and "genzoo resume" in activity.note


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
    (TrainRequest("pixelcnn", "digits", seconds=86400.0), "at most"),
    (TrainRequest("pixelcnn", "digits", steps=5, config={"hidden": "100000"}), "hidden"),
    (TrainRequest("pixelcnn", "shapes", steps=5, dataset_options={"size": "big"}),
     "size='big': expected int"),
    (TrainRequest("vqvae-prior", None, steps=5), "learns from a trained 'vqvae' run"),
    (TrainRequest("pixelcnn", "digits", steps=5, device="tpu"), "unknown device 'tpu'"),
]


@pytest.mark.parametrize("request_,message", BAD_REQUESTS,
                         ids=[m for _, m in BAD_REQUESTS])
def test_a_bad_request_names_the_problem_and_queues_nothing(registry, no_pool, request_,
                                                           message):
    store = RunStore()
    with pytest.raises(GenzooError) as caught:
        train_jobs.submit(registry, store, request_, session="web-a")
    assert message in train_jobs.form_message(caught.value)
    assert "--set" not in train_jobs.form_message(caught.value)
    assert store.list_runs() == [] and JobQueue(store).list() == [] and no_pool == []


def test_devices_offer_cuda_only_with_a_gpu(registry):
    assert train_jobs.device_choices() == (["cpu", "cuda"] if torch.cuda.is_available()
                                           else ["cpu"])
    if not torch.cuda.is_available():
        with pytest.raises(GenzooError, match="no CUDA GPU is available"):
            train_jobs.check_request(registry, RunStore(),
                                     TrainRequest("pixelcnn", "digits", steps=1, device="cuda"))
    assert train_jobs.TrainRequest("pixelcnn", "digits").device == "auto"


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
                    "--set hidden=8 --set data.size=16 --run-id r-1 --quiet")  # the dataset's
    tagged = TrainRequest("independent", "digits", steps=0, tags=["compare:x"]).argv("r-3")
    assert tagged[-5:] == ["--tag", "compare:x", "--run-id", "r-3", "--quiet"]
    staged = TrainRequest("vqvae-prior", None, steps=10, parent="vqvae-digits-1").argv("r-2")
    assert "--parent" in staged and "--dataset" not in staged

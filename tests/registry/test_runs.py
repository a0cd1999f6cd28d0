"""Runs: the store, atomic checkpoints, resume, NaN handling, device choice."""

from __future__ import annotations

import json

import pytest
import torch

from genzoo.registry.checkpoints import list_checkpoints, load_checkpoint, load_latest
from genzoo.registry.errors import CheckpointError, GenzooError, TrainingDiverged
from genzoo.registry.runs import load_run
from genzoo.registry.store import RunStore
from genzoo.registry.training import LoopSettings, resume_run, start_run

QUIET = LoopSettings(progress=False, checkpoint_every=5)
TINY = {"hidden": "8", "layers": "1", "batch_size": "16"}


def test_store_lives_under_genzoo_home(isolated_home):
    store = RunStore()
    assert store.home == isolated_home
    assert (isolated_home / "runs.sqlite").exists()


def test_train_writes_record_curves_and_checkpoint(registry):
    store = RunStore()
    record = start_run(registry, store, "pixelcnn", "digits", steps=12, overrides=TINY,
                       settings=QUIET)
    assert record.status == "completed" and record.step == 12
    assert record.metrics["bound"] == "exact" and record.metrics["test_bits_per_dim"] > 0
    names = {point["name"] for point in store.curves(record.run_id)}
    assert {"loss", "bits_per_dim", "examples_per_s"} <= names
    checkpoints = list_checkpoints(store.run_dir(record.run_id))
    assert [p.name for p in checkpoints] == ["ckpt-00000012.json", "ckpt-00000010.json"]
    # no temporary files are left behind by the atomic writes
    assert not [p for p in store.run_dir(record.run_id).iterdir() if p.name.endswith(".tmp")]


def test_resume_continues_and_matches_an_uninterrupted_run(registry):
    store = RunStore()
    straight = start_run(registry, store, "pixelcnn", "digits", steps=10, overrides=TINY,
                         settings=QUIET, seed=3)
    halted = start_run(registry, store, "pixelcnn", "digits", steps=5, overrides=TINY,
                       settings=QUIET, seed=3)
    resumed = resume_run(registry, store, halted.run_id, steps=10, settings=QUIET)
    assert resumed.step == 10
    a = load_run(straight.run_id, store, registry).model.state_dict()
    b = load_run(resumed.run_id, store, registry).model.state_dict()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)


def test_loading_never_unpickles_and_names_a_corrupt_file(registry, tmp_path):
    store = RunStore()
    record = start_run(registry, store, "independent", "digits", steps=0, settings=QUIET)
    (tensors,) = store.run_dir(record.run_id).glob("*.safetensors")
    # a pickle payload where the safetensors file should be: refused, nothing executed
    marker = tmp_path / "pwned"
    payload = f"cos\nsystem\n(S'touch {marker}'\ntR.".encode()
    tensors.write_bytes(payload)
    with pytest.raises(CheckpointError, match=tensors.name):
        load_run(record.run_id, store, registry)
    assert not marker.exists()


def test_corrupt_newest_checkpoint_falls_back_to_the_previous(registry):
    store = RunStore()
    record = start_run(registry, store, "pixelcnn", "digits", steps=10, overrides=TINY,
                       settings=QUIET)
    newest, older = list_checkpoints(store.run_dir(record.run_id))
    newest.with_suffix(".safetensors").write_bytes(b"\x00" * 100)  # truncated / garbage
    checkpoint, errors = load_latest(store.run_dir(record.run_id))
    assert checkpoint.step == 5 and "corrupt" in errors[0]
    assert load_run(record.run_id, store, registry).step == 5


def test_checkpoint_json_is_plain_data(registry):
    store = RunStore()
    record = start_run(registry, store, "pixelcnn", "digits", steps=5, overrides=TINY,
                       settings=QUIET)
    meta = json.loads(list_checkpoints(store.run_dir(record.run_id))[0].read_text())
    assert meta["model"] == "pixelcnn" and meta["step"] == 5 and len(meta["sha256"]) == 64
    loaded = load_checkpoint(list_checkpoints(store.run_dir(record.run_id))[0])
    assert loaded.optimizer_states and "exp_avg" in loaded.optimizer_states[0]["state"][0]


def test_nan_loss_stops_with_the_step_and_keeps_the_last_good_checkpoint(registry, monkeypatch):
    from genzoo.plugins.pixelcnn import PixelCNN

    original = PixelCNN.loss
    calls = {"n": 0}

    def poisoned(self, batch):
        calls["n"] += 1
        parts = original(self, batch)
        if calls["n"] == 8:
            parts["loss"] = parts["loss"] * float("nan")
        return parts

    monkeypatch.setattr(PixelCNN, "loss", poisoned)
    store = RunStore()
    with pytest.raises(TrainingDiverged, match=r"step 8.*kept the last good checkpoint \(step 5\)"):
        start_run(registry, store, "pixelcnn", "digits", steps=20, overrides=TINY, settings=QUIET)
    (record,) = store.list_runs()
    assert record.status == "failed" and "step 8" in record.error
    assert load_run(record.run_id, store, registry).step == 5


def test_bad_input_is_refused_before_anything_is_written(registry):
    store = RunStore()
    with pytest.raises(GenzooError, match="unknown config key 'hiden'.*fields: batch_size"):
        start_run(registry, store, "pixelcnn", "digits", overrides={"hiden": "3"}, settings=QUIET)
    with pytest.raises(GenzooError, match="expected int"):
        start_run(registry, store, "pixelcnn", "digits", overrides={"hidden": "big"},
                  settings=QUIET)
    with pytest.raises(GenzooError, match="works on image data"):
        start_run(registry, store, "pixelcnn", "sunspots", settings=QUIET)
    with pytest.raises(GenzooError, match="unknown dataset"):
        start_run(registry, store, "pixelcnn", "nope", settings=QUIET)
    assert store.list_runs() == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine with no GPU")
def test_cuda_without_a_gpu_is_a_clear_error(registry):
    with pytest.raises(GenzooError, match="no CUDA GPU is available"):
        start_run(registry, RunStore(), "pixelcnn", "digits", device="cuda", settings=QUIET)


def test_seconds_budget(registry):
    record = start_run(registry, RunStore(), "pixelcnn", "digits", seconds=1.0, overrides=TINY,
                       settings=QUIET)
    assert record.status == "completed" and record.step > 0
    assert 1.0 <= record.train_seconds < 5.0


def test_image_runs_record_their_sampling_speed(registry):
    record = start_run(registry, RunStore(), "pixelcnn", "digits", steps=2, overrides=TINY,
                       settings=QUIET)
    assert record.metrics["sample_ms_per_image_b1"] > 0
    assert record.metrics["sample_ms_per_image_b64"] > 0


def test_a_checkpoint_from_another_architecture_is_explained(registry):
    store = RunStore()
    record = start_run(registry, store, "pixelcnn", "digits", steps=2, overrides=TINY,
                       settings=QUIET)
    store.update(record.run_id, config={**record.config, "layers": 2})  # the model "changed"
    with pytest.raises(CheckpointError, match=r"missing: net\.2\..*train it again"):
        load_run(record.run_id, store, registry)


def test_demo_queues_only_what_is_missing_and_retrains_a_stale_run(registry, monkeypatch):
    from genzoo.registry import demo
    from genzoo.registry import runs as demo_runs
    from genzoo.registry.compare import ComparisonSpec
    from genzoo.registry.jobs import JobQueue
    from genzoo.registry.training import start_run

    spec = ComparisonSpec(models=("independent",), datasets=("digits",), steps=0, quality=False)
    monkeypatch.setattr(demo, "demo_specs", lambda registry, scale=1.0: {"demo-x": spec})
    store = RunStore()
    names, queued = demo.queue_demo(registry, store)
    assert names == ["demo-x"] and [j.run_id for j in queued] == ["demo-x-independent-digits-s0"]
    assert demo.queue_demo(registry, store)[1] == []  # queued already: not twice
    JobQueue(store).cancel(queued[0].job_id)
    # trained (here, in-process: the worker pool has its own tests) under the demo's run id
    start_run(registry, store, "independent", "digits", steps=0, run_id=queued[0].run_id,
              settings=QUIET)
    assert demo.queue_demo(registry, store)[1] == []  # completed: nothing to queue
    # found loadable once, it is not loaded again on every start, until its model's code changes
    loads = []
    real_load = demo_runs.load_run
    monkeypatch.setattr(demo_runs, "load_run", lambda *a, **k: loads.append(a) or real_load(*a))
    assert demo.queue_demo(registry, store)[1] == [] and loads == []
    monkeypatch.setattr(demo, "code_fingerprint", lambda registry, model: "edited since")
    assert demo.queue_demo(registry, store)[1] == [] and len(loads) == 1
    for path in store.run_dir(queued[0].run_id).glob("*.safetensors"):
        path.write_bytes(b"stale")
    messages = []
    _, again = demo.queue_demo(registry, store, log=messages.append)
    assert [j.run_id for j in again] == [queued[0].run_id]
    assert "no longer loads" in messages[0]


def test_interrupted_run_keeps_its_progress_and_resumes(registry, monkeypatch):
    from genzoo.plugins.pixelcnn import PixelCNN

    original = PixelCNN.training_step
    calls = {"n": 0}

    def interrupted_at_7(self, batch, optimizers):
        calls["n"] += 1
        if calls["n"] == 7:
            raise KeyboardInterrupt
        return original(self, batch, optimizers)

    monkeypatch.setattr(PixelCNN, "training_step", interrupted_at_7)
    store = RunStore()
    with pytest.raises(KeyboardInterrupt):
        start_run(registry, store, "pixelcnn", "digits", steps=12, overrides=TINY,
                  settings=QUIET)
    (record,) = store.list_runs()
    assert record.status == "interrupted" and record.step == 6  # six steps done, all saved
    monkeypatch.setattr(PixelCNN, "training_step", original)
    resumed = resume_run(registry, store, record.run_id, settings=QUIET)
    assert resumed.status == "completed" and resumed.step == 12
    steps_logged = [p["step"] for p in store.curves(record.run_id) if p["name"] == "loss"]
    assert steps_logged == sorted(steps_logged) and steps_logged[-1] == 12

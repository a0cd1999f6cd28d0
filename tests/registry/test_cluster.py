"""``genzoo compare --executor``: a comparison's runs as submitit jobs, each in a private home,
imported into the main store by the one process that writes it. End to end with submitit's
local executor; the Slurm parameters are checked without a cluster."""

from __future__ import annotations

import builtins
import json
import os
import shutil

import pytest

from genzoo.registry import compare
from genzoo.registry.cluster import CLUSTER_FOLDER, executor_options, run_on_executor
from genzoo.registry.errors import BadConfig, GenzooError
from genzoo.registry.jobs import JobQueue
from genzoo.registry.requests import TrainRequest
from genzoo.registry.store import RunStore

from cli_helpers import last_json, run

submitit = pytest.importorskip("submitit")

TINY = ["--set", "pixelcnn.hidden=8", "--set", "pixelcnn.layers=1",
        "--set", "vqvae.hidden=8", "--set", "vqvae.codebook_size=4", "--set", "vqvae.code_dim=4",
        "--set", "vqvae-prior.hidden=8"]


@pytest.fixture(autouse=True)
def builtins_only(monkeypatch):
    monkeypatch.setenv("GENZOO_PLUGINS", "")


def submitted(folder) -> int:
    """How many jobs submitit was given in this folder."""
    return len(list(folder.glob("*_submitted.pkl"))) if folder.exists() else 0


# -- the pieces ---------------------------------------------------------------------------------


def test_claim_job_takes_a_queued_job_once_and_only_after_its_parent():
    queue = JobQueue(RunStore())
    request = TrainRequest("independent", "digits", steps=0)
    parent = queue.submit(request, run_id="p")
    child = queue.submit(request, run_id="c", after=parent.job_id)
    other = queue.submit(request, run_id="o", after=parent.job_id)
    me = {"pid": os.getpid(), "host": "here", "executor": "submitit-local"}
    assert queue.claim_job(child.job_id, me) is None  # its parent has not completed
    taken = queue.claim_job(parent.job_id, me)
    assert taken.status == "running" and taken.worker == me and taken.attempts == 1
    assert queue.claim_job(parent.job_id, me) is None  # not twice
    queue.finish(parent.job_id, "completed")
    assert queue.claim_job(child.job_id, me).status == "running"
    queue.finish(child.job_id, "failed", "diverged")
    grandchild = queue.submit(request, run_id="g", after=child.job_id)
    assert queue.claim_job(grandchild.job_id, me) is None
    assert queue.get(grandchild.job_id).status == "failed"
    assert f"job #{child.job_id}" in queue.get(grandchild.job_id).message
    assert queue.claim(me).job_id == other.job_id  # claim() still takes the rest in order


def test_import_run_copies_folder_record_and_curves_and_replaces_a_copy(tmp_path):
    node, main = RunStore(tmp_path / "node"), RunStore(tmp_path / "main")
    record = node.create_run(model="independent", dataset="digits", config={"a": 1}, seed=3,
                             device="cpu", data_info={"shape": [1, 8, 8]}, run_id="r1",
                             tags=["compare:x"])
    node.log_metrics("r1", 0, {"loss": 2.0})
    node.log_metrics("r1", 1, {"loss": 1.5, "kl": 0.25})
    node.update("r1", status="completed", step=1, metrics={"test_bits_per_dim": 1.25})
    (node.run_dir("r1") / "ckpt-00000001.safetensors").write_bytes(b"weights")
    (node.run_dir("r1") / "owner.json").write_text("{}")
    main.create_run(model="independent", dataset="digits", config={}, seed=0, device="cpu",
                    data_info={}, run_id="r1")
    (main.run_dir("r1") / "stale.txt").write_text("old")
    main.log_metrics("r1", 5, {"loss": 9.0})

    got = main.import_run(node, "r1")
    assert got == node.get("r1") and got.status == "completed" and got.tags == ["compare:x"]
    assert got.created_at == record.created_at
    assert main.curves("r1") == node.curves("r1") and len(main.curves("r1")) == 3
    files = sorted(p.name for p in main.run_dir("r1").iterdir())
    assert files == ["ckpt-00000001.safetensors"]  # the old copy gone, no owner file
    assert not [p for p in (main.home / "runs").iterdir() if p.name.startswith(".")]
    with pytest.raises(GenzooError, match="no run with id 'nope'"):
        main.import_run(node, "nope")


def test_slurm_parameters_are_checked_before_anything_is_queued():
    options = executor_options("slurm", partition="gpu", time_min=90,
                               pairs=["gpus_per_node=1", "mem_gb=16", "account=lab",
                                      "slurm_qos=short"])
    assert options == {"slurm_partition": "gpu", "timeout_min": 90, "gpus_per_node": 1,
                       "mem_gb": 16.0, "slurm_account": "lab", "slurm_qos": "short"}
    for kind, kwargs, message in [
        ("slurm", {"pairs": ["flavour=x"]}, "not a submitit or Slurm parameter"),
        ("slurm", {"pairs": ["gpus_per_node=two"]}, "gpus_per_node takes a whole number"),
        ("slurm", {"pairs": ["nodes=2"]}, "one task on one node"),
        ("slurm", {"pairs": ["gpus"]}, "KEY=VALUE"),
        ("slurm", {"time_min": 0}, "--slurm-time-min 0"),
        ("submitit-local", {"partition": "gpu"}, "local executor takes only a time limit"),
        ("local", {"partition": "gpu"}, "apply to --executor slurm"),
    ]:
        with pytest.raises(BadConfig, match=message):
            executor_options(kind, **kwargs)
    assert executor_options("submitit-local", time_min=5) == {"timeout_min": 5}


@pytest.mark.skipif(shutil.which("srun") is not None, reason="a Slurm machine")
def test_slurm_away_from_a_cluster_is_a_one_line_error_and_queues_nothing():
    result = run("compare", "--models", "independent", "--steps", "0", "--executor", "slurm",
                 "--slurm-partition", "gpu", ok=False)
    assert result.exit_code == 2, result.output
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: --executor slurm: sbatch is not found here")
    store = RunStore()
    assert JobQueue(store).list() == [] and compare.list_comparisons(store) == []


def test_without_submitit_the_executor_is_a_one_line_error_and_queues_nothing(monkeypatch):
    real = builtins.__import__

    def no_submitit(name, *args, **kwargs):
        if name == "submitit" or name.startswith("submitit."):
            raise ImportError("No module named 'submitit'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_submitit)
    result = run("compare", "--models", "independent", "--steps", "0", "--executor",
                 "submitit-local", ok=False)
    assert result.exit_code == 2, result.output
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: ") and "pip install 'genzoo[cluster]'" in line
    store = RunStore()
    assert JobQueue(store).list() == [] and compare.list_comparisons(store) == []


# -- end to end -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_comparison_runs_on_submitit_and_lands_in_the_main_store(registry, tmp_path):
    from genzoo.registry.runs import load_run

    args = ["compare", "--models", "independent,pixelcnn,vqvae,vqvae-prior", "--dataset", "digits",
            "--seeds", "0", "--steps", "3", "--no-quality", "--name", "grid", *TINY,
            "--workers", "3", "--executor", "submitit-local", "--out", tmp_path, "--json"]
    record = last_json(run(*args))
    assert record["jobs"] == {"done": 4, "running": 0, "queued": 0, "failed": 0,
                              "cancelled": 0}
    rows = {row["model"]: row for row in record["rows"]}
    assert set(rows) == {"independent", "pixelcnn", "vqvae", "vqvae-prior"}
    for model in ("independent", "pixelcnn", "vqvae-prior"):
        assert rows[model]["status"] == "completed" and 0 < rows[model]["test_mean"] < 8
    assert rows["vqvae-prior"]["bound"] == "elbo"

    store = RunStore()
    ids = {m: f"grid-{m}-digits-s0" for m in rows}
    root = store.home / CLUSTER_FOLDER / "grid"
    for model, run_id in ids.items():
        got = store.get(run_id)
        assert got.status == "completed" and (got.step == 3 or model == "independent")
        loaded = load_run(run_id, store, registry)  # the checkpoint is in the main store
        assert loaded.record.run_id == run_id
        assert store.run_dir(run_id).is_dir() and not (store.run_dir(run_id) / "owner.json"
                                                       ).exists()
        node = RunStore(root / run_id)  # its private home, written only by its cluster job
        assert store.curves(run_id) == node.curves(run_id)
    assert any(p["name"] == "loss" for p in store.curves(ids["pixelcnn"]))

    queue = JobQueue(store)
    jobs = {j.run_id: j for j in queue.list(comparison="grid")}
    assert all(j.worker["executor"] == "submitit-local" for j in jobs.values())
    prior, vq = jobs[ids["vqvae-prior"]], jobs[ids["vqvae"]]
    assert prior.after == vq.job_id and prior.started_at >= vq.finished_at  # in order
    assert store.get(ids["vqvae-prior"]).config["parent_run"] == ids["vqvae"]
    assert submitted(root / "submitit") == 4
    assert json.loads((tmp_path / "grid.json").read_text())["name"] == "grid"

    again = run(*args[:-1])  # the same command: nothing queued, nothing submitted
    assert "0 jobs queued" in again.stderr and "0 submitit-local jobs submitted" in again.stderr
    assert submitted(root / "submitit") == 4 and len(store.list_runs()) == 4
    assert "completed" in again.stdout


@pytest.mark.slow
def test_an_interrupted_submission_puts_its_jobs_back_and_a_failing_one_says_why(registry):
    store = RunStore()
    spec = compare.ComparisonSpec(models=("independent",), datasets=("digits",), steps=0,
                                  quality=False)
    _, queued = compare.submit(registry, store, spec, "stop")
    job = queued[0]

    def interrupt(line):
        if line.startswith("submitted"):
            raise KeyboardInterrupt

    with pytest.raises(GenzooError, match="interrupted; the cluster jobs of stop"):
        run_on_executor(registry, store, "stop", "submitit-local", workers=1, log=interrupt)
    queue = JobQueue(store)
    back = queue.get(job.job_id)
    assert back.status == "queued" and back.attempts == 0 and back.worker is None

    # a command that fails on the node fails its job with its one-line error, and the job
    # behind it with it, never submitted
    bad = queue.submit(TrainRequest("pixelcnn", "digits", steps=1, config={"hidden": "x"}),
                       run_id="stop-bad", comparison="stop")
    child = queue.submit(TrainRequest("pixelcnn", "digits", steps=1), run_id="stop-child",
                         comparison="stop", after=bad.job_id)
    counts = run_on_executor(registry, store, "stop", "submitit-local", workers=2)
    assert counts == {"submitted": 2, "completed": 1, "failed": 1, "cancelled": 0}
    assert store.get(job.run_id).status == "completed"
    failed = queue.get(bad.job_id)
    assert failed.status == "failed" and "hidden" in failed.message
    assert "\n" not in failed.message and "Traceback" not in failed.message
    assert queue.get(child.job_id).status == "failed"


@pytest.mark.slow
def test_a_preempted_cluster_job_is_requeued_and_resumes_its_run(tmp_path):
    """submitit's USR2 (time limit near, or preemption): the trainer checkpoints, submitit
    requeues the task, and the task resumes the run rather than training it again."""
    import signal
    import sys
    import time
    from pathlib import Path

    from genzoo.registry.cluster import ClusterTask

    home = tmp_path / "node"
    private = RunStore(home)
    cli = [sys.executable, "-m", "genzoo.registry.cli"]
    train = cli + ["train", "pixelcnn", "--dataset", "digits", "--steps", "200", "--set",
                   "hidden=8", "--set", "layers=1", "--run-id", "pre", "--quiet"]
    task = ClusterTask(train, {"GENZOO_HOME": str(home), "OMP_NUM_THREADS": "1"},
                       cli + ["resume", "pre", "--quiet"], str(private.run_dir("pre")))
    executor = submitit.LocalExecutor(folder=tmp_path / "submitit")
    executor.update_parameters(timeout_min=5)
    future = executor.submit(task)
    deadline = time.time() + 90
    while time.time() < deadline and not (private.run_dir("pre").is_dir()
                                          and private.curves("pre")):
        time.sleep(0.2)  # training, with points logged
    # what submitit's local controller does before the time limit: USR2 to its task
    controller = future._process.pid
    tasks = Path(f"/proc/{controller}/task/{controller}/children").read_text().split()
    assert len(tasks) == 1
    os.kill(int(tasks[0]), signal.SIGUSR2)
    assert future.result() == 0
    record = private.get("pre")
    assert record.status == "completed" and record.step == 200
    said = future.stdout()
    assert "cli train pixelcnn" in said and "cli resume pre" in said, said

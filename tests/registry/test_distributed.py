"""Data-parallel training with torch.distributed: ``genzoo train --nproc 2`` on the CPU (gloo,
through torchrun) follows the single-process run at the same global batch step by step."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from genzoo.plugins.gan import GAN
from genzoo.plugins.vae import VAE
from genzoo.registry import GenzooError
from genzoo.registry.distributed import (
    FollowerStore,
    World,
    check_model_class,
    current_world,
    shard,
)
from genzoo.registry.store import RunStore
from genzoo.registry.training import LoopSettings, resume_run, start_run

from cli_helpers import run

# No dropout: each process draws its own dropout masks, so with dropout the two runs would be
# the same only in distribution. Everything else (initial weights, batches) is the same.
TINY = {"hidden": 4, "layers": 1, "dropout": 0.0, "batch_size": 16}
STEPS = 12


def genzoo(home, *args, env_extra=None):
    """``genzoo ARGS`` in a fresh interpreter (torchrun needs a real command), one thread each."""
    env = {**os.environ, "GENZOO_HOME": str(home), "OMP_NUM_THREADS": "1",
           "GENZOO_PLUGINS": "", **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "genzoo.registry.cli", *map(str, args)],
                          env=env, capture_output=True, text=True, timeout=300)


def loss_curve(store: RunStore, run_id: str) -> list[tuple[int, float]]:
    return [(p["step"], p["value"]) for p in store.curves(run_id) if p["name"] == "loss"]


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory):
    """A run of 12 steps in 2 processes (gloo), logged at every step; its store's home."""
    home = tmp_path_factory.mktemp("ddp-home")
    result = genzoo(home, "train", "pixelcnn", "-d", "digits", "--steps", STEPS, "--nproc", 2,
                    "--run-id", "ddp-run", "--json", "-q",
                    *[f"--set={k}={v}" for k, v in TINY.items()],
                    env_extra={"GENZOO_LOG_SECONDS": "0"})
    assert result.returncode == 0, result.stdout + result.stderr
    return home, json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_two_processes_follow_the_single_process_loss_curve(two_process_run, registry):
    home, record = two_process_run
    assert record["status"] == "completed" and record["step"] == STEPS
    assert record["settings"]["nproc"] == 2 and record["config"]["batch_size"] == 16
    single = start_run(registry, RunStore(), "pixelcnn", "digits", overrides=dict(TINY),
                       steps=STEPS, device="cpu", settings=LoopSettings(progress=False,
                                                                        log_seconds=0))
    ddp_curve, single_curve = loss_curve(RunStore(home), "ddp-run"), loss_curve(RunStore(),
                                                                               single.run_id)
    assert [s for s, _ in ddp_curve] == [s for s, _ in single_curve] == list(range(1, STEPS + 1))
    for (step, ddp_loss), (_, single_loss) in zip(ddp_curve, single_curve):
        assert ddp_loss == pytest.approx(single_loss, rel=1e-4), step  # the global batch's loss
    assert ddp_curve[-1][1] < ddp_curve[0][1]  # and it learns
    assert record["metrics"]["test_bits_per_dim"] == pytest.approx(
        single.metrics["test_bits_per_dim"], rel=1e-5)
    # one writer: the run is recorded once, with one point per step (rank 1 wrote nothing)
    assert [r.run_id for r in RunStore(home).list_runs()] == ["ddp-run"]


@pytest.mark.slow
def test_a_two_process_run_resumes_in_one_process(two_process_run, registry, tmp_path):
    import shutil

    home, _ = two_process_run
    copy = tmp_path / "copy"
    shutil.copytree(home, copy)
    record = resume_run(registry, RunStore(copy), "ddp-run", steps=STEPS + 3,
                        settings=LoopSettings(progress=False))
    assert record.status == "completed" and record.step == STEPS + 3


def test_nproc_refusals_are_one_line_and_start_nothing(isolated_home):
    cases = [
        (["--seconds", 5], "--nproc needs --steps"),
        (["--steps", 2, "--set", "batch_size=15"], "batch_size=15 does not split over --nproc 2"),
        (["--steps", 2, "--compile"], "--compile with --nproc is not supported"),
    ]
    for extra, says in cases:
        result = run("train", "pixelcnn", "-d", "digits", "--nproc", 2, *extra, ok=False)
        assert result.exit_code == 2 and says in result.output, result.output
    gan = run("train", "gan", "-d", "digits", "--nproc", 2, "--steps", 2, ok=False)
    assert gan.exit_code == 2 and "GAN trains with its own training_step" in gan.output
    assert RunStore().list_runs() == []


def test_which_models_distribute():
    check_model_class(VAE)  # adds to the default step only: declared distributable
    with pytest.raises(GenzooError, match="several optimizers or players"):
        check_model_class(GAN)


def test_the_world_comes_from_torchruns_environment():
    assert current_world({}) == World()
    assert current_world({"WORLD_SIZE": "1", "RANK": "0"}).distributed is False
    world = current_world({"WORLD_SIZE": "4", "RANK": "2", "LOCAL_RANK": "0"})
    assert (world.rank, world.size, world.local_rank) == (2, 4, 0)
    assert world.distributed and not world.leader


def test_the_slices_of_every_process_make_up_the_global_batch():
    batch, labels = torch.arange(12).reshape(12, 1), torch.arange(12) * 10
    parts = [shard(batch, {"labels": labels}, World(rank=r, size=3)) for r in range(3)]
    assert torch.equal(torch.cat([b for b, _ in parts]), batch)
    assert torch.equal(torch.cat([c["labels"] for _, c in parts]), labels)
    assert shard(batch, {}, World())[0] is batch  # alone: the whole batch


def test_a_follower_writes_nothing():
    follower = FollowerStore(record="the record")
    assert follower.get("any") == "the record"
    assert follower.update("any", status="completed") is False
    assert follower.merge_metrics("any", {"x": 1.0}) == {}

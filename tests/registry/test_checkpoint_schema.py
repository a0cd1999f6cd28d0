"""A checkpoint's JSON and tensors are checked before they are used (issue 19, part 3): values
out of range, JSON nested past Python's limit, weights, optimizer groups or random states that
do not fit the run's model, a missing integrity hash, a run folder that is a link. Each is one
line naming the file (or the older checkpoint is used, with a warning); never a traceback."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3

import pytest
from safetensors.torch import load, save

from genzoo.registry.checkpoints import list_checkpoints, meta_digest
from genzoo.registry.store import RunStore

from cli_helpers import run, train

TINY = ["--set", "hidden=8", "--set", "layers=1", "--set", "batch_size=16"]


@pytest.fixture
def two_checkpoints(monkeypatch):
    """A PixelCNN run with checkpoints at steps 2 and 4; its id and folder."""
    from genzoo.registry import training

    real = training.LoopSettings

    def every_two(*args, **kwargs):
        settings = real(*args, **kwargs)
        settings.checkpoint_every = 2
        return settings

    monkeypatch.setattr(training, "LoopSettings", every_two)
    run_id = train("pixelcnn", "--dataset", "digits", "--steps", 4, *TINY)
    monkeypatch.setattr(training, "LoopSettings", real)
    folder = RunStore().run_dir(run_id)
    assert [p.name for p in list_checkpoints(folder)][:2] == ["ckpt-00000004.json",
                                                               "ckpt-00000002.json"]
    return run_id, folder


def rewrite(json_path, change, *, tensors=None) -> None:
    """Change a checkpoint's JSON (and tensors) and hash it again, as a careful forger would:
    only the schema checks stand in the way."""
    meta = json.loads(json_path.read_text())
    if tensors is not None:
        tensor_path = json_path.with_suffix(".safetensors")
        changed = tensors(load(tensor_path.read_bytes()))
        payload = save(changed)
        tensor_path.write_bytes(payload)
        meta["sha256"] = hashlib.sha256(payload).hexdigest()
    change(meta)
    if "meta_sha256" in meta:
        meta["meta_sha256"] = meta_digest(meta)
    json_path.write_text(json.dumps(meta))


def one_line_refusal(result, *words):
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output
    line = result.stderr.strip().splitlines()[-1]
    for word in words:
        assert word in line, (word, line)
    return line


def test_json_nested_past_the_limit_falls_back_to_the_older_checkpoint(two_checkpoints):
    run_id, folder = two_checkpoints
    (folder / "ckpt-00000004.json").write_text("[" * 200_000 + "]" * 200_000)
    evaluated = run("eval", run_id)
    assert "nested too deeply" in evaluated.stderr and "older checkpoint" in evaluated.stderr
    resumed = run("resume", run_id, "--steps", 6, "-q")
    assert resumed.exit_code == 0
    assert RunStore().get(run_id).step == 6


@pytest.mark.parametrize("seconds", [-1e12, float("nan"), float("inf"), "3", True])
def test_a_train_seconds_that_is_not_a_duration_is_refused(two_checkpoints, seconds):
    run_id, folder = two_checkpoints
    for json_path in list_checkpoints(folder):
        rewrite(json_path, lambda meta: meta.update(train_seconds=seconds))
    one_line_refusal(run("resume", run_id, "--seconds", 3, ok=False), "train_seconds",
                     "cannot resume")
    record = RunStore().get(run_id)
    assert record.status == "completed" and record.step == 4  # untouched, not 'running'


def test_the_metadata_hash_is_required_of_this_format_and_optional_for_the_old(two_checkpoints):
    run_id, folder = two_checkpoints
    newest = folder / "ckpt-00000004.json"
    rewrite(newest, lambda meta: meta.pop("meta_sha256"))
    evaluated = run("eval", run_id)
    assert "meta_sha256" in evaluated.stderr  # refused; the step-2 checkpoint was used
    rewrite(newest, lambda meta: meta.update(format=1))  # as an older genzoo wrote it
    evaluated = run("eval", run_id)
    assert "written by an older genzoo" in evaluated.stderr
    assert "older checkpoint" not in evaluated.stderr  # read, with the warning


def test_weights_that_do_not_fit_the_config_say_so_on_resume(two_checkpoints, isolated_home):
    run_id, _ = two_checkpoints
    with sqlite3.connect(isolated_home / "runs.sqlite") as db:
        config = json.loads(db.execute("SELECT config FROM runs WHERE run_id = ?",
                                       (run_id,)).fetchone()[0])
        config["hidden"] = 12
        db.execute("UPDATE runs SET config = ? WHERE run_id = ?", (json.dumps(config), run_id))
    one_line_refusal(run("resume", run_id, "--steps", 6, ok=False), "does not fit model",
                     "different shape")


def test_a_random_state_of_the_wrong_dtype_is_named(two_checkpoints):
    run_id, folder = two_checkpoints

    def floats(tensors):
        tensors["rng.torch"] = tensors["rng.torch"].float()
        return tensors

    for json_path in list_checkpoints(folder):
        rewrite(json_path, lambda meta: None, tensors=floats)
    one_line_refusal(run("resume", run_id, "--steps", 6, ok=False), "'torch' random state",
                     "not a byte tensor")


def test_changed_optimizer_groups_are_named(two_checkpoints):
    run_id, folder = two_checkpoints

    def fewer_params(meta):
        group = meta["optimizers"][0]["param_groups"][0]
        group["params"] = group["params"][:1]

    for json_path in list_checkpoints(folder):
        rewrite(json_path, fewer_params)
    one_line_refusal(run("resume", run_id, "--steps", 6, ok=False), "optimizer 0",
                     "does not fit")


def test_a_run_folder_that_is_a_link_is_never_followed(two_checkpoints, tmp_path):
    run_id, folder = two_checkpoints
    elsewhere = tmp_path / "elsewhere"
    folder.rename(elsewhere)
    foreign = elsewhere / "ckpt-99999999.json"
    foreign.write_text("someone else's file\n")
    os.symlink(elsewhere, folder)
    for args in (["resume", run_id, "--steps", 6], ["eval", run_id]):
        one_line_refusal(run(*args, ok=False), "is a link", str(folder))
    assert foreign.read_text() == "someone else's file\n"  # nothing pruned out there


@pytest.mark.parametrize("lost", ["one tensor", "a parameter's whole state"])
def test_optimizer_tensors_lost_from_the_file_are_named(two_checkpoints, lost):
    run_id, folder = two_checkpoints

    def drop(tensors):
        names = sorted(n for n in tensors if n.startswith("optim.0.1."))
        assert names  # Adam keeps step, exp_avg and exp_avg_sq for parameter 1
        for name in names if lost != "one tensor" else [n for n in names if "exp_avg" in n][:1]:
            del tensors[name]
        return tensors

    for json_path in list_checkpoints(folder):
        rewrite(json_path, lambda meta: None, tensors=drop)
    line = one_line_refusal(run("resume", run_id, "--steps", 6, ok=False), "parameter 1",
                            "lacks")
    assert "exp_avg" in line


def test_a_state_tensor_lost_where_no_keys_were_recorded_is_still_named(two_checkpoints):
    """An older checkpoint records no state keys: the other parameters' keys stand for them."""
    run_id, folder = two_checkpoints

    def drop(tensors):
        del tensors["optim.0.1.exp_avg_sq"]
        return tensors

    for json_path in list_checkpoints(folder):
        rewrite(json_path, lambda meta: meta["optimizers"][0].pop("state_keys"), tensors=drop)
    one_line_refusal(run("resume", run_id, "--steps", 6, ok=False), "parameter 1",
                     "lacks exp_avg_sq")

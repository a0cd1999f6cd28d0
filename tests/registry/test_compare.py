"""``genzoo compare``: one budget for every run, stored, only what is missing trained again, one
table of mean ± std over seeds; bad input refused before anything is queued."""

from __future__ import annotations

import json
import math

import pytest

from genzoo.registry import compare
from genzoo.registry.jobs import JobQueue
from genzoo.registry.store import RunStore

from cli_helpers import last_json, run

TINY = ["--set", "pixelcnn.hidden=8", "--set", "pixelcnn.layers=1"]


def nothing_queued():
    store = RunStore()
    assert JobQueue(store).list() == [] and compare.list_comparisons(store) == []


@pytest.mark.parametrize("args, message", [
    (["--models", "pixelcnn,nope", "--steps", "2"], "unknown model 'nope'"),
    (["--dataset", "digits,nowhere", "--steps", "2"], "unknown dataset 'nowhere'"),
    (["--seeds", "0,x", "--steps", "2"], "--seeds '0,x'"),
    (["--seeds", "0,,1", "--steps", "2"], "without empty items"),
    (["--seeds", "-3", "--steps", "2"], "--seeds '-3'"),
    (["--steps", "-1"], "--steps must be 0 or more"),
    (["--seconds", "0"], "--seconds must be positive"),
    (["--seconds", "nan"], "--seconds must be positive"),
    ([], "same budget"),
    (["--steps", "2", "--workers", "0"], "--workers 0"),
    (["--steps", "2", "--set", "hidden=8"], "MODEL.KEY=VALUE"),
    (["--models", "pixelcnn", "--steps", "2", "--set", "vae.latent_dim=2"],
     "'vae' is not among"),
    (["--models", "pixelcnn", "--steps", "2", "--set", "pixelcnn.hidden=x"], "hidden"),
    (["--name", "bad name", "--steps", "2"], "--name 'bad name'"),
])
def test_bad_input_is_one_line_exit_2_and_queues_nothing(args, message):
    result = run("compare", *args, ok=False)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and message in lines[-1], result.stderr
    nothing_queued()


def test_a_model_that_does_not_apply_is_skipped_with_why(registry):
    cells = compare.plan(registry, compare.ComparisonSpec(
        models=("ar", "independent"), datasets=("digits",), steps=1), "x", log=(lines := []).append)
    assert [c.model for c in cells] == ["independent"]
    assert lines == ["skipping ar on digits: ar models series data, digits is an image "
                     "dataset"]


def test_a_second_stage_gets_its_parent_added_and_ordered_first(registry):
    lines = []
    cells = compare.plan(registry, compare.ComparisonSpec(
        models=("vqvae-prior",), datasets=("digits",), seeds=(0, 1), steps=1), "x", lines.append)
    assert [c.model for c in cells] == ["vqvae", "vqvae", "vqvae-prior", "vqvae-prior"]
    assert "adding vqvae" in lines[0]
    # listed before its parent, alphabetically: still queued after it
    cells = compare.plan(registry, compare.ComparisonSpec(
        models=("codeformer", "vqvae"), datasets=("digits",), steps=1), "x")
    assert [c.model for c in cells] == ["vqvae", "codeformer"]


def test_default_models_are_every_one_that_applies(registry):
    models = compare.applicable_models(registry, "digits")
    assert "pixelcnn" in models and "gan" in models and "ar" not in models
    assert compare.applicable_models(registry, "sunspots") == ["ar", "neural-ar"]


def test_seed_ranges_and_the_mean_and_std():
    assert compare.parse_seeds("0-2,5") == [0, 1, 2, 5]
    mean, std = compare._mean_std([1.0, 2.0, 3.0, float("nan"), None])
    assert mean == 2.0 and math.isclose(std, 1.0)
    assert compare._mean_std([4.0]) == (4.0, None)
    assert compare.format_cell(0.81234, 0.0041) == "0.812 ± 0.004"


@pytest.mark.slow
def test_a_comparison_trains_stores_tabulates_and_trains_only_what_is_missing(tmp_path):
    args = ["compare", "--models", "independent,pixelcnn", "--dataset", "digits", "--seeds",
            "0,1", "--steps", "3", "--workers", "2", "--no-quality", "--name", "tiny", *TINY,
            "--out", tmp_path, "--json"]
    record = last_json(run(*args))
    rows = {row["model"]: row for row in record["rows"]}
    assert set(rows) == {"independent", "pixelcnn"}
    for row in rows.values():
        assert row["seeds_done"] == 2 and row["status"] == "completed"
        assert row["unit"] == "bits/dim" and row["bound"] == "exact"
        assert 0 < row["test_mean"] < 8
    assert rows["pixelcnn"]["test_std"] is not None  # two seeds: a spread
    store = RunStore()
    runs = store.list_runs()
    assert {r.run_id for r in runs} == {f"tiny-{m}-digits-s{s}" for m in ("independent",
                                                                           "pixelcnn")
                                        for s in (0, 1)}
    assert all(r.target_steps == 3 and "compare:tiny" in r.tags for r in runs)
    csv = (tmp_path / "tiny.csv").read_text()
    assert csv.splitlines()[0].startswith("model,dataset,seeds_done")
    assert json.loads((tmp_path / "tiny.json").read_text())["spec"]["steps"] == 3
    # the same spec again: nothing to train, the same table
    again = run(*args[:-1])
    assert "0 jobs queued" in again.stderr
    assert len(store.list_runs()) == 4 and "tiny" in run("comparisons").stdout
    # the same name with another spec is refused
    other = run(*[a if a != "3" else "4" for a in args], ok=False)
    assert other.exit_code == 2 and "exists with another spec" in other.stderr


@pytest.mark.slow
def test_an_interrupted_run_of_a_comparison_is_resumed_by_the_next(tmp_path):
    """A run left cancelled (its trainer stopped) is resumed from its checkpoint by the same
    comparison run again, not trained from scratch."""
    args = ["compare", "--models", "pixelcnn", "--seeds", "0", "--steps", "4", "--no-quality",
            "--name", "again", *TINY, "--json"]
    run(*args)
    store = RunStore()
    store.update("again-pixelcnn-digits-s0", status="cancelled", target_steps=8)
    with store._connect() as db:  # as if the job had been taken and its worker stopped
        db.execute("UPDATE jobs SET status = 'cancelled'")
    record = last_json(run(*args))
    assert record["jobs"]["done"] == 1 and record["jobs"]["cancelled"] == 1  # the resume
    done = store.get("again-pixelcnn-digits-s0")
    assert done.status == "completed" and done.step == 8
    queue = JobQueue(store)
    assert "resume again-pixelcnn-digits-s0" in queue.log_path(queue.list()[-1]).read_text()


def test_a_restoration_model_gets_a_restore_job_after_its_training(registry):
    """Its claims name the restoration gains, which only `genzoo restore RUN --table` measures:
    the comparison queues that measurement behind the training, and the pool runs it once."""
    from genzoo.registry.pool import job_command

    store = RunStore()
    name, queued = compare.submit(registry, store, compare.ComparisonSpec(
        models=("codeformer",), datasets=("digits",), steps=2), "restore-me")
    jobs = {(j.kind, j.run_id): j for j in queued}
    vqvae, codeformer = "restore-me-vqvae-digits-s0", "restore-me-codeformer-digits-s0"
    assert set(jobs) == {("train", vqvae), ("train", codeformer), ("quality", codeformer),
                         ("restore", codeformer)}
    assert jobs[("restore", codeformer)].after == jobs[("train", codeformer)].job_id
    no_measuring = compare.ComparisonSpec(models=("codeformer",), datasets=("digits",), steps=2,
                                          quality=False)
    _, quiet = compare.submit(registry, store, no_measuring, "restore-quietly")
    assert {j.kind for j in quiet} == {"train"}

    restore = jobs[("restore", codeformer)]
    store.create_run(model="codeformer", dataset="digits", config={}, seed=0, device="cpu",
                     data_info={}, run_id=codeformer)
    with pytest.raises(Exception, match="not completed: nothing to measure"):
        job_command(store, restore)
    store.update(codeformer, status="completed")
    assert job_command(store, restore)[-4:] == ["restore", codeformer, "--table", "--json"]
    store.merge_metrics(codeformer, {"restoration_psnr_gain_db": 1.5})
    assert job_command(store, restore) is None  # measured already: nothing left to do

"""A user's image files as a dataset, end to end: trained on from the command line, stored with
their identity (absolute path and content hash), grouped as one dataset, and a run whose data
changed since it trained says so (and is not resumed on other data)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from genzoo.registry.plugins import get_registry
from genzoo.registry.runs import dataset_label, load_run, split_settings
from genzoo.registry.store import RunStore

from cli_helpers import last_json, run, train


def write_npz(path, seed=0, n=60):
    """Binary 6x6 images with two classes: a bar at the top or at the bottom."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    images = (rng.random((n, 6, 6)) < 0.1).astype(np.uint8)
    images[labels == 0, 0, :] = 1
    images[labels == 1, 5, :] = 1
    np.savez(path, images=images, labels=labels)
    return path


def test_a_run_on_an_npz_stores_its_path_and_hash_and_loads_again(tmp_path):
    data = write_npz(tmp_path / "bars.npz")
    run_id = train("independent", "--dataset", data, "--steps", "1")
    assert run_id.startswith("independent-bars-")
    record = RunStore().get(run_id)
    assert record.dataset == str(data.resolve())
    identity = record.dataset_identity
    assert identity["name"] == "bars.npz" and identity["format"] == "npz"
    assert len(identity["sha256"]) == 64
    assert record.data_info["levels"] == 2 and record.data_info["shape"] == [1, 6, 6]
    assert dataset_label(record.dataset) == "bars.npz"
    loaded = load_run(run_id, RunStore(), get_registry())
    assert loaded.notes == [] and len(loaded.data.val) > 0  # the validation split too
    # a second run on the same file by another spelling of its path is the same dataset
    other = train("independent", "--dataset", f"{tmp_path}/./bars.npz", "--steps", "1")
    assert RunStore().get(other).dataset == record.dataset


def test_a_run_whose_data_changed_says_so_and_is_not_resumed_on_it(tmp_path):
    data = write_npz(tmp_path / "bars.npz")
    run_id = train("pixelcnn", "--dataset", data, "--steps", "2", "--set", "hidden=4")
    write_npz(data, seed=1)  # other images at the same path
    loaded = load_run(run_id, RunStore(), get_registry())
    assert any("changed since run" in w and str(data.resolve()) in w for w in loaded.notes)
    result = run("eval", run_id, ok=False)
    assert result.exit_code == 0 and "changed since run" in result.output
    result = run("resume", run_id, "--steps", "4", ok=False)
    assert result.exit_code == 2 and "start a new run" in result.output
    data.unlink()
    result = run("eval", run_id, ok=False)
    assert result.exit_code == 2
    assert "not there any more" in result.output and "put the files back" in result.output


def test_dataset_options_and_a_key_both_claim(tmp_path):
    data = write_npz(tmp_path / "bars.npz")
    registry = get_registry()
    vae = registry.model("vae")
    with pytest.raises(Exception, match="data.channels=... for the dataset's"):
        split_settings(registry, vae, str(data), {"channels": "1"})
    model, dataset = split_settings(registry, vae, str(data),
                                    {"data.channels": "1", "model.channels": "8", "levels": "2"})
    assert model == {"channels": "8"} and dataset == {"channels": "1", "levels": "2"}
    result = run("train", "independent", "--dataset", data, "--set", "data.colour=1", ok=False)
    assert result.exit_code == 2 and "no option 'colour'" in result.output


def test_a_missing_path_and_a_pickle_are_one_line_errors(tmp_path):
    result = run("train", "independent", "--dataset", tmp_path / "nope", ok=False)
    assert result.exit_code == 2 and "nope" in result.output
    assert "Traceback" not in result.output
    (tmp_path / "batches.pkl").write_bytes(b"\x80\x04K\x01.")
    result = run("train", "independent", "--dataset", tmp_path / "batches.pkl", ok=False)
    assert result.exit_code == 2 and "unpickle" in result.output
    assert RunStore().list_runs() == []  # nothing was recorded


def test_runs_json_names_the_user_dataset_by_path(tmp_path):
    data = write_npz(tmp_path / "bars.npz")
    run_id = train("independent", "--dataset", data, "--steps", "1")
    listed = last_json(run("runs", "--json"))
    rows = listed if isinstance(listed, list) else listed.get("runs", [])
    assert any(r["run_id"] == run_id and r["dataset"] == str(data.resolve()) for r in rows), \
        json.dumps(listed)[:500]


def test_a_comparison_takes_a_user_s_files_by_absolute_path(tmp_path, monkeypatch):
    from genzoo.registry import compare as cmp
    from genzoo.registry.errors import NotFound
    from genzoo.registry.runs import absolute_dataset

    registry = get_registry()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = write_npz(tmp_path / "a" / "bars.npz"), write_npz(tmp_path / "b" / "bars.npz")
    monkeypatch.chdir(tmp_path / "a")
    assert absolute_dataset(registry, "bars.npz") == str(first.resolve())
    assert absolute_dataset(registry, "digits") == "digits"
    spec = cmp.ComparisonSpec(models=("independent", "ar"), steps=1,
                              datasets=(str(first.resolve()), str(second.resolve())))
    cells = cmp.plan(registry, spec, "c")
    assert [c.model for c in cells] == ["independent", "independent"]  # ar models series
    assert len({c.run_id for c in cells}) == 2  # two folders' bars.npz are two datasets
    assert all("bars.npz" in c.run_id for c in cells)
    with pytest.raises(NotFound, match="or a path to a CSV file or to your own images"):
        cmp.plan(registry, cmp.ComparisonSpec(models=("vae",), datasets=("nothere",), steps=1),
                 "c")

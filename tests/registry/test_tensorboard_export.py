"""``genzoo export RUN_ID... --tensorboard DIR``: the run's curves, final numbers, config and a
sample grid as TensorBoard events, read back with TensorBoard's own reader."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from genzoo.registry.errors import GenzooError
from genzoo.registry.store import RunStore
from genzoo.registry.tensorboard_export import export_tensorboard, image_grid

from cli_helpers import last_json, run

event_accumulator = pytest.importorskip(
    "tensorboard.backend.event_processing.event_accumulator")


def read_events(folder):
    """Everything TensorBoard reads from one run's folder (no sampling down: size guidance 0)."""
    guidance = {kind: 0 for kind in event_accumulator.DEFAULT_SIZE_GUIDANCE}
    accumulator = event_accumulator.EventAccumulator(str(folder), size_guidance=guidance)
    return accumulator.Reload()


@pytest.fixture
def trained(registry):
    """A tiny PixelCNN run that logged every step (three steps: points at steps 1, 2, 3)."""
    from genzoo.registry.training import LoopSettings, start_run

    store = RunStore()
    record = start_run(registry, store, "pixelcnn", "digits", steps=3, seed=0, device="cpu",
                       overrides={"hidden": "8", "layers": "1"},
                       settings=LoopSettings(progress=False, log_seconds=0))
    return store, record


def test_export_writes_every_point_the_final_numbers_the_config_and_a_sample_grid(
        trained, tmp_path):
    store, record = trained
    result = run("export", record.run_id, "--tensorboard", tmp_path / "tb", "--json")
    row = last_json(result)["runs"][0]
    assert row["warnings"] == [] and row["path"] == str(tmp_path / "tb" / record.run_id)
    events = read_events(tmp_path / "tb" / record.run_id)
    tags = events.Tags()

    points = store.curves(record.run_id)
    names = sorted({p["name"] for p in points})
    assert {"loss", "bits_per_dim"} <= set(names)
    assert {f"train/{name}" for name in names} <= set(tags["scalars"])
    for name in names:
        mine = [p for p in points if p["name"] == name]
        read = events.Scalars(f"train/{name}")
        assert [e.step for e in read] == [p["step"] for p in mine]
        # TensorBoard keeps a scalar as float32
        assert [e.value for e in read] == [np.float32(p["value"]) for p in mine]
        assert [e.wall_time for e in read] == pytest.approx([p["wall_time"] for p in mine])
    assert len({p["step"] for p in points}) == 3  # a point at every step

    final = events.Scalars("final/test_bits_per_dim")
    assert [(e.step, e.value) for e in final] == [
        (3, np.float32(record.metrics["test_bits_per_dim"]))]
    assert "final/bound" not in tags["scalars"]  # text metrics are not numbers
    assert {"run/config/text_summary", "run/dataset/text_summary"} <= set(tags["tensors"])
    config = events.Tensors("run/config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert '"hidden": 8' in config

    (image,) = events.Images("samples")
    # 16 digits of 8x8 scaled to 32x32 in 4 rows of 4, 1 pixel apart
    assert (image.width, image.height) == (4 * 33 + 1, 4 * 33 + 1) and image.step == 3
    assert image.encoded_image_string.startswith(b"\x89PNG")

    # exported again: the events replace the earlier export's (one file, not two)
    run("export", record.run_id, "--tensorboard", tmp_path / "tb")
    assert len(list((tmp_path / "tb" / record.run_id).iterdir())) == 1


def test_a_run_without_checkpoint_exports_its_numbers_and_says_why_there_is_no_grid(
        registry, tmp_path):
    store = RunStore()
    store.create_run(model="pixelcnn", dataset="digits", config={}, seed=0, device="cpu",
                     data_info={"kind": "image", "shape": [1, 8, 8], "levels": 17},
                     run_id="no-ckpt")
    store.log_metrics("no-ckpt", 1, {"loss": 2.5})
    store.update("no-ckpt", status="failed", step=1, metrics={"test_bits_per_dim": 3.0,
                                                               "note": "text"})
    said = []
    folder = export_tensorboard(store, registry, "no-ckpt", tmp_path, warn=said.append)
    assert len(said) == 1 and "no sample grid" in said[0] and "no checkpoint" in said[0]
    events = read_events(folder)
    assert [(e.step, e.value) for e in events.Scalars("train/loss")] == [(1, 2.5)]
    assert [e.value for e in events.Scalars("final/test_bits_per_dim")] == [3.0]
    assert events.Tags()["images"] == []

    result = run("export", "no-ckpt", "--tensorboard", tmp_path / "cli")
    assert "no sample grid" in result.stdout and result.exit_code == 0


def test_a_series_run_gets_no_grid_and_no_warning(registry, tmp_path):
    from genzoo.registry.training import LoopSettings, start_run

    store = RunStore()
    record = start_run(registry, store, "ar", "nile", steps=0, device="cpu",
                       settings=LoopSettings(progress=False))
    said = []
    events = read_events(export_tensorboard(store, registry, record.run_id, tmp_path,
                                            warn=said.append))
    assert said == [] and events.Tags()["images"] == []
    assert "final/test_nats_per_obs" in events.Tags()["scalars"]


def test_without_tensorboard_the_error_says_how_to_install_it(trained, tmp_path, monkeypatch):
    store, record = trained
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    with pytest.raises(GenzooError, match=r"pip install 'genzoo\[tensorboard\]'"):
        export_tensorboard(store, None, record.run_id, tmp_path)
    result = run("export", record.run_id, "--tensorboard", tmp_path / "tb", ok=False)
    assert result.exit_code == 2 and "genzoo[tensorboard]" in result.stderr
    assert not (tmp_path / "tb").exists()


def test_bad_targets_are_refused_and_leave_nothing(trained, tmp_path):
    store, record = trained
    (tmp_path / "afile").write_text("x")
    result = run("export", record.run_id, "--tensorboard", tmp_path / "afile" / "tb", ok=False)
    assert result.exit_code == 2 and "is a file, not a folder" in result.stderr
    taken = tmp_path / "tb" / record.run_id
    taken.mkdir(parents=True)
    (taken / "notes.txt").write_text("mine")
    result = run("export", record.run_id, "--tensorboard", tmp_path / "tb", ok=False)
    assert "not TensorBoard events" in result.stderr
    assert [p.name for p in taken.iterdir()] == ["notes.txt"]  # never deleted
    result = run("export", record.run_id, "missing-run", "--tensorboard", tmp_path / "new",
                 ok=False)
    assert "missing-run" in result.stderr and not (tmp_path / "new").exists()


def test_image_grid_tiles_scaled_samples_with_grey_between():
    images = torch.stack([torch.full((1, 8, 8), i / 4) for i in range(5)])
    grid = image_grid(images, columns=4)
    assert grid.shape == (1, 2 * 33 + 1, 4 * 33 + 1)
    assert grid[0, 1, 1] == 0 and grid[0, 1, 34] == 0.25 and grid[0, 34, 1] == 1.0
    assert grid[0, 0, 0] == 0.5 and grid[0, 34, 34] == 0.5  # padding, and the empty sixth cell

"""`genzoo bench`: one row per image model, JSON and a Markdown table with the device, the
sampling time against image size, and a copy of the result in the runs store."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from genzoo.registry.cli import cli


def test_bench_writes_json_and_markdown(tmp_path, monkeypatch, isolated_home):
    monkeypatch.setenv("GENZOO_PLUGINS", "")
    result = CliRunner().invoke(cli, ["bench", "--models", "independent,pixelcnn", "--steps", "2",
                                      "--device", "cpu", "--sizes", "4,8", "--out",
                                      str(tmp_path)])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "bench.json").read_text())
    rows = {row["model"]: row for row in report["rows"]}
    assert set(rows) == {"independent", "pixelcnn"}
    for row in rows.values():
        assert row["train_examples_per_s"] > 0 and row["parameters"] > 0
        assert row["sample_ms_per_image_b1"] > 0 and row["sample_ms_per_image_b64"] > 0
        assert "peak_memory_mib" not in row  # CUDA's allocator count; a CPU has none
    # sequential sampling takes one network pass per pixel: slower than the parallel baseline
    sample_ms = {name: row["sample_ms_per_image_b1"] for name, row in rows.items()}
    assert sample_ms["pixelcnn"] > sample_ms["independent"]
    markdown = (tmp_path / "bench.md").read_text()
    assert markdown.startswith("Device: cpu") and "| pixelcnn | sequential |" in markdown
    assert report["environment"]["torch"] in markdown
    assert "Peak memory: n/a on CPU" in markdown and "| model | 4x4 | 8x8 | k |" in markdown
    # sampling time against image size: every model at every size, and PixelCNN's grows
    scaling = {(r["model"], r["size"]): r["sample_ms_per_image"] for r in report["scaling"]}
    assert set(scaling) == {(m, s) for m in rows for s in (4, 8)}
    assert scaling[("pixelcnn", 8)] > scaling[("pixelcnn", 4)]
    assert {g["model"] for g in report["growth"]} == set(rows)
    # the same result, saved in the runs store for the dashboard
    (saved,) = (isolated_home / "bench").glob("*.json")
    assert json.loads(saved.read_text())["rows"] == report["rows"]
    assert str(saved) in result.stderr


def test_bench_no_store_and_no_sizes(tmp_path, monkeypatch, isolated_home):
    monkeypatch.setenv("GENZOO_PLUGINS", "")
    result = CliRunner().invoke(cli, ["bench", "--models", "independent", "--steps", "1",
                                      "--device", "cpu", "--sizes", "", "--no-store", "--out",
                                      str(tmp_path)])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "bench.json").read_text())
    assert report["scaling"] == [] and report["sizes"] == []
    assert not (isolated_home / "bench").exists()


@pytest.mark.parametrize("sizes", ["8,x", "0,8"])
def test_bench_rejects_bad_sizes(tmp_path, sizes):
    result = CliRunner().invoke(cli, ["bench", "--sizes", sizes, "--out", str(tmp_path)])
    assert result.exit_code == 2 and f"--sizes {sizes!r}" in result.stderr


def test_bench_rejects_an_unknown_model(tmp_path):
    result = CliRunner().invoke(cli, ["bench", "--models", "nope", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "unknown model 'nope'" in result.stderr


def test_size_scaling_records_errors_and_leaves_out_sizes_over_budget(registry):
    from genzoo.registry.bench import size_scaling
    from genzoo.registry.model import DataInfo

    info = DataInfo(kind="image", shape=(1, 8, 8), levels=17)
    rows = size_scaling(registry.model("independent"), info, [4, 2], device=torch.device("cpu"),
                        budget_s=0.0)
    assert [r["size"] for r in rows] == [2, 4]  # smallest first
    assert rows[0]["sample_ms_per_image"] > 0 and rows[0]["batch"] == 1
    assert "sample_ms_per_image" not in rows[1] and "over the 0 s budget" in rows[1]["note"]

    class Picky(registry.model("independent").model_class):
        """Refuses any image but 8x8, like a fixed architecture would."""

        def __init__(self, config, data):
            if data.shape[1:] != (8, 8):
                raise ValueError(f"needs 8x8 images, got {data.shape[1:]}")
            super().__init__(config, data)

    import dataclasses

    spec = dataclasses.replace(registry.model("independent"), name="picky", model_class=Picky)
    rows = size_scaling(spec, info, [4, 8], device=torch.device("cpu"))
    assert "needs 8x8 images" in rows[0]["error"] and rows[1]["sample_ms_per_image"] > 0

"""`genzoo bench`: one row per image model, JSON and a Markdown table with the device."""

from __future__ import annotations

import json

from click.testing import CliRunner

from genzoo.registry.cli import cli


def test_bench_writes_json_and_markdown(tmp_path, monkeypatch):
    monkeypatch.setenv("GENZOO_PLUGINS", "")
    result = CliRunner().invoke(cli, ["bench", "--models", "independent,pixelcnn", "--steps", "2",
                                      "--device", "cpu", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "bench.json").read_text())
    rows = {row["model"]: row for row in report["rows"]}
    assert set(rows) == {"independent", "pixelcnn"}
    for row in rows.values():
        assert row["train_examples_per_s"] > 0 and row["parameters"] > 0
        assert row["sample_ms_per_image_b1"] > 0 and row["sample_ms_per_image_b64"] > 0
    # sequential sampling takes one network pass per pixel: slower than the parallel baseline
    sample_ms = {name: row["sample_ms_per_image_b1"] for name, row in rows.items()}
    assert sample_ms["pixelcnn"] > sample_ms["independent"]
    markdown = (tmp_path / "bench.md").read_text()
    assert markdown.startswith("Device: cpu") and "| pixelcnn | sequential |" in markdown
    assert report["environment"]["torch"] in markdown


def test_bench_rejects_an_unknown_model(tmp_path):
    result = CliRunner().invoke(cli, ["bench", "--models", "nope", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "unknown model 'nope'" in result.stderr

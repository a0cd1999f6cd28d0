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


@pytest.mark.parametrize("command", [["bench", "--models", "independent", "--steps", "0",
                                      "--sizes", ""],
                                     ["compare", "--models", "independent", "--steps", "1"]])
def test_an_out_folder_under_a_file_is_refused_before_any_work(tmp_path, command):
    """Found by the fuzz test: bench's results folder was made after the timings, and failed
    with NotADirectoryError; compare's after every training."""
    (tmp_path / "afile").write_text("")
    result = CliRunner().invoke(cli, [*command, "--out", str(tmp_path / "afile" / "sub")])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines()[-1].endswith(
        "afile is a file, not a folder; give a folder")
    assert "[bench]" not in result.stderr and "jobs queued" not in result.stderr


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


# -- precision and compile variants -------------------------------------------------------------


def test_bench_times_each_precision_and_compile_variant(tmp_path, monkeypatch, isolated_home):
    """fp32 and bf16, eager and 'compiled' (torch.compile stands in as a failing compiler, the
    real one takes minutes per model on a CPU): every variant has its own numbers, the failed
    compile is reported and timed eagerly, FLOPs are counted, bf16 sampling that the cached
    stepper cannot do says so instead of ending the benchmark."""
    def failing_compile(fn, **options):
        def compiled(*args, **kwargs):
            raise RuntimeError("no C compiler")
        return compiled

    monkeypatch.setattr(torch, "compile", failing_compile)
    monkeypatch.setenv("GENZOO_PLUGINS", "")
    result = CliRunner().invoke(cli, ["bench", "--models", "independent,pixelcnn,vae",
                                      "--steps", "2", "--device", "cpu", "--sizes", "",
                                      "--precisions", "fp32,bf16", "--modes", "eager,compiled",
                                      "--batch-size", "8", "--no-store", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "bench.json").read_text())
    assert report["variants"] == [{"precision": p, "compiled": c}
                                  for p in ("fp32", "bf16") for c in (False, True)]
    rows = {row["model"]: row for row in report["rows"]}
    pixelcnn = rows["pixelcnn"]
    assert pixelcnn["batch_size"] == 8
    assert [(v["precision"], v["compiled"]) for v in pixelcnn["variants"]] == [
        ("fp32", False), ("fp32", True), ("bf16", False), ("bf16", True)]
    assert pixelcnn["variants"][0]["train_speedup"] == pytest.approx(1.0)
    for variant in pixelcnn["variants"]:
        assert variant["train_step_ms"] > 0 and variant["train_speedup"] > 0
        assert ("compile_error" in variant) == variant["compiled"]
        sampled = "sample_ms_per_image_b1" in variant or "sample_error" in variant
        assert sampled == (not variant["compiled"])  # sampling is timed eagerly only
    assert pixelcnn["variants"][1]["compile_error"] == "RuntimeError: no C compiler"
    assert pixelcnn["train_step_flops"] > 0 and pixelcnn["train_tflops"] > 0
    assert "bf16_peak_tflops" not in pixelcnn  # a CPU has no data-sheet peak here
    # PixelCNN's cached stepper preallocates fp32 buffers: its bf16 sampling is refused, named
    assert "sampling under bf16 autocast failed" in pixelcnn["variants"][2]["sample_error"]
    assert rows["vae"]["variants"][2]["sample_ms_per_image_b64"] > 0  # the VAE samples in bf16
    # the closed-form baseline has nothing to compile: two variants only
    assert [v["compiled"] for v in rows["independent"]["variants"]] == [False, False]
    markdown = (tmp_path / "bench.md").read_text()
    assert "| pixelcnn | bf16 | yes |" in markdown and "compile failed, eager" in markdown
    assert "| model | GFLOP/step |" in markdown


def test_the_default_variants_are_all_four_on_a_gpu_and_fp32_eager_on_a_cpu(monkeypatch):
    from genzoo.registry.bench import bf16_peak_tflops, variants_for

    assert variants_for(torch.device("cpu")) == [("fp32", False)]
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    assert variants_for(torch.device("cuda")) == [("fp32", False), ("fp32", True),
                                                  ("bf16", False), ("bf16", True)]
    assert bf16_peak_tflops("NVIDIA H100 80GB HBM3") == pytest.approx(989.4)
    assert bf16_peak_tflops("NVIDIA H200") == pytest.approx(989.4)
    assert bf16_peak_tflops("NVIDIA H100 PCIe") == pytest.approx(756.5)
    assert bf16_peak_tflops("cpu (2 threads)") is None


@pytest.mark.parametrize("flag, value, says", [
    ("--precisions", "fp16", "unknown precision 'fp16'"),
    ("--modes", "jit", "unknown compile mode 'jit'"),
    ("--precisions", ",", "give a comma list"),
])
def test_bench_refuses_an_unknown_variant(tmp_path, flag, value, says):
    result = CliRunner().invoke(cli, ["bench", "--models", "independent", flag, value,
                                      "--device", "cpu", "--no-store", "--out", str(tmp_path)])
    assert result.exit_code == 2 and says in result.stderr

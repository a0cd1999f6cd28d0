"""Training precision (``--precision``), ``--compile`` with its fall-back to eager, the
out-of-memory message, and the run settings the store keeps for them. All on the CPU: bf16
autocast and torch.compile work there too."""

from __future__ import annotations

import sqlite3
import warnings

import pytest
import torch

from genzoo.plugins.gan import GAN, GANConfig
from genzoo.plugins.pixelcnn import PixelCNN, PixelCNNConfig
from genzoo.registry import DataInfo, GenzooError
from genzoo.registry.config import build_config
from genzoo.registry.precision import CompiledOrEager, resolve_precision
from genzoo.registry.store import RunStore
from genzoo.registry.training import LoopSettings, resume_run, start_run

from cli_helpers import last_json, run

CPU = torch.device("cpu")
TINY = {"hidden": 4, "layers": 1, "batch_size": 8}
QUIET = LoopSettings(progress=False)


def train_tiny(registry, **kw):
    """A pixelcnn run of a few steps on digits, with ``kw`` passed to ``start_run``."""
    kw.setdefault("steps", 3)
    return start_run(registry, RunStore(), "pixelcnn", "digits", overrides=dict(TINY),
                     device="cpu", settings=QUIET, **kw)


# -- choosing a precision -----------------------------------------------------------------------


def test_auto_is_fp32_on_a_cpu_and_bf16_can_be_asked_for():
    assert resolve_precision("auto", CPU) == "fp32"
    assert resolve_precision(None, CPU) == "fp32"
    assert resolve_precision("BF16", CPU) == "bf16"
    assert resolve_precision("fp32", CPU) == "fp32"


def test_an_unknown_precision_names_the_choices():
    with pytest.raises(GenzooError, match=r"unknown precision 'fp16'; choose one of: auto, fp32"):
        resolve_precision("fp16", CPU)


def test_bf16_on_a_gpu_without_it_says_so(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: False)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Tesla T4")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 5))
    gpu = torch.device("cuda")
    assert resolve_precision("auto", gpu) == "fp32"  # auto never asks for what is missing
    with pytest.raises(GenzooError) as caught:
        resolve_precision("bf16", gpu)
    assert str(caught.value) == ("--precision bf16: Tesla T4 does not support bfloat16 (compute "
                                 "capability 7.5; bfloat16 needs 8.0, Ampere or newer); use "
                                 "--precision fp32")


# -- training in bf16 ---------------------------------------------------------------------------


def test_bf16_trains_under_autocast_and_evaluates_in_fp32(registry, monkeypatch):
    seen = {"loss": [], "log_prob": []}
    loss, log_prob = PixelCNN.loss, PixelCNN.log_prob

    def spying_loss(self, batch, **kw):
        seen["loss"].append(torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu"))
        return loss(self, batch, **kw)

    def spying_log_prob(self, x, **kw):
        seen["log_prob"].append(torch.is_autocast_enabled("cpu"))
        return log_prob(self, x, **kw)

    monkeypatch.setattr(PixelCNN, "loss", spying_loss)
    monkeypatch.setattr(PixelCNN, "log_prob", spying_log_prob)
    record = train_tiny(registry, precision="bf16")
    assert record.status == "completed" and record.settings == {"precision": "bf16",
                                                                "compile": False, "nproc": 1}
    assert seen["loss"] == [torch.bfloat16] * 3  # every training step in bf16
    assert seen["log_prob"] and not any(seen["log_prob"])  # the held-out score in fp32
    assert record.metrics["test_bits_per_dim"] > 0


def test_fp32_is_the_default_on_a_cpu_and_is_stored(registry):
    record = train_tiny(registry)
    assert record.settings == {"precision": "fp32", "compile": False, "nproc": 1}
    assert RunStore().get(record.run_id).to_json()["settings"]["precision"] == "fp32"


def test_the_gan_runs_its_players_under_autocast():
    config = build_config(GANConfig, {"channels": 4, "latent_dim": 4, "batch_size": 4})
    model = GAN(config, DataInfo("image", (1, 8, 8), levels=17))
    model.precision = "bf16"
    dtypes = []
    model.D.register_forward_hook(lambda module, args, out: dtypes.append(out.dtype))
    values = model.training_step(torch.randint(0, 17, (4, 1, 8, 8)),
                                 model.configure_optimizers())
    assert set(dtypes) == {torch.bfloat16}  # D's logits, in every pass of the step
    assert all(torch.isfinite(torch.tensor(v)) for v in values.values())
    assert all(p.dtype == torch.float32 for p in model.parameters())  # weights stay fp32


def test_resume_keeps_the_runs_precision_unless_told(registry):
    record = train_tiny(registry, precision="bf16")
    again = resume_run(registry, RunStore(), record.run_id, steps=5, settings=QUIET)
    assert again.step == 5 and again.settings["precision"] == "bf16"
    changed = resume_run(registry, RunStore(), record.run_id, steps=6, settings=QUIET,
                         precision="fp32", compile=False)
    assert changed.step == 6 and changed.settings == {"precision": "fp32", "compile": False,
                                                      "nproc": 1}


# -- torch.compile ------------------------------------------------------------------------------


def test_a_compiled_loss_equals_the_eager_one():
    model = PixelCNN(build_config(PixelCNNConfig, dict(TINY)),
                     DataInfo("image", (1, 4, 4), levels=3)).eval()  # no dropout: deterministic
    batch = torch.randint(0, 3, (5, 1, 4, 4))
    (part,) = model.compile_for_training()
    compiled, eager = model.compiled_loss(batch), model.loss(batch)
    assert part.active and part.error is None  # it really compiled (a C compiler is here)
    assert set(compiled) == set(eager)
    for name in eager:
        assert torch.allclose(compiled[name], eager[name], atol=1e-5), name
    compiled["loss"].backward()  # the compiled graph differentiates
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def failing_compile(fn, **options):
    """A stand-in for torch.compile whose result fails the way a missing compiler does."""
    def compiled(*args, **kwargs):
        raise RuntimeError("InductorError: CppCompileError: C++ compile error\nmore lines")
    return compiled


def test_a_failing_compile_falls_back_to_eager_with_a_warning(registry, monkeypatch):
    monkeypatch.setattr(torch, "compile", failing_compile)
    with pytest.warns(RuntimeWarning, match=r"torch.compile failed for PixelCNN.loss "
                                            r"\(RuntimeError: InductorError: CppCompileError"):
        record = train_tiny(registry, compile=True)
    assert record.status == "completed" and record.step == 3
    stored = RunStore().get(record.run_id).settings
    assert stored["compile"] is True
    assert stored["compile_error"] == "RuntimeError: InductorError: CppCompileError: C++ " \
                                      "compile error"


def test_an_error_in_the_model_still_raises_under_compile(monkeypatch):
    monkeypatch.setattr(torch, "compile", failing_compile)

    def broken(x):
        raise ValueError("the model's own bug")

    part = CompiledOrEager(broken, "broken")
    with warnings.catch_warnings(record=True), pytest.raises(ValueError, match="own bug"):
        part(1)  # compiling failed, and the eager call shows the real error
    assert not part.active


def test_cli_train_compile_warns_in_one_line_and_reports_eager(monkeypatch):
    monkeypatch.setattr(torch, "compile", failing_compile)
    result = run("train", "pixelcnn", "-d", "digits", "--steps", 2, "--compile", "--json", "-q",
                 *[f"--set={k}={v}" for k, v in TINY.items()])
    record = last_json(result)
    assert record["settings"]["compile"] is True and "compile_error" in record["settings"]
    human = run("train", "pixelcnn", "-d", "digits", "--steps", 1, "--compile", "-q",
                *[f"--set={k}={v}" for k, v in TINY.items()])
    assert "fp32, eager (compile failed)" in human.stdout


def test_cli_refuses_an_unknown_precision():
    result = run("train", "pixelcnn", "-d", "digits", "--precision", "fp8", ok=False)
    assert result.exit_code == 2 and "'fp8' is not one of 'auto', 'fp32', 'bf16'" in \
        result.output


# -- out of GPU memory --------------------------------------------------------------------------


def test_out_of_memory_names_the_batch_suggests_a_smaller_one_and_stays_resumable(
        registry, monkeypatch):
    step = PixelCNN.training_step
    calls = {"n": 0}

    def oom_at_the_fifth(self, batch, optimizers, **kw):
        calls["n"] += 1
        if calls["n"] == 5:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return step(self, batch, optimizers, **kw)

    monkeypatch.setattr(PixelCNN, "training_step", oom_at_the_fifth)
    settings = LoopSettings(progress=False, checkpoint_every=2)
    with pytest.raises(GenzooError) as caught:
        start_run(registry, RunStore(), "pixelcnn", "digits", overrides=dict(TINY),
                  device="cpu", steps=8, settings=settings, run_id="oom-run")
    assert str(caught.value) == ("out of GPU memory at step 5 with batch_size=8; try --set "
                                 "batch_size=4 (resume with `genzoo resume oom-run`)")
    assert RunStore().get("oom-run").status == "interrupted"
    monkeypatch.setattr(PixelCNN, "training_step", step)
    record = resume_run(registry, RunStore(), "oom-run", settings=QUIET)
    assert record.status == "completed" and record.step == 8


# -- the store keeps the settings ---------------------------------------------------------------


def test_a_store_from_before_settings_gains_the_column(isolated_home):
    isolated_home.mkdir(parents=True)
    with sqlite3.connect(isolated_home / "runs.sqlite") as db:  # the first release's table
        db.execute("CREATE TABLE runs (run_id TEXT PRIMARY KEY, model TEXT NOT NULL, dataset "
                   "TEXT NOT NULL, dataset_options TEXT NOT NULL DEFAULT '{}', config TEXT NOT "
                   "NULL, data_info TEXT NOT NULL DEFAULT '{}', seed INTEGER NOT NULL, device "
                   "TEXT NOT NULL, status TEXT NOT NULL, step INTEGER NOT NULL DEFAULT 0, "
                   "target_steps INTEGER, target_seconds REAL, train_seconds REAL NOT NULL "
                   "DEFAULT 0, metrics TEXT NOT NULL DEFAULT '{}', error TEXT, tags TEXT NOT "
                   "NULL DEFAULT '[]', created_at REAL NOT NULL, updated_at REAL NOT NULL)")
        db.execute("INSERT INTO runs (run_id, model, dataset, config, seed, device, status, "
                   "created_at, updated_at) VALUES ('old-run', 'pixelcnn', 'digits', '{}', 0, "
                   "'cpu', 'completed', 0, 0)")
    store = RunStore(isolated_home)
    assert store.get("old-run").settings == {}
    RunStore(isolated_home)  # opening it again adds nothing twice
    record = store.create_run(model="pixelcnn", dataset="digits", config={}, seed=0,
                              device="cpu", data_info={}, settings={"precision": "bf16"})
    assert store.get(record.run_id).settings == {"precision": "bf16"}


# -- where the training data lives --------------------------------------------------------------


def test_a_split_stays_on_the_gpu_while_it_takes_a_quarter_of_the_free_memory():
    from genzoo.registry.devices import keep_on_device

    gpu, gib = torch.device("cuda"), 2**30
    assert keep_on_device(10 * gib, gpu, free_bytes=40 * gib)
    assert not keep_on_device(11 * gib, gpu, free_bytes=40 * gib)
    assert keep_on_device(10**12, CPU)  # host memory is where it already is


def test_batches_copied_from_the_host_train_the_same_run(registry, monkeypatch):
    from genzoo.registry import training

    on_device = train_tiny(registry, steps=4, seed=3)
    monkeypatch.setattr(training, "keep_on_device", lambda nbytes, device: False)
    from_host = train_tiny(registry, steps=4, seed=3)
    curves = [[(p["step"], p["name"], p["value"]) for p in RunStore().curves(r.run_id)
               if p["name"] != "examples_per_s"]  # a timing, the one thing that may differ
              for r in (on_device, from_host)]
    assert curves[0] == curves[1] and len(curves[0]) > 0
    assert from_host.metrics["test_bits_per_dim"] == on_device.metrics["test_bits_per_dim"]


@pytest.mark.slow
def test_a_real_compiler_failure_falls_back_to_eager_in_one_warning_line(tmp_path):
    """No working C++ compiler (CXX=/bin/false): the command warns in one line and trains."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "CXX": "/bin/false", "GENZOO_HOME": str(tmp_path / "home"),
           "OMP_NUM_THREADS": "1", "GENZOO_PLUGINS": ""}
    result = subprocess.run([sys.executable, "-m", "genzoo.registry.cli", "train", "pixelcnn",
                             "-d", "digits", "--steps", "2", "--compile", "-q",
                             *[f"--set={k}={v}" for k, v in TINY.items()]],
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    (warning,) = [line for line in result.stderr.splitlines() if "torch.compile" in line]
    assert warning.startswith("warning: torch.compile failed for PixelCNN.loss (")
    assert "training goes on in eager mode" in warning and "Traceback" not in result.stderr
    assert "fp32, eager (compile failed)" in result.stdout

"""Speed benchmarks: training throughput and sampling time for every image model.

Numbers are measured side by side in one process on the same data, so ratios between models
are meaningful even on a noisy machine; absolute numbers depend on the device, which is
recorded with the versions next to them. Models are built with their default config and
untrained: speed does not depend on the weights.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import torch

from .config import build_config
from .devices import describe_device, resolve_device
from .evaluation import count_parameters
from .runs import build_model, load_dataset
from .training import sample_batch


def _time(fn, repeats: int, device: torch.device) -> float:
    """Best-of-``repeats`` wall time of ``fn()`` in seconds (the least disturbed run)."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - started)
    return best


def bench_model(spec, data, *, steps: int = 30, device: torch.device,
                sample_batches=(1, 64), repeats: int = 3) -> dict:
    """Training examples/s over ``steps`` steps and sampling ms/image at each batch size."""
    torch.manual_seed(0)
    config = build_config(spec.config_class)
    model = build_model(spec, config, data.info).to(device)
    train = data.train.to(device)
    generator = torch.Generator(device=device).manual_seed(0)
    closed_form = model.fit(train)
    row = {"model": spec.name, "family": spec.family, "sampling": spec.sampling,
           "parameters": count_parameters(model), "batch_size": config.batch_size}
    if closed_form:
        row["fit_seconds"] = _time(lambda: model.fit(train), repeats, device)
        row["train_examples_per_s"] = len(train) / row["fit_seconds"]
    else:
        optimizers = model.configure_optimizers()
        model.train()
        labels = getattr(data, "train_labels", None)
        labels = labels.to(device) if labels is not None else None

        def run_steps(count):
            for _ in range(count):
                batch, context = sample_batch(model, train, config.batch_size, generator, labels)
                model.training_step(batch, optimizers, **context)

        run_steps(1)  # warm-up

        seconds = _time(lambda: run_steps(steps), 1, device)
        row["train_step_ms"] = 1000 * seconds / steps
        row["train_examples_per_s"] = steps * config.batch_size / seconds
    model.eval()
    for batch in sample_batches:
        seconds = _time(lambda n=batch: model.sample(n, generator=generator), repeats, device)
        row[f"sample_ms_per_image_b{batch}"] = 1000 * seconds / batch
    if torch.cuda.is_available() and device.type == "cuda":
        row["peak_memory_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    return row


def environment(device: torch.device) -> dict:
    """The device and versions the numbers were measured with."""
    return {"device": describe_device(device), "torch": torch.__version__,
            "python": platform.python_version(), "platform": platform.platform(),
            "threads": torch.get_num_threads(), "time": time.strftime("%Y-%m-%d %H:%M:%S")}


def to_markdown(rows: list[dict], env: dict) -> str:
    """The benchmark rows as a Markdown table, headed by the device and versions."""
    columns = [("model", "model"), ("sampling", "sampling"), ("parameters", "params"),
               ("train_examples_per_s", "train ex/s"), ("train_step_ms", "step ms"),
               ("sample_ms_per_image_b1", "sample ms/img (b=1)"),
               ("sample_ms_per_image_b64", "sample ms/img (b=64)")]
    lines = [f"Device: {env['device']}; torch {env['torch']}; Python {env['python']}; "
             f"{env['time']}", "",
             "| " + " | ".join(title for _, title in columns) + " |",
             "|" + "---|" * len(columns)]
    for row in rows:
        cells = []
        for key, _ in columns:
            value = row.get(key)
            cells.append(_format(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _format(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.3g}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def run_benchmarks(registry, names=None, *, dataset: str = "digits", steps: int = 30,
                   device: str = "auto", out_dir: Path | None = None, log=print) -> dict:
    """Benchmark the named image models (default: all) and write ``bench.json`` / ``bench.md``."""
    data = load_dataset(registry, dataset)
    names = names or [n for n, s in sorted(registry.models.items()) if s.data == data.kind]
    torch_device = resolve_device(device)
    rows = []
    for name in names:
        spec = registry.model(name)
        log(f"[bench] {name} on {dataset} ({torch_device})")
        rows.append(bench_model(spec, data, steps=steps, device=torch_device))
    env = environment(torch_device)
    result = {"environment": env, "dataset": dataset, "rows": rows,
              "markdown": to_markdown(rows, env)}
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "bench.json").write_text(json.dumps(result, indent=1))
        (out_dir / "bench.md").write_text(result["markdown"] + "\n")
    return result

"""Speed benchmarks: training throughput and sampling time for every image model.

Numbers are measured side by side in one process on the same data, so ratios between models
are meaningful even on a noisy machine; absolute numbers depend on the device, which is
recorded with the versions next to them. Models are built with their default config and
untrained: speed does not depend on the weights.

Besides the training and sampling times at the dataset's image size, every image model is
timed sampling at a few other sizes (``sizes``: square, with the dataset's channels and
levels) to show how its sampling time grows with the image. Peak memory is CUDA's allocator
peak (``torch.cuda.max_memory_allocated``); on a CPU torch keeps no such count, so there is
none. Each result is also saved in the runs store (``$GENZOO_HOME/bench/<time>.json``,
written atomically), where the dashboard's Speed page reads it.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import platform
import time
from importlib import metadata
from pathlib import Path

import torch

from .checkpoints import atomic_write_bytes
from .config import build_config
from .devices import describe_device, resolve_device
from .evaluation import count_parameters
from .runs import build_model, load_dataset
from .training import sample_batch

BENCH_FOLDER = "bench"  # under the runs store's home
DEFAULT_SIZES = (8, 16)  # image sides for the sampling-time-against-size sweep
SIZE_BATCH = 1  # the sweep's batch: one image, the latency a user waits for
SIZE_BUDGET_S = 20.0  # a size whose one call took longer ends the model's sweep
QUICK_S = 1.0  # a call at least this long is not repeated


def _time(fn, repeats: int, device: torch.device, quick_seconds: float | None = None) -> float:
    """Best-of-``repeats`` wall time of ``fn()`` in seconds (the least disturbed run); with
    ``quick_seconds``, a call that slow is not repeated."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - started)
        if quick_seconds is not None and best >= quick_seconds:
            break
    return best


def bench_model(spec, data, *, steps: int = 30, device: torch.device,
                sample_batches=(1, 64), repeats: int = 3) -> dict:
    """Training examples/s over ``steps`` steps, sampling ms/image at each batch size, the
    parameter count, and on CUDA the peak memory (MiB) of the training and the sampling."""
    torch.manual_seed(0)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
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
    with torch.no_grad():
        model.sample(1, generator=generator)  # warm-up: lazy setup is not charged to batch 1
        for batch in sample_batches:
            seconds = _time(lambda n=batch: model.sample(n, generator=generator), repeats,
                            device)
            row[f"sample_ms_per_image_b{batch}"] = 1000 * seconds / batch
    if device.type == "cuda":
        row["peak_memory_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
    return row


def size_scaling(spec, info, sizes, *, device: torch.device, batch: int = SIZE_BATCH,
                 repeats: int = 3, budget_s: float = SIZE_BUDGET_S) -> list[dict]:
    """Sampling ms/image of one image model at each square ``size`` (default config, random
    weights, the data's channels and levels): one row per size.

    A size the model cannot be built or sampled at gets a row with its ``error``; once one
    call takes longer than ``budget_s`` the larger sizes are left out, with a ``note`` that says
    so (sequential samplers grow at least with the pixels).
    """
    rows, too_slow = [], None
    for size in sorted(sizes):
        row = {"model": spec.name, "size": size, "pixels": size * size, "batch": batch}
        rows.append(row)
        if too_slow is not None:
            row["note"] = too_slow
            continue
        try:
            torch.manual_seed(0)
            shaped = dataclasses.replace(info, shape=(info.shape[0], size, size))
            model = build_model(spec, build_config(spec.config_class), shaped).to(device).eval()
            generator = torch.Generator(device=device).manual_seed(0)
            with torch.no_grad():
                started = time.perf_counter()
                model.sample(batch, generator=generator)  # warm-up, and a first estimate
                first = time.perf_counter() - started
                seconds = first if first >= QUICK_S else _time(
                    lambda: model.sample(batch, generator=generator), repeats, device, QUICK_S)
        except Exception as exc:  # one size out of a model's reach must not end the benchmark
            row["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0]
            continue
        row["sample_ms_per_image"] = 1000 * seconds / batch
        if seconds > budget_s:
            too_slow = (f"not timed: one call at {size}x{size} took {seconds:.0f} s, over the "
                        f"{budget_s:.0f} s budget")
    return rows


def growth_exponent(pixels: list[int], ms: list[float]) -> float | None:
    """Least-squares slope of log(ms/image) against log(pixels): time ~ pixels^slope."""
    if len(pixels) < 2:
        return None
    xs, ys = [math.log(p) for p in pixels], [math.log(m) for m in ms]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mx) ** 2 for x in xs)
    if spread == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / spread


def growth(scaling: list[dict]) -> list[dict]:
    """Per model, the exponent k of ms/image ~ pixels^k over the sizes it was timed at."""
    out = []
    for name in dict.fromkeys(row["model"] for row in scaling):
        timed = [row for row in scaling
                 if row["model"] == name and row.get("sample_ms_per_image") is not None]
        exponent = growth_exponent([row["pixels"] for row in timed],
                                   [row["sample_ms_per_image"] for row in timed])
        if exponent is not None:
            out.append({"model": name, "batch": timed[0]["batch"], "exponent": exponent})
    return out


def environment(device: torch.device) -> dict:
    """The device and versions the numbers were measured with."""
    try:
        genzoo = metadata.version("genzoo")
    except metadata.PackageNotFoundError:  # a source tree that is not installed
        genzoo = None
    return {"device": describe_device(device), "device_type": device.type,
            "torch": torch.__version__, "genzoo": genzoo,
            "python": platform.python_version(), "platform": platform.platform(),
            "threads": torch.get_num_threads(), "time": time.strftime("%Y-%m-%d %H:%M:%S")}


def to_markdown(rows: list[dict], env: dict, scaling: list[dict] | None = None,
                exponents: list[dict] | None = None) -> str:
    """The benchmark rows as a Markdown table, headed by the device and versions; then the
    sampling time at each image size, if it was measured."""
    columns = [("model", "model"), ("sampling", "sampling"), ("parameters", "params"),
               ("train_examples_per_s", "train ex/s"), ("train_step_ms", "step ms"),
               ("sample_ms_per_image_b1", "sample ms/img (b=1)"),
               ("sample_ms_per_image_b64", "sample ms/img (b=64)"),
               ("peak_memory_mib", "peak MiB")]
    lines = [f"Device: {env['device']}; torch {env['torch']}; Python {env['python']}; "
             f"{env['time']}", "",
             "| " + " | ".join(title for _, title in columns) + " |",
             "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(_format(row.get(key)) for key, _ in columns) + " |")
    if env.get("device_type", "cpu") != "cuda":
        lines += ["", "Peak memory: n/a on CPU (torch counts allocations on CUDA only)."]
    if scaling:
        sizes = sorted({row["size"] for row in scaling})
        batch = scaling[0]["batch"]
        k = {g["model"]: g["exponent"] for g in exponents or []}
        lines += ["", f"Sampling ms/image (batch {batch}) against image size; k: time ~ "
                      "pixels^k", "",
                  "| model | " + " | ".join(f"{s}x{s}" for s in sizes) + " | k |",
                  "|" + "---|" * (len(sizes) + 2)]
        for name in dict.fromkeys(row["model"] for row in scaling):
            cells = {row["size"]: ("error" if row.get("error") else
                                   _format(row.get("sample_ms_per_image")))
                     for row in scaling if row["model"] == name}
            exponent = f"{k[name]:.2f}" if name in k else "—"
            lines.append(f"| {name} | " + " | ".join(cells.get(s, "—") for s in sizes)
                         + f" | {exponent} |")
    return "\n".join(lines)


def _format(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.3g}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def run_benchmarks(registry, names=None, *, dataset: str = "digits", steps: int = 30,
                   device: str = "auto", sizes=DEFAULT_SIZES, out_dir: Path | None = None,
                   home: Path | None = None, log=print) -> dict:
    """Benchmark the named models (default: every model for the dataset's kind of data).

    Writes ``bench.json`` / ``bench.md`` to ``out_dir`` and saves the result in the runs store
    at ``home`` (:func:`save_result`), each where given. ``sizes`` (image sides) add the
    sampling-time-against-size sweep for image data; empty skips it.
    """
    data = load_dataset(registry, dataset)
    names = names or [n for n, s in sorted(registry.models.items()) if s.data == data.kind]
    torch_device = resolve_device(device)
    sizes = sorted({int(s) for s in sizes or ()}) if data.kind == "image" else []
    rows, scaling = [], []
    for name in names:
        spec = registry.model(name)
        log(f"[bench] {name} on {dataset} ({torch_device})")
        rows.append(bench_model(spec, data, steps=steps, device=torch_device))
        if sizes:
            log(f"[bench] {name}: sampling at {', '.join(f'{s}x{s}' for s in sizes)}")
            scaling += size_scaling(spec, data.info, sizes, device=torch_device)
    env = environment(torch_device)
    exponents = growth(scaling)
    result = {"environment": env, "dataset": dataset, "steps": steps, "sizes": sizes,
              "rows": rows, "scaling": scaling, "growth": exponents,
              "markdown": to_markdown(rows, env, scaling, exponents)}
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "bench.json").write_text(json.dumps(result, indent=1))
        (out_dir / "bench.md").write_text(result["markdown"] + "\n")
    if home is not None:
        result["saved"] = str(save_result(result, home))
    return result


def save_result(result: dict, home: Path | str) -> Path:
    """Save a benchmark result in the runs store: ``HOME/bench/<YYYYmmdd-HHMMSS-micro>.json``,
    written to a temporary name and renamed (a reader never sees half a file)."""
    folder = Path(home) / BENCH_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    path = folder / f"{stamp}.json"
    payload = {key: value for key, value in result.items() if key != "saved"}
    atomic_write_bytes(path, json.dumps(payload, indent=1).encode())
    return path


def result_files(home: Path | str) -> list[Path]:
    """The saved benchmark results in the runs store, newest first (names sort by time)."""
    folder = Path(home) / BENCH_FOLDER
    return sorted(folder.glob("*.json"), reverse=True) if folder.is_dir() else []


def load_results(home: Path | str, limit: int | None = None) -> list[dict]:
    """The saved benchmark results, newest first, each with its ``file`` name; a file that
    cannot be read comes back as ``{"file", "error"}`` instead."""
    results = []
    for path in result_files(home)[:limit]:
        try:
            result = json.loads(path.read_text())
            if not isinstance(result, dict) or not isinstance(result.get("rows"), list):
                raise ValueError("not a genzoo bench result (no rows)")
        except (OSError, ValueError) as exc:
            results.append({"file": path.name, "error": f"{type(exc).__name__}: {exc}"})
            continue
        results.append({**result, "file": path.name})
    return results

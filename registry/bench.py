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
from .errors import GenzooError
from .evaluation import count_parameters
from .runs import build_model, load_dataset
from .timing import best_of
from .training import sample_batch

BENCH_FOLDER = "bench"  # under the runs store's home
DEFAULT_SIZES = (8, 16)  # image sides for the sampling-time-against-size sweep
SIZE_BATCH = 1  # the sweep's batch: one image, the latency a user waits for
SIZE_BUDGET_S = 20.0  # a size whose one call took longer ends the model's sweep
QUICK_S = 1.0  # a call at least this long is not repeated


# Dense bfloat16 tensor-core peaks (TFLOP/s, no sparsity) from the vendors' data sheets, by a
# part of the name torch reports, most specific first: what achieved TFLOP/s are a share of.
# The SXM H100 reports itself as "NVIDIA H100 80GB HBM3".
BF16_PEAK_TFLOPS = {"H200": 989.4, "H100 NVL": 835.0, "H100 PCIe": 756.5, "H100": 989.4,
                    "A100": 312.0, "L40S": 362.1, "L4": 121.0, "A10": 125.0}


def bf16_peak_tflops(device_name: str) -> float | None:
    """The data-sheet bf16 peak of a GPU by its name; None for a CPU or an unknown GPU."""
    for part, peak in BF16_PEAK_TFLOPS.items():  # most specific names first
        if part in device_name:
            return peak
    return None


def variants_for(device: torch.device, precisions=None, modes=None) -> list[tuple[str, bool]]:
    """The ``(precision, compiled)`` pairs to time: by default all four on a GPU (fp32 and
    bf16, eager and compiled), fp32 eager alone on a CPU, where compiling every model takes
    minutes and bf16 is emulated; ``precisions``/``modes`` choose explicitly."""
    from .precision import resolve_precision

    on_gpu = device.type == "cuda"
    precisions = precisions or (("fp32", "bf16") if on_gpu else ("fp32",))
    modes = modes or (("eager", "compiled") if on_gpu else ("eager",))
    unknown = set(modes) - {"eager", "compiled"}
    if unknown:
        raise GenzooError(f"unknown compile mode {sorted(unknown)[0]!r}; choose eager, compiled")
    return [(resolve_precision(p, device), mode == "compiled") for p in precisions
            for mode in modes]


ROUNDS = 3  # timed blocks of training steps per variant, interleaved with the other variants'


class _Stepper:
    """One variant's model, optimizers and batch stream, taking training steps on request, so
    that the variants of a model can be timed in interleaved blocks."""

    def __init__(self, model, data, config, device, labels):
        self.model, self.config, self.labels = model, config, labels
        self.optimizers = model.configure_optimizers()
        self.train = data.train.to(device)
        self.generator = torch.Generator(device=device).manual_seed(0)
        model.train()

    def run(self, count: int) -> None:
        """Take ``count`` training steps."""
        for _ in range(count):
            batch, context = sample_batch(self.model, self.train, self.config.batch_size,
                                          self.generator, self.labels)
            self.model.training_step(batch, self.optimizers, **context)


def _time_interleaved(pairs: list, steps: int, device: torch.device, batch_size: int) -> None:
    """Time every ``(row, stepper)`` pair's training in ``ROUNDS`` blocks of ``steps / ROUNDS``
    steps, the variants taking turns (in a rotated order each round), and write each row's best
    block as its step time: a noisy machine then slows every variant alike, and the least
    disturbed block of each is compared."""
    if not pairs:
        return
    block = max(1, steps // ROUNDS)
    best = [float("inf")] * len(pairs)
    peaks = [0.0] * len(pairs)
    for round_ in range(ROUNDS):
        order = list(range(len(pairs)))
        order = order[round_ % len(order):] + order[:round_ % len(order)]
        for i in order:
            row, stepper = pairs[i]
            if "error" in row:
                continue
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            try:
                best[i] = min(best[i], best_of(lambda s=stepper: s.run(block), 1, device))
            except torch.cuda.OutOfMemoryError:
                row["error"] = _oom_advice(batch_size)
                torch.cuda.empty_cache()
                continue
            if device.type == "cuda":
                peaks[i] = max(peaks[i], torch.cuda.max_memory_allocated(device) / 2**20)
    for (row, _), seconds, peak in zip(pairs, best, peaks):
        if "error" in row:
            continue
        row["train_step_ms"] = 1000 * seconds / block
        row["train_examples_per_s"] = block * batch_size / seconds
        if device.type == "cuda":
            row["peak_memory_mib"] = max(row.get("peak_memory_mib", 0.0), peak)


def _oom_advice(batch_size: int) -> str:
    return (f"out of GPU memory at batch_size={batch_size}; try --batch-size "
            f"{max(1, batch_size // 2)}")


def _step_flops(model, data, config, device, labels) -> int | None:
    """Floating-point operations of one training step (forward and backward), counted by
    ``torch.utils.flop_counter`` (matrix products and convolutions, the work that matters)."""
    from torch.utils.flop_counter import FlopCounterMode

    optimizers = model.configure_optimizers()
    generator = torch.Generator(device=device).manual_seed(0)
    batch, context = sample_batch(model, data.train.to(device), config.batch_size, generator,
                                  labels)
    try:
        with FlopCounterMode(display=False) as counter:
            model.training_step(batch, optimizers, **context)
    except Exception:  # a model the counter cannot follow still gets its times
        return None
    return int(counter.get_total_flops()) or None


def bench_model(spec, data, *, steps: int = 30, device: torch.device,
                sample_batches=(1, 64), repeats: int = 3, variants=(("fp32", False),),
                batch_size: int | None = None) -> dict:
    """Training step time and examples/s, sampling ms/image at each batch size, the parameter
    count and on CUDA the peak memory (MiB), for each ``(precision, compiled)`` variant.

    Every variant is built, warmed up (compiled, where it is) and then timed in interleaved
    blocks with the others (:func:`_time_interleaved`), so their ratios hold on a busy machine.
    The first variant's numbers are the row's own (the Speed page's table); every variant is
    listed under ``variants`` with its speed-up over the first. Sampling is timed eagerly
    (``torch.compile`` is applied to the training step: a sequential sampler's shapes change
    at every pixel), in each precision. The first variant also counts the FLOPs of a step, so
    achieved TFLOP/s can be set against the device's bf16 peak. ``batch_size`` overrides the
    config's; a variant that runs out of GPU memory gets an ``error`` that says so.
    """
    config = build_config(spec.config_class,
                          {"batch_size": batch_size} if batch_size is not None else None)
    labels = getattr(data, "train_labels", None)
    labels = labels.to(device) if labels is not None else None
    pairs = []
    for index, (precision, compiled) in enumerate(variants):
        torch.manual_seed(0)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        row = {"precision": precision, "compiled": compiled}
        try:
            stepper = _prepare_variant(spec, config, data, device, row,
                                       sample_batches=sample_batches, repeats=repeats,
                                       first=index == 0, labels=labels)
        except torch.cuda.OutOfMemoryError:
            row["error"], stepper = _oom_advice(config.batch_size), None
            torch.cuda.empty_cache()
        if stepper is None and "error" not in row:
            continue  # a variant that does not apply (compiling a model fitted by counting)
        if device.type == "cuda":
            row["peak_memory_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
        pairs.append((row, stepper))
    _time_interleaved([(row, st) for row, st in pairs if isinstance(st, _Stepper)], steps,
                      device, config.batch_size)
    rows = [row for row, _ in pairs]
    if not rows:
        raise GenzooError(f"no variant asked for applies to {spec.name}: it is fitted in closed "
                          "form and has no compiled variant; add --modes eager")
    timed = [row for row in rows if "error" not in row]
    first = timed[0] if timed else rows[0]
    for row in timed:
        if first.get("train_examples_per_s") and row.get("train_examples_per_s"):
            row["train_speedup"] = row["train_examples_per_s"] / first["train_examples_per_s"]
    out = {"model": spec.name, "family": spec.family, "sampling": spec.sampling,
           "parameters": count_parameters(build_model(spec, config, data.info)),
           "batch_size": config.batch_size,
           **{k: v for k, v in first.items() if k not in ("precision", "compiled")}}
    flops, step_ms = first.get("train_step_flops"), first.get("train_step_ms")
    if flops and step_ms:
        out["train_tflops"] = flops / (step_ms / 1000) / 1e12
        peak = bf16_peak_tflops(describe_device(device)) if device.type == "cuda" else None
        if peak:
            out["bf16_peak_tflops"] = peak
            best = max((flops / (r["train_step_ms"] / 1000) / 1e12 for r in timed
                        if r.get("train_step_ms")), default=None)
            out["best_tflops"], out["utilization"] = best, best / peak
    out["variants"] = rows
    return out


def _prepare_variant(spec, config, data, device, row: dict, *, sample_batches, repeats,
                     first: bool, labels):
    """Build one ``(precision, compiled)`` variant of a fresh model: fit it, or warm up its
    training (three steps when compiled: the first compiles, the next may compile the graph
    once more), count a step's FLOPs (``first``) and time its eager sampling into ``row``.
    Returns its :class:`_Stepper`, True for a model fitted in closed form (timed here), or None
    where the variant does not apply (compiling a model fitted by counting)."""
    precision, compiled = row["precision"], row["compiled"]
    model = build_model(spec, config, data.info).to(device)
    train = data.train.to(device)
    stepper = None
    if model.fit(train):
        if compiled:
            return None
        row["fit_seconds"] = best_of(lambda: model.fit(train), repeats, device)
        row["train_examples_per_s"] = len(train) / row["fit_seconds"]
    else:
        model.precision = precision
        parts = model.compile_for_training() if compiled else []
        if first:
            row["train_step_flops"] = _step_flops(model, data, config, device, labels)
        stepper = _Stepper(model, data, config, device, labels)
        started = time.perf_counter()
        stepper.run(3 if parts else 1)
        row["warm_up_seconds"] = time.perf_counter() - started
        failed = [part.error for part in parts if part.error]
        if failed:
            row["compile_error"] = failed[0]
    if not compiled:
        try:
            row.update(_sample_timing(model, device, precision, sample_batches, repeats))
        except RuntimeError as exc:
            if precision == "fp32":
                raise
            # a sampler written for fp32 (a cached stepper's preallocated buffers) says so
            row["sample_error"] = (f"sampling under {precision} autocast failed: "
                                   f"{(str(exc).splitlines() or [''])[0]}")
        if stepper is not None:
            model.train()  # sampling left it in eval mode
    return stepper if stepper is not None else True


def _sample_timing(model, device, precision: str, batches, repeats: int) -> dict:
    """Sampling ms/image at each batch size, under ``precision`` autocast, after a warm-up."""
    from .precision import autocast

    model.eval()
    generator = torch.Generator(device=device).manual_seed(0)
    out = {}
    with torch.no_grad(), autocast(device, precision):
        model.sample(1, generator=generator)  # warm-up: lazy setup is not charged to b=1
        for batch in batches:
            seconds = best_of(lambda n=batch: model.sample(n, generator=generator), repeats,
                            device)
            out[f"sample_ms_per_image_b{batch}"] = 1000 * seconds / batch
    return out


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
                seconds = first if first >= QUICK_S else best_of(
                    lambda m=model, g=generator: m.sample(batch, generator=g), repeats, device,
                    QUICK_S)
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
    lines += _variants_markdown(rows)
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


def _variants_markdown(rows: list[dict]) -> list[str]:
    """Each model's precision × compile variants with their speed-up over the first, and the
    achieved TFLOP/s of a step (against the device's bf16 peak where it is known)."""
    if not any(len(row.get("variants", [])) > 1 or row.get("train_tflops") for row in rows):
        return []
    lines = ["", "Variants (training speed-up over the first variant; sampling is eager)", "",
             "| model | precision | compiled | step ms | train ex/s | × first | sample ms/img "
             "(b=1) | sample ms/img (b=64) | peak MiB | note |", "|" + "---|" * 10]
    for row in rows:
        for v in row.get("variants", []):
            note = "; ".join(filter(None, [
                v.get("error"), v.get("compile_error") and
                f"compile failed, eager: {v['compile_error']}", v.get("sample_error")]))
            lines.append("| " + " | ".join(_format(x) for x in (
                row["model"], v["precision"], "yes" if v["compiled"] else "no",
                v.get("train_step_ms"), v.get("train_examples_per_s"), v.get("train_speedup"),
                v.get("sample_ms_per_image_b1"), v.get("sample_ms_per_image_b64"),
                v.get("peak_memory_mib"), note)) + " |")
    counted = [row for row in rows if row.get("train_tflops")]
    if counted:
        lines += ["", "Work per training step (FLOPs counted by torch.utils.flop_counter, first "
                  "variant) and what the device achieved", "",
                  "| model | GFLOP/step | achieved TFLOP/s (first) | best TFLOP/s | bf16 peak | "
                  "share of peak |", "|" + "---|" * 6]
        for row in counted:
            share = row.get("utilization")
            lines.append("| " + " | ".join(_format(x) for x in (
                row["model"], row["train_step_flops"] / 1e9, row["train_tflops"],
                row.get("best_tflops"), row.get("bf16_peak_tflops"),
                f"{100 * share:.1f}%" if share is not None else None)) + " |")
    return lines


def _format(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.3g}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def run_benchmarks(registry, names=None, *, dataset: str = "digits", steps: int = 30,
                   device: str = "auto", sizes=DEFAULT_SIZES, out_dir: Path | None = None,
                   home: Path | None = None, log=print, precisions=None, modes=None,
                   batch_size: int | None = None) -> dict:
    """Benchmark the named models (default: every model for the dataset's kind of data).

    Writes ``bench.json`` / ``bench.md`` to ``out_dir`` and saves the result in the runs store
    at ``home`` (:func:`save_result`), each where given. ``sizes`` (image sides) add the
    sampling-time-against-size sweep for image data; empty skips it. ``precisions`` (fp32,
    bf16) and ``modes`` (eager, compiled) choose the variants (:func:`variants_for`);
    ``batch_size`` overrides every model's.
    """
    data = load_dataset(registry, dataset)
    names = names or [n for n, s in sorted(registry.models.items())  # those that can model it
                      if s.data == data.kind and not s.model_class.data_problem(data.info)]
    torch_device = resolve_device(device)
    variants = variants_for(torch_device, precisions, modes)
    sizes = sorted({int(s) for s in sizes or ()}) if data.kind == "image" else []
    rows, scaling = [], []
    for name in names:
        spec = registry.model(name)
        log(f"[bench] {name} on {dataset} ({torch_device})")
        rows.append(bench_model(spec, data, steps=steps, device=torch_device,
                                variants=variants, batch_size=batch_size))
        if sizes:
            log(f"[bench] {name}: sampling at {', '.join(f'{s}x{s}' for s in sizes)}")
            scaling += size_scaling(spec, data.info, sizes, device=torch_device)
    env = environment(torch_device)
    exponents = growth(scaling)
    result = {"environment": env, "dataset": dataset, "steps": steps, "sizes": sizes,
              "variants": [{"precision": p, "compiled": c} for p, c in variants],
              "batch_size": batch_size,
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

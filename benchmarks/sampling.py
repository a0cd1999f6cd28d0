"""Cached vs naive sampling time of the autoregressive image models, side by side.

    .venv/bin/python benchmarks/sampling.py [--models pixelcnn,gated-pixelcnn]
        [--sizes 8,16,28,32] [--batches 1,64] [--levels 17] [--device cpu] [--threads N]
        [--budget 60]

The naive loop runs the whole network once per pixel (H*W passes over H x W pixels), the
cached stepper of Ramachandran et al. 2017 ("Fast Generation for Convolutional Autoregressive
Models") computes one new position per layer per pixel, so the time per image should grow
about as pixels^2 for the first and pixels^1 for the second. Models are built with their
default config and untrained: speed does not depend on the weights. Every autoregressive
image model is timed; one without a cached stepper gets the naive column only, which still
shows how its sampling time grows with image size.

A naive measurement whose estimate exceeds ``--budget`` seconds is timed on its first rows
only (the rest given as known pixels, which the naive loop skips) and extrapolated: every naive
step is the same full pass, so the time is linear in the rows. The table says where.

Writes benchmarks/results/sampling.json and sampling.md and prints the tables.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from genzoo.registry import DataInfo
from genzoo.registry.autoregressive import AutoregressiveImageModel
from genzoo.registry.bench import environment, growth_exponent
from genzoo.registry.config import build_config
from genzoo.registry.devices import resolve_device
from genzoo.registry.errors import BadConfig
from genzoo.registry.evaluation import count_parameters
from genzoo.registry.plugins import get_registry
from genzoo.registry.runs import build_model
from genzoo.registry.timing import best_of


def build(spec, size: int, levels: int, device: torch.device):
    """The model with its default config for ``size`` x ``size`` single-channel images."""
    torch.manual_seed(0)
    config = build_config(spec.config_class)
    n_classes = 10 if getattr(config, "conditional", False) else None
    info = DataInfo(kind="image", shape=(1, size, size), levels=levels, n_classes=n_classes)
    return build_model(spec, config, info).to(device).eval()


def has_cached_stepper(spec, levels: int) -> bool:
    """Whether the model offers a cached stepper (on an 8x8 image, the digits' size)."""
    model = build(spec, 8, levels, torch.device("cpu"))
    if not isinstance(model, AutoregressiveImageModel):
        return False
    labels = torch.zeros(1, dtype=torch.int64) if model.conditional else None
    return model.cached_stepper(1, labels) is not None


def is_ar_image_model(spec, levels: int) -> bool:
    """Whether the model samples pixel by pixel through the autoregressive base."""
    return spec.data == "image" and isinstance(build(spec, 8, levels, torch.device("cpu")),
                                               AutoregressiveImageModel)


def pick_models(registry, names: list[str] | None, levels: int) -> list[str]:
    """The named models (each an autoregressive image model), or every such model."""
    if not names:
        return [name for name, spec in sorted(registry.models.items())
                if is_ar_image_model(spec, levels)]
    for name in names:
        if not is_ar_image_model(registry.model(name), levels):  # NotFound for unknown names
            raise BadConfig(f"model {name!r} is not an autoregressive image model: it has no "
                            "pixel-by-pixel sampling to time")
    return names


def _seconds(fn, device: torch.device, repeats: int = 3) -> float:
    """Best wall time of ``fn()``; a run of a second or more is not repeated."""
    return best_of(fn, repeats, device, quick_seconds=1.0)


def time_sampling(model, batch: int, cached: bool, budget: float, device) -> tuple[float, int]:
    """(seconds for ``batch`` images, rows timed): the first ``rows`` rows when extrapolated."""
    height = model.data.shape[1]

    def first_rows(rows: int):
        """Sample rows 0..rows-1; the rest are known pixels, so the naive loop skips them."""
        generator = torch.Generator(device=device).manual_seed(0)
        blank = torch.zeros(batch, *model.data.shape, dtype=torch.int64, device=device)
        known = torch.arange(height, device=device)[:, None] >= rows  # (H, 1)
        known = known.expand(height, model.data.shape[2])
        return model.complete(blank, known, generator=generator, cached=cached)

    first_rows(1 if not cached else height)  # warm-up (allocator, kernels)
    if not cached:
        estimate = _seconds(lambda: first_rows(1), device, repeats=1) * height
        if estimate > budget:
            rows = max(1, min(height, int(height * budget / estimate)))
            return _seconds(lambda: first_rows(rows), device, repeats=1) * height / rows, rows
    return _seconds(lambda: first_rows(height), device), height


def _cell(value, fmt: str) -> str:
    """A table cell: the formatted number, or a dash where there is none (no cached stepper)."""
    return "—" if value is None else fmt.format(value)


def to_markdown(rows: list[dict], growth: list[dict], env: dict, levels: int) -> str:
    """The comparison table and the growth-with-size table."""
    lines = [f"Device: {env['device']}; torch {env['torch']}; {levels} levels; default configs, "
             f"untrained; {env['time']}", "",
             "| model | image | pixels | batch | cached ms/img | naive ms/img | speed-up "
             "| cached µs/pixel | naive µs/pixel |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        naive = f"{row['naive_ms_per_image']:,.1f}"
        if row["naive_rows_timed"] < row["size"]:
            naive += f" (est. from {row['naive_rows_timed']}/{row['size']} rows)"
        cached = row["cached_ms_per_image"]
        lines.append(
            f"| {row['model']} | {row['size']}x{row['size']} | {row['pixels']} | {row['batch']} "
            f"| {_cell(cached, '{:,.2f}')} | {naive} | {_cell(row['speedup'], '{:,.1f}x')} "
            f"| {_cell(cached and 1000 * cached / row['pixels'], '{:,.1f}')} "
            f"| {1000 * row['naive_ms_per_image'] / row['pixels']:,.1f} |")
    lines += ["", "Growth with image size (ms/image ~ pixels^k, least squares over the sizes):", "",
              "| model | batch | k cached | k naive |", "|---|---|---|---|"]
    for g in growth:
        lines.append(f"| {g['model']} | {g['batch']} | {_cell(g['cached_exponent'], '{:.2f}')} "
                     f"| {g['naive_exponent']:.2f} |")
    return "\n".join(lines)


def run(names, sizes, batches, levels, device, budget, log=print) -> dict:
    """Time every (model, size, batch) both ways; the rows, growth exponents and Markdown."""
    registry = get_registry()
    rows, growth = [], []
    for name in pick_models(registry, names, levels):
        spec = registry.model(name)
        has_cache = has_cached_stepper(spec, levels)
        for size in sizes:
            model = build(spec, size, levels, device)
            for batch in batches:
                cached = time_sampling(model, batch, True, budget, device)[0] if has_cache else None
                naive, rows_timed = time_sampling(model, batch, False, budget, device)
                rows.append({"model": name, "size": size, "pixels": size * size, "batch": batch,
                             "parameters": count_parameters(model),
                             "cached_ms_per_image": cached and 1000 * cached / batch,
                             "naive_ms_per_image": 1000 * naive / batch,
                             "naive_rows_timed": rows_timed,
                             "speedup": cached and naive / cached})
                log(f"[sampling] {name} {size}x{size} batch {batch}: cached "
                    f"{_cell(rows[-1]['cached_ms_per_image'], '{:.2f}')} ms/img, naive "
                    f"{rows[-1]['naive_ms_per_image']:.1f} ms/img "
                    f"({_cell(rows[-1]['speedup'], '{:.1f}x')})")
        for batch in batches:
            mine = [r for r in rows if r["model"] == name and r["batch"] == batch]
            pixels = [r["pixels"] for r in mine]
            if len(mine) > 1:
                growth.append({"model": name, "batch": batch, "cached_exponent": has_cache and
                    growth_exponent(pixels, [r["cached_ms_per_image"] for r in mine]) or None,
                    "naive_exponent": growth_exponent(
                    pixels, [r["naive_ms_per_image"] for r in mine])})
    env = environment(device)
    return {"environment": env, "levels": levels, "budget_s": budget, "rows": rows,
            "growth": growth, "markdown": to_markdown(rows, growth, env, levels)}


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="",
                        help="comma list of image models (default: all with a cached stepper)")
    parser.add_argument("--sizes", type=_ints, default=[8, 16, 28, 32])
    parser.add_argument("--batches", type=_ints, default=[1, 64])
    parser.add_argument("--levels", type=int, default=17, help="17 like digits, 256 like 8-bit")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    parser.add_argument("--budget", type=float, default=60.0,
                        help="seconds a naive measurement may take before it is extrapolated")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    names = [name.strip() for name in args.models.split(",") if name.strip()]
    result = run(names, args.sizes, args.batches, args.levels, resolve_device(args.device),
                 args.budget)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "sampling.json").write_text(json.dumps(result, indent=1))
    (out / "sampling.md").write_text(result["markdown"] + "\n")
    print(result["markdown"])


if __name__ == "__main__":
    main()

"""Every registered image model and baseline on one table: likelihood, sample quality, speed.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/quality.py --seconds 120 [--models a,b]

Each model trains on the dataset for ``--seconds`` (a closed-form baseline is fitted; a model
with a second stage, the VQ-VAE, splits the budget with its prior as in benchmarks/latent.py),
then 1,000 samples are scored by `genzoo.registry.quality` against the real-data floor, and a
Parzen-window estimate is taken from samples (shown apart: an estimate, not a likelihood). Use
``--models`` to split the work between processes (one per core). Runs go to a throw-away store
unless GENZOO_HOME is set. Writes results/quality[-models].json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch

from genzoo.registry.devices import describe_device, resolve_device
from genzoo.registry.parzen import parzen_estimate
from genzoo.registry.plugins import get_registry
from genzoo.registry.quality import real_data_scores, reference_classifier, run_quality
from genzoo.registry.runs import load_dataset, load_run
from genzoo.registry.store import RunStore
from genzoo.registry.training import LoopSettings, start_run

COLUMNS = (("model", "model"), ("kind", "likelihood"), ("bits_per_dim", "bits/dim"),
           ("parzen", "Parzen est."), ("frechet_distance", "Fréchet"),
           ("precision", "precision"), ("recall", "recall"), ("coverage", "coverage"),
           ("classes_covered", "classes"), ("nn_ratio", "NN ratio"),
           ("sample_ms_b1", "ms/img b=1"), ("sample_ms_b64", "ms/img b=64"),
           ("train_seconds", "train s"))


def train(registry, store, name: str, dataset: str, seconds: float, prior_share: float,
          common: dict):
    """Train ``name`` within the budget; a model with a second stage gets it trained too, and
    the second stage's run (the one that samples and has a likelihood) is returned."""
    stages = [n for n, s in registry.models.items()  # not a restoration stage (codeformer)
              if s.parent == name and s.density != "implicit"]
    if not stages:
        return start_run(registry, store, name, dataset, seconds=seconds, **common)
    first = start_run(registry, store, name, dataset, seconds=seconds * (1 - prior_share),
                      **common)
    return start_run(registry, store, stages[0], None, parent=first.run_id,
                     seconds=seconds * prior_share, **common)


def fmt(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 100 else f"{value:.3g}"
    return str(value)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="", help="comma list (default: every image model)")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--prior-share", type=float, default=0.4)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--parzen-samples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()

    registry = get_registry()
    store = RunStore(os.environ.get("GENZOO_HOME") or tempfile.mkdtemp(prefix="genzoo-bench-"))
    names = ([n for n in args.models.split(",") if n] if args.models else
             [n for n, s in registry.models.items() if s.data == "image" and s.parent is None])
    unknown = [n for n in names if n not in registry.models]
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}")
    data = load_dataset(registry, args.dataset)
    common = dict(seed=args.seed, device=args.device, settings=LoopSettings())

    floor = real_data_scores(data, reference_classifier(store, args.dataset, data))
    rows = [{"model": "real data (floor)", "kind": "—", **floor}]
    for name in names:
        record = train(registry, store, name, args.dataset, args.seconds, args.prior_share,
                       common)
        scores = run_quality(store, registry, record.run_id, n=args.samples, seed=args.seed)
        loaded = load_run(record.run_id, store, registry)
        parzen = parzen_estimate(loaded.model, loaded.data, n_samples=args.parzen_samples,
                                 seed=args.seed)
        metrics = record.metrics
        label = name if record.model == name else f"{name} + {record.model}"
        rows.append({"model": label, "kind": metrics["bound"],
                     "bits_per_dim": metrics.get("test_bits_per_dim"),
                     "parzen": parzen["parzen_bits_per_dim"],
                     **{k.removeprefix("quality_"): v for k, v in scores.items()},
                     "sample_ms_b1": metrics.get("sample_ms_per_image_b1"),
                     "sample_ms_b64": metrics.get("sample_ms_per_image_b64"),
                     "train_seconds": round(record.train_seconds, 1)})
        print({k: rows[-1].get(k) for k, _ in COLUMNS}, flush=True)

    device = describe_device(resolve_device(args.device))
    header = (f"{args.dataset}, {args.seconds:.0f} s of training per model, {args.samples} "
              f"samples scored, {device}, torch {torch.__version__}, "
              f"{torch.get_num_threads()} thread(s), {time.strftime('%Y-%m-%d')}")
    lines = [header, "", "| " + " | ".join(title for _, title in COLUMNS) + " |",
             "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(fmt(row.get(key)) for key, _ in COLUMNS) + " |" for row in rows]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    suffix = "-" + "-".join(names) if args.models else ""
    (out / f"quality{suffix}.json").write_text(json.dumps({"header": header, "rows": rows},
                                                          indent=1, default=str))
    (out / f"quality{suffix}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

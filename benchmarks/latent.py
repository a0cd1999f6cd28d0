"""The latent-variable family on digits under one training budget, next to the exact models.

    .venv/bin/python benchmarks/latent.py --seconds 120 --iwae 10,100

Trains `independent` (closed form), `pixelcnn` and `vae` for ``--seconds`` each, and the VQ-VAE
pipeline in the same budget: `vqvae` for (1 - prior_share) of it, then `vqvae-prior` on its
codes for the rest. Reports test bits/dim with the bound kind (the VAE also with IWAE-K for
each K), and each trained model's sampling ms/image at batch 1 and 64: the lecture's claim that
latent models sample fast, measured. Use ``--models`` to split the work between processes
(e.g. ``OMP_NUM_THREADS=1`` and one process per core). Runs go to a throw-away store unless
GENZOO_HOME is set. Writes results/latent.json and latent.md.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import torch

from genzoo.registry.devices import describe_device, resolve_device
from genzoo.registry.evaluation import evaluate
from genzoo.registry.plugins import get_registry
from genzoo.registry.runs import load_run
from genzoo.registry.store import RunStore
from genzoo.registry.training import LoopSettings, start_run

MODELS = ("independent", "pixelcnn", "vae", "vqvae")  # vqvae brings its prior


def row_of(record, label: str, seconds: float) -> dict:
    """The numbers of one finished run, as a table row."""
    metrics = record.metrics
    return {"model": label, "run_id": record.run_id, "bound": metrics["bound"],
            "test_bits_per_dim": metrics["test_bits_per_dim"], "steps": record.step,
            "train_seconds": seconds, "parameters": metrics.get("parameters"),
            "sample_ms_b1": metrics.get("sample_ms_per_image_b1"),
            "sample_ms_b64": metrics.get("sample_ms_per_image_b64")}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS),
                        help=f"a subset of {', '.join(MODELS)}")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--prior-share", type=float, default=0.4,
                        help="share of the VQ-VAE pipeline's budget that trains the prior")
    parser.add_argument("--iwae", default="10,100", help="K values of the VAE's IWAE bound")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()
    names = args.models.split(",")
    unknown = sorted(set(names) - set(MODELS))
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}: choose from {', '.join(MODELS)}")
    if not 0 < args.prior_share < 1:
        parser.error(f"--prior-share must be between 0 and 1, got {args.prior_share}")

    registry = get_registry()
    store = RunStore(os.environ.get("GENZOO_HOME") or tempfile.mkdtemp(prefix="genzoo-bench-"))
    common = dict(seed=args.seed, device=args.device, settings=LoopSettings())
    rows = []
    for name in names:
        if name == "independent":
            record = start_run(registry, store, name, args.dataset, steps=0, **common)
            rows.append(row_of(record, name, 0.0))
        elif name != "vqvae":
            record = start_run(registry, store, name, args.dataset, seconds=args.seconds,
                               **common)
            rows.append(row_of(record, name, args.seconds))
        if name == "vae":
            loaded = load_run(record.run_id, store, registry)
            for k in (int(k) for k in args.iwae.split(",") if k):
                result = evaluate(loaded.model, loaded.spec, loaded.data, "test", iwae=k)
                rows.append({**row_of(record, "vae", args.seconds), "bound": result["bound"],
                             "test_bits_per_dim": result["bits_per_dim"]})
        if name == "vqvae":
            stage_one = args.seconds * (1 - args.prior_share)
            first = start_run(registry, store, "vqvae", args.dataset, seconds=stage_one,
                              **common)
            prior = start_run(registry, store, "vqvae-prior", None, parent=first.run_id,
                              seconds=args.seconds - stage_one, **common)
            row = row_of(prior, "vqvae + vqvae-prior", args.seconds)
            row["steps"] = f"{first.step} + {prior.step}"
            row["vqvae_alone_sample_ms_b64"] = first.metrics.get("sample_ms_per_image_b64")
            rows.append(row)
        print({k: v for k, v in rows[-1].items() if k != "run_id"}, flush=True)

    device = describe_device(resolve_device(args.device))
    header = (f"{args.dataset}, {args.seconds:.0f} s of training per model (the VQ-VAE pipeline: "
              f"{1 - args.prior_share:.0%} VQ-VAE, {args.prior_share:.0%} prior), {device}, "
              f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    lines = [header, "",
             "| model | bound | test bits/dim | steps | parameters | sample ms/img (b=1) | "
             "sample ms/img (b=64) |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        ms = [f"{r[k]:.3g}" if r.get(k) is not None else "—" for k in ("sample_ms_b1",
                                                                       "sample_ms_b64")]
        lines.append(f"| {r['model']} | {r['bound']} | {r['test_bits_per_dim']:.4f} | "
                     f"{r['steps']} | {r['parameters'] or 0:,} | {ms[0]} | {ms[1]} |")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    suffix = "" if names == list(MODELS) else "-" + "-".join(names)
    (out / f"latent{suffix}.json").write_text(json.dumps({"header": header, "rows": rows},
                                                         indent=1))
    (out / f"latent{suffix}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

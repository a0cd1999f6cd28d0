"""β-VAE on shapes: the bound against disentanglement, at several β (issue 23).

    .venv/bin/python benchmarks/beta_mig.py --betas 1,4,10 --steps 2000 --seeds 0

Trains a ``vae`` on ``shapes`` (known factors: shape, size, row, col) at each β with the same
budget in steps (a step budget, so runs on a busy machine still see the same data), then for
each run reports the test ELBO (bits/dim, at weight 1 whatever β trained it) and the mutual
information gap of its posterior means on the test split (Chen et al. 2018). Writes
results/beta_mig.json and .md; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from pathlib import Path

import torch

from genzoo.registry.disentangle import model_mig
from genzoo.registry.plugins import get_registry
from genzoo.registry.runs import load_run
from genzoo.registry.store import RunStore
from genzoo.registry.training import LoopSettings, start_run


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="shapes")
    parser.add_argument("--betas", default="1,4,10")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--set", dest="settings", action="append", default=["latent_dim=10"],
                        metavar="KEY=VALUE", help="config overrides of every run")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()

    torch.set_num_threads(1)
    registry = get_registry()
    store = RunStore(os.environ.get("GENZOO_HOME") or tempfile.mkdtemp(prefix="genzoo-bench-"))
    rows = []
    for beta in [float(b) for b in args.betas.split(",")]:
        for seed in [int(s) for s in args.seeds.split(",")]:
            overrides = dict(pair.split("=", 1) for pair in args.settings)
            record = start_run(registry, store, "vae", args.dataset, steps=args.steps,
                               seed=seed, overrides={**overrides, "beta": str(beta)},
                               settings=LoopSettings(progress=False))
            loaded = load_run(record.run_id, store, registry)
            mig = model_mig(loaded.model, loaded.data)
            rows.append({"beta": beta, "seed": seed, "run_id": record.run_id,
                         "test_bits_per_dim": record.metrics["test_bits_per_dim"],
                         "mig": mig.score, "gaps": mig.gaps,
                         "train_seconds": record.train_seconds})
            print(f"beta {beta:g} seed {seed}: {rows[-1]['test_bits_per_dim']:.4f} bits/dim, "
                  f"MIG {mig.score:.3f}", flush=True)
    lines = [f"vae on {args.dataset}, {args.steps} steps per run, "
             f"{', '.join(args.settings)}, one thread", "",
             "| β | seeds | test bits/dim (ELBO) | MIG | gaps: shape, size, row, col |",
             "|---|---|---|---|---|"]
    for beta in dict.fromkeys(r["beta"] for r in rows):
        group = [r for r in rows if r["beta"] == beta]
        gaps = {k: statistics.mean(r["gaps"][k] for r in group) for k in group[0]["gaps"]}
        lines.append(f"| {beta:g} | {len(group)} | "
                     f"{statistics.mean(r['test_bits_per_dim'] for r in group):.4f} | "
                     f"{statistics.mean(r['mig'] for r in group):.3f} | "
                     f"{', '.join(f'{v:.3f}' for v in gaps.values())} |")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "beta_mig.json").write_text(json.dumps({"args": vars(args), "rows": rows}, indent=1))
    (out / "beta_mig.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""DDIM's trade-off on a trained diffusion model: sampling ms/image and sample quality at K steps.

    .venv/bin/python benchmarks/diffusion_steps.py --seconds 120 --steps 10,20,50,100,1000
    .venv/bin/python benchmarks/diffusion_steps.py --run RUN_ID     # a run of the store

Trains a ``ddpm`` on the dataset with the budget (or takes ``--run``), then for each K draws
``--n`` samples with the K-step DDIM sampler (eta 0), and with all T steps ancestrally (eta 1),
timing them in one process and scoring each set against the test split with the dataset's
reference classifier (Fréchet distance, precision, recall). The issue's target: DDIM with 50
steps at least 15x faster per image than 1,000-step ancestral sampling, its Fréchet distance
reported next to it. Writes results/diffusion_steps.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from genzoo.registry import diffusion_views
from genzoo.registry.devices import describe_device, resolve_device
from genzoo.registry.plugins import get_registry
from genzoo.registry.quality import reference_for_run
from genzoo.registry.runs import load_run
from genzoo.registry.store import RunStore
from genzoo.registry.training import LoopSettings, start_run


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default=None, help="a ddpm run of GENZOO_HOME's store")
    parser.add_argument("--model", default="ddpm")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--set", dest="settings", action="append", default=[],
                        metavar="KEY=VALUE", help="config overrides of the trained model")
    parser.add_argument("--steps", default="10,20,50,100")
    parser.add_argument("--n", type=int, default=500, help="samples per step count")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()

    registry = get_registry()
    store = RunStore(os.environ.get("GENZOO_HOME") or tempfile.mkdtemp(prefix="genzoo-bench-"))
    run_id = args.run
    if run_id is None:
        overrides = dict(pair.split("=", 1) for pair in args.settings)
        run_id = start_run(registry, store, args.model, args.dataset, seconds=args.seconds,
                           overrides=overrides, device=args.device,
                           settings=LoopSettings()).run_id
    loaded = load_run(run_id, store, registry, device=resolve_device(args.device))
    model, data = loaded.model, loaded.data
    reference = reference_for_run(store, registry, loaded.record, data)
    total = model.max_sampling_steps
    steps = sorted({int(k) for k in args.steps.split(",") if int(k) <= total})
    frame = diffusion_views.step_tradeoff(model, data, reference, steps, n=args.n, eta=0.0)
    ancestral = diffusion_views.step_tradeoff(model, data, reference, [total], n=args.n,
                                              eta=1.0)
    rows = [*frame.to_dict("records"), *ancestral.to_dict("records")]
    full = rows[-1]["ms_per_image"]
    for row in rows:
        row["speedup_vs_ancestral"] = full / row["ms_per_image"]
    device = describe_device(model.device)
    lines = [f"{loaded.record.model} run {run_id} on {args.dataset} (T = {total}, test "
             f"{loaded.record.metrics.get('test_bits_per_dim', float('nan')):.3f} bits/dim), "
             f"{args.n} samples per row, {device}", "",
             "| sampler | steps | ms/image | speed-up vs ancestral | Fréchet | precision | "
             "recall |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {'ancestral' if r['eta'] == 1.0 else 'DDIM (eta 0)'} | {r['steps']} | "
              f"{r['ms_per_image']:.3f} | {r['speedup_vs_ancestral']:.1f}x | "
              f"{r['frechet_distance']:.2f} | {r['precision']:.3f} | {r['recall']:.3f} |"
              for r in rows]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "diffusion_steps.json").write_text(json.dumps(
        {"device": device, "run_id": run_id, "timesteps": total, "rows": rows}, indent=1))
    (out / "diffusion_steps.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""Choose a model's default config on the validation split: a grid of values, a step budget.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/tune.py --model gated-pixelcnn \
        --grid dropout=0,0.25,0.5 --steps 1000,2000,2500
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/tune.py --model vqvae \
        --grid codebook_size=8,16,32 --steps 2000 --prior-steps 2000

Each grid point is one run, trained to the first step count and resumed to each next one, so
one run gives its validation bits/dim at every budget. A two-stage model (``--prior-steps``)
gets its prior trained on each stage-one run, and is judged by the prior's bound. The choice is
the grid point with the lowest *validation* bits/dim at the largest budget; test bits/dim is
printed beside it, only as the number that gets reported (docs/decisions.md, "The comparison
protocol"). Step budgets rather than seconds, so that a busy machine does not change the
choice. Runs go to a throw-away store unless GENZOO_HOME is set. Writes results/tune-MODEL.json
and .md.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import tempfile
from pathlib import Path

from genzoo.registry.devices import describe_device, resolve_device
from genzoo.registry.plugins import get_registry
from genzoo.registry.store import RunStore
from genzoo.registry.training import LoopSettings, resume_run, start_run


def parse_grid(text: str) -> list[dict[str, str]]:
    """``"a=1,2;b=x,y"`` -> every combination, as ``--set`` overrides."""
    axes = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        key, _, values = part.partition("=")
        if not key or not values:
            raise SystemExit(f"--grid: {part!r} is not KEY=V1,V2,...")
        axes.append([(key.strip(), v.strip()) for v in values.split(",") if v.strip()])
    return [dict(combo) for combo in itertools.product(*axes)]


def scores(record) -> dict:
    metrics = record.metrics
    return {"step": record.step, "val_bits_per_dim": metrics.get("val_bits_per_dim"),
            "test_bits_per_dim": metrics.get("test_bits_per_dim")}


def tune(args) -> list[dict]:
    registry = get_registry()
    store = RunStore(os.environ.get("GENZOO_HOME") or tempfile.mkdtemp(prefix="genzoo-tune-"))
    budgets = sorted(int(s) for s in args.steps.split(","))
    settings = LoopSettings(progress=False)
    prior = next((name for name, spec in registry.models.items()  # the stage with a bound
                  if spec.parent == args.model and spec.density != "implicit"),
                 None) if args.prior_steps else None
    rows = []
    for overrides in parse_grid(args.grid):
        record = None
        for budget in budgets:
            if record is None:
                record = start_run(registry, store, args.model, args.dataset, steps=budget,
                                   overrides=dict(overrides), seed=args.seed, device=args.device,
                                   settings=settings)
            else:
                record = resume_run(registry, store, record.run_id, steps=budget,
                                    settings=settings)
            judged = record
            if prior is not None:  # a stage-one run is judged by the bound its prior gives
                judged = start_run(registry, store, prior, None, steps=args.prior_steps,
                                   parent=record.run_id, seed=args.seed, device=args.device,
                                   settings=settings)
            rows.append({"config": overrides, "run_id": record.run_id, **scores(judged),
                         "stage_one_step": record.step})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def choose(rows: list[dict]) -> dict:
    """The grid point with the lowest validation bits/dim at the largest budget."""
    last = max(row["stage_one_step"] for row in rows)
    final = [row for row in rows if row["stage_one_step"] == last]
    return min(final, key=lambda row: row["val_bits_per_dim"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--grid", required=True, help="KEY=V1,V2[;KEY2=...]: --set values")
    parser.add_argument("--steps", default="2000", help="step budgets, comma-separated")
    parser.add_argument("--prior-steps", type=int, default=0,
                        help="train the model's second stage (a prior) this many steps on each")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()

    rows = tune(args)
    best = choose(rows)
    device = describe_device(resolve_device(args.device))
    prior = f", prior {args.prior_steps} steps on each" if args.prior_steps else ""
    lines = [f"{args.model} on {args.dataset}{prior}, seed {args.seed}, {device}", "",
             "| config | steps | validation bits/dim (chooses) | test bits/dim (reported) |",
             "|---|---|---|---|"]
    for row in rows:
        mark = " **chosen**" if row is best else ""
        config = ", ".join(f"{k}={v}" for k, v in row["config"].items())
        lines.append(f"| {config}{mark} | {row['stage_one_step']:,} | "
                     f"{row['val_bits_per_dim']:.4f} | {row['test_bits_per_dim']:.4f} |")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"tune-{args.model}.json").write_text(json.dumps({"rows": rows, "chosen": best},
                                                            indent=1))
    (out / f"tune-{args.model}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

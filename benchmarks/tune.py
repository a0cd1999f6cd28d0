"""Choose a model's default config on the validation split: a grid of values, a step budget.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/tune.py --model gated-pixelcnn \
        --grid dropout=0,0.25,0.5 --steps 1000,2000,2500
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/tune.py --model vqvae \
        --grid codebook_size=8,16,32 --steps 2000 --prior-steps 2000
    GENZOO_HOME=STORE .venv/bin/python benchmarks/tune.py --model vqvae-prior \
        --parent VQVAE_RUN_ID --grid "hidden=16,32;dropout=0.3,0.5" --steps 1000,2000

Each grid point is one run, trained to the first step count and resumed to each next one, so
one run gives its validation bits/dim at every budget. A two-stage model (``--prior-steps``)
gets its prior trained on each stage-one run, and is judged by the prior's bound. The choice is
the grid point with the lowest *validation* bits/dim averaged over the budgets and seeds (a
default serves every budget, not the one it was tuned at); test bits/dim is printed beside it,
only as the number that gets reported (docs/decisions.md, "The comparison
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
    for overrides, seed in itertools.product(parse_grid(args.grid),
                                             [int(x) for x in args.seeds.split(",")]):
        record = None
        for budget in budgets:
            if record is None:
                record = start_run(registry, store, args.model,
                                   None if args.parent else args.dataset, steps=budget,
                                   overrides=dict(overrides), seed=seed, device=args.device,
                                   settings=settings, parent=args.parent)
            else:
                record = resume_run(registry, store, record.run_id, steps=budget,
                                    settings=settings)
            judged = record
            if prior is not None:  # a stage-one run is judged by the bound its prior gives
                judged = start_run(registry, store, prior, None, steps=args.prior_steps,
                                   parent=record.run_id, seed=seed, device=args.device,
                                   settings=settings)
            rows.append({"config": overrides, "seed": seed, "run_id": record.run_id,
                         **scores(judged),
                         "stage_one_step": record.step})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def choose(rows: list[dict]) -> tuple[dict, dict[str, float]]:
    """The grid point with the lowest validation bits/dim averaged over budgets and seeds, and
    that average for every grid point."""
    means: dict[str, list[float]] = {}
    for row in rows:
        means.setdefault(config_label(row["config"]), []).append(row["val_bits_per_dim"])
    averages = {label: sum(values) / len(values) for label, values in means.items()}
    best = min(averages, key=averages.get)
    return next(row["config"] for row in rows if config_label(row["config"]) == best), averages


def config_label(config: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in config.items())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--grid", required=True, help="KEY=V1,V2[;KEY2=...]: --set values")
    parser.add_argument("--steps", default="2000", help="step budgets, comma-separated")
    parser.add_argument("--prior-steps", type=int, default=0,
                        help="train the model's second stage (a prior) this many steps on each")
    parser.add_argument("--parent", default=None,
                        help="a second-stage model's parent run (in GENZOO_HOME's store)")
    parser.add_argument("--seeds", default="0", help="seeds, comma-separated")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()

    rows = tune(args)
    best, averages = choose(rows)
    device = describe_device(resolve_device(args.device))
    prior = f", prior {args.prior_steps} steps on each" if args.prior_steps else ""
    on = f"parent run {args.parent}" if args.parent else args.dataset
    lines = [f"{args.model} on {on}{prior}, seeds {args.seeds}, {device}", "",
             "| config | seed | steps | validation bits/dim (chooses) | test bits/dim (reported) |",
             "|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {config_label(row['config'])} | {row['seed']} | "
                     f"{row['stage_one_step']:,} | {row['val_bits_per_dim']:.4f} | "
                     f"{row['test_bits_per_dim']:.4f} |")
    lines += ["", "| config | mean validation bits/dim |", "|---|---|"]
    lines += [f"| {label}{' **chosen**' if label == config_label(best) else ''} | {value:.4f} |"
              for label, value in sorted(averages.items(), key=lambda kv: kv[1])]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"tune-{args.model}.json").write_text(json.dumps({"rows": rows, "chosen": best,
                                                             "mean_val": averages},
                                                            indent=1))
    (out / f"tune-{args.model}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

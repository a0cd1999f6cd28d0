"""Training throughput and sampling time of every image model (same as `genzoo bench`).

    .venv/bin/python benchmarks/speed.py [--device cuda] [--steps 50]

Writes benchmarks/results/bench.json and bench.md, saves the result in the runs store
($GENZOO_HOME/bench, for the dashboard's Speed page) and prints the table.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from genzoo.registry.bench import run_benchmarks
from genzoo.registry.plugins import get_registry
from genzoo.registry.store import default_home


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--sizes", default="8,16",
                        help="image sides to time sampling at (comma list; empty for none)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()
    sizes = [int(part) for part in args.sizes.split(",") if part.strip()]
    result = run_benchmarks(get_registry(), dataset=args.dataset, steps=args.steps,
                            device=args.device, sizes=sizes, out_dir=Path(args.out),
                            home=default_home())
    print(result["markdown"])


if __name__ == "__main__":
    main()

"""Training throughput and sampling time of every image model (same as `genzoo bench`).

    .venv/bin/python benchmarks/speed.py [--device cuda] [--steps 50]

Writes benchmarks/results/bench.json and bench.md and prints the table.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from genzoo.registry.bench import run_benchmarks
from genzoo.registry.plugins import get_registry


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()
    result = run_benchmarks(get_registry(), dataset=args.dataset, steps=args.steps,
                            device=args.device, out_dir=Path(args.out))
    print(result["markdown"])


if __name__ == "__main__":
    main()

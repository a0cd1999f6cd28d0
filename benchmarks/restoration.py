"""Restoration by codebook lookup (CodeFormer) on digits: how much the transformer adds.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/restoration.py --vqvae-seconds 60 \
        --codeformer-seconds 90

Trains `vqvae` for ``--vqvae-seconds``, then `codeformer` on it for ``--codeformer-seconds``
(or for ``--vqvae-steps`` / ``--codeformer-steps``: the same run on a busy or a faster machine),
and measures every test image under each degradation of
`genzoo.registry.restoration.TABLE_DEGRADATIONS`: PSNR against the clean image (dB) and the
reference classifier's accuracy, for the degraded input itself, the nearest-code lookup of the
VQ-VAE (encode -> quantize -> decode) and CodeFormer at each ``--w``. The first row (clean
input) is the ceiling: what the VQ-VAE keeps of an undamaged image. Runs go to a throw-away
store unless GENZOO_HOME is set. Writes results/restoration.json and restoration.md.
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
from genzoo.registry.plugins import get_registry
from genzoo.registry.restoration import markdown_table, run_restoration_table
from genzoo.registry.store import RunStore
from genzoo.registry.training import LoopSettings, start_run


def budget(steps: int | None, seconds: float) -> dict:
    """start_run's budget: the steps where given, else the seconds."""
    return {"steps": steps} if steps is not None else {"seconds": seconds}


def how(steps: int | None, seconds: float) -> str:
    """The budget as the header names it."""
    return "a step budget" if steps is not None else f"{seconds:.0f} s"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--vqvae-seconds", type=float, default=60.0)
    parser.add_argument("--codeformer-seconds", type=float, default=90.0)
    parser.add_argument("--w", default="0,0.5,1", help="CFT weights to measure (comma list)")
    parser.add_argument("--vqvae-steps", type=int, help="a step budget instead of seconds")
    parser.add_argument("--codeformer-steps", type=int, help="a step budget instead of seconds")
    parser.add_argument("--set", dest="settings", action="append", default=[],
                        metavar="KEY=VALUE", help="codeformer config overrides")
    parser.add_argument("--vqvae-set", dest="vqvae_settings", action="append", default=[],
                        metavar="KEY=VALUE", help="vqvae config overrides")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()
    ws = tuple(float(w) for w in args.w.split(",") if w.strip())

    registry = get_registry()
    store = RunStore(os.environ.get("GENZOO_HOME") or tempfile.mkdtemp(prefix="genzoo-bench-"))
    common = dict(seed=args.seed, device=args.device, settings=LoopSettings())
    vqvae_overrides = dict(pair.split("=", 1) for pair in args.vqvae_settings)
    vqvae = start_run(registry, store, "vqvae", args.dataset, overrides=vqvae_overrides,
                      **budget(args.vqvae_steps, args.vqvae_seconds), **common)
    overrides = dict(pair.split("=", 1) for pair in args.settings)
    codeformer = start_run(registry, store, "codeformer", None, parent=vqvae.run_id,
                           **budget(args.codeformer_steps, args.codeformer_seconds),
                           overrides=overrides, **common)
    started = time.perf_counter()
    table, reference = run_restoration_table(store, registry, codeformer.run_id, ws=ws,
                                             seed=args.seed)
    seconds = time.perf_counter() - started

    device = describe_device(resolve_device(args.device))
    accuracy = f"{100 * reference.test_accuracy:.1f}%" if reference is not None else "—"
    header = (f"{args.dataset}, every test image; vqvae {vqvae.step} steps "
              f"({how(args.vqvae_steps, args.vqvae_seconds)}; "
              f"{vqvae_overrides or 'default config'}), codeformer {codeformer.step} steps "
              f"({how(args.codeformer_steps, args.codeformer_seconds)}; "
              f"{overrides or 'default config'}); reference "
              f"classifier {accuracy} on clean test images; {device}, torch "
              f"{torch.__version__}, {torch.get_num_threads()} thread(s); table in "
              f"{seconds:.1f} s")
    markdown = markdown_table(table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "restoration.json").write_text(json.dumps(
        {"header": header, "vqvae_run": vqvae.run_id, "codeformer_run": codeformer.run_id,
         "rows": table.to_dict(orient="records")}, indent=1))
    (out / "restoration.md").write_text(header + "\n\n" + markdown + "\n")
    print(header + "\n\n" + markdown)


if __name__ == "__main__":
    main()

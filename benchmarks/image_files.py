"""Loading a user's MNIST-sized idx file: seconds, peak memory and the identity hash's cost.

    .venv/bin/python benchmarks/image_files.py --out benchmarks/results/image_files.json

Writes a 60,000-image 28x28 ``train-images-idx3-ubyte`` (random digit-like content: a dark
background with bright strokes) and its labels file into a temporary folder, plain and gzipped,
then for each variant measures in a fresh Python process (imports done first, so the memory is
the load's own):

- ``load_s``: seconds for ``load_image_files`` (median of ``--repeats``; a seeded, stratified
  80/20 split, as no t10k file is beside it);
- ``peak_rss_mb``: the rise of the process's peak resident memory (``ru_maxrss``) over the first
  load, next to ``tensors_mb``, the size of the int64 train and test tensors it returns;
- ``identity_s``: seconds for ``dataset_identity`` (sha256 of the files; median).

Then (``--train-steps``, 0 to skip) the same PixelCNN config trains on the built-in ``mnist``
and on the idx file, alternately (``--train-rounds`` each, one thread), and the table compares
their training examples/s: the loader's tensors are the same kind as a built-in's, so the
steps should cost the same.

Nothing is asserted: it prints Markdown tables and writes JSON.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def digit_like(n: int, side: int, seed: int) -> np.ndarray:
    """``n`` uint8 images: 0 background with about a fifth of the pixels bright, like MNIST."""
    rng = np.random.default_rng(seed)
    strokes = rng.random((n, side, side), dtype=np.float32) < 0.2
    return np.where(strokes, rng.integers(64, 256, (n, side, side), dtype=np.uint8), 0).astype(
        np.uint8)


def write_idx_pair(folder: Path, n: int, side: int, gz: bool) -> Path:
    """``train-images-idx3-ubyte`` and ``train-labels-idx1-ubyte`` (``.gz`` when ``gz``)."""
    folder.mkdir(parents=True, exist_ok=True)
    images = digit_like(n, side, seed=0)
    labels = (np.arange(n) % 10).astype(np.uint8)
    image_bytes = np.array([0x803, n, side, side], dtype=">i4").tobytes() + images.tobytes()
    label_bytes = np.array([0x801, n], dtype=">i4").tobytes() + labels.tobytes()
    suffix, pack = (".gz", gzip.compress) if gz else ("", bytes)
    (folder / f"train-labels-idx1-ubyte{suffix}").write_bytes(pack(label_bytes))
    path = folder / f"train-images-idx3-ubyte{suffix}"
    path.write_bytes(pack(image_bytes))
    return path


def measure(path: str, repeats: int) -> dict:
    """In this (fresh) process: the load's peak memory rise, then timings."""
    import resource

    import sklearn.model_selection  # noqa: F401 - imported before the baseline: not the load's

    from genzoo.registry.imagefiles import dataset_identity, load_image_files

    before_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    data = load_image_files(path)
    times = [time.perf_counter() - started]
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tensors = data.train.nbytes + data.test.nbytes
    shape = [len(data.train), len(data.test), *data.train.shape[1:]]
    del data
    for _ in range(repeats - 1):
        started = time.perf_counter()
        load_image_files(path)
        times.append(time.perf_counter() - started)
    identity = []
    for _ in range(repeats):
        started = time.perf_counter()
        dataset_identity(path)
        identity.append(time.perf_counter() - started)
    return {"load_s": statistics.median(times), "load_s_each": times,
            "peak_rss_mb": (peak_kb - before_kb) / 1024, "tensors_mb": tensors / 2**20,
            "identity_s": statistics.median(identity), "shape": shape}


def train_speed(idx_path: str, steps: int, rounds: int) -> list[dict]:
    """Training examples/s of one PixelCNN config on ``mnist`` and on ``idx_path``, alternating
    (mnist, file, mnist, file, ...) in a throwaway store, one thread."""
    import torch

    torch.set_num_threads(1)
    os.environ["GENZOO_HOME"] = tempfile.mkdtemp(prefix="genzoo-bench-home-")
    from genzoo.registry.plugins import get_registry
    from genzoo.registry.store import RunStore
    from genzoo.registry.training import LoopSettings, start_run

    registry, store = get_registry(), RunStore()
    rows = []
    for round_ in range(rounds):
        for name, dataset in (("mnist", "mnist"), ("idx file", idx_path)):
            record = start_run(registry, store, "pixelcnn", dataset, steps=steps,
                               overrides={"hidden": "16", "layers": "3"},
                               settings=LoopSettings(progress=False))
            rows.append({"dataset": name, "round": round_,
                         "examples_per_s": record.metrics["train_examples_per_s"]})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=60_000, help="images in the idx file")
    parser.add_argument("--side", type=int, default=28)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results/image_files.json")
    parser.add_argument("--train-steps", type=int, default=40,
                        help="PixelCNN steps per training run (0: skip the speed comparison)")
    parser.add_argument("--train-rounds", type=int, default=2)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)  # a measuring process
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.repeats)))
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="genzoo-image-files-") as root:
        for variant, gz in (("idx", False), ("idx.gz", True)):
            path = write_idx_pair(Path(root) / variant, args.n, args.side, gz)
            child = subprocess.run([sys.executable, __file__, "--child", str(path),
                                    "--repeats", str(args.repeats)], check=True,
                                   capture_output=True, text=True)
            row = json.loads(child.stdout.splitlines()[-1])
            row.update(variant=variant, file_mb=path.stat().st_size / 2**20)
            rows.append(row)
        speed = (train_speed(str(Path(root) / "idx" / "train-images-idx3-ubyte"),
                             args.train_steps, args.train_rounds) if args.train_steps else [])
    lines = [f"{args.n:,} images {args.side}x{args.side}, median of {args.repeats}, "
             f"{os.cpu_count()} CPUs, Python {platform.python_version()}", "",
             "| file | size MB | load s | peak RSS rise MB | int64 tensors MB | identity s |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['variant']} | {r['file_mb']:.1f} | {r['load_s']:.3f} | "
              f"{r['peak_rss_mb']:.0f} | {r['tensors_mb']:.0f} | {r['identity_s']:.3f} |"
              for r in rows]
    if speed:
        lines += ["", f"PixelCNN (hidden 16, 3 layers), {args.train_steps} steps per run, one "
                  "thread, alternating:", "", "| dataset | training ex/s, each run | median |",
                  "|---|---|---|"]
        for name in ("mnist", "idx file"):
            each = [r["examples_per_s"] for r in speed if r["dataset"] == name]
            lines.append(f"| {name} | {', '.join(f'{v:.0f}' for v in each)} | "
                         f"{statistics.median(each):.0f} |")
    print("\n".join(lines))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"n": args.n, "side": args.side, "repeats": args.repeats,
                               "cpus": os.cpu_count(), "rows": rows, "train_speed": speed},
                              indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

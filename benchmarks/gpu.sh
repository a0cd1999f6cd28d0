#!/usr/bin/env bash
# Issue 9's GPU measurements in one go, for a session that has a CUDA device. Everything writes
# JSON + Markdown under benchmarks/results/gpu/ (git-ignored); copy the tables into
# docs/benchmarks.md with the device's name. About 8 minutes on an H100/H200.
#
#   bash benchmarks/gpu.sh            # all three parts
#   bash benchmarks/gpu.sh bench      # or one: bench | reference | sampling
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
PY=.venv/bin/python
OUT=benchmarks/results/gpu
mkdir -p "$OUT"
export GENZOO_HOME="${GENZOO_HOME:-$OUT/home}"
part="${1:-all}"
"$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA GPU here'; print(torch.cuda.get_device_name())"

if [ "$part" = all ] || [ "$part" = bench ]; then
  # Training throughput of every image model at batch 256 on 28x28 (mnist): fp32/bf16 x
  # eager/compiled, FLOPs per step and the share of the bf16 peak; sampling at b=1 and 64.
  .venv/bin/genzoo bench --device cuda --dataset mnist --batch-size 256 --steps 50 \
    --sizes 8,16,28,32 --out "$OUT/bench" | tee "$OUT/bench.log"
fi
if [ "$part" = all ] || [ "$part" = reference ]; then
  # genzoo against the plain PyTorch references, same config, seed and batches, interleaved.
  for precision in fp32 bf16; do
    "$PY" benchmarks/reference_compare.py --device cuda --dataset mnist --batch-size 256 \
      --steps 300 --precision "$precision" --out "$OUT/reference-$precision"
    "$PY" benchmarks/reference_compare.py --device cuda --dataset mnist --batch-size 256 \
      --steps 300 --precision "$precision" --compile --out "$OUT/reference-$precision-compiled"
  done
fi
if [ "$part" = all ] || [ "$part" = sampling ]; then
  # Cached vs naive sampling on the GPU at 28x28 and 32x32, batch 1 and 64.
  "$PY" benchmarks/sampling.py --device cuda --sizes 28,32 --batches 1,64 --levels 256 \
    --out "$OUT/sampling"
fi
echo "results under $OUT"

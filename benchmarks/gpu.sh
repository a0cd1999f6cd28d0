#!/usr/bin/env bash
# Issue 9's GPU measurements in one go, for a session that has a CUDA device. Everything writes
# JSON + Markdown under benchmarks/results/gpu/ (git-ignored); copy the tables into
# docs/benchmarks.md with the device's name. About 8 minutes on an H100/H200.
#
#   bash benchmarks/gpu.sh            # all four parts
#   bash benchmarks/gpu.sh bench      # or one: bench | reference | sampling | beyond
#
# "beyond" (issue 21) trains realnvp, glow and ddpm on mnist for GENZOO_GPU_SECONDS each
# (default 600, the issue's 10 minutes: half an hour in all; 120 fits a short lease) and prints
# their test bits/dim beside independent and pixelcnn, then DDIM's trade-off on the ddpm run.
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
if [ "$part" = all ] || [ "$part" = beyond ]; then
  # Flows and diffusion on mnist: bits/dim next to the published anchors (RealNVP 1.06, Glow
  # 1.05 on dequantized full MNIST; DDPM <= 3.70 on CIFAR-10) -- this is the 5,000-image sample.
  seconds="${GENZOO_GPU_SECONDS:-600}"
  "$PY" benchmarks/likelihood.py --device cuda --dataset mnist --seconds "$seconds" \
    --models independent,pixelcnn,realnvp,glow,ddpm --out "$OUT/beyond" | tee "$OUT/beyond.log"
  ddpm_run=$("$PY" -c "import json; print(json.load(open('$OUT/beyond/likelihood.json'))['rows'][-1]['run_id'])")
  "$PY" benchmarks/diffusion_steps.py --device cuda --run "$ddpm_run" --steps 10,20,50,100 \
    --n 1000 --out "$OUT/beyond" | tee -a "$OUT/beyond.log"
fi
echo "results under $OUT"

#!/usr/bin/env bash
# The CUDA checks as one script (sized for a 15-minute device lease): parity on the
# GPU in float64 and float32, the bench matrix on cuda, full 23-pass 1989 runs on
# cuda with jax scan and torch cudagraph, and the cuda-only tests.
#   usage: HARNESS_DATA_DIR=... OUT=results/gpu scripts/gpu-check.sh
set -uo pipefail
OUT=${OUT:-results/gpu}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
H="python3 -m harness.cli"
GPU_STRATEGIES=eager,cudagraph,step,scan  # torch `compiled` on cuda: inductor+triton compile, left out for time
step() { echo; echo "=== $* ($(date +%T))"; }

step environment
nvidia-smi -L
python3 -c "import torch, jax; print('torch', torch.__version__, torch.cuda.is_available()); print('jax', jax.__version__, jax.devices())"
$H backends

step "parity on cuda, float64"
timeout 90 $H parity --device cuda --dtype float64 --strategies $GPU_STRATEGIES --limit 1000 --results-dir "$OUT"; echo "exit $?"
step "parity on cuda, float32"
timeout 60 $H parity --device cuda --dtype float32 --strategies $GPU_STRATEGIES --limit 1000 --results-dir "$OUT"; echo "exit $?"

step "bench on cuda"
timeout 90 $H bench --devices cuda --strategies $GPU_STRATEGIES --window 256 --rounds 5 --results-dir "$OUT"; echo "exit $?"

step "full 1989 runs on cuda"
timeout 50 $H run --backend jax --strategy scan --device cuda --quiet --results-dir "$OUT"; echo "exit $?"
timeout 70 $H run --backend torch --strategy cudagraph --device cuda --quiet --results-dir "$OUT"; echo "exit $?"

step "cuda tests"
timeout 30 python3 -m pytest -q -x tests/test_torch_strategies.py -k "cuda or graph" -p no:cacheprovider; echo "exit $?"
step done

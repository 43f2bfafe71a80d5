#!/usr/bin/env bash
# Every strategy of both backends on cuda, in at most 8 minutes (one short device lease):
#   1. install the project (and carried wheels of platformdirs/pooch from .whl/, if any)
#   2. parity on cuda in float32: torch eager (reference), compiled, cudagraph, fused; jax step,
#      scan, fused (a strategy a dtype does not support is skipped with its reason)
#   3. bench on cuda with kernel counts (--kernels): us/example and kernels per example of each
#   4. 23-pass 1989 runs (USPS, float32, seed 1337) with jax fused, torch fused, torch compiled;
#      whether compiled replayed CUDA graphs, read from its result's environment
#   5. parity on cuda in float64, then the cuda-only tests
# float32 first: inductor's on-disk cache then serves bench and the compiled run; the steps the
# issue needs most run first, and the budget cuts from the end.
# Each step is time-boxed, and a step that would not fit in what is left of the 8 minutes is
# skipped with a line saying so. Everything lands under $OUT: gpu-check.log and results.tgz.
#   usage: OUT=/some/dir scripts/gpu-check.sh     (docs/performance.md: through the device tool)
#   GPU_CHECK_BUDGET_S (default 480) is the time box of the whole; GPU_CHECK_INSTALL=0 skips step 1.
set -uo pipefail
OUT=${OUT:-results/gpu}
mkdir -p "$OUT/results"
R="$OUT/results"
exec > >(tee -a "$OUT/gpu-check.log") 2>&1
export PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
[ -z "${HARNESS_DATA_DIR:-}" ] && [ -d .devdata ] && export HARNESS_DATA_DIR=$PWD/.devdata
BUDGET=${GPU_CHECK_BUDGET_S:-480}
H="python3 -m harness.cli"
# No --strategies filter below: parity and bench take every strategy that reaches cuda, which
# should be torch:eager,compiled,cudagraph,fused and jax:step,scan,fused (`harness backends`
# lists them); one that does not reach cuda or does not support the dtype is a note, not a failure.

step() { echo; echo "=== $* ($(date +%T), ${SECONDS}s of ${BUDGET}s)"; }
# box N CMD...: run CMD under `timeout` of N seconds, or of what is left of the budget, if less
box() {
  local want=$1; shift
  local left=$((BUDGET - SECONDS - 15))
  local t=$((want < left ? want : left))
  if [ "$t" -lt 15 ]; then echo "skipped: the ${BUDGET}s budget is spent: $*"; return 0; fi
  timeout -k 5 "$t" "$@"; local rc=$?
  [ $rc -eq 124 ] && echo "TIMED OUT after ${t}s: $*" || echo "exit $rc"
}

step install
if [ "${GPU_CHECK_INSTALL:-1}" = 0 ]; then echo "skipped: GPU_CHECK_INSTALL=0"
elif [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
  box 60 python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
[ "${GPU_CHECK_INSTALL:-1}" = 0 ] || box 90 python3 -m pip install -q --no-deps --no-build-isolation .

step environment
box 10 nvidia-smi -L
box 40 python3 -c "import torch, jax; print('torch', torch.__version__, torch.cuda.is_available()); print('jax', jax.__version__, jax.devices())"
box 40 $H backends
echo "data: ${HARNESS_DATA_DIR:-not set}"

step "parity on cuda, float32 (every strategy against torch eager)"
box 100 $H parity --device cuda --dtype float32 --steps 1,10 --limit 200 --results-dir "$R"

step "bench on cuda with kernels per example"
# one process per backend: each profiler (kineto, XLA's) subscribes to CUPTI, which takes one at a time
box 50 $H bench --backends jax --devices cuda --window 256 --rounds 5 --kernels --results-dir "$R"
box 70 $H bench --backends torch --devices cuda --window 256 --rounds 5 --kernels --results-dir "$R"

step "23-pass 1989 runs on cuda (USPS, float32, seed 1337)"
for s in jax:fused torch:fused torch:compiled; do
  box 55 $H run --backend "${s%%:*}" --strategy "${s#*:}" --device cuda --quiet --results-dir "$R"
done

step "parity on cuda, float64 (after the float32 work: what the budget cuts first, with the tests)"
box 100 $H parity --device cuda --dtype float64 --steps 1,10 --limit 200 --results-dir "$R"

step "what the runs and the bench recorded"
python3 scripts/gpu_check_summary.py "$R"

step "cuda-only tests"
box 90 python3 -m pytest -q -p no:cacheprovider tests/test_fused_pallas.py tests/test_fused_triton.py \
  tests/test_torch_strategies.py -k "gpu or cuda"

step "done in ${SECONDS}s"
tar -czf "$OUT/results.tgz" -C "$OUT" results && rm -rf "$R"

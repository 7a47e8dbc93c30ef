#!/usr/bin/env bash
# Everything a session with a lent GPU runs, in one call (run from the repository root):
# versions, the CUDA benchmarks (benchmarks/cuda_bench.py), then the CUDA tests on the real GPU.
# Logs go to $OUT (the device tool's output folder) or ./gpu-logs. Needs numba-cuda, numpy, sympy,
# networkx, pytest (and optionally pytest-xdist, PyTorch, JAX) already installed: nothing is fetched.
# symgraph itself must be importable as installed (its code generators install as symgraph.codegen):
#   python3 -m pip install --no-deps --no-build-isolation --no-index -e .
set -o pipefail
OUT=${OUT:-gpu-logs}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} SYMGRAPH_REAL_GPU=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
PY=${PYTHON:-python3}
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,clocks.max.mem --format=csv | tee "$OUT/gpu.txt"
$PY -c "import sys, numpy, numba, sympy, networkx; from importlib.metadata import version as v
print('python', sys.version.split()[0], 'numpy', numpy.__version__, 'numba', numba.__version__,
      'numba-cuda', v('numba-cuda'), 'sympy', sympy.__version__, 'networkx', networkx.__version__)" | tee -a "$OUT/gpu.txt"
timeout "${BENCH_TIMEOUT:-240}" $PY benchmarks/cuda_bench.py "$@" 2>&1 | tee "$OUT/bench.log"
bench=$?
workers=()
$PY -c "import xdist" 2>/dev/null && workers=(-n "${TEST_WORKERS:-8}")
# Every test whose name or module names cuda: the catalogue, the solve family, convolutions, random draws,
# scans, integer semantics, bad inputs, concurrency (about 1,500 tests).
timeout "${TEST_TIMEOUT:-300}" $PY -m pytest -q -p no:cacheprovider "${workers[@]}" --timeout 180 -rfE \
    tests -k cuda 2>&1 | tee "$OUT/tests.log"
tests=$?
echo "benchmarks exit $bench, tests exit $tests"
[ "$bench" = 0 ] && [ "$tests" = 0 ]

#!/usr/bin/env bash
# The GPU checks of the CuPy target in one prepared run (under 5 minutes on one H100/H200):
#   1. tests/test_cupy_gpu.py    the CuPy target on the GPU against the NumPy target
#   2. tests/test_cupy_kernels.py the same kernels on the CPU (a quick sanity check there too)
#   3. benchmarks/cupy_bench.py  CUBA at N = 4k, 64k, 1M for 1 s of model time; writes benchmarks/GPU.md
#
# The GPU machine has CuPy, NumPy, SymPy, Jinja2 and pytest but not lark or pydantic, and no
# network. Prepare their wheels once on the development machine (which reaches PyPI):
#   echo /.whl/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
#       lark pydantic pydantic-core annotated-types typing-inspection typing-extensions
# then run it with the device tool: command "bash benchmarks/gpu.sh", carry [".whl"], timeout_s 420.
# Results (logs, GPU.md) are copied to $OUT when it is set.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PY=${PYTHON:-python3}
OUTDIR=${OUT:-benchmarks}
start=$(date +%s)

if ! $PY -c "import lark, pydantic" 2>/dev/null; then
    if ls .whl/*.whl >/dev/null 2>&1; then
        $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
        export PYTHONPATH="$PYTHONPATH:/tmp/site"
    else
        echo "gpu.sh: lark and pydantic are missing; carry their wheels in .whl (see the top of this script)" >&2
        exit 1
    fi
fi
$PY - <<'PYEOF' || exit 1
import cupy, numpy, snnlang
props = cupy.cuda.runtime.getDeviceProperties(0)
print(f"snnlang {snnlang.__version__}, CuPy {cupy.__version__}, NumPy {numpy.__version__},",
      props["name"].decode() if isinstance(props["name"], bytes) else props["name"])
PYEOF
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true

status=0
echo "== GPU tests"
$PY -m pytest -q -p no:cacheprovider tests/test_cupy_gpu.py 2>&1 | tee "$OUTDIR/gpu_tests.log" || status=1
echo "== kernel tests (nvcc, CPU shim)"
timeout 120 $PY -m pytest -q -p no:cacheprovider -x tests/test_cupy_kernels.py -k "ptx or cuba or launch_shape" \
    2>&1 | tail -5 | tee "$OUTDIR/kernel_tests.log" || status=1

elapsed=$(( $(date +%s) - start ))
budget=$(( 270 - elapsed ))
[ "$budget" -lt 60 ] && budget=60
echo "== benchmark (budget ${budget} s)"
$PY benchmarks/cupy_bench.py --budget "$budget" --out benchmarks/GPU.md 2>&1 | tee "$OUTDIR/bench.log" || status=1
[ "$OUTDIR" != benchmarks ] && cp benchmarks/GPU.md "$OUTDIR/" 2>/dev/null
echo "gpu.sh: done in $(( $(date +%s) - start )) s, status $status"
exit $status

#!/usr/bin/env bash
# One prepared, unattended GPU check of wavelearn's CUDA kernels (~5 minutes, at most 9.5).
#
#   bash benchmarks/gpu_check.sh RESULTS_DIR      # on the GPU machine (or $OUT)
#   bash benchmarks/gpu_check.sh --fetch-wheels   # beforehand, on a machine with PyPI
#
# On the GPU machine it installs nothing into the system: it uses the python3
# there (which must have CuPy; PyTorch with CUDA is optional, for the
# comparison) and prints what it found. wavelearn's own dependencies that
# such an image may lack (PyWavelets, array-api-compat) are taken, only if
# missing, from wheels in build/gpu_wheels/ (made by --fetch-wheels; carry that
# folder along) into a temporary folder on PYTHONPATH. wavelearn itself is
# used from this checkout, not installed.
#
# Steps, each with its own time limit, all output into RESULTS_DIR:
#   1. versions: GPU, driver, python, cupy, torch, numpy, pywt  -> env.txt
#   2. pytest -m gpu tests/backends/test_cuda_kernels.py (GPU parity)    -> pytest_gpu.log
#   3. python benchmarks/gpu.py                                  -> bench.log, gpu_bench.json
#   4. python benchmarks/backends.py (training step tokens/s:
#      numpy, torch:cuda, cupy)                                  -> backends.log, backends_bench.json
#   5. compute-sanitizer memcheck and racecheck on a small run   -> sanitizer_*.log
#      (skipped when compute-sanitizer is missing or SKIP_SANITIZER=1)
# The exit status is that of the first failing step (0 if all passed); later
# steps still run. For a dry run of this script elsewhere, GPU_CHECK_PYTEST_ARGS
# and GPU_CHECK_BENCH_ARGS add arguments to steps 2 and 3 (e.g. '-k causal',
# '--shape 2,64,40 --repeat 1').
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
PY=${PYTHON:-python3}
WHEELS=build/gpu_wheels

if [[ "${1:-}" == "--fetch-wheels" ]]; then
    # Wheels for the GPU image's Python 3.12 (x86-64); PyWavelets has C code.
    mkdir -p "$WHEELS"
    exec "$PY" -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d "$WHEELS" PyWavelets==1.8.0 array-api-compat==1.16.0
fi

RESULTS=${1:-${OUT:-}}
if [[ -z "$RESULTS" ]]; then
    echo "usage: $0 RESULTS_DIR   (or set OUT)   |   $0 --fetch-wheels" >&2
    exit 2
fi
mkdir -p "$RESULTS"
RESULTS=$(cd "$RESULTS" && pwd)
exec > >(tee "$RESULTS/gpu_check.log") 2>&1
export PYTHONUNBUFFERED=1
status=0
step() {  # step NAME LIMIT_SECONDS LOGFILE COMMAND...: time-limited, logged, first failure kept
    local name=$1 limit=$2 log=$3
    shift 3
    echo
    echo "== $name (limit ${limit}s, log $(basename "$log"))"
    local t0=$SECONDS
    timeout --kill-after=10 "$limit" "$@" > >(tee "$log") 2>&1
    local rc=$?
    sleep 1  # let tee finish
    echo "== $name: exit $rc after $((SECONDS - t0))s"
    if [[ $rc -ne 0 && $status -eq 0 ]]; then status=$rc; fi
    return 0
}

# --- the Python environment ---------------------------------------------------
if ! "$PY" -c "import pywt, array_api_compat" 2>/dev/null; then
    if compgen -G "$WHEELS/*.whl" >/dev/null; then
        echo "== PyWavelets / array-api-compat missing: using the carried wheels in $WHEELS"
        "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
            --target /tmp/wl_site "$WHEELS"/*.whl || echo "(pip install --target failed)"
        export PYTHONPATH=/tmp/wl_site${PYTHONPATH:+:$PYTHONPATH}
    else
        echo "== WARNING: PyWavelets / array-api-compat are missing and $WHEELS has no wheels"
        echo "   (run 'bash benchmarks/gpu_check.sh --fetch-wheels' where PyPI is reachable"
        echo "    and carry $WHEELS); the steps below will fail."
    fi
fi
# wavelearn from this checkout: the package, with backends/ as wavelearn.backends
# (what pyproject.toml's package-dir does when it is installed).
if ! "$PY" -c "import wavelearn.backends.cupy_kernels" 2>/dev/null; then
    rm -rf /tmp/wl_src && mkdir -p /tmp/wl_src/wavelearn
    for f in "$ROOT"/wavelearn/*; do ln -s "$f" /tmp/wl_src/wavelearn/; done
    ln -s "$ROOT/backends" /tmp/wl_src/wavelearn/backends
    export PYTHONPATH=/tmp/wl_src${PYTHONPATH:+:$PYTHONPATH}
fi

# --- 1. versions ------------------------------------------------------------------
{
    echo "date: $(date -u +%FT%TZ)"
    echo "git: $(git rev-parse HEAD 2>/dev/null || echo '?') $(git status --short 2>/dev/null | wc -l) changed files"
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem \
        --format=csv 2>&1 || echo "nvidia-smi failed"
    command -v nvcc >/dev/null && nvcc --version | tail -2
    command -v compute-sanitizer >/dev/null && echo "compute-sanitizer: $(command -v compute-sanitizer)"
    "$PY" - <<'EOF'
import importlib, platform, sys
print("python", platform.python_version(), sys.executable)
for name in ("numpy", "cupy", "torch", "pywt", "array_api_compat", "pytest", "hypothesis",
             "wavelearn"):
    try:
        m = importlib.import_module(name)
        print(f"{name:<18} {getattr(m, '__version__', '?'):<14} {getattr(m, '__file__', '')}")
    except Exception as e:  # noqa: BLE001
        print(f"{name:<18} MISSING ({type(e).__name__}: {e})")
try:
    import cupy
    print("cupy devices:", cupy.cuda.runtime.getDeviceCount(),
          "runtime", cupy.cuda.runtime.runtimeGetVersion(),
          "driver", cupy.cuda.runtime.driverGetVersion())
except Exception as e:  # noqa: BLE001
    print("cupy has no usable GPU:", e)
try:
    import torch
    print("torch.cuda:", torch.cuda.is_available(), torch.version.cuda,
          torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")
except Exception as e:  # noqa: BLE001
    print("torch: not usable:", e)
EOF
} 2>&1 | tee "$RESULTS/env.txt"

# --- 2. GPU parity tests ------------------------------------------------------
# -P: no current directory on sys.path, so that `wavelearn` is the one arranged
# above; -o addopts= drops the project's '-m "not slow"' so that '-m gpu' selects.
step "pytest -m gpu" 150 "$RESULTS/pytest_gpu.log" \
    "$PY" -P -m pytest tests/backends/test_cuda_kernels.py -m gpu -v -rs -o addopts= -p no:cacheprovider \
    ${GPU_CHECK_PYTEST_ARGS:-}

# --- 3. benchmark ---------------------------------------------------------------
step "benchmarks/gpu.py" 240 "$RESULTS/bench.log" "$PY" benchmarks/gpu.py --out "$RESULTS" \
    ${GPU_CHECK_BENCH_ARGS:-}

# --- 4. training step per backend: tokens/s of torch:cuda vs cupy (issue: torch backend) ---
step "benchmarks/backends.py" 120 "$RESULTS/backends.log" "$PY" -P benchmarks/backends.py \
    --backends numpy,torch:cuda,cupy --sizes default,large --repeat 5 --out "$RESULTS"

# --- 5. compute-sanitizer on a small run ----------------------------------------
if [[ "${SKIP_SANITIZER:-0}" != 1 ]] && command -v compute-sanitizer >/dev/null; then
    for tool in memcheck racecheck; do
        step "compute-sanitizer --tool $tool" 90 "$RESULTS/sanitizer_$tool.log" \
            compute-sanitizer --tool "$tool" --error-exitcode 3 --print-limit 20 \
            "$PY" benchmarks/gpu.py --smoke
    done
else
    echo "== compute-sanitizer skipped"
fi

echo
echo "== done: exit $status; results in $RESULTS:"
ls -la "$RESULTS"
exit $status

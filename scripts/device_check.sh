#!/usr/bin/env bash
# The GPU check: run it on a machine with an NVIDIA GPU and a CUDA build of PyTorch for Python
# (its LibTorch is what l2sweep builds against here; nothing is installed):
#   1. configures and builds against that PyTorch's LibTorch in build-cuda/ (its own folder,
#      so the CPU build in build/ is untouched);
#   2. runs the whole test suite there, the CUDA tests included (they skip on a CPU machine);
#   3. runs the GPU benchmark (scripts/bench/gpu_bench.py): l2sweep with CUDA graphs, without
#      them, the autograd loop, and the PyTorch-Python peer, and prints a short table.
# About 5 minutes on an H100/H200. Options after the script name go to gpu_bench.py, e.g.
# --slow-epochs 15 to time the slow paths over the whole sweep instead of projecting them.
#
# Fashion-MNIST is read from /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist)
# or .device-data/fashion-mnist in the repository (git ignores it: copy the files there on a
# machine without the package); L2SWEEP_DATA_DIR names another folder.
#
# Exit status: the build's if it fails; else the benchmark's if it fails; else ctest's. A
# failing test does not stop the benchmark, so one run of the script reports everything.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="${PYTHON:-python3}"
prefix="$("$python" -c 'import torch; print(torch.utils.cmake_prefix_path)')"
build="${L2SWEEP_BUILD_DIR:-$root/build-cuda}"
export CMAKE_PREFIX_PATH="$prefix${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
export L2SWEEP_NO_APT=1 L2SWEEP_BUILD_DIR="$build"

step() { printf '\n== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }

step "GPU"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
"$python" -c 'import torch; print("PyTorch", torch.__version__, "CUDA", torch.version.cuda,
      "available:", torch.cuda.is_available())'

data="${L2SWEEP_DATA_DIR:-}"
if [[ -z "$data" ]]; then
  for candidate in /usr/share/datasets/fashion-mnist "$root/.device-data/fashion-mnist"; do
    [[ -d "$candidate" ]] && data="$candidate" && break
  done
fi
[[ -n "$data" ]] || { echo "device_check: no Fashion-MNIST folder (see the top of this script)" >&2; exit 3; }

step "build against $prefix"
"$root/scripts/setup.sh"
grep -E "l2sweep: " "$build.configure.log" || true  # CUDA: ON, fused Adam available

step "tests (CUDA tests included)"
start=$SECONDS
tests_status=0
(cd "$build" && ctest --output-on-failure --parallel "$(nproc)" --timeout 300) || tests_status=$?
echo "the CUDA tests (SKIPPED here means no GPU was seen):"
(cd "$build" && ./bin/l2sweep_tests --gtest_filter='Cuda*:*OnCuda' 2>&1 |
  grep -E '^\[ +(OK|SKIPPED|FAILED) +\]' || true)
echo "tests took $((SECONDS - start)) s"

step "benchmark"
"$python" "$root/scripts/bench/gpu_bench.py" --binary "$build/bin/l2sweep" --python "$python" \
  --data-dir "$data" "$@"
step "done"
if ((tests_status != 0)); then
  echo "device_check: the benchmark ran, but ctest failed (exit $tests_status; see above)" >&2
fi
exit "$tests_status"

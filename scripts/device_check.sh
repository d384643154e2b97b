#!/usr/bin/env bash
# The GPU check: run it on a machine with an NVIDIA GPU and a CUDA build of PyTorch for Python
# (its LibTorch is what l2sweep builds against here; nothing is installed):
#   1. says which card, driver, PyTorch and CUDA run it;
#   2. configures and builds against that PyTorch's LibTorch in build-cuda/ (its own folder,
#      so the CPU build in build/ is untouched);
#   3. runs the whole test suite there; with a GPU visible, every CUDA test must pass (a
#      skipped one is a failure: it means the build or the tests did not see the GPU);
#   4. runs the GPU benchmark (scripts/bench/gpu_bench.py): l2sweep's default sweep and the
#      12-strength grid with CUDA graphs, the eager device step, the autograd loop and the
#      PyTorch-Python peer on the same GPU, as one table;
#   5. reads the benchmark's default sweep back with the real tensorboard package
#      (scripts/check_tensorboard.py).
# About 5 minutes on an H100/H200. Options after the script name go to gpu_bench.py. Every
# step runs even after a failure (a GPU session is short: one run should report everything),
# and the script ends with a loud FAILED line naming the first failing step, exit 1.
#
#   scripts/device_check.sh --prepare   (on the CPU machine, before the device run)
# copies what the GPU image lacks into git-ignored folders that the device tool carries:
# Fashion-MNIST into .device-data/fashion-mnist, and nlohmann-json's, zlib's and Boost.Math's
# headers (and zlib's library) into .device-deps. Carry both: run(..., carry=[".device-data", ".device-deps"]).
#
#   scripts/device_check.sh --smoke     (anywhere: a CPU run of the whole script)
# runs every step on the CPU with a small sweep, against the Python and LibTorch of $PYTHON
# (e.g. .venv-cuda/bin/python, PyTorch's CUDA wheel), to check the script itself.
#
# Fashion-MNIST is read from /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist)
# or .device-data/fashion-mnist; L2SWEEP_DATA_DIR names another folder. With $OUT set (the
# device tool's output folder), the log and the benchmark's outputs are kept there.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# GoogleTest's libraries into $1, used on the GPU machine only if its image has none (its
# headers alone are not enough to link the tests), in Debian's own layout: GTestTargets.cmake
# finds its prefix four folders above itself (lib/x86_64-linux-gnu/cmake/GTest) and the
# libraries in lib/x86_64-linux-gnu beneath it. The ctest device_check.gtest_fallback
# configures against such a copy alone.
prepare_gtest() {
  rm -rf "$1"
  mkdir -p "$1/include" "$1/lib/x86_64-linux-gnu/cmake"
  cp -r /usr/include/gtest /usr/include/gmock "$1/include/"
  cp /usr/lib/x86_64-linux-gnu/libgtest*.a /usr/lib/x86_64-linux-gnu/libgmock*.a \
    "$1/lib/x86_64-linux-gnu/"
  cp -r /usr/lib/x86_64-linux-gnu/cmake/GTest "$1/lib/x86_64-linux-gnu/cmake/"
}

if [[ "${1:-}" == --prepare-gtest ]]; then
  prepare_gtest "$2"
  exit 0
fi

if [[ "${1:-}" == --prepare ]]; then
  set -e
  mkdir -p .device-data/fashion-mnist .device-deps/include .device-deps/lib .device-deps/share/cmake
  cp /usr/share/datasets/fashion-mnist/*-ubyte* .device-data/fashion-mnist/
  cp -r /usr/include/nlohmann .device-deps/include/
  cp -r /usr/share/cmake/nlohmann_json .device-deps/share/cmake/
  cp /usr/include/zlib.h /usr/include/zconf.h .device-deps/include/
  # A plain copy (the device tool does not carry links); it links as libz.so.1, its soname.
  cp -L /usr/lib/x86_64-linux-gnu/libz.so .device-deps/lib/libz.so
  prepare_gtest .device-deps/gtest
  # The Boost.Math headers lib/stats includes (the GPU image has no Boost; FindBoost finds
  # them under the prefix): what the compiler reads, in C++17 and C++20 mode, about 5 MB.
  for std in c++17 c++20; do
    g++ -std="$std" -M -I lib/stats/include -I lib/base/include lib/stats/src/statistics.cpp
  done | tr ' \\' '\n\n' | grep '^/usr/include/boost/' | sort -u | while read -r header; do
    mkdir -p ".device-deps/include/$(dirname "${header#/usr/include/}")"
    cp "$header" ".device-deps/include/${header#/usr/include/}"
  done
  du -sh .device-data .device-deps
  exit 0
fi

smoke=0
if [[ "${1:-}" == --smoke ]]; then
  smoke=1
  shift
fi
python="${PYTHON:-python3}"
build="${L2SWEEP_BUILD_DIR:-$root/build-cuda}"
out="${OUT:-}"
if [[ -n "$out" ]]; then
  mkdir -p "$out"
  exec > >(tee "$out/device_check.log") 2>&1
fi

first_failure=""
fail() {
  echo "device_check: FAILED: $1" >&2
  [[ -n "$first_failure" ]] || first_failure="$1"
}
step() { printf '\n== %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }

step "machine"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null ||
  echo "no nvidia-smi here"
gpu=$("$python" -c 'import torch
print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")' 2>/dev/null)
"$python" -c 'import torch; print("PyTorch", torch.__version__, "CUDA", torch.version.cuda,
      "GPU:", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none")' ||
  { echo "device_check: $python cannot import torch" >&2; exit 1; }
if [[ -z "$gpu" && $smoke == 0 ]]; then
  echo "device_check: PyTorch sees no GPU here; use --smoke for a CPU run of this script" >&2
  exit 1
fi

data="${L2SWEEP_DATA_DIR:-}"
if [[ -z "$data" ]]; then
  for candidate in /usr/share/datasets/fashion-mnist "$root/.device-data/fashion-mnist"; do
    [[ -d "$candidate" ]] && data="$candidate" && break
  done
fi
[[ -n "$data" ]] || { echo "device_check: no Fashion-MNIST folder (see --prepare)" >&2; exit 3; }

# LibTorch from that PyTorch: the package folder itself, so that its lib/ comes first (see
# cmake/Dependencies.cmake); then what --prepare brought.
prefix="$("$python" -c 'import os, torch; print(os.path.dirname(torch.__file__))')"
export CMAKE_PREFIX_PATH="$prefix${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
if [[ -d "$root/.device-deps" ]]; then
  export CMAKE_PREFIX_PATH="$CMAKE_PREFIX_PATH:$root/.device-deps"
  export ZLIB_ROOT="$root/.device-deps"
  if ! compgen -G "/usr/lib*/libgtest.a" >/dev/null && ! compgen -G "/usr/lib/*/libgtest.a" >/dev/null &&
     ! compgen -G "/usr/local/lib*/libgtest.a" >/dev/null; then
    echo "no GoogleTest libraries on this machine: using the ones --prepare brought"
    export CMAKE_PREFIX_PATH="$CMAKE_PREFIX_PATH:$root/.device-deps/gtest"
  fi
fi
export L2SWEEP_NO_APT=1 L2SWEEP_BUILD_DIR="$build"
[[ -x /usr/local/cuda/bin/nvcc ]] && export PATH="/usr/local/cuda/bin:$PATH"

step "build against $prefix"
start=$SECONDS
if ! "$root/scripts/setup.sh"; then
  fail "build"
  echo "device_check: FAILED: the build; nothing else can run" >&2
  exit 1
fi
grep -E "l2sweep: " "$build/configure.log" || true  # CUDA: ON, fused Adam available
echo "build took $((SECONDS - start)) s"

step "tests"
start=$SECONDS
# Everything but the strace fault-injection suite, which starts the binary dozens of times
# (each start initialises CUDA here) and tests nothing GPU-specific: CI runs it.
(cd "$build" && ctest --output-on-failure --parallel "$(nproc)" --timeout 300 \
  -E 'cli.fault_injection') || fail "tests (ctest)"
cuda_tests=$(cd "$build" && ./bin/l2sweep_tests --gtest_filter='Cuda*:*OnCuda' 2>&1 |
  grep -E '^\[ +(OK|SKIPPED|FAILED) +\]')
echo "$cuda_tests"
expected=$(cd "$build" && ./bin/l2sweep_tests --gtest_list_tests --gtest_filter='Cuda*:*OnCuda' |
  grep -c '^  ')
passed=$(grep -c '^\[ *OK *\]' <<<"$cuda_tests")
if [[ -n "$gpu" ]] && ((passed != expected)); then
  fail "CUDA tests: $passed of $expected passed although PyTorch sees $gpu"
fi
echo "tests took $((SECONDS - start)) s"

step "benchmark"
work="${out:+$out/bench}"
work="${work:-$(mktemp -d)}"
bench=("$python" "$root/scripts/bench/gpu_bench.py" --binary "$build/bin/l2sweep"
       --python "$python" --data-dir "$data" --work "$work")
if ((smoke)); then
  bench+=(--device cpu --epochs 2 --slow-epochs 1 --train-size 2000)
fi
"${bench[@]}" "$@" || fail "benchmark"

step "tensorboard files of the benchmark's default sweep, read by tensorboard"
if [[ -d "$work/l2sweep-graphs" ]]; then
  "$python" "$root/scripts/check_tensorboard.py" "$work/l2sweep-graphs" --l2sweep "$build/bin/l2sweep" || fail "check_tensorboard"
else
  fail "check_tensorboard (the benchmark left no sweep to read)"
fi

step "done"
echo "card: ${gpu:-none (smoke run on the CPU)}"
if [[ -n "$first_failure" ]]; then
  echo "device_check: FAILED: the first failing step was: $first_failure" >&2
  exit 1
fi
echo "device_check: every step passed"

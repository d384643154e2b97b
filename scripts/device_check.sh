#!/usr/bin/env bash
# The GPU check, in one call of the device tool: on a machine with an NVIDIA GPU and a CUDA
# build of PyTorch for Python (its LibTorch is what l2sweep builds against; nothing is
# installed), in this order, each step under its own time limit, the whole planned for at
# most 8 minutes (L2SWEEP_CHECK_SECONDS), every step run even after a failure:
#   1. machine: the GPU, its compute mode and MIG state, the driver, torch, nvcc, cmake, gcc
#      and ninja versions, and which of gtest, fmt, cxxopts and nlohmann-json the image has;
#   2. build against that PyTorch's LibTorch in build-cuda/, going on past errors so that every
#      compile error is listed;
#   3. the CUDA tests, each alone under its own limit, the concurrency test three times (a
#      skipped CUDA test is a failure where PyTorch sees a GPU);
#   4. the parity matrix (scripts/bench/parity.py): 5,000 images, 2 epochs, graphs on against
#      off, the device against the fused CPU engine, both Adams, Dropout and weight decay,
#      --jobs 2 against --jobs 1;
#   5. the benchmark (scripts/bench/gpu_bench.py): the default sweep twice, per-epoch seconds,
#      the 12-strength grid, against the PyTorch-Python peer on the same GPU; then its default
#      sweep read back by the real tensorboard package;
#   6. the rest of the test suite, in the time left.
# Everything it learns goes into at most 7 plain-named files directly in $OUT (the device
# tool returns no more), the summary appended as each step ends so that a kill still leaves
# it: summary.txt, log.txt (everything printed), build.txt, cuda-tests.xml, parity.csv,
# bench.md and results.tar.gz (the runs' folders without checkpoints). Without $OUT they go to
# build-cuda/device-check/. The last line of summary.txt names the first failing step; exit 1
# when one failed.
#
#   scripts/device_check.sh --prepare   (on the CPU machine, before the device run)
# copies what the GPU image lacks into git-ignored folders that the device tool carries:
# Fashion-MNIST into .device-data/fashion-mnist, and nlohmann-json's, zlib's and Boost.Math's
# headers (and zlib's library, and GoogleTest's) into .device-deps. Carry both:
# run(..., carry=[".device-data", ".device-deps"]).
#
#   scripts/device_check.sh --smoke     (anywhere: a CPU run of the whole script, small sizes)
# runs every step on the CPU against the Python and LibTorch of $PYTHON (e.g.
# .venv-cuda/bin/python, PyTorch's CUDA wheel), to check the script itself; CI runs it.
#
# Fashion-MNIST is read from /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist)
# or .device-data/fashion-mnist; L2SWEEP_DATA_DIR names another folder.
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
out="${OUT:-$build/device-check}"
mkdir -p "$out"
rm -f "$out"/{summary.txt,log.txt,build.txt,cuda-tests.xml,parity.csv,bench.md,results.tar.gz}
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
exec > >(tee "$out/log.txt") 2>&1
log_tee=$!

budget="${L2SWEEP_CHECK_SECONDS:-480}"
deadline=$((SECONDS + budget))
first_failure=""
# Appends a line to summary.txt at once (a kill at the call's limit still leaves it).
note() { echo "$*" | tee -a "$out/summary.txt"; }
fail() {
  note "FAILED: $1"
  [[ -n "$first_failure" ]] || first_failure="$1"
}
# run_step [--summary] NAME LIMIT COMMAND...: COMMAND under `timeout LIMIT` (never past the
# deadline), its end in the summary: ok, failed with its exit code, or timed out; with
# --summary, what COMMAND prints goes into the summary too. (Not in a pipeline: it records
# the first failure in this shell.)
run_step() {
  local to_summary=0
  [[ "$1" == --summary ]] && to_summary=1 && shift
  local name="$1" limit="$2" start=$SECONDS status=0
  shift 2
  local left=$((deadline - SECONDS))
  ((limit > left)) && limit=$left
  if ((limit < 5)); then
    fail "$name: NOT RUN (the check's ${budget} s are spent)"
    return 1
  fi
  printf '\n== %s (%s, limit %d s)\n' "$name" "$(date -u +%H:%M:%S)" "$limit"
  if ((to_summary)); then
    timeout --kill-after=10 "$limit" "$@" 2>&1 | tee -a "$out/summary.txt"
    status=${PIPESTATUS[0]}
  else
    timeout --kill-after=10 "$limit" "$@" || status=$?
  fi
  if ((status == 124 || status == 137)); then
    fail "$name: timed out after $limit s"
  elif ((status != 0)); then
    fail "$name: exit $status ($((SECONDS - start)) s)"
  else
    note "$name: ok ($((SECONDS - start)) s)"
  fi
  return "$status"
}

note "device_check $(date -u +%Y-%m-%dT%H:%M:%SZ)$( ((smoke)) && echo ' --smoke (CPU)')"
[[ -x /usr/local/cuda/bin/nvcc ]] && export PATH="/usr/local/cuda/bin:$PATH"
# What the machine is, first: when anything below stops the check, this is what explains it.
machine() {
  if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,compute_mode,mig.mode.current,driver_version,memory.total \
      --format=csv 2>&1 || echo "nvidia-smi: failed"
  else
    echo "nvidia-smi: missing"
  fi
  timeout 60 "$python" -c 'import torch; print("torch", torch.__version__, "CUDA",
      torch.version.cuda, "GPU:", torch.cuda.get_device_name(0) if torch.cuda.is_available()
      else "none")' 2>&1 | tail -3
  for tool in nvcc cmake gcc ninja; do
    version=$("$tool" --version 2>/dev/null | grep -m1 -E '[0-9]+\.[0-9]+')
    echo "$tool: ${version:-missing}"
  done
  for package in GTest fmt cxxopts nlohmann_json; do
    found=$(find /usr/lib /usr/share /usr/local -maxdepth 6 \( -iname "${package}Config.cmake" \
      -o -iname "${package,,}-config.cmake" \) 2>/dev/null | head -1)
    brought=$(find "$root/.device-deps" -maxdepth 7 \( -iname "${package}Config.cmake" \
      -o -iname "${package,,}-config.cmake" \) 2>/dev/null | head -1)
    echo "$package: ${found:-not in the image}${brought:+ (--prepare brought one)}"
  done
}
export python root build work out
run_step --summary "machine" 45 bash -c "$(declare -f machine); machine"

gpu=$(timeout 60 "$python" -c 'import torch
print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")' 2>/dev/null) || {
  fail "machine: $python cannot import torch, or CUDA's start hung"
  exit 1
}
if [[ -z "$gpu" && $smoke == 0 ]]; then
  fail "machine: PyTorch sees no GPU here; use --smoke for a CPU run of this script"
  exit 1
fi
export gpu
device=cuda
((smoke)) && device=cpu

data="${L2SWEEP_DATA_DIR:-}"
if [[ -z "$data" ]]; then
  for candidate in /usr/share/datasets/fashion-mnist "$root/.device-data/fashion-mnist"; do
    [[ -d "$candidate" ]] && data="$candidate" && break
  done
fi
[[ -n "$data" ]] || { fail "data: no Fashion-MNIST folder (see --prepare)"; exit 3; }

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
# Keep going past errors, so that every compile error is listed (ninja, else make).
if command -v ninja >/dev/null; then export L2SWEEP_BUILD_ARGS="-k 0"; else export L2SWEEP_BUILD_ARGS="-k"; fi

if ! run_step "build against $prefix" 200 bash -c '"$0/scripts/setup.sh" >"$1" 2>&1' \
  "$root" "$out/build.txt"; then
  note "build: $(grep -c 'error:' "$out/build.txt") compile errors (build.txt lists them all)"
  grep -m 20 'error:' "$out/build.txt" | tee -a "$out/summary.txt"
fi
grep -E "l2sweep: " "$build/configure.log" 2>/dev/null | tee -a "$out/summary.txt"
export tests="$build/bin/l2sweep_tests"

# The CUDA tests, each alone (a hang costs one test's limit, not the check), the concurrency
# test three times, until $tests_until (epoch seconds), which leaves time to merge their XML
# reports into cuda-tests.xml.
cuda_tests() {
  mkdir -p "$work/xml" "$work/cuda-tests"
  [[ -x "$tests" ]] || { echo "no test binary $tests (the build failed)"; return 1; }
  local names passed=0 failed=0 skipped=0 hung=0 unrun=0 n=0
  names=$("$tests" --gtest_list_tests --gtest_filter='Cuda*:*OnCuda*:*_cuda' |
    awk '/^[^ ]/ {suite=$1} /^  / {print suite $1}')
  for name in $names; do
    local repeats=1
    [[ "$name" == *Concurrent* ]] && repeats=3
    for ((r = 1; r <= repeats; r++)); do
      n=$((n + 1))
      local status=0 output limit=$((tests_until - $(date +%s)))
      ((limit > 60)) && limit=60
      if ((limit < 5)); then
        unrun=$((unrun + 1)); echo "not run (the step's time is spent): $name"
        continue
      fi
      output=$(timeout --kill-after=5 "$limit" "$tests" --gtest_filter="$name" \
        --gtest_output="xml:$work/xml/$n.xml" 2>&1) || status=$?
      echo "$output" >"$work/cuda-tests/$n.log"  # into results.tar.gz
      if ((status == 124 || status == 137)); then
        hung=$((hung + 1)); echo "TIMED OUT ($limit s): $name"
        tail -n 10 <<<"$output"
      elif grep -q '^\[  SKIPPED \]' <<<"$output"; then
        skipped=$((skipped + 1)); echo "skipped: $name"
      elif ((status == 0)); then
        passed=$((passed + 1)); echo "ok: $name"
      else
        failed=$((failed + 1)); echo "FAILED (exit $status): $name"
        grep -iE 'failure|expected|which is|error|terminate|fault|abort' <<<"$output" | head -12
        tail -n 5 <<<"$output"
      fi
    done
  done
  "$python" - "$work/xml" "$out/cuda-tests.xml" <<'PY'
import glob, sys, xml.etree.ElementTree as ET
merged = ET.Element("testsuites")
for path in sorted(glob.glob(sys.argv[1] + "/*.xml"), key=lambda p: int(p.split("/")[-1][:-4])):
    try:
        merged.extend(ET.parse(path).getroot())
    except ET.ParseError:
        pass
ET.ElementTree(merged).write(sys.argv[2], encoding="utf-8", xml_declaration=True)
PY
  echo "CUDA tests: $passed passed, $failed failed, $skipped skipped, $hung timed out, $unrun" \
    "not run, of $n"
  ((n > 0)) || { echo "no CUDA test found in $tests"; return 1; }
  ((failed == 0 && hung == 0 && unrun == 0)) || return 1
  # With a GPU visible a skipped CUDA test is a failure: the build or the test missed it.
  [[ -z "$gpu" || $skipped == 0 ]]
}
# What the steps after this one need (parity, benchmark, tensorboard, tarball) is kept for them.
tests_step=180
((tests_step > deadline - SECONDS - 200)) && tests_step=$((deadline - SECONDS - 200))
export tests_until=$(($(date +%s) + tests_step - 15))
run_step --summary "CUDA tests" "$tests_step" bash -c "$(declare -f cuda_tests); cuda_tests"

parity=("$python" "$root/scripts/bench/parity.py" --binary "$build/bin/l2sweep"
        --data-dir "$data" --work "$work/parity" --csv "$out/parity.csv" --device "$device")
if ((smoke)); then
  # --smoke checks the script: a mismatch on the CPU is reported (parity.csv, the summary)
  # but not a failure of the run (one CI run saw the first sweep differ: being looked into).
  run_step --summary "parity" 90 bash -c '"$@" || echo "parity: mismatch reported above" \
    "(--smoke: not a failure)"' parity "${parity[@]}" --train-size 1000 --epochs 1
else
  run_step --summary "parity" 90 "${parity[@]}"
fi

bench=("$python" "$root/scripts/bench/gpu_bench.py" --binary "$build/bin/l2sweep"
       --python "$python" --data-dir "$data" --work "$work/bench" --table "$out/bench.md"
       --device "$device")
((smoke)) && bench+=(--epochs 2 --slow-epochs 1 --train-size 2000)
run_step "benchmark" 150 "${bench[@]}" "$@"
[[ -f "$out/bench.md" ]] && grep -E '^(sweep training time|  )' "$out/bench.md" |
  grep -vE '^  (l2sweep|python) ' >>"$out/summary.txt"
if "$python" -c 'import tensorboard' 2>/dev/null; then
  run_step "benchmark's default sweep read by tensorboard" 30 "$python" \
    "$root/scripts/check_tensorboard.py" "$work/bench/l2sweep-graphs-again" \
    --l2sweep "$build/bin/l2sweep"
else
  note "tensorboard check: skipped ($python has no tensorboard package)"
fi
run_step "results.tar.gz" 15 tar -czf "$out/results.tar.gz" --exclude=checkpoints \
  --exclude=./xml -C "$work" .

if ((smoke)); then
  note "the rest of the suite: not run by --smoke (CI runs it)"
else
  # Everything but the CUDA tests (run above) and the strace fault injection, which starts
  # the binary dozens of times (each start initialises CUDA here) and tests nothing GPU-specific.
  run_step "the rest of the test suite" $((deadline - SECONDS - 15)) bash -c \
    'cd "$0" && ctest --output-on-failure --parallel "$(nproc)" --timeout 120 \
       -E "^(Cuda|CudaGraph)\.|OnCuda$|_cuda$|^cli\.fault_injection$"' "$build"
fi

note "card: ${gpu:-none (smoke run on the CPU)}"
status=0
if [[ -n "$first_failure" ]]; then
  note "device_check: FAILED: the first failing step was: $first_failure"
  status=1
else
  note "device_check: every step passed"
fi
exec >&- 2>&-
wait "$log_tee" 2>/dev/null  # log.txt whole before the call returns
exit "$status"

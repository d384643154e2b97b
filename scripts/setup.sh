#!/usr/bin/env bash
# Shared setup of the two README commands: installs the Debian packages l2sweep needs
# when they are missing, configures a Release build in build/ once, and builds
# (a no-op when nothing changed). Safe to run again and again.
#
# Environment:
#   L2SWEEP_BUILD_DIR   build folder (default: build/ in the repository)
#   L2SWEEP_NO_APT=1    never call apt-get (e.g. a machine where nothing can be installed)
#   CMAKE_PREFIX_PATH / Torch_DIR
#                       use another LibTorch (e.g. a CUDA build) instead of Debian's;
#                       libtorch-dev is then not installed
#   L2SWEEP_CMAKE_ARGS  extra arguments for the first cmake configure
#   L2SWEEP_CUDA_BUILD=1
#                       build against PyTorch's CUDA wheel instead, in build-cuda/ (or
#                       L2SWEEP_BUILD_DIR): installs torch==$torch_cuda_version from PyPI into
#                       .venv-cuda/ when it is not there (with the tensorboard package, for the
#                       test that reads l2sweep's event files with it), and configures with the
#                       CUDA toolkit's nvcc. The GPU path then compiles and links on any machine
#                       with the toolkit; its tests run on the CPU where there is no GPU (the
#                       CUDA tests skip).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# The GPU machines' PyTorch: 2.11, whose PyPI wheels are built for CUDA 13.0 like the toolkit
# here. Building against the same release catches what the GPU build would break on.
torch_cuda_version=2.11.0
cuda_build="${L2SWEEP_CUDA_BUILD:-0}"
if [[ "$cuda_build" == 1 ]]; then
  build="${L2SWEEP_BUILD_DIR:-$root/build-cuda}"
else
  build="${L2SWEEP_BUILD_DIR:-$root/build}"
fi

packages=(cmake ninja-build g++ pkg-config libfmt-dev libcxxopts-dev libgtest-dev zlib1g-dev
          nlohmann-json3-dev dataset-fashion-mnist python3 python3-matplotlib python3-protobuf
          python3-pytest strace libboost-math-dev clang-format)
# Installed where this script can install, else left out: the build works without them
# (libdeflate decodes the gzipped IDX files in half of zlib's time).
optional_packages=(libdeflate-dev)
if [[ "$cuda_build" == 1 ]]; then
  packages+=(python3-venv)
elif [[ -z "${Torch_DIR:-}" && -z "${CMAKE_PREFIX_PATH:-}" ]]; then
  # Debian's LibTorch 1.13 (CPU), with OpenBLAS rather than the 3x slower reference BLAS.
  packages+=(libtorch-dev libopenblas0-pthread)
fi

install_missing_packages() {
  [[ "${L2SWEEP_NO_APT:-0}" == 1 ]] && return 0
  command -v dpkg-query >/dev/null 2>&1 || return 0
  local missing=() missing_optional=()
  for package in "${packages[@]}" "${optional_packages[@]}"; do
    if ! dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null | grep -qx installed; then
      if [[ " ${optional_packages[*]} " == *" $package "* ]]; then
        missing_optional+=("$package")
      else
        missing+=("$package")
      fi
    fi
  done
  ((${#missing[@]} + ${#missing_optional[@]} == 0)) && return 0
  local sudo=()
  if [[ $(id -u) != 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo=(sudo)
    elif ((${#missing[@]} == 0)); then
      echo "setup: not root and no sudo; building without ${missing_optional[*]}" >&2
      return 0
    else
      echo "setup: not root and no sudo; install these packages first: ${missing[*]}" >&2
      exit 1
    fi
  fi
  missing+=("${missing_optional[@]}")
  echo "setup: installing missing packages: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

configure() {
  [[ -f "$build/CMakeCache.txt" ]] && return 0
  local generator=()
  command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
  # shellcheck disable=SC2086  # L2SWEEP_CMAKE_ARGS is a list of words
  cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
    ${L2SWEEP_CMAKE_ARGS:-} >"$build/configure.log" 2>&1 || {
    cat "$build/configure.log" >&2
    echo "setup: cmake configure failed (log above)" >&2
    exit 1
  }
}

# PyTorch's CUDA wheel in .venv-cuda/, and LibTorch from it for the configure below.
use_cuda_torch() {
  local venv="$root/.venv-cuda"
  if ! "$venv/bin/python" -c "import sys, torch; sys.exit(torch.__version__.split('+')[0] != '$torch_cuda_version' or torch.version.cuda is None)" 2>/dev/null; then
    echo "setup: installing torch==$torch_cuda_version (CUDA) from PyPI into .venv-cuda/ (about 4.5 GB)" >&2
    rm -rf "$venv"
    python3 -m venv "$venv" 2>/dev/null || /usr/bin/python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "torch==$torch_cuda_version"
  fi
  # The real TensorBoard reader, for the tensorboard.real_reader test (not in Debian 12).
  if ! "$venv/bin/python" -c 'import tensorboard' 2>/dev/null; then
    "$venv/bin/pip" install -q --disable-pip-version-check tensorboard
  fi
  # The package folder itself: its lib/ must come before the system's (see
  # cmake/Dependencies.cmake).
  CMAKE_PREFIX_PATH="$("$venv/bin/python" -c 'import os, torch; print(os.path.dirname(torch.__file__))' 2>/dev/null)"
  export CMAKE_PREFIX_PATH
  if ! command -v nvcc >/dev/null 2>&1 && [[ -x /usr/local/cuda/bin/nvcc ]]; then
    export PATH="/usr/local/cuda/bin:$PATH"
  fi
  command -v nvcc >/dev/null 2>&1 || {
    echo "setup: L2SWEEP_CUDA_BUILD=1 needs the CUDA toolkit (nvcc); none found" >&2
    exit 1
  }
}

install_missing_packages
[[ "$cuda_build" == 1 ]] && use_cuda_torch
mkdir -p "$build"
configure
# L2SWEEP_BUILD_ARGS goes to the build tool (scripts/device_check.sh: "-k 0", ninja keeps
# going past errors so that every one is listed).
cmake --build "$build" --parallel "$(nproc)" ${L2SWEEP_BUILD_ARGS:+-- $L2SWEEP_BUILD_ARGS}

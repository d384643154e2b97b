#!/usr/bin/env bash
# One of the two commands (README.md): install what is missing, build, and run the whole test suite.
# With L2SWEEP_CUDA_BUILD=1, the same against PyTorch's CUDA wheel in build-cuda/ (see
# scripts/setup.sh).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
if [[ "${L2SWEEP_CUDA_BUILD:-0}" == 1 ]]; then
  cd "${L2SWEEP_BUILD_DIR:-$root/build-cuda}"
else
  cd "${L2SWEEP_BUILD_DIR:-$root/build}"
fi
ctest --output-on-failure --parallel "$(nproc)" "$@"

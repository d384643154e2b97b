#!/usr/bin/env bash
# CTest: the TensorBoard files of a real (small) sweep with Dropout and weight decay in its runs'
# names, read by the real `tensorboard` package (scripts/check_tensorboard.py: every scalar
# against metrics.csv, and W1's histograms). The package is not in
# Debian 12: the first Python that has it among $L2SWEEP_TENSORBOARD_PYTHON, the CUDA build's
# .venv-cuda/ (scripts/setup.sh installs it there) and python3 on the PATH (the GPU image's).
# The sweep runs on --device auto: on the GPU where there is one. Exit 77 (skipped) when no
# Python has tensorboard.
set -euo pipefail
binary="$1" fixture="$2" check="$3" root="$4"
source "$(dirname "${BASH_SOURCE[0]}")/support/find_python.sh"
find_python tensorboard_reader tensorboard "${L2SWEEP_TENSORBOARD_PYTHON:-}" \
  "$root/.venv-cuda/bin/python" python3
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$binary" --data-dir "$fixture" --val-size 200 --train-size 400 --epochs 3 --l2 0,0.001 \
  --dropout 0,0.5 --weight-decay 0,1 --seeds 2 --out "$tmp/out" >/dev/null
"$python" "$check" "$tmp/out" --l2sweep "$binary"

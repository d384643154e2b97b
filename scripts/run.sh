#!/usr/bin/env bash
# README command 1: install what is missing, build (Release, build/), and run l2sweep.
# Any arguments are passed to l2sweep; with none it runs the seed experiment:
# L2 0.0001, 0.001, 0.01 x 15 epochs on Fashion-MNIST, results in runs/<UTC timestamp>.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"
exec "${L2SWEEP_BUILD_DIR:-$root/build}/bin/l2sweep" "$@"

#!/usr/bin/env bash
# The GoogleTest fallback of scripts/device_check.sh --prepare, configured alone.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
bash "$root/scripts/device_check.sh" --prepare-gtest "$work/gtest"
cmake -S "$root/tests/gtest_fallback" -B "$work/build" -DGTEST_PREFIX="$work/gtest"

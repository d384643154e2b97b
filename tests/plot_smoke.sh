#!/usr/bin/env bash
# CTest: scripts/plot_curves.py draws curves.png and curves.svg for a real (small) sweep with
# a control and two seeds, compare.png for `l2sweep compare` of that sweep with itself, and tuning.png for an
# --l2 auto search, using Debian's python3-matplotlib as scripts/run.sh does (or, on a
# machine without it such as the GPU image, a python3 on the PATH that has matplotlib).
# Exit 77 (skipped) when no Python has matplotlib.
set -euo pipefail
binary="$1" fixture="$2" plot="$3"
source "$(dirname "${BASH_SOURCE[0]}")/support/find_python.sh"
find_python plot_smoke matplotlib /usr/bin/python3 python3
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
"$binary" --data-dir "$fixture" --val-size 200 --train-size 400 --epochs 3 --l2 0,0.001,0.01 \
  --seeds 2 --device cpu --out "$tmp/out" >/dev/null
"$python" "$plot" "$tmp/out"
for file in curves.png curves.svg; do
  size=$(stat -c %s "$tmp/out/$file")
  if ((size < 20000)); then
    echo "plot_smoke: $file is only $size bytes" >&2
    exit 1
  fi
done
head -c 8 "$tmp/out/curves.png" | od -An -c | grep -q 'P   N   G' || { echo "not a PNG" >&2; exit 1; }
# --compare: the folder `l2sweep compare` writes (the sweep against itself).
"$binary" compare "$tmp/out" "$tmp/out" --out "$tmp/cmp" >/dev/null
"$python" "$plot" --compare "$tmp/cmp"
size=$(stat -c %s "$tmp/cmp/compare.png")
if ((size < 20000)); then
  echo "plot_smoke: compare.png is only $size bytes" >&2
  exit 1
fi
# An --l2 auto search: tuning.png.
"$binary" --data-dir "$fixture" --val-size 200 --train-size 300 --epochs 2 --l2 auto:1e-5:0.1 \
  --device cpu --out "$tmp/tune" >/dev/null
"$python" "$plot" "$tmp/tune"
size=$(stat -c %s "$tmp/tune/tuning.png")
if ((size < 20000)); then
  echo "plot_smoke: tuning.png is only $size bytes" >&2
  exit 1
fi
# A missing folder gets a one-line error and exit code 3, not a traceback.
if "$python" "$plot" "$tmp/nowhere" 2>"$tmp/err"; then exit 1; fi
grep -q '^error: ' "$tmp/err" && ! grep -q Traceback "$tmp/err"
echo "plot_smoke: passed"

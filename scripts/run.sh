#!/usr/bin/env bash
# One of the two commands (README.md): install what is missing, build (Release, build/), run l2sweep, and plot
# the curves of the finished sweep into OUT/curves.png.
# Any arguments are passed to l2sweep; with none it runs the seed experiment:
# L2 0.0001, 0.001, 0.01 x 15 epochs on Fashion-MNIST, results in runs/<UTC timestamp>.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/setup.sh"

# `scripts/run.sh merge OUT`: assemble a sharded sweep, then plot it.
if [[ "${1:-}" == merge ]]; then
  status=0
  "${L2SWEEP_BUILD_DIR:-$root/build}/bin/l2sweep" "$@" || status=$?
  if [[ $status == 0 || $status == 6 ]] && [[ -n "${2:-}" ]]; then
    /usr/bin/python3 "$root/scripts/plot_curves.py" "$2" || echo "run.sh: plotting failed" >&2
  fi
  exit "$status"
fi

# `scripts/run.sh compare ...`: compare sweeps and Keras runs, then plot compare.png.
if [[ "${1:-}" == compare ]]; then
  out_file="$(mktemp)"
  trap 'rm -f "$out_file"' EXIT
  status=0
  L2SWEEP_OUT_DIR_FILE="$out_file" "${L2SWEEP_BUILD_DIR:-$root/build}/bin/l2sweep" "$@" || status=$?
  out="$(cat "$out_file")"
  if [[ $status == 0 && -n "$out" ]]; then
    /usr/bin/python3 "$root/scripts/plot_curves.py" --compare "$out" ||
      echo "run.sh: plotting failed; the comparison in $out is complete" >&2
  fi
  exit "$status"
fi

# l2sweep names the output folder (runs/<UTC timestamp> without --out) and tells us which.
out_file="$(mktemp)"
trap 'rm -f "$out_file"' EXIT
status=0
# L2SWEEP_PLOTTED_BY: l2sweep's closing lines say that this script draws the curves.
L2SWEEP_OUT_DIR_FILE="$out_file" L2SWEEP_PLOTTED_BY=scripts/run.sh \
  "${L2SWEEP_BUILD_DIR:-$root/build}/bin/l2sweep" "$@" || status=$?
out="$(cat "$out_file")"
# 0: every run completed; 5: some diverged but the rest are worth plotting.
if [[ -n "$out" ]] && [[ $status == 0 || $status == 5 ]]; then
  /usr/bin/python3 "$root/scripts/plot_curves.py" "$out" ||
    echo "run.sh: plotting failed; the results in $out are complete" >&2
fi
exit "$status"

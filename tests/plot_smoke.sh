#!/usr/bin/env bash
# CTest: scripts/plot_curves.py draws curves.png and curves.svg for a real (small) sweep with
# a control and two seeds and for a --dropout 0,0.2 sweep (3 epochs: every epoch axis has
# integer ticks only), compare.png for `l2sweep compare` of a sweep with itself (and adds it to
# compare.md, once), and tuning.png for an --l2 auto search, using Debian's
# python3-matplotlib as scripts/run.sh does (or, on a machine without it such as the GPU
# image, a python3 on the PATH that has matplotlib). --help exits 0, even without matplotlib;
# a folder without metrics.csv exits 2 and a Python without matplotlib exits 3, each with one
# line. Exit 77 (skipped) when no Python has matplotlib.
set -euo pipefail
binary="$1" fixture="$2" plot="$3"
source "$(dirname "${BASH_SOURCE[0]}")/support/find_python.sh"
find_python plot_smoke matplotlib /usr/bin/python3 python3
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail() {
  echo "plot_smoke: $*" >&2
  exit 1
}
# At least 20 kB: a drawn figure, not an empty one.
check_size() {
  local size
  size=$(stat -c %s "$1")
  ((size >= 20000)) || fail "$1 is only $size bytes"
}
# The SVGs keep their text as text, so that their tick labels can be read.
printf 'svg.fonttype: none\n' >"$tmp/matplotlibrc"
export MATPLOTLIBRC="$tmp/matplotlibrc"
# Every axis labelled "epoch" in the SVG $1 has integer tick labels only.
check_integer_epochs() {
  "$python" - "$1" <<'EOF' || fail "$1: an epoch axis has a tick that is not a whole number"
import re
import sys
import xml.etree.ElementTree as ET

G, TEXT = "{http://www.w3.org/2000/svg}g", "{http://www.w3.org/2000/svg}text"
texts = lambda e: ["".join(t.itertext()).strip() for t in e.iter(TEXT)]
axes = [g for g in ET.parse(sys.argv[1]).iter(G) if g.get("id", "").startswith("axes_")]
epoch_axes = [g for g in axes if "epoch" in texts(g)]
ticks = [" ".join(texts(t)) for g in epoch_axes for t in g.iter(G)
         if t.get("id", "").startswith("xtick_")]
bad = sorted({t for t in ticks if not re.fullmatch(r"\d+", t)})
print(f"{sys.argv[1]}: {len(epoch_axes)} epoch axes, ticks {sorted(set(ticks))}, bad {bad}")
sys.exit(1 if bad or not epoch_axes else 0)
EOF
}

# --help and -h: usage, exit 0.
"$python" "$plot" --help >"$tmp/help" || fail "--help exited $?"
grep -q '^usage: ' "$tmp/help" || fail "--help printed no usage"
"$python" "$plot" -h >/dev/null || fail "-h exited $?"

# A sweep with a control and two seeds.
"$binary" --data-dir "$fixture" --val-size 200 --train-size 400 --epochs 3 --l2 0,0.001,0.01 \
  --seeds 2 --device cpu --out "$tmp/out" >/dev/null
"$python" "$plot" "$tmp/out"
check_size "$tmp/out/curves.png"
check_size "$tmp/out/curves.svg"
head -c 8 "$tmp/out/curves.png" | od -An -c | grep -q 'P   N   G' || fail "curves.png is not a PNG"
check_integer_epochs "$tmp/out/curves.svg"

# Dropout varies too (colours and markers for settings; line styles only train/validation).
"$binary" --data-dir "$fixture" --val-size 200 --train-size 400 --epochs 3 --l2 0,0.01 \
  --dropout 0,0.2 --device cpu --out "$tmp/dropout" >/dev/null
"$python" "$plot" "$tmp/dropout"
check_size "$tmp/dropout/curves.png"
check_integer_epochs "$tmp/dropout/curves.svg"

# --compare: the folder `l2sweep compare` writes (the sweep against itself). compare.md shows
# compare.png only once it is drawn, and only once however often it is drawn.
"$binary" compare "$tmp/out" "$tmp/out" --out "$tmp/cmp" >/dev/null
if grep -q 'compare\.png' "$tmp/cmp/compare.md"; then
  fail "compare.md names compare.png before anything drew it"
fi
"$python" "$plot" --compare "$tmp/cmp"
check_size "$tmp/cmp/compare.png"
check_integer_epochs "$tmp/cmp/compare.svg"
"$python" "$plot" --compare "$tmp/cmp" >/dev/null
count=$(grep -c '!\[curves\](compare\.png)' "$tmp/cmp/compare.md" || true)
((count == 1)) || fail "compare.md shows compare.png $count times after two plots"

# An --l2 auto search: tuning.png.
"$binary" --data-dir "$fixture" --val-size 200 --train-size 300 --epochs 2 --l2 auto:1e-5:0.1 \
  --device cpu --out "$tmp/tune" >/dev/null
"$python" "$plot" "$tmp/tune"
check_size "$tmp/tune/tuning.png"

# One line on stderr and nothing on stdout, exit code $1, for the rest of the command line.
check_one_line() {
  local want="$1" status=0
  shift
  "$@" >"$tmp/stdout" 2>"$tmp/err" || status=$?
  ((status == want)) || fail "$* exited $status, not $want: $(cat "$tmp/err")"
  [[ $(wc -l <"$tmp/err") == 1 && ! -s "$tmp/stdout" ]] ||
    fail "$* did not print one line: $(cat "$tmp/stdout" "$tmp/err")"
  grep -q '^error: ' "$tmp/err" || fail "$*: $(cat "$tmp/err")"
}
# A missing folder, and a folder without metrics.csv: exit 2, naming what is missing.
check_one_line 2 "$python" "$plot" "$tmp/nowhere"
mkdir "$tmp/empty"
check_one_line 2 "$python" "$plot" "$tmp/empty"
grep -q 'metrics\.csv' "$tmp/err" || fail "the error does not name metrics.csv: $(cat "$tmp/err")"
check_one_line 2 "$python" "$plot" --compare "$tmp/empty"

# A Python without matplotlib (a stub earlier on its path that fails to import, as a missing
# package does): --help still works; plotting exits 3 with one line saying how to install it.
mkdir -p "$tmp/stub/matplotlib"
printf 'raise ModuleNotFoundError("No module named %s", name="matplotlib")\n' "'matplotlib'" \
  >"$tmp/stub/matplotlib/__init__.py"
PYTHONPATH="$tmp/stub" "$python" "$plot" --help >/dev/null || fail "--help needs matplotlib"
check_one_line 3 env PYTHONPATH="$tmp/stub" "$python" "$plot" "$tmp/out"
grep -q 'apt-get install python3-matplotlib' "$tmp/err" ||
  fail "no install hint: $(cat "$tmp/err")"
echo "plot_smoke: passed"

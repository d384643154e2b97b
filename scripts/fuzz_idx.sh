#!/usr/bin/env bash
# Fuzzes the IDX reader with libFuzzer (clang, ASan, UBSan) for a set time.
#   scripts/fuzz_idx.sh [SECONDS]     (default 60)
# Installs clang and libclang-rt-14-dev if missing, builds build-fuzz/bin/idx_fuzzer, seeds the
# corpus with valid raw and gzip IDX files, and runs. A crashing input is copied to
# tests/fuzz/regressions/, which the test suite replays (IdxReader.SurvivesFuzzRegressions).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${1:-60}"
build="$root/build-fuzz"

missing=()
for package in clang libclang-rt-14-dev; do
  dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null | grep -qx installed || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "fuzz: installing ${missing[*]}" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
"$root/scripts/setup.sh" >/dev/null  # the other dependencies

if [[ ! -f "$build/CMakeCache.txt" ]]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DL2SWEEP_FUZZ=ON -DBUILD_TESTING=OFF >/dev/null
fi
cmake --build "$build" --target idx_fuzzer

corpus="$build/corpus"
mkdir -p "$corpus"
cp "$root"/data/fashion-mnist-mini/t10k-labels-idx1-ubyte.gz "$corpus/labels.gz"
/usr/bin/python3 - "$corpus" <<'PY'
import gzip, struct, sys
out = sys.argv[1]
raw = struct.pack(">IIII", 0x803, 2, 3, 2) + bytes(range(12))
open(f"{out}/images.raw", "wb").write(raw)
open(f"{out}/images.gz", "wb").write(gzip.compress(raw))
open(f"{out}/labels.raw", "wb").write(struct.pack(">II", 0x801, 4) + bytes([0, 1, 2, 1]))
PY
cp "$root"/tests/fuzz/regressions/* "$corpus/" 2>/dev/null || true

artifacts="$build/artifacts/"
mkdir -p "$artifacts"
status=0
"$build/bin/idx_fuzzer" "$corpus" -max_total_time="$seconds" -max_len=4096 -rss_limit_mb=2048 \
  -timeout=10 -artifact_prefix="$artifacts" -print_final_stats=1 || status=$?
if compgen -G "$artifacts*" >/dev/null; then
  cp "$artifacts"* "$root/tests/fuzz/regressions/"
  echo "fuzz: crashing inputs copied to tests/fuzz/regressions/; fix the reader and commit them" >&2
fi
exit "$status"

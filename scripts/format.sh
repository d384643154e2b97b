#!/usr/bin/env bash
# The C++ sources in the committed .clang-format's style (Debian's clang-format 14).
#   scripts/format.sh          rewrite them in place
#   scripts/format.sh --check  list the files that differ and exit 1 (CI runs this)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
command -v clang-format >/dev/null 2>&1 || {
  echo "format: clang-format not found (Debian: apt-get install clang-format)" >&2
  exit 2
}
mapfile -t files < <(git ls-files '*.cpp' '*.h' '*.cu')
if [[ "${1:-}" == "--check" ]]; then
  bad=()
  for file in "${files[@]}"; do
    if ! clang-format --dry-run --Werror "$file" >/dev/null 2>&1; then bad+=("$file"); fi
  done
  if ((${#bad[@]} > 0)); then
    echo "format: not in .clang-format's style (run scripts/format.sh): ${bad[*]}" >&2
    exit 1
  fi
  echo "format: ${#files[@]} files in .clang-format's style"
else
  clang-format -i "${files[@]}"
fi

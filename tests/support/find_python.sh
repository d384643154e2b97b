# Sourced by the script tests: find_python NAME MODULE CANDIDATE... sets $python to the first
# candidate (a path or a command; empty ones are skipped) whose Python imports MODULE, or
# prints "NAME: no Python with MODULE here; skipped" and exits 77 (CTest's skip code).
find_python() {
  local name="$1" module="$2" candidate
  shift 2
  python=""
  for candidate in "$@"; do
    [[ -n "$candidate" ]] || continue
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c "import $module" 2>/dev/null; then
      python="$candidate"
      return 0
    fi
  done
  echo "$name: no Python with $module here; skipped" >&2
  exit 77
}

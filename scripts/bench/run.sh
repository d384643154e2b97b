#!/usr/bin/env bash
# The CPU benchmark: builds l2sweep (scripts/setup.sh), installs Debian's python3-torch for
# the peer if missing, and runs scripts/bench/bench.py with the given options.
# A full run takes about 6 minutes on 2 cores; --epochs 2 --train-size 10000 is a quick one.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
"$root/scripts/setup.sh" >/dev/null
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  echo "bench: installing python3-torch for the Python peer" >&2
  apt-get install -y -qq --no-install-recommends python3-torch >/dev/null
fi
exec /usr/bin/python3 "$root/scripts/bench/bench.py" "$@"

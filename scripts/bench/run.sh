#!/usr/bin/env bash
# The CPU benchmark: builds l2sweep (scripts/setup.sh), installs what the peers need if
# missing (Debian's python3-torch for the PyTorch peer; tensorflow-cpu and keras from PyPI
# into .venv-bench/ for the seed's Keras script), and runs scripts/bench/bench.py with the
# given options. A full run takes about 8 minutes on 2 cores (the PyTorch peer alone 4, the
# Keras peer 3); --epochs 2 --train-size 10000 is a quick one.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
"$root/scripts/setup.sh" >/dev/null
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  echo "bench: installing python3-torch for the Python peer" >&2
  apt-get install -y -qq --no-install-recommends python3-torch >/dev/null
fi
if [[ " $* " != *" --skip-keras "* ]] && ! "$root/.venv-bench/bin/python" -c 'import keras, tensorflow' 2>/dev/null; then
  echo "bench: installing tensorflow-cpu and keras into .venv-bench/ for the Keras peer (about 600 MB)" >&2
  if ! dpkg -s python3-venv >/dev/null 2>&1; then
    apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
  fi
  python3 -m venv "$root/.venv-bench"
  "$root/.venv-bench/bin/pip" install -q tensorflow-cpu keras tensorboard
fi
exec /usr/bin/python3 "$root/scripts/bench/bench.py" "$@"

#!/usr/bin/env bash
# A real test of the Slurm path on one machine: installs Debian's slurm-wlm and munge, starts
# munged, slurmctld and slurmd on loopback (a private config: no systemd, no cgroups), submits
# scripts/slurm/sweep.sbatch as an array for a small sweep, waits, merges, and checks that the
# result equals the same sweep run locally on one machine. Needs root (apt, daemons).
#   scripts/slurm/test_local_cluster.sh        (about a minute once built)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
"$root/scripts/setup.sh" >/dev/null

missing=()
for package in slurm-wlm munge; do
  dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null | grep -qx installed || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "slurm test: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

work="$(mktemp -d /tmp/l2sweep-slurm-XXXXXX)"
chmod 755 "$work"
export SLURM_CONF="$work/slurm.conf"
cleanup() {
  local status=$?
  scontrol shutdown >/dev/null 2>&1 || true
  # Stop every daemon and wait until it is gone, so none writes while the folder is removed.
  local pids=()
  for file in "$work"/*.pid; do [[ -f "$file" ]] && pids+=("$(cat "$file")"); done
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for _ in $(seq 50); do
    local alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  if [[ "${KEEP:-0}" != 1 ]]; then rm -rf "$work" 2>/dev/null || rm -rf "$work" || true; fi
  exit "$status"
}
trap cleanup EXIT

# munge with its own key and socket, so it never touches a system munged.
dd if=/dev/urandom of="$work/munge.key" bs=1024 count=1 status=none
chmod 400 "$work/munge.key"
munged --force --key-file="$work/munge.key" --socket="$work/munge.socket" \
  --pid-file="$work/munged.pid" --log-file="$work/munged.log" --seed-file="$work/munged.seed"

host="$(hostname -s)"
port=$((20000 + RANDOM % 20000))
mkdir -p "$work/state" "$work/spool"
cat >"$SLURM_CONF" <<CONF
ClusterName=l2sweep-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$work/munge.socket
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
slurmctld -c -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
for _ in $(seq 60); do
  sinfo -h -o %t 2>/dev/null | grep -q idle && break
  sleep 1
done
sinfo -h -o %t | grep -q idle || { echo "slurm test: the node never became idle" >&2; cat "$work"/slurm*.log >&2; exit 1; }

sweep=(--data-dir "$root/data/fashion-mnist-mini" --val-size 200 --train-size 500 --epochs 3
       --l2 0,0.001,0.01 --seeds 2 --device cpu)
# 6 runs over 4 tasks: tasks 0 and 1 train two runs each.
L2SWEEP_ROOT="$root" sbatch --wait --array=0-3 --chdir="$work" --output="$work/task-%a.out" \
  "$root/scripts/slurm/sweep.sbatch" "${sweep[@]}" --out "$work/cluster" >/dev/null ||
  { echo "slurm test: the array job failed" >&2; cat "$work"/task-*.out >&2; exit 1; }
"$root/build/bin/l2sweep" merge "$work/cluster" >"$work/merge.log"
"$root/build/bin/l2sweep" "${sweep[@]}" --jobs 1 --out "$work/local" >/dev/null

python3 - "$work/cluster" "$work/local" <<'PY'
import csv, json, sys
cluster, local = sys.argv[1], sys.argv[2]
# What may differ between two processes' sweeps: timings, who ran them and where.
timing = {"epoch_seconds", "train_seconds", "sweep_seconds", "started_at", "command_line",
          "command_lines", "out", "jobs"}
def rows(out):
    with open(f"{out}/metrics.csv", newline="") as f:
        return [{k: v for k, v in r.items() if k not in timing} for r in csv.DictReader(f)]
def strip(value):
    if isinstance(value, dict):
        return {k: strip(v) for k, v in value.items() if k not in timing}
    if isinstance(value, list):
        return [strip(v) for v in value]
    return value
def summary(out):
    with open(f"{out}/summary.json") as f:
        return strip(json.load(f))
problems = []
if rows(cluster) != rows(local): problems.append("metrics.csv differs")
if summary(cluster) != summary(local): problems.append("summary.json differs")
if open(f"{cluster}/report.md").read() != open(f"{local}/report.md").read():
    problems.append("report.md differs")
print("slurm test:", "FAILED: " + "; ".join(problems) if problems else
      f"passed: 6 runs over 4 array tasks, merged = local ({len(rows(cluster))} epochs)")
sys.exit(1 if problems else 0)
PY

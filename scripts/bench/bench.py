#!/usr/bin/python3
"""CPU benchmark: l2sweep against the PyTorch-Python peer, measured in the same invocation.

usage: scripts/bench/run.sh [--epochs 15] [--train-size N] [--l2 LIST] [--jobs N]
                            [--peer-flush-denormal] [--skip-peer]

Runs, one after another on an otherwise idle machine:
  1. scripts/bench/floor.py: the compute floor (the step's matrix products alone, 1 thread);
  2. scripts/bench/keras_peer.py --adam torch: the same experiment written as a plain
     PyTorch script (the optimizer l2sweep uses, so final metrics are comparable);
  3. build/bin/l2sweep with the same settings.
Prints per-epoch times, the sweep times and their ratio, each epoch against the floor,
l2sweep's peak resident memory, and how far the final metrics of the two agree.
"""
import argparse
import csv
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BATCH = 32
DATA = "/usr/share/datasets/fashion-mnist"


def run_timed(command, log_path):
    """Runs `command`; returns (wall seconds, peak RSS in MB, exit code)."""
    with open(log_path, "w") as log:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
    return wall, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def read_rows(path):
    with open(path, newline="") as f:
        return [{k: (float(v) if k not in ("l2",) else float(v)) for k, v in row.items()}
                for row in csv.DictReader(f)]


def machine():
    model = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    blas = os.path.realpath("/usr/lib/x86_64-linux-gnu/libblas.so.3")
    blas = "OpenBLAS (pthread)" if "openblas-pthread" in blas else \
        "OpenBLAS" if "openblas" in blas else f"reference BLAS ({blas})"
    import torch
    return (f"{platform.node()}: {model}, {os.cpu_count()} cores, "
            f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB; "
            f"{platform.freedesktop_os_release().get('PRETTY_NAME', 'Linux')}; "
            f"PyTorch/LibTorch {torch.__version__}; BLAS: {blas}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--train-size", type=int, default=None)
    parser.add_argument("--l2", default="0.0001,0.001,0.01")
    parser.add_argument("--jobs", type=int, default=0, help="l2sweep --jobs (0: one per core)")
    parser.add_argument("--peer-flush-denormal", action="store_true",
                        help="also time the peer with torch.set_flush_denormal(True)")
    parser.add_argument("--skip-peer", action="store_true")
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="l2sweep-bench-")
    common = ["--l2", args.l2, "--epochs", str(args.epochs), "--data-dir", DATA]
    if args.train_size:
        common += ["--train-size", str(args.train_size)]
    train_examples = args.train_size or 50000
    steps = math.ceil(train_examples / BATCH)
    strengths = len(args.l2.split(","))

    print(f"machine: {machine()}")
    print(f"settings: l2 {args.l2}; {args.epochs} epochs; {train_examples} training examples; "
          f"batch {BATCH} ({steps} steps per epoch); work folder {work}")

    floor_out = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "scripts/bench/floor.py")],
                               capture_output=True, text=True, check=True).stdout
    floor_ms = float(floor_out.split()[0].split("=")[1])
    floor_epoch = floor_ms * steps / 1000
    print(f"compute floor: {floor_ms:.3f} ms per step ({floor_out.strip()}) "
          f"= {floor_epoch:.3f} s per epoch")

    peers = []
    if not args.skip_peer:
        peers.append(("peer", []))
        if args.peer_flush_denormal:
            peers.append(("peer+ftz", ["--flush-denormal"]))
    results = {}
    for name, extra in peers:
        csv_path = os.path.join(work, f"{name}.csv")
        wall, rss, code = run_timed(
            ["/usr/bin/python3", os.path.join(ROOT, "scripts/bench/keras_peer.py"), "--adam", "torch",
             "--csv", csv_path] + extra + common, os.path.join(work, f"{name}.log"))
        if code != 0:
            sys.exit(f"error: {name} failed (exit {code}); see {work}/{name}.log")
        results[name] = (wall, rss, read_rows(csv_path))
        print(f"{name}: {wall:.1f} s for the sweep, peak RSS {rss:.0f} MB")

    out = os.path.join(work, "l2sweep-out")
    wall, rss, code = run_timed(
        [os.path.join(ROOT, "build/bin/l2sweep"), "--device", "cpu", "--jobs", str(args.jobs),
         "--out", out] + common, os.path.join(work, "l2sweep.log"))
    if code != 0:
        sys.exit(f"error: l2sweep failed (exit {code}); see {work}/l2sweep.log")
    results["l2sweep"] = (wall, rss, read_rows(os.path.join(out, "metrics.csv")))
    print(f"l2sweep: {wall:.1f} s for the sweep, peak RSS {rss:.0f} MB")

    names = list(results)
    print("\nper-epoch seconds (mean over strengths; l2sweep's runs go side by side):")
    print("epoch " + " ".join(f"{n:>10}" for n in names) + f" {'l2sweep/floor':>14}")
    for epoch in range(1, args.epochs + 1):
        means = [statistics.fmean(r["epoch_seconds"] for r in results[n][2] if r["epoch"] == epoch)
                 for n in names]
        print(f"{epoch:>5} " + " ".join(f"{m:>10.3f}" for m in means) +
              f" {means[-1] / floor_epoch:>13.1f}x")

    sweep = results["l2sweep"][0]
    print("\nsummary:")
    for name in names[:-1]:
        print(f"  {name} / l2sweep sweep time: {results[name][0]:.1f} s / {sweep:.1f} s "
              f"= {results[name][0] / sweep:.1f}x (target >= 10x against the plain peer)")
    worst = max(r["epoch_seconds"] for r in results["l2sweep"][2])
    print(f"  l2sweep slowest epoch: {worst:.3f} s = {worst / floor_epoch:.1f}x the floor "
          f"(target <= 3x; epoch times include validation)")
    print(f"  l2sweep peak RSS: {results['l2sweep'][1]:.0f} MB (target <= 600 MB)")
    if "peer" in results:
        final = {}
        for name in ("peer", "l2sweep"):
            final[name] = {r["l2"]: r for r in results[name][2] if r["epoch"] == args.epochs}
        for column in ("loss", "val_accuracy", "val_loss", "w1_norm"):
            diff = max(abs(final["peer"][l2][column] - final["l2sweep"][l2][column])
                       for l2 in final["l2sweep"])
            print(f"  final {column}: max |peer - l2sweep| over {strengths} strengths = {diff:.2g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

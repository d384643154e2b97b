#!/usr/bin/python3
"""CPU benchmark: l2sweep against its two peers and the compute floor, in one invocation.

usage: scripts/bench/run.sh [--epochs 15] [--train-size N] [--l2 LIST] [--jobs N]
                            [--peer-unflushed] [--skip-peer] [--skip-keras] [--skip-grid]
                            [--skip-seeds]

Runs, one after another on an otherwise idle machine:
  1. scripts/bench/floor.py --parts: the compute floor (the step's matrix products alone, on one
     thread), and the floors of the step's other parts (memory bandwidth, the evaluation's
     products, reading the data); then the products' floor once per core at the same time
     (what the cores give together: on a VM whose cores share a physical core's arithmetic,
     less than cores x one);
  2. scripts/bench/keras_peer.py --adam torch --flush-denormal: the same experiment written as
     a plain PyTorch script (the optimizer l2sweep uses, so final metrics are comparable), with
     denormals flushed as l2sweep flushes them (--peer-unflushed also times it without);
  3. scripts/bench/keras_seed.py: the seed's own Keras script (tensorflow-cpu, Keras 3), in
     .venv-bench/ (scripts/bench/run.sh installs it);
  4. build/bin/l2sweep with the same settings;
  5. build/bin/l2sweep on the 12-strength grid (0,1e-6,...,1e-1, one seed: one cohort of 12);
  6. build/bin/l2sweep with --seeds 6 (six cohorts).
Prints per-epoch times, the sweep times and their ratios, each sweep against its floor (every
run's steps at the floor, spread over the cores), a breakdown of each l2sweep sweep (each part
of the step against its own floor, start-up, and the cores' idle time: L2SWEEP_PROFILE),
l2sweep's peak resident memory, the final metrics of each next to l2sweep's, and whether the
strengths the l2sweep sweeps share have bit-identical metrics (a member's numbers must not
depend on its cohort).
"""
import argparse
import csv
import json
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
GRID = "0,1e-6,3e-6,1e-5,3e-5,1e-4,3e-4,1e-3,3e-3,1e-2,3e-2,1e-1"
KERAS_PYTHON = os.path.join(ROOT, ".venv-bench", "bin", "python")


def run_timed(command, log_path):
    """Runs `command`; returns (wall seconds, peak RSS in MB, exit code)."""
    with open(log_path, "w") as log:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
    return wall, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def read_rows(path):
    """The rows of a peer's CSV, numbers as floats (the Keras peer's `seeding` stays text)."""
    def value(text):
        try:
            return float(text)
        except ValueError:
            return text
    with open(path, newline="") as f:
        return [{k: value(v) for k, v in row.items()} for row in csv.DictReader(f)]


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


# Bytes a part moves per unit, for its memory floor: Adam reads a parameter, both moments and
# the gradient and writes three (per parameter of a member); the gather reads a pixel byte and
# writes its float (per example of a step); the loss and the elementwise passes stream the
# member's logits and hidden layer a few times (per example of a member's step).
PARAMETERS = 784 * 128 + 128 + 128 * 10 + 10
ADAM_BYTES = 7 * 4 * PARAMETERS
GATHER_BYTES = 5 * 784
LOSS_BYTES = 3 * 4 * 10
ELEMENTWISE_BYTES = 6 * 4 * 128


def breakdown(name, lines, started, ended, wall, cores, floor_ms, parts_floor):
    """Prints where one l2sweep sweep's time went, each part against its own floor."""
    bandwidth = parts_floor["bandwidth_gbs"] * 1e9
    member_steps = sum(line["member_steps"] for line in lines)
    steps = sum(line["member_steps"] / line["members"] for line in lines)
    examples = steps * BATCH
    member_examples = member_steps * BATCH
    seconds = {part: sum(sum(line["seconds"][part]) for line in lines)
               for part in lines[0]["seconds"]}
    floors = {"products": member_steps * floor_ms / 1000,
              "adam": member_steps * ADAM_BYTES / bandwidth,
              "gather": examples * GATHER_BYTES / bandwidth,
              "loss": member_examples * LOSS_BYTES / bandwidth,
              "elementwise": member_examples * ELEMENTWISE_BYTES / bandwidth,
              "evaluation": sum(line["evaluated_examples"] for line in lines) *
              parts_floor["eval_us_per_example"] / 1e6,
              "waiting": 0.0}
    first = min(line["started_at"] for line in lines)
    last = max(line["ended_at"] for line in lines)
    span = last - first
    busy = sum(seconds.values())
    idle = cores * span - busy
    threads = sorted({line["threads"] for line in lines})
    print(f"  {name}: {len(lines)} cohort(s), {lines[0]['members']} member(s) each, "
          f"{'/'.join(map(str, threads))} thread(s) per cohort; {wall:.2f} s wall")
    print(f"    {'part':<26} {'core-s':>8} {'floor':>8} {'vs floor':>9}")
    for part in ("products", "adam", "gather", "loss", "elementwise", "evaluation", "waiting"):
        ratio = f"{seconds[part] / floors[part]:.2f}x" if floors[part] > 0 else "-"
        print(f"    {part:<26} {seconds[part]:>8.2f} {floors[part]:>8.2f} {ratio:>9}")
    print(f"    {'cores idle while training':<26} {idle:>8.2f} {0:>8.2f} {'-':>9}"
          f"   ({idle / cores:.2f} s per core)")
    startup = first - started
    print(f"    {'start-up (one core)':<26} {startup:>8.2f} {parts_floor['read_seconds']:>8.2f} "
          f"{startup / max(parts_floor['read_seconds'], 1e-9):>8.0f}x   (floor: reading the data)")
    print(f"    {'after training (one core)':<26} {ended - last:>8.2f}        -         -"
          f"   (test set, writing the outputs)")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--train-size", type=int, default=None)
    parser.add_argument("--l2", default="0.0001,0.001,0.01")
    parser.add_argument("--skip-grid", action="store_true",
                        help=f"do not time the 12-strength grid --l2 {GRID}")
    parser.add_argument("--jobs", type=int, default=0, help="l2sweep --jobs (0: one per core)")
    parser.add_argument("--peer-unflushed", action="store_true",
                        help="also time the peer without flushing denormals (on Intel CPUs it "
                             "slows down severalfold as its weights turn denormal)")
    parser.add_argument("--skip-seeds", action="store_true",
                        help="do not time --seeds 6")
    parser.add_argument("--skip-peer", action="store_true")
    parser.add_argument("--skip-keras", action="store_true")
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

    floor_script = os.path.join(ROOT, "scripts/bench/floor.py")
    floor_out = subprocess.run(["/usr/bin/python3", floor_script, "--parts"],
                               capture_output=True, text=True, check=True).stdout.splitlines()
    floor_ms = float(floor_out[0].split()[0].split("=")[1])
    parts_floor = json.loads(floor_out[1])
    floor_epoch = floor_ms * steps / 1000
    print(f"compute floor: {floor_ms:.3f} ms per step on one thread ({floor_out[0].strip()}) "
          f"= {floor_epoch:.3f} s per epoch")
    cores = os.cpu_count()
    together = [subprocess.Popen(["/usr/bin/python3", floor_script], stdout=subprocess.PIPE,
                                 text=True) for _ in range(cores)]
    shared_ms = statistics.fmean(float(p.communicate()[0].split()[0].split("=")[1])
                                 for p in together)
    print(f"the same products on all {cores} cores at once: {shared_ms:.3f} ms per step each "
          f"({floor_ms / shared_ms * cores:.2f} cores' worth of one thread's throughput)")
    print(f"other floors: memory bandwidth {parts_floor['bandwidth_gbs']:.1f} GB/s, evaluation "
          f"products {parts_floor['eval_us_per_example']:.2f} us per example, reading the data "
          f"{parts_floor['read_seconds'] * 1000:.0f} ms")

    peers = []
    if not args.skip_peer:
        peers.append(("peer", ["--flush-denormal"]))
        if args.peer_unflushed:
            peers.append(("peer-unflushed", []))
    sweep_floor = strengths * args.epochs * steps * floor_ms / 1000 / cores
    print(f"sweep floor: {strengths} runs x {args.epochs} epochs x {steps} steps x {floor_ms:.3f} ms "
          f"/ {cores} cores = {sweep_floor:.2f} s (validation not counted)")
    peer_script = os.path.join(ROOT, "scripts/bench/keras_peer.py")
    peers = [(name, ["/usr/bin/python3", peer_script, "--adam", "torch"] + extra)
             for name, extra in peers]
    if not args.skip_keras:
        if not os.path.exists(KERAS_PYTHON):
            sys.exit("error: .venv-bench/ has no Keras; run scripts/bench/run.sh, or pass --skip-keras")
        peers.append(("keras", [KERAS_PYTHON, os.path.join(ROOT, "scripts/bench/keras_seed.py")]))
    results = {}
    for name, command in peers:
        csv_path = os.path.join(work, f"{name}.csv")
        wall, rss, code = run_timed(command + ["--csv", csv_path] + common,
                                    os.path.join(work, f"{name}.log"))
        if code != 0:
            sys.exit(f"error: {name} failed (exit {code}); see {work}/{name}.log")
        results[name] = (wall, rss, read_rows(csv_path))
        print(f"{name}: {wall:.1f} s for the sweep, peak RSS {rss:.0f} MB")

    profiles = {}

    def l2sweep(name, options):
        out = os.path.join(work, f"{name}-out")
        profile = os.path.join(work, f"{name}-profile.jsonl")
        env = dict(os.environ, L2SWEEP_PROFILE=profile)
        started = time.time()
        with open(os.path.join(work, f"{name}.log"), "w") as log:
            start = time.perf_counter()
            process = subprocess.Popen(
                [os.path.join(ROOT, "build/bin/l2sweep"), "--device", "cpu", "--jobs",
                 str(args.jobs or "auto"), "--out", out] + options,
                stdout=log, stderr=subprocess.STDOUT, env=env)
            _, status, usage = os.wait4(process.pid, 0)
            wall = time.perf_counter() - start
        ended = time.time()
        rss, code = usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)
        if code != 0:
            sys.exit(f"error: l2sweep failed (exit {code}); see {work}/{name}.log")
        print(f"{name}: {wall:.1f} s for the sweep, peak RSS {rss:.0f} MB")
        with open(profile) as f:
            profiles[name] = ([json.loads(line) for line in f], started, ended, wall)
        return wall, rss, read_rows(os.path.join(out, "metrics.csv"))

    results["l2sweep"] = l2sweep("l2sweep", common)
    grid = None
    if not args.skip_grid:
        grid_options = list(common)
        grid_options[grid_options.index("--l2") + 1] = GRID
        grid = l2sweep("l2sweep-grid", grid_options)
    seeds = None
    if not args.skip_seeds:
        seeds = l2sweep("l2sweep-seeds6", common + ["--seeds", "6"])

    names = list(results)
    print("\nper-epoch seconds (mean over strengths; l2sweep's runs go side by side):")
    print("epoch " + " ".join(f"{n:>10}" for n in names) + f" {'l2sweep/floor':>14}")
    for epoch in range(1, args.epochs + 1):
        means = [statistics.fmean(r["epoch_seconds"] for r in results[n][2] if r["epoch"] == epoch)
                 for n in names]
        print(f"{epoch:>5} " + " ".join(f"{m:>10.3f}" for m in means) +
              f" {means[-1] / floor_epoch:>13.1f}x")

    print("\nwhere each l2sweep sweep's time goes (core-seconds summed over the threads; each "
          "part against its own floor on this machine):")
    for name, (lines, started, ended, wall) in profiles.items():
        breakdown(name, lines, started, ended, wall, cores, floor_ms, parts_floor)

    sweep = results["l2sweep"][0]
    shared_floor = sweep_floor * shared_ms / floor_ms
    print("\nsummary:")
    for name in names[:-1]:
        target = {"peer": " (target >= 10x against the plain PyTorch peer, denormals flushed)",
                  "keras": " (target >= 20x against the seed's Keras script)"}.get(name, "")
        print(f"  {name} / l2sweep sweep time: {results[name][0]:.1f} s / {sweep:.1f} s "
              f"= {results[name][0] / sweep:.1f}x{target}")
    print(f"  l2sweep sweep / its floor: {sweep:.2f} s / {sweep_floor:.2f} s = "
          f"{sweep / sweep_floor:.2f}x (target <= 1.5x); against the products on all cores at "
          f"once ({shared_floor:.2f} s): {sweep / shared_floor:.2f}x")
    if grid:
        grid_floor = sweep_floor * len(GRID.split(",")) / strengths
        print(f"  l2sweep 12-strength grid / its floor: {grid[0]:.2f} s / {grid_floor:.2f} s = "
              f"{grid[0] / grid_floor:.2f}x (target <= 1.3x); against all cores at once "
              f"{grid[0] / (grid_floor * shared_ms / floor_ms):.2f}x; peak RSS {grid[1]:.0f} MB")
        def numbers(rows):
            return {(r["l2"], r["epoch"]): {k: v for k, v in r.items() if k != "epoch_seconds"}
                    for r in rows if r.get("seed", 0) == 0}
        alone, in_grid = numbers(results["l2sweep"][2]), numbers(grid[2])
        shared = [key for key in alone if key in in_grid]
        same = sum(alone[key] == in_grid[key] for key in shared)
        print(f"  strengths in both sweeps: {same} of {len(shared)} epoch rows bit-identical "
              f"(cohort of {strengths} and cohort of 12)")
    if seeds:
        seeds_floor = sweep_floor * 6
        print(f"  l2sweep --seeds 6 / its floor: {seeds[0]:.2f} s / {seeds_floor:.2f} s = "
              f"{seeds[0] / seeds_floor:.2f}x (target <= 1.4x); against all cores at once "
              f"{seeds[0] / (seeds_floor * shared_ms / floor_ms):.2f}x; peak RSS "
              f"{seeds[1]:.0f} MB")
        with_seeds = numbers(seeds[2]) if grid else None
        if with_seeds is not None:
            shared = [key for key in alone if key in with_seeds]
            same = sum(alone[key] == with_seeds[key] for key in shared)
            print(f"  seed 0 in --seeds 6 against the default sweep: {same} of {len(shared)} "
                  f"epoch rows bit-identical")
    worst = max(r["epoch_seconds"] for r in results["l2sweep"][2])
    print(f"  l2sweep slowest epoch of one run: {worst:.3f} s = {worst / floor_epoch:.1f}x one run's "
          f"epoch floor (runs share the cores; epoch times include validation)")
    print(f"  l2sweep peak RSS: {results['l2sweep'][1]:.0f} MB (target <= 300 MB)")
    final = {name: {r["l2"]: r for r in results[name][2] if r["epoch"] == args.epochs}
             for name in names}
    columns = ("loss", "val_loss", "val_accuracy", "w1_norm")
    print(f"\nfinal epoch ({args.epochs}):")
    print(f"  {'l2':>8} {'engine':>8} " + " ".join(f"{c:>12}" for c in columns))
    for l2 in sorted(final["l2sweep"]):
        for name in names:
            if l2 in final[name]:
                print(f"  {l2:>8g} {name:>8} " +
                      " ".join(f"{final[name][l2][c]:>12.4f}" for c in columns))
    if "peer" in final:
        for column in columns:
            diff = max(abs(final["peer"][l2][column] - final["l2sweep"][l2][column])
                       for l2 in final["l2sweep"])
            print(f"  final {column}: max |peer - l2sweep| over {strengths} strengths = {diff:.2g} "
                  f"(same initial weights and batches: rounding differences grown over every step)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

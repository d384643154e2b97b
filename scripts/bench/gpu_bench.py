#!/usr/bin/env python3
"""GPU benchmark: l2sweep's CUDA paths against the PyTorch-Python peer, in one invocation.

usage: python3 scripts/bench/gpu_bench.py --binary build-cuda/bin/l2sweep
           [--epochs 15] [--slow-epochs 3] [--l2 LIST] [--train-size N] [--skip-peer]
           [--skip-grid] [--work DIR]

Runs, one after another on the same GPU (scripts/device_check.sh calls it):
  1. l2sweep, default path: the cohort stacked into one DeviceStep, each epoch's full
     batches replayed from one CUDA graph, for --epochs, twice: the first pays the start-up
     (CUDA context, cuBLAS handles, graph capture), the second is the steady state the
     ratios use;
  1b. the same on the 12-strength grid (0,1e-6,...,1e-1: one cohort of 12), for --epochs;
  2. l2sweep --engine tensor --cuda-graphs off: the same stacked step launched eagerly (the
     levers "data and metrics on the device" without the graph), for --slow-epochs;
  3. l2sweep --cuda-graphs off: the straightforward loop, autograd and torch::optim::Adam,
     one run at a time, for --slow-epochs;
  4. scripts/bench/keras_peer.py --device cuda --adam torch: the plain PyTorch script with
     the same optimizer, for --slow-epochs.
The slow paths run fewer epochs to fit the 5-minute budget of a device check; their time per
optimizer step is measured and projected to the full sweep (the per-step cost does not
change from epoch to epoch). Training time is l2sweep's `sweep_seconds` (summary.json: the
training loop over all runs, data already on the GPU) and the peer's summed epoch times;
neither counts process start-up or data loading.

Parity: every path's metrics at epoch --slow-epochs against the graph path's at that epoch,
and the graph path's final epoch against the committed CPU results (docs/results/), next to
the seed spread measured on the CPU (docs/results/seeds3-control).
"""
import argparse
import csv
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BATCH = 32
GRID = "0,1e-6,3e-6,1e-5,3e-5,1e-4,3e-4,1e-3,3e-3,1e-2,3e-2,1e-1"
DATA = "/usr/share/datasets/fashion-mnist"
TRAIN_EXAMPLES = 50000


def steps_per_run(examples, epochs):
    return -(-examples // BATCH) * epochs


def read_csv(path):
    with open(path, newline="") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def at_epoch(rows, epoch):
    return {row["l2"]: row for row in rows if int(row["epoch"]) == epoch}


def plain(name):
    """`name` as a file name of letters, digits, '.', '_' and '-' (what the device tool
    returns)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-")


def epoch_times(rows):
    """Epoch 1's seconds and the mean of the later epochs' (None with one epoch), each the
    mean over the runs: the first epoch pays what the process starts (CUDA's context, cuBLAS'
    handles, the graph's capture), the later ones are the steady state."""
    by_epoch = {}
    for row in rows:
        by_epoch.setdefault(int(row["epoch"]), []).append(row["epoch_seconds"])
    means = {epoch: sum(values) / len(values) for epoch, values in by_epoch.items()}
    later = [means[epoch] for epoch in means if epoch > 1]
    return means.get(1), (sum(later) / len(later) if later else None)


def run_l2sweep(args, name, extra, epochs, work):
    out = os.path.join(work, plain(name))
    command = [args.binary, "--device", args.device, "--epochs", str(epochs), "--l2", args.l2,
               "--data-dir", args.data_dir, "--out", out] + extra
    if args.train_size:
        command += ["--train-size", str(args.train_size)]
    log = os.path.join(work, plain(name) + ".log")
    with open(log, "w") as f:
        status = subprocess.run(command, stdout=f, stderr=subprocess.STDOUT).returncode
    if status != 0:
        sys.stdout.write(open(log).read()[-3000:])
        raise SystemExit(f"gpu_bench: {name} exited with {status} (log above)")
    with open(os.path.join(out, "summary.json")) as f:
        summary = json.load(f)
    rows = read_csv(os.path.join(out, "metrics.csv"))
    per_run = {}
    for row in rows:
        per_run[(row["l2"], row["seed"])] = per_run.get((row["l2"], row["seed"]), 0) + \
            row["epoch_seconds"]
    # sweep_seconds: the training loop's wall time, checkpoints and output files included;
    # epochs: the slowest run's summed epoch times (training and validation only).
    return {"name": name, "epochs": epochs, "seconds": summary["sweep_seconds"],
            "epoch_seconds": max(per_run.values()), "rows": rows,
            "optimizer": summary["experiment"]["optimizer"]["name"],
            "epoch_times": epoch_times(rows)}


def run_peer(args, epochs, work):
    out = os.path.join(work, "peer.csv")
    command = [args.python, os.path.join(ROOT, "scripts/bench/keras_peer.py"), "--device", args.device,
               "--adam", "torch", "--epochs", str(epochs), "--l2", args.l2, "--data-dir",
               args.data_dir, "--csv", out]
    if args.train_size:
        command += ["--train-size", str(args.train_size)]
    log = os.path.join(work, "peer.log")
    with open(log, "w") as f:
        status = subprocess.run(command, stdout=f, stderr=subprocess.STDOUT).returncode
    if status != 0:
        sys.stdout.write(open(log).read()[-3000:])
        raise SystemExit(f"gpu_bench: the Python peer exited with {status} (log above)")
    rows = read_csv(out)
    seconds = sum(row["epoch_seconds"] for row in rows)  # one run after another
    return {"name": "python peer (torch.optim.Adam)", "epochs": epochs, "seconds": seconds,
            "epoch_seconds": seconds, "rows": rows, "optimizer": "torch.optim.Adam",
            "epoch_times": epoch_times(rows)}


def gpu_name():
    try:
        return subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total",
                               "--format=csv,noheader"], capture_output=True, text=True,
                              check=True).stdout.strip().splitlines()[0]
    except (OSError, subprocess.CalledProcessError, IndexError):
        return "unknown GPU"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default=os.path.join(ROOT, "build-cuda/bin/l2sweep"))
    parser.add_argument("--python", default=sys.executable, help="Python with CUDA PyTorch")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--slow-epochs", type=int, default=3)
    parser.add_argument("--l2", default="0.0001,0.001,0.01")
    parser.add_argument("--train-size", type=int, default=None)
    parser.add_argument("--data-dir", default=DATA)
    parser.add_argument("--skip-peer", action="store_true")
    parser.add_argument("--skip-grid", action="store_true")
    parser.add_argument("--work", help="keep every run's output folder here (default: a "
                        "temporary folder, removed at the end)")
    parser.add_argument("--device", default="cuda",
                        help="cuda (the benchmark); cpu only to smoke-test this script")
    parser.add_argument("--table", help="also write the report (the table and the targets) "
                        "into this file")
    args = parser.parse_args()
    strengths = len(args.l2.split(","))
    examples = args.train_size or TRAIN_EXAMPLES
    full_steps = strengths * steps_per_run(examples, args.epochs)
    slow = min(args.slow_epochs, args.epochs)

    heading = (f"gpu_bench: {gpu_name()}; {strengths} strengths x {args.epochs} epochs x "
               f"{examples} examples, batch {BATCH}: {full_steps} optimizer steps")
    print(heading, flush=True)
    failures = []

    def attempt(run, *run_args):
        """One path; None (and a failure noted) when it fails, so the others still run."""
        try:
            return run(*run_args)
        except SystemExit as error:
            print(error, flush=True)
            failures.append(str(error))
            return None

    with tempfile.TemporaryDirectory(prefix="l2sweep-gpu-bench-") as temporary:
        work = args.work or temporary
        os.makedirs(work, exist_ok=True)
        # Twice, each a process of its own: the first after nothing ran on the GPU, the
        # second with the driver's caches warm; the ratios use the second.
        first = attempt(run_l2sweep, args, "l2sweep graphs, first", [], args.epochs, work)
        graph = attempt(run_l2sweep, args, "l2sweep graphs, again", [], args.epochs, work)
        results = [r for r in (first, graph) if r is not None]
        grid = None
        if not args.skip_grid:
            grid_args = argparse.Namespace(**vars(args))
            grid_args.l2 = GRID
            grid = attempt(run_l2sweep, grid_args, "l2sweep grid", [], args.epochs, work)
        for name, extra in (("l2sweep tensor, no graph", ["--engine", "tensor",
                                                          "--cuda-graphs", "off"]),
                            ("l2sweep autograd (--cuda-graphs off)", ["--cuda-graphs", "off"])):
            results.append(attempt(run_l2sweep, args, name, extra, slow, work))
        peer = None if args.skip_peer else attempt(run_peer, args, slow, work)
        results = [r for r in results + [peer] if r is not None]
        for r in results + ([grid] if grid else []):
            print(f"  {r['name']}: {r['seconds']:.2f} s for {r['epochs']} epochs", flush=True)

    report = [heading, ""]
    report.append("| path | epochs run | training s | of which epochs | epoch 1 s | "
                  "later epochs s | us per step | full sweep s (projected) | peer / this |")
    report.append("|---|---|---|---|---|---|---|---|---|")
    projected = {}
    for r in results:
        steps = strengths * steps_per_run(examples, r["epochs"])
        per_step = r["seconds"] / steps
        projected[r["name"]] = per_step * full_steps
        ratio = ""
        if peer is not None:
            ratio = f"{peer['seconds'] / strengths / steps_per_run(examples, peer['epochs']) / per_step:.1f}x"
        first_epoch, later_epochs = r["epoch_times"]
        later_text = "" if later_epochs is None else f"{later_epochs:.3f}"
        report.append(f"| {r['name']} | {r['epochs']} | {r['seconds']:.2f} | "
                      f"{r['epoch_seconds']:.2f} | {first_epoch:.3f} | {later_text} | "
                      f"{per_step * 1e6:.1f} | {projected[r['name']]:.2f} | {ratio} |")
    report.append("(training s: l2sweep's sweep_seconds, checkpoints and output files included, or the "
          "peer's summed epochs; of which epochs: the slowest run's epochs, training and "
          "validation only)")

    if graph is None:
        report.append("\nno parity, targets or ratios: the graph path's second sweep failed")
    else:
        report.append(f"\nparity at epoch {slow} (the graph path against each; val_accuracy and val_loss):")
        reference = at_epoch(graph["rows"], slow)
        for r in (r for r in results if r is not graph):
            other = at_epoch(r["rows"], slow)
            worst_acc = max(abs(reference[l2]["val_accuracy"] - other[l2]["val_accuracy"])
                            for l2 in reference)
            worst_loss = max(abs(reference[l2]["val_loss"] - other[l2]["val_loss"]) for l2 in reference)
            report.append(f"  {r['name']}: max |d val_accuracy| {worst_acc:.4f}, "
                  f"max |d val_loss| {worst_loss:.4f}")

        cpu_csv = os.path.join(ROOT, "docs/results/default-seed0/metrics.csv")
        spread_json = os.path.join(ROOT, "docs/results/seeds3-control/summary.json")
        if args.epochs == 15 and not args.train_size and os.path.exists(cpu_csv):
            cpu = at_epoch(read_csv(cpu_csv), 15)
            spread = {}
            if os.path.exists(spread_json):
                with open(spread_json) as f:
                    for s in json.load(f)["strengths"]:
                        spread[s["l2"]] = s["val_accuracy"]["std"]
            report.append("\nfinal epoch, graph path (GPU) against the committed CPU run (seed 0):")
            final = at_epoch(graph["rows"], 15)
            for l2 in sorted(final):
                if l2 not in cpu:
                    continue
                d = final[l2]["val_accuracy"] - cpu[l2]["val_accuracy"]
                std = spread.get(l2)
                report.append(f"  l2 {l2:g}: val_accuracy GPU {final[l2]['val_accuracy']:.4f} "
                      f"CPU {cpu[l2]['val_accuracy']:.4f} (diff {d:+.4f}; CPU seed std "
                      f"{std if std is None else f'{std:.4f}'})")
        report.append(f"\nsweep training time: graphs {graph['seconds']:.2f} s, steady state (the first: "
                      f"{first['seconds'] if first else float('nan'):.2f} s) (target <= 1 s)")
        if peer is not None:
            ratio = projected[peer["name"]] / graph["seconds"]
            report.append(f"  peer {projected[peer['name']]:.1f} s projected; ratio {ratio:.1f}x "
                  f"(target >= 60x)")
        if grid is not None:
            report.append(f"  12-strength grid {grid['seconds']:.2f} s = {grid['seconds'] / graph['seconds']:.2f}x "
                  f"the default sweep (target <= 1.5x)")
            def numbers(rows):
                return {row["l2"]: {k: v for k, v in row.items() if k != "epoch_seconds"}
                        for row in rows if int(row["epoch"]) == args.epochs}
            alone, in_grid = numbers(graph["rows"]), numbers(grid["rows"])
            same = sum(1 for l2 in alone if in_grid.get(l2) == alone[l2])
            report.append(f"  strengths in both sweeps: {same} of {len(alone)} final rows bit-identical in a "
                  f"cohort of {strengths} and one of 12 (cuBLAS may pick other kernels for other "
                  f"batch counts)")
    for failure in failures:
        report.append(f"FAILED: {failure}")
    text = "\n".join(report) + "\n"
    print("\n" + text, end="")
    if args.table:
        with open(args.table, "w") as f:
            f.write(text)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

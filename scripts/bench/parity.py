#!/usr/bin/env python3
"""The GPU check's parity matrix: the same small sweeps along every path, compared per column.

usage: python3 scripts/bench/parity.py --binary build-cuda/bin/l2sweep --data-dir DIR
           --work DIR --csv parity.csv [--device cuda] [--train-size 5000] [--epochs 2]

Each row compares two sweeps of the same runs (every epoch of every run, by setting and seed)
and gives the largest absolute difference per metrics.csv column:
  - CUDA graphs on against off (the tensor engine on the device): expected the same bits;
  - the tensor engine on the device against the fused CPU engine: expected within the
    tolerance below (float rounding in other kernels, grown over the epochs' steps);
  - both with --adam torch and with --adam keras;
  - --dropout 0,0.5 --weight-decay 0,1 on the device against the fused CPU engine;
  - --jobs 2 --seeds 2 against --jobs 1 --seeds 2 on the device: expected the same bits
    (a run's numbers do not depend on the jobs it ran beside).
With --device cpu (scripts/device_check.sh --smoke), "the device" is the CPU: the script is
checked, not the GPU. Exit 1 when a row misses its expectation or a sweep fails.
"""
import argparse
import csv
import math
import os
import subprocess
import sys

COLUMNS = ("loss", "accuracy", "val_loss", "val_accuracy", "data_loss", "val_data_loss",
           "w1_norm")
KEY = ("l2", "dropout", "weight_decay", "seed", "epoch")
# GPU against CPU: accuracies within 1 point, losses and ||W1|| within 1% (float rounding of
# other kernels, compounded over 2 epochs of 157 Adam steps; a wrong update is far larger).
TOLERANCE = {"accuracy": 0.01, "val_accuracy": 0.01}
RELATIVE = 0.01


def sweep(args, name, extra):
    """Runs one sweep into WORK/NAME; its metrics.csv rows by run and epoch, or None."""
    out = os.path.join(args.work, name)
    command = [args.binary, "--data-dir", args.data_dir, "--train-size", str(args.train_size),
               "--epochs", str(args.epochs), "--l2", "0,0.001", "--quiet", "--out", out] + extra
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        print(f"parity: {name} timed out after {args.timeout} s", flush=True)
        return None
    if result.returncode != 0:
        print(f"parity: {name} failed (exit {result.returncode}): {result.stderr.strip()}",
              flush=True)
        return None
    with open(os.path.join(out, "metrics.csv"), newline="") as f:
        return {tuple(row[k] for k in KEY): row for row in csv.DictReader(f)}


def compare(a, b):
    """The largest |a - b| per column over the rows both have (inf where one side is not a
    number and the other differs), whether they have the same rows, and whether every value
    is written the same (metrics.csv writes the shortest text that reads back to the same
    float, so equal text is equal bits)."""
    worst = {column: 0.0 for column in COLUMNS}
    same_text = True
    for key in a.keys() & b.keys():
        for column in COLUMNS:
            x, y = a[key][column], b[key][column]
            same_text = same_text and x == y
            difference = abs(float(x) - float(y))
            if math.isnan(difference):
                difference = 0.0 if x == y else math.inf
            worst[column] = max(worst[column], difference)
    return worst, a.keys() == b.keys(), same_text


def within(worst, reference):
    """Whether every column is within TOLERANCE (absolute) or RELATIVE of the reference."""
    scale = {column: max(abs(float(row[column])) for row in reference.values())
             for column in COLUMNS}
    # A NaN scale or difference fails the comparison (NaN <= x is false).
    return all(worst[c] <= TOLERANCE.get(c, RELATIVE * scale[c]) for c in COLUMNS)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--csv", required=True, help="the table's file")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--train-size", type=int, default=5000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--timeout", type=int, default=60, help="seconds per sweep")
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    device = ["--device", args.device, "--engine", "tensor"]
    cpu = ["--device", "cpu", "--engine", "fused"]
    cases = []
    for adam in ("torch", "keras"):
        a = ["--adam", adam]
        cases.append((f"graphs on vs off, adam {adam}", "same bits",
                      (f"graphs-{adam}", device + a + ["--cuda-graphs", "on"]),
                      (f"eager-{adam}", device + a + ["--cuda-graphs", "off"])))
        cases.append((f"{args.device} tensor vs cpu fused, adam {adam}", "within tolerance",
                      (f"graphs-{adam}", device + a + ["--cuda-graphs", "on"]),
                      (f"cpu-{adam}", cpu + a)))
    regularisers = ["--dropout", "0,0.5", "--weight-decay", "0,1"]
    cases.append(("dropout 0,0.5 x weight decay 0,1: device vs cpu", "within tolerance",
                  ("regularisers-device", device + regularisers),
                  ("regularisers-cpu", cpu + regularisers)))
    cases.append(("--jobs 2 vs --jobs 1, --seeds 2, device", "same bits",
                  ("jobs2", device + ["--jobs", "2", "--seeds", "2"]),
                  ("jobs1", device + ["--jobs", "1", "--seeds", "2"])))

    swept, failed = {}, 0
    with open(args.csv, "w", newline="") as f:
        table = csv.writer(f)
        table.writerow(["comparison", "expected"] + [f"max |d {c}|" for c in COLUMNS] +
                       ["verdict"])
        for label, expected, (name_a, extra_a), (name_b, extra_b) in cases:
            for name, extra in ((name_a, extra_a), (name_b, extra_b)):
                if name not in swept:
                    swept[name] = sweep(args, name, extra)
            a, b = swept[name_a], swept[name_b]
            if a is None or b is None:
                table.writerow([label, expected] + [""] * len(COLUMNS) + ["sweep failed"])
                f.flush()
                failed += 1
                continue
            worst, same_rows, same_text = compare(a, b)
            if expected == "same bits":
                ok = same_rows and same_text
            else:
                ok = same_rows and within(worst, b)
            failed += not ok
            verdict = "ok" if ok else ("MISSING ROWS" if not same_rows else "OUTSIDE")
            table.writerow([label, expected] + [f"{worst[c]:.3g}" for c in COLUMNS] + [verdict])
            f.flush()  # a kill at the step's limit keeps the rows so far
            print(f"parity: {label}: {verdict} (max |d val_accuracy| "
                  f"{worst['val_accuracy']:.3g}, |d loss| {worst['loss']:.3g})", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Checks OUT/tensorboard with the real `tensorboard` package against OUT/metrics.csv.

usage: python3 scripts/check_tensorboard.py OUT [--l2sweep BIN]
(BIN: the l2sweep whose `--list-metrics --json` names the tags; default $L2SWEEP_BIN or
build/bin/l2sweep)

Every run folder OUT/tensorboard/<run>/{train,validation} (the run's name, e.g.
l2-0.001_seed-0 or l2-0_dropout-0.5_wd-1_seed-2) is loaded with TensorBoard's own
EventAccumulator. This is the reader behind `tensorboard --logdir`, and it verifies record
framing as it reads. The script then checks that every scalar equals the matching
metrics.csv value rounded to float32, at step = epoch - 1 (Keras' convention), that no epoch
is missing or extra (NaN matches NaN: a diverged run logs it), and that W1's histogram
(dense/kernel/histogram, in train) is there at every epoch whose W1 was finite, counts every
weight of W1 once and has sqrt(sum of squares) = w1_norm. Exit code 0 when everything matches, 1 on a
mismatch, 2 when the tensorboard package is missing.

The tensorboard package is not in Debian 12; the GPU machine's Python has it, or use
`pip install tensorboard` anywhere pip works.
"""
import csv
import json
import math
import os
import struct
import sys

import l2sweep_metrics

try:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
except ImportError:
    print("error: the tensorboard Python package is not installed", file=sys.stderr)
    sys.exit(2)

HIDDEN_UNITS = 128  # the seed's Dense(128): W1 has image pixels x 128 weights


def run_name(row):
    """The run's folder, as l2sweep names it: every setting but zeros, then the seed (the CSV
    spells the numbers as the name does)."""
    name = "l2-" + row["l2"]
    if float(row.get("dropout", "0")) != 0:
        name += "_dropout-" + row["dropout"]
    if float(row.get("weight_decay", "0")) != 0:
        name += "_wd-" + row["weight_decay"]
    return name + "_seed-" + row["seed"]


def float32(value):
    return struct.unpack("f", struct.pack("f", value))[0]


def main():
    if len(sys.argv) not in (2, 4) or (len(sys.argv) == 4 and sys.argv[2] != "--l2sweep"):
        print("usage: check_tensorboard.py OUT [--l2sweep BIN]", file=sys.stderr)
        return 2
    out = sys.argv[1]
    # The tags and columns from the binary's own tables (l2sweep --list-metrics --json).
    listing = l2sweep_metrics.metric_listing(sys.argv[3] if len(sys.argv) == 4 else None)
    columns = l2sweep_metrics.tensorboard_columns(listing)
    TRAIN, VALIDATION = columns["train"], columns["validation"]
    HISTOGRAM = l2sweep_metrics.histogram_tags(listing)["train"]
    with open(os.path.join(out, "metrics.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    with open(os.path.join(out, "summary.json")) as f:
        weights = math.prod(json.load(f)["dataset"]["image_shape"]) * HIDDEN_UNITS
    expected = {}
    for row in rows:
        expected.setdefault(run_name(row), {})[int(row["epoch"]) - 1] = row
    root = os.path.join(out, "tensorboard")
    problems, checked, runs, histograms = [], 0, 0, 0
    for name in sorted(os.listdir(root)):
        if not os.path.isdir(os.path.join(root, name)):
            continue
        runs += 1
        epochs = expected.pop(name, None)
        if epochs is None:
            problems.append(f"{name}: no rows in metrics.csv")
            continue
        columns = set(next(iter(epochs.values())).keys())
        for writer, tags in (("train", TRAIN), ("validation", VALIDATION)):
            accumulator = EventAccumulator(os.path.join(root, name, writer),
                                           size_guidance={"scalars": 0, "histograms": 0})
            accumulator.Reload()
            present = set(accumulator.Tags().get("scalars", []))
            if writer == "train" and "w1_small" in columns:  # written since histograms were
                # One per epoch whose W1 was finite and measured (epochs restored from a sweep
                # begun before the statistics existed have none, nor has a diverged W1).
                measured = sorted(step for step, row in epochs.items()
                                  if math.isfinite(float(row["w1_norm"]))
                                  and math.isfinite(float(row["w1_small"])))
                if HISTOGRAM not in accumulator.Tags().get("histograms", []):
                    if measured:
                        problems.append(f"{name}/train: no {HISTOGRAM}")
                else:
                    events = accumulator.Histograms(HISTOGRAM)
                    if sorted(e.step for e in events) != measured:
                        problems.append(f"{name}/train/{HISTOGRAM}: steps "
                                        f"{sorted(e.step for e in events)}, expected {measured}")
                    for event in events:
                        h = event.histogram_value
                        norm = float(epochs[event.step]["w1_norm"]) if event.step in epochs else 0
                        histograms += 1
                        if (sum(h.bucket) != h.num or h.num != weights or h.bucket_limit[-1] != h.max
                                or abs(h.sum_squares ** 0.5 - norm) > 1e-4 * max(norm, 1e-12)):
                            problems.append(f"{name}/train/{HISTOGRAM} step {event.step}: "
                                            f"num {h.num}, counts {sum(h.bucket)}, "
                                            f"sqrt(sum_squares) {h.sum_squares ** 0.5} "
                                            f"against w1_norm {norm}")
            for tag, column in tags.items():
                if column not in columns:  # a metrics.csv from before that metric existed
                    continue
                if tag not in present:
                    problems.append(f"{name}/{writer}: tag {tag} missing")
                    continue
                events = accumulator.Scalars(tag)
                steps = [event.step for event in events]
                if sorted(steps) != sorted(epochs):
                    problems.append(f"{name}/{writer}/{tag}: steps {steps}, expected {sorted(epochs)}")
                for event in events:
                    row = epochs.get(event.step)
                    if row is None:
                        continue
                    want = float32(float(row[column]))
                    checked += 1
                    if event.value != want and not (math.isnan(event.value) and math.isnan(want)):
                        problems.append(f"{name}/{writer}/{tag} step {event.step}: "
                                        f"{event.value!r} != metrics.csv {column} {want!r}")
    for name in expected:
        problems.append(f"run {name} has rows in metrics.csv but no TensorBoard folder")
    for problem in problems[:50]:
        print("MISMATCH:", problem)
    print(f"check_tensorboard: {runs} runs, {checked} scalars and {histograms} histograms "
          f"compared, {len(problems)} problem(s)")
    return 1 if problems or checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Checks OUT/tensorboard with the real `tensorboard` package against OUT/metrics.csv.

usage: python3 scripts/check_tensorboard.py OUT

Every run folder OUT/tensorboard/l2-<l2>_seed-<seed>/{train,validation} is loaded with
TensorBoard's own EventAccumulator. This is the reader behind `tensorboard --logdir`, and it
verifies record framing as it reads. The script then checks that every scalar equals the
matching metrics.csv value rounded to float32, at step = epoch - 1 (Keras' convention),
and that no epoch is missing or extra. Exit code 0 when everything matches, 1 on a
mismatch, 2 when the tensorboard package is missing.

The tensorboard package is not in Debian 12; the GPU machine's Python has it, or use
`pip install tensorboard` anywhere pip works.
"""
import csv
import os
import re
import struct
import sys

try:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
except ImportError:
    print("error: the tensorboard Python package is not installed", file=sys.stderr)
    sys.exit(2)

TRAIN = {"epoch_loss": "loss", "epoch_accuracy": "accuracy", "epoch_data_loss": "data_loss",
         "epoch_penalty": "penalty", "w1_norm": "w1_norm"}
VALIDATION = {"epoch_loss": "val_loss", "epoch_accuracy": "val_accuracy",
              "epoch_data_loss": "val_data_loss"}
RUN_FOLDER = re.compile(r"^l2-(?P<l2>[^_]+)_seed-(?P<seed>\d+)$")


def float32(value):
    return struct.unpack("f", struct.pack("f", value))[0]


def main():
    if len(sys.argv) != 2:
        print("usage: check_tensorboard.py OUT", file=sys.stderr)
        return 2
    out = sys.argv[1]
    with open(os.path.join(out, "metrics.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    expected = {}
    for row in rows:
        expected.setdefault((float(row["l2"]), int(row["seed"])), {})[int(row["epoch"]) - 1] = row
    root = os.path.join(out, "tensorboard")
    problems, checked, runs = [], 0, 0
    for name in sorted(os.listdir(root)):
        match = RUN_FOLDER.match(name)
        if not match or not os.path.isdir(os.path.join(root, name)):
            continue
        runs += 1
        key = (float(match["l2"]), int(match["seed"]))
        epochs = expected.pop(key, None)
        if epochs is None:
            problems.append(f"{name}: no rows in metrics.csv")
            continue
        for writer, tags in (("train", TRAIN), ("validation", VALIDATION)):
            accumulator = EventAccumulator(os.path.join(root, name, writer),
                                           size_guidance={"scalars": 0})
            accumulator.Reload()
            present = set(accumulator.Tags().get("scalars", []))
            for tag, column in tags.items():
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
                    if event.value != want:
                        problems.append(f"{name}/{writer}/{tag} step {event.step}: "
                                        f"{event.value!r} != metrics.csv {column} {want!r}")
    for key in expected:
        problems.append(f"run l2={key[0]} seed={key[1]} has rows in metrics.csv but no TensorBoard folder")
    for problem in problems[:50]:
        print("MISMATCH:", problem)
    print(f"check_tensorboard: {runs} runs, {checked} scalars compared, {len(problems)} problem(s)")
    return 1 if problems or checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""The compute floors of a training step and its parts, measured on this machine.

The floor of a step is its five matrix products alone. For a batch of B examples with D
inputs, H hidden units and C classes, one step needs X[B,D] @ W1^T, H[B,H] @ W2^T (forward),
and dW2 = dZ^T H, dH = dZ W2, dW1 = dH^T X (backward; the input gradient is never needed).
The products are timed on one thread into preallocated outputs, with the same LibTorch and
BLAS as l2sweep. The Python cost of issuing five calls, measured with 1x1 products, is
subtracted.

With --parts, also the floors of the step's other parts, as a JSON line after the first:
  bandwidth_gbs      memory bandwidth of a streaming add over a working set the size of three
                     members' Adam state (the floor of Adam: 7 floats moved per parameter)
  eval_us_per_example  the forward products alone, per example, in chunks of 1024
  read_seconds       reading the dataset's IDX files into memory (the floor of start-up)

usage: /usr/bin/python3 scripts/bench/floor.py [--batch 32] [--steps 5000] [--parts]
prints: floor_ms_per_step=<float> ... [then one JSON line with --parts]
"""
import argparse
import glob
import json
import os
import time

import torch

DATA = "/usr/share/datasets/fashion-mnist"


def time_products(batch, inputs, hidden, classes, steps):
    x = torch.rand(batch, inputs)
    w1 = torch.rand(hidden, inputs)
    w2 = torch.rand(classes, hidden)
    h = torch.empty(batch, hidden)
    z = torch.empty(batch, classes)
    dz = torch.rand(batch, classes)
    dh = torch.empty(batch, hidden)
    dw1 = torch.empty(hidden, inputs)
    dw2 = torch.empty(classes, hidden)
    w1t, w2t, dzt = w1.t(), w2.t(), dz.t()
    best = float("inf")
    for _ in range(3):  # best of three: the floor, not the noise
        start = time.perf_counter()
        for _ in range(steps):
            torch.mm(x, w1t, out=h)
            torch.mm(h, w2t, out=z)
            torch.mm(dzt, h, out=dw2)
            torch.mm(dz, w2, out=dh)
            torch.mm(dh.t(), x, out=dw1)
        best = min(best, (time.perf_counter() - start) / steps)
    return best


def bandwidth_gbs(parameters=3 * 101770):
    """Bytes per second of c = a + b over arrays of `parameters` floats, best of several."""
    a, b, c = torch.rand(parameters), torch.rand(parameters), torch.empty(parameters)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(200):
            torch.add(a, b, out=c)
        best = min(best, (time.perf_counter() - start) / 200)
    return 3 * 4 * parameters / best / 1e9


def eval_us_per_example(inputs=784, hidden=128, classes=10, chunk=1024):
    x = torch.rand(chunk, inputs)
    w1t, w2t = torch.rand(hidden, inputs).t(), torch.rand(classes, hidden).t()
    h, z = torch.empty(chunk, hidden), torch.empty(chunk, classes)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(20):
            torch.mm(x, w1t, out=h)
            torch.mm(h, w2t, out=z)
        best = min(best, (time.perf_counter() - start) / 20)
    return 1e6 * best / chunk


def read_seconds(folder=DATA):
    files = sorted(glob.glob(os.path.join(folder, "*-ubyte*")))
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for name in files:
            with open(name, "rb") as f:
                f.read()
        best = min(best, time.perf_counter() - start)
    return best if files else 0.0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--parts", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    real = time_products(args.batch, 784, 128, 10, args.steps)
    overhead = time_products(1, 1, 1, 1, args.steps)
    print(f"floor_ms_per_step={1000 * (real - overhead):.4f} "
          f"raw_ms_per_step={1000 * real:.4f} python_overhead_ms={1000 * overhead:.4f}",
          flush=True)
    if args.parts:
        print(json.dumps({"bandwidth_gbs": bandwidth_gbs(),
                          "eval_us_per_example": eval_us_per_example(),
                          "read_seconds": read_seconds()}))


if __name__ == "__main__":
    main()

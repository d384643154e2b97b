#!/usr/bin/env python3
"""An independent PyTorch-Python implementation of the seed experiment with Keras semantics.

Used to check l2sweep's numbers, and as the peer the CPU benchmark (scripts/bench/run.sh)
times l2sweep against: it shares no code with the C++ program. It is written the way a
PyTorch user would write it (data held as tensors, batches indexed from a randperm, no
DataLoader, default thread settings); `--flush-denormal` adds the one-line fix for
denormal slowdowns that a tuned script would have. It reads the IDX
files itself, initialises Dense layers Glorot-uniform with zero biases, adds
l2 * sum(W1^2) to the loss, and by default updates with Keras' own Adam formula (epsilon
added to sqrt(v) before bias correction, "epsilon hat"), which torch.optim.Adam does not
have; `--adam torch` uses torch.optim.Adam(eps=1e-7) instead, the optimizer l2sweep uses.
Epoch metrics follow Keras' History: sample-weighted means of each batch before its update,
validation after the epoch.

Needs Debian's python3-torch (PyTorch 1.13): run it with /usr/bin/python3.

usage: /usr/bin/python3 scripts/bench/keras_peer.py [--l2 0.0001,0.001,0.01]
       [--epochs 15] [--seed 0] [--val-size 10000] [--train-size N] [--data-dir DIR]
       [--adam keras|torch] [--flush-denormal] [--device cpu|cuda] [--csv OUT.csv]

On a GPU (`--device cuda`) the data is moved to the GPU once and the loop is unchanged: the
straightforward PyTorch script, one .item() per metric per step as above.
"""
import argparse
from rows_csv import write_rows_csv  # beside this script
import gzip
import math
import os
import struct
import sys
import time

import torch
import torch.nn.functional as F


def read_idx(directory, name):
    path = os.path.join(directory, name)
    opener = open if os.path.exists(path) else gzip.open
    path = path if os.path.exists(path) else path + ".gz"
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return torch.frombuffer(bytearray(data[4 + 4 * ndim:]), dtype=torch.uint8).reshape(dims)


def load(directory, val_size, train_size):
    x = read_idx(directory, "train-images-idx3-ubyte").float() / 255.0
    y = read_idx(directory, "train-labels-idx1-ubyte").long()
    x_test = read_idx(directory, "t10k-images-idx3-ubyte").float() / 255.0
    y_test = read_idx(directory, "t10k-labels-idx1-ubyte").long()
    n = x.shape[0] - val_size
    n_train = train_size or n
    return (x[:n_train], y[:n_train]), (x[n:], y[n:]), (x_test, y_test)


class KerasAdam:
    """keras/src/optimizers/adam.py, without amsgrad."""

    def __init__(self, params, lr=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
        self.params = list(params)
        self.lr, self.b1, self.b2, self.eps = lr, beta_1, beta_2, epsilon
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]
        self.t = 0

    @torch.no_grad()
    def step(self):
        self.t += 1
        alpha = self.lr * math.sqrt(1 - self.b2 ** self.t) / (1 - self.b1 ** self.t)
        for p, m, v in zip(self.params, self.m, self.v):
            g = p.grad
            m.add_((g - m) * (1 - self.b1))
            v.add_((g * g - v) * (1 - self.b2))
            p.sub_(m * alpha / (v.sqrt() + self.eps))

    def zero_grad(self):
        for p in self.params:
            p.grad = None


def glorot_uniform_(weight, generator):
    fan_out, fan_in = weight.shape
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    with torch.no_grad():
        weight.uniform_(-bound, bound, generator=generator)


def evaluate(model, w1, l2, x, y):
    with torch.no_grad():
        logits = model(x)
        data_loss = F.cross_entropy(logits, y).item()
        penalty = l2 * w1.square().sum().item()
        accuracy = (logits.argmax(1) == y).float().mean().item()
    return data_loss + penalty, data_loss, accuracy


def train_run(l2, args, train, val, test, classes):
    device = torch.device(args.device)
    generator = torch.Generator().manual_seed(args.seed)
    features = train[0][0].numel()
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(features, 128),
                                torch.nn.ReLU(), torch.nn.Linear(128, classes))
    for layer in (model[1], model[3]):
        glorot_uniform_(layer.weight, generator)
        torch.nn.init.zeros_(layer.bias)
    model.to(device)
    w1 = model[1].weight
    if args.adam == "keras":
        optimizer = KerasAdam(model.parameters(), lr=args.lr)
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, eps=1e-7)
    shuffle = torch.Generator().manual_seed(args.seed)
    x, y = train
    n = x.shape[0]
    rows = []
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        order = torch.randperm(n, generator=shuffle).to(device)
        loss_sum = data_sum = correct = 0.0
        for begin in range(0, n, args.batch_size):
            index = order[begin:begin + args.batch_size]
            xb, yb = x[index], y[index]
            logits = model(xb)
            data_loss = F.cross_entropy(logits, yb)
            loss = data_loss + l2 * w1.square().sum()
            loss_sum += loss.item() * len(index)
            data_sum += data_loss.item() * len(index)
            correct += (logits.argmax(1) == yb).sum().item()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        val_loss, val_data_loss, val_accuracy = evaluate(model, w1, l2, *val)
        row = dict(l2=l2, seed=args.seed, epoch=epoch, loss=loss_sum / n, accuracy=correct / n,
                   val_loss=val_loss, val_accuracy=val_accuracy, data_loss=data_sum / n,
                   val_data_loss=val_data_loss, w1_norm=w1.norm().item(),
                   epoch_seconds=time.perf_counter() - start)  # .item() above has synced
        rows.append(row)
        print(f"l2={l2} epoch {epoch}/{args.epochs} loss {row['loss']:.4f} "
              f"accuracy {row['accuracy']:.4f} val_loss {val_loss:.4f} "
              f"val_accuracy {val_accuracy:.4f} w1_norm {row['w1_norm']:.3f} "
              f"{row['epoch_seconds']:.1f}s", flush=True)
    test_loss, _, test_accuracy = evaluate(model, w1, l2, *test)
    print(f"l2={l2} test_loss {test_loss:.4f} test_accuracy {test_accuracy:.4f}", flush=True)
    for row in rows:
        row.update(test_loss=test_loss, test_accuracy=test_accuracy)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--l2", default="0.0001,0.001,0.01")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--val-size", type=int, default=10000)
    parser.add_argument("--train-size", type=int, default=None)
    parser.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--adam", choices=("keras", "torch"), default="keras")
    parser.add_argument("--flush-denormal", action="store_true",
                        help="flush denormal floats to zero (torch.set_flush_denormal)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--csv", help="write every epoch's metrics here")
    args = parser.parse_args()
    torch.set_flush_denormal(args.flush_denormal)
    train, val, test = load(args.data_dir, args.val_size, args.train_size)
    train, val, test = ((x.to(args.device), y.to(args.device)) for x, y in (train, val, test))
    classes = int(train[1].max()) + 1
    rows = []
    for l2 in (float(v) for v in args.l2.split(",")):
        rows += train_run(l2, args, train, val, test, classes)
    if args.csv:
        write_rows_csv(args.csv, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())

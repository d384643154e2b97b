"""The seed experiment's own Keras script, as the user ran it, timed for the CPU benchmark.

The model, compile and fit calls are the seed's (../shared/seed), unchanged: Keras' default
Adam, batch 32, verbose=0, validation_data = the last 10,000 training images. Two things
differ, both outside the timed fit: the images come from the IDX files on disk (there is no
network at run time) rather than keras.datasets.fashion_mnist.load_data(), and a callback
records each epoch's metrics and wall time. Keras' `loss` includes the L2 penalty, as
l2sweep's does.

Like the seed script it sets no seed by default, so fit(shuffle=True) draws a new batch order
every epoch (l2sweep's default --shuffle each-epoch). --seed N calls
keras.utils.set_random_seed(N) first, after which Keras 3 on TensorFlow replays the first
epoch's order every epoch (l2sweep's --shuffle once; docs/keras-data-order.md). It prints
which, and the CSV's `seeding` column records it.

Needs tensorflow-cpu and keras in a virtual environment (scripts/bench/run.sh installs them
into .venv-bench/ unless given --skip-keras).

usage: .venv-bench/bin/python scripts/bench/keras_seed.py [--l2 0.0001,0.001,0.01]
       [--epochs 15] [--val-size 10000] [--train-size N] [--data-dir DIR] [--csv OUT.csv]
       [--seed N]
"""
import argparse
from rows_csv import write_rows_csv  # beside this script
import gzip
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np  # noqa: E402
import keras  # noqa: E402
from keras import callbacks, layers, models, regularizers  # noqa: E402


def read_idx(directory, name):
    path = os.path.join(directory, name)
    opener = open if os.path.exists(path) else gzip.open
    path = path if os.path.exists(path) else path + ".gz"
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def seed_splits(data_dir, val_size, train_size=None):
    """The seed's data: pixels / 255, validation_data the last `val_size` training images, the
    first `train_size` (default: all the others) to train on."""
    images = read_idx(data_dir, "train-images-idx3-ubyte") / 255.0
    labels = read_idx(data_dir, "train-labels-idx1-ubyte")
    n = images.shape[0] - val_size
    return images[:train_size or n], labels[:train_size or n], images[n:], labels[n:]


def seed_test(data_dir):
    """The seed's test set: the t10k images / 255 and their labels."""
    return read_idx(data_dir, "t10k-images-idx3-ubyte") / 255.0, \
        read_idx(data_dir, "t10k-labels-idx1-ubyte")


def seed_model(l2v):
    """The seed's model, compiled as the seed compiles it."""
    model = models.Sequential([
        layers.Input(shape=(28, 28)),  # Keras 3 spelling of Flatten(input_shape=...)
        layers.Flatten(),
        layers.Dense(128, activation="relu", kernel_regularizer=regularizers.l2(l2v)),
        layers.Dense(10, activation="softmax")
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


class EpochLog(callbacks.Callback):
    def __init__(self, l2, rows, seeding):
        super().__init__()
        self.l2, self.rows, self.seeding = l2, rows, seeding

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self.start
        self.rows.append(dict(l2=self.l2, epoch=epoch + 1, loss=logs["loss"],
                              accuracy=logs["accuracy"], val_loss=logs["val_loss"],
                              val_accuracy=logs["val_accuracy"],
                              w1_norm=float(np.linalg.norm(self.model.layers[1].kernel.numpy())),
                              epoch_seconds=seconds, seeding=self.seeding))
        print(f"l2={self.l2} epoch {epoch + 1} loss {logs['loss']:.4f} "
              f"val_accuracy {logs['val_accuracy']:.4f} {seconds:.1f}s", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--l2", default="0.0001,0.001,0.01")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--val-size", type=int, default=10000)
    parser.add_argument("--train-size", type=int, default=None)
    parser.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--csv", help="write every epoch's metrics here")
    parser.add_argument("--seed", type=int, default=None,
                        help="call keras.utils.set_random_seed(N) first (default: unseeded, "
                             "as the seed script)")
    args = parser.parse_args()
    seeding = "unseeded" if args.seed is None else f"set_random_seed({args.seed})"
    print(f"Keras seed script, {seeding}: " + (
        "a new batch order every epoch (l2sweep --shuffle each-epoch)" if args.seed is None
        else "one batch order replayed every epoch (l2sweep --shuffle once)"), flush=True)
    if args.seed is not None:
        keras.utils.set_random_seed(args.seed)

    x_train, y_train, x_val, y_val = seed_splits(args.data_dir, args.val_size, args.train_size)

    rows = []
    l2_values = [float(v) for v in args.l2.split(",")]
    for l2v in l2_values:  # the seed's loop, as written
        model = seed_model(l2v)
        model.fit(x_train, y_train, epochs=args.epochs, validation_data=(x_val, y_val),
                  verbose=0, callbacks=[EpochLog(l2v, rows, seeding)])
    if args.csv:
        write_rows_csv(args.csv, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())

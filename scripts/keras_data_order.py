"""Which batch order Keras' fit(shuffle=True) gives each epoch, seeded and unseeded.

The experiment behind l2sweep's --shuffle (docs/keras-data-order.md): a linear softmax model
(Flatten -> Dense(10, softmax)) trained by fit(shuffle=True, batch_size=32) with learning
rate 0, so its weights never move and each batch's loss depends only on which examples the
batch holds. Two epochs whose per-batch loss sequences are identical saw the same batches in
the same order. Each variant runs in a fresh Python process, so that nothing seeded in one
leaks into the other:

  unseeded  the seed script as written (no seed anywhere)
  seeded    keras.utils.set_random_seed(0) first, as reproducible scripts do

and, beside them, l2sweep's own orders (build/bin/l2sweep_trace --epochs 3) under
--shuffle each-epoch and --shuffle once.

  .venv-bench/bin/python scripts/keras_data_order.py [--epochs 3] [--train-size 2048]
      [--trace build/bin/l2sweep_trace] [--json OUT.json]

Prints one line per variant and exits 0; the JSON holds the per-epoch comparisons and the
Keras and TensorFlow versions.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def probe(variant, epochs, train_size, data_dir):
    """Runs in its own process: the per-batch losses of each epoch of a learning-rate-0 fit."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, os.path.join(HERE, "bench"))
    import keras
    import tensorflow as tf
    from keras import callbacks, layers, models, optimizers
    from keras_seed import seed_splits

    if variant == "seeded":
        keras.utils.set_random_seed(0)
    x, y, _, _ = seed_splits(data_dir, 10000, train_size)
    model = models.Sequential([layers.Input(shape=(28, 28)), layers.Flatten(),
                               layers.Dense(10, activation="softmax")])
    model.compile(optimizer=optimizers.Adam(learning_rate=0.0),
                  loss="sparse_categorical_crossentropy")

    class BatchLosses(callbacks.Callback):
        """Keras 3 logs the epoch's running mean after each batch; each batch's own loss is
        recovered from consecutive means (every batch holds 32 examples here)."""
        def __init__(self):
            super().__init__()
            self.epochs = []

        def on_epoch_begin(self, epoch, logs=None):
            self.means = []

        def on_train_batch_end(self, batch, logs=None):
            self.means.append(float(logs["loss"]))

        def on_epoch_end(self, epoch, logs=None):
            means = np.array(self.means, dtype=np.float64)
            k = np.arange(1, len(means) + 1)
            self.epochs.append((k * means - (k - 1) * np.concatenate([[0.0], means[:-1]])).tolist())

    record = BatchLosses()
    model.fit(x, y, epochs=epochs, batch_size=32, shuffle=True, verbose=0, callbacks=[record])
    return {"keras": keras.__version__, "tensorflow": tf.__version__, "epochs": record.epochs}


def summarise(epochs):
    """How each later epoch's batches compare with the first's."""
    first = np.array(epochs[0])
    rows = []
    for e, losses in enumerate(epochs[1:], start=2):
        same = np.isclose(np.array(losses), first, rtol=1e-6, atol=1e-7)
        rows.append({"epoch": e, "batches": len(first), "same_as_epoch_1": int(same.sum()),
                     "first_differing_batch": None if same.all() else int(np.argmin(same)) + 1})
    return rows


def keras_epochs(variant, epochs, train_size, data_dir):
    """probe(variant) in a fresh Python process: {keras, tensorflow, epochs: per-batch losses}."""
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--probe", variant,
                          "--epochs", str(epochs), "--train-size", str(train_size),
                          "--data-dir", data_dir],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train-size", type=int, default=2048, help="a multiple of 32")
    parser.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--trace", default=os.path.join(os.path.dirname(HERE), "build", "bin",
                                                        "l2sweep_trace"))
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--probe", choices=("seeded", "unseeded"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.train_size % 32 != 0 or args.epochs < 2:
        parser.error("--train-size must be a multiple of 32 and --epochs at least 2")
    if args.probe:  # the child process
        json.dump(probe(args.probe, args.epochs, args.train_size, args.data_dir), sys.stdout)
        return 0

    results = {"train_size": args.train_size, "batch_size": 32, "learning_rate": 0.0}
    replays = {}
    for variant in ("unseeded", "seeded"):
        child = keras_epochs(variant, args.epochs, args.train_size, args.data_dir)
        results["keras"], results["tensorflow"] = child["keras"], child["tensorflow"]
        rows = summarise(child["epochs"])
        replays[variant] = all(r["first_differing_batch"] is None for r in rows)
        results[f"keras_{variant}"] = {"per_epoch": rows, "replays_one_order": replays[variant],
                                       "epoch_1_first_losses": child["epochs"][0][:4]}
        described = "replays epoch 1's batches every epoch" if replays[variant] else \
            "draws new batches every epoch"
        detail = ", ".join(f"epoch {r['epoch']}: {r['same_as_epoch_1']}/{r['batches']} batches "
                           f"as epoch 1" for r in rows)
        print(f"Keras fit, {variant:8}: {described} ({detail})", flush=True)

    if os.access(args.trace, os.X_OK):
        with tempfile.TemporaryDirectory(prefix="l2sweep-order-") as tmp:
            for shuffle in ("each-epoch", "once"):
                folder = os.path.join(tmp, shuffle)
                subprocess.run([args.trace, "--out", folder, "--data-dir", args.data_dir,
                                "--train-size", str(args.train_size), "--epochs",
                                str(args.epochs), "--shuffle", shuffle],
                               check=True, capture_output=True)
                orders = np.fromfile(os.path.join(folder, "order.i64"), np.int64).reshape(
                    args.epochs, -1)
                same = [bool((orders[e] == orders[0]).all()) for e in range(1, args.epochs)]
                results[f"l2sweep_{shuffle}"] = {"epochs_in_epoch_1_order": same}
                described = "replays epoch 1's order every epoch" if all(same) else \
                    "draws a new order every epoch"
                print(f"l2sweep --shuffle {shuffle:10}: {described}", flush=True)
    else:
        print(f"(no {args.trace}: l2sweep's side skipped)")
    print(f"Keras {results['keras']}, TensorFlow {results['tensorflow']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())

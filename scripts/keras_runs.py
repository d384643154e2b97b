"""The seed experiment in real Keras, logged the three ways Keras users keep their runs.

Runs the seed's model (../shared/seed: Flatten -> Dense(128, relu, L2 on the kernel) ->
Dense(10, softmax), Keras' default Adam, batch 32, validation_data = the last --val-size
training images) once per strength and seed, and writes for each run:

  OUT/csv/l2-{l2}_seed-{seed}.csv        keras.callbacks.CSVLogger
  OUT/history/l2-{l2}_seed-{seed}.json   History.history saved with json.dump
  OUT/tensorboard/l2-{l2}_seed-{seed}/   keras.callbacks.TensorBoard (train/, validation/)

These are what `l2sweep compare` reads, e.g.
  l2sweep compare runs/SWEEP --source keras 'OUT/csv/l2-{l2}_seed-{seed}.csv'

The tests' fixtures (tests/fixtures/keras/) come from this script on a tiny slice:
  --train-size 512 --val-size 256 --epochs 3 --l2 0.001,0.01 --seeds 2
The README's comparison from the full experiment: --seeds 3 (about 9 minutes on 2 cores).

Needs tensorflow-cpu and keras (scripts/bench/run.sh installs them into .venv-bench/):
  .venv-bench/bin/python scripts/keras_runs.py --out DIR [options]
"""
import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench"))
import keras  # noqa: E402
from keras import callbacks  # noqa: E402
from keras_seed import seed_model, seed_splits  # noqa: E402  (the benchmark's copy of the seed)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--l2", default="0.0001,0.001,0.01")
    parser.add_argument("--seeds", type=int, default=1, help="seeds 0 .. N-1")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--val-size", type=int, default=10000)
    parser.add_argument("--train-size", type=int, default=None)
    parser.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    args = parser.parse_args()

    x_train, y_train, x_val, y_val = seed_splits(args.data_dir, args.val_size, args.train_size)

    for seed in range(args.seeds):
        for text in args.l2.split(","):
            l2v = float(text)
            name = f"l2-{text}_seed-{seed}"
            keras.utils.set_random_seed(seed)
            model = seed_model(l2v)
            for sub in ("csv", "history", "tensorboard"):
                os.makedirs(os.path.join(args.out, sub), exist_ok=True)
            history = model.fit(
                x_train, y_train, epochs=args.epochs, validation_data=(x_val, y_val), verbose=0,
                callbacks=[
                    callbacks.CSVLogger(os.path.join(args.out, "csv", name + ".csv")),
                    callbacks.TensorBoard(log_dir=os.path.join(args.out, "tensorboard", name),
                                          write_graph=False),
                ])
            with open(os.path.join(args.out, "history", name + ".json"), "w") as f:
                json.dump({k: [float(v) for v in vs] for k, vs in history.history.items()}, f)
            print(f"{name}: val_accuracy {history.history['val_accuracy'][-1]:.4f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

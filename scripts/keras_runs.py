"""The seed experiment in real Keras, logged the three ways Keras users keep their runs.

Runs the seed's model (../shared/seed: Flatten -> Dense(128, relu, L2 on the kernel) ->
Dense(10, softmax), Keras' default Adam, batch 32, validation_data = the last --val-size
training images) once per strength and run, scores each on the test set, and writes:

  OUT/csv/l2-{l2}_seed-{seed}.csv        keras.callbacks.CSVLogger
  OUT/history/l2-{l2}_seed-{seed}.json   History.history saved with json.dump
  OUT/tensorboard/l2-{l2}_seed-{seed}/   keras.callbacks.TensorBoard (train/, validation/)
  OUT/test/l2-{l2}_seed-{seed}.json      model.evaluate on the test set after the last epoch
  OUT/keras_runs.json                    how the runs were made: seeding, versions, sizes

--seeding says how, and must be given, because it changes the numbers:
  none    the seed script as written: nothing is seeded, every epoch of fit(shuffle=True)
          draws a new batch order. {seed} in the names is then only the run's number.
          Its l2sweep peer is the default sweep (--shuffle each-epoch).
  global  keras.utils.set_random_seed(seed) before each run, as reproducible scripts do.
          Keras 3 on TensorFlow then replays the first epoch's batch order in every epoch
          (docs/keras-data-order.md). Its l2sweep peer is --shuffle once.

These are what `l2sweep compare` reads, e.g. for --seeding global:
  l2sweep compare runs/SWEEP --source keras --setup shuffle=once \\
      'OUT/csv/l2-{l2}_seed-{seed}.csv'
and scripts/keras_vs_l2sweep.py tests all five final metrics, test accuracy included.

The tests' fixtures (tests/fixtures/keras/) come from this script on a tiny slice:
  --seeding global --train-size 512 --val-size 256 --epochs 3 --l2 0.001,0.01 --seeds 2
docs/comparing.md's comparison from the full experiment: --seeds 12, once per --seeding (about a
minute a run on 2 cores).

Needs tensorflow-cpu and keras (scripts/bench/run.sh installs them into .venv-bench/):
  .venv-bench/bin/python scripts/keras_runs.py --out DIR --seeding none|global [options]
"""
import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench"))
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import callbacks  # noqa: E402
from keras_seed import seed_model, seed_splits, seed_test  # noqa: E402  (the benchmark's copy)

FORMATS = ("csv", "history", "tensorboard")
SHUFFLE = {"none": "each-epoch", "global": "once"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--seeding", required=True, choices=sorted(SHUFFLE),
                        help="none: the seed script as written; global: "
                             "keras.utils.set_random_seed(seed) before each run")
    parser.add_argument("--l2", default="0.0001,0.001,0.01")
    parser.add_argument("--seeds", type=int, default=1, help="runs (seeds) FIRST .. FIRST+N-1")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--val-size", type=int, default=10000)
    parser.add_argument("--train-size", type=int, default=None)
    parser.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--formats", default=",".join(FORMATS),
                        help="which of csv,history,tensorboard to write (test/ always)")
    args = parser.parse_args()
    formats = args.formats.split(",")
    if not formats or any(f not in FORMATS for f in formats):
        parser.error(f"--formats {args.formats}: expected some of {','.join(FORMATS)}")

    x_train, y_train, x_val, y_val = seed_splits(args.data_dir, args.val_size, args.train_size)
    x_test, y_test = seed_test(args.data_dir)
    for sub in formats + ["test"]:
        os.makedirs(os.path.join(args.out, sub), exist_ok=True)
    record = {
        "seeding": args.seeding,
        "seeded_with": "keras.utils.set_random_seed(seed) before each run"
        if args.seeding == "global" else "nothing: {seed} in the file names is the run's number",
        "data_order": "the first epoch's batch order replayed every epoch (seeded fit)"
        if args.seeding == "global" else "a new batch order every epoch",
        "l2sweep_peer": f"--shuffle {SHUFFLE[args.seeding]}",
        "compare_setup": f"shuffle={SHUFFLE[args.seeding]}",
        "keras": keras.__version__, "tensorflow": tf.__version__,
        "l2": args.l2, "seeds": list(range(args.first_seed, args.first_seed + args.seeds)),
        "epochs": args.epochs, "train_examples": len(x_train), "val_examples": len(x_val),
        "test_examples": len(x_test), "batch_size": 32, "optimizer": "keras Adam defaults",
    }
    # More runs into a folder of the same experiment (e.g. --first-seed 6 after --seeds 6)
    # extend its record; another experiment's folder is refused.
    path = os.path.join(args.out, "keras_runs.json")
    if os.path.exists(path):
        with open(path) as f:
            earlier = json.load(f)
        differing = [k for k in record
                     if k not in ("seeds", "l2") and earlier.get(k) != record[k]]
        if differing:
            parser.error(f"--out {args.out} holds runs made with other {', '.join(differing)}")
        record["seeds"] = sorted(set(earlier["seeds"]) | set(record["seeds"]))
        strengths = earlier["l2"].split(",")
        record["l2"] = ",".join(strengths + [t for t in args.l2.split(",") if t not in strengths])
    with open(path, "w") as f:
        json.dump(record, f, indent=2)
    print(f"seeding {args.seeding}: {record['seeded_with']}; l2sweep peer "
          f"{record['l2sweep_peer']} (Keras {keras.__version__}, TensorFlow {tf.__version__})",
          flush=True)

    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for text in args.l2.split(","):
            l2v = float(text)
            name = f"l2-{text}_seed-{seed}"
            if args.seeding == "global":
                keras.utils.set_random_seed(seed)
            model = seed_model(l2v)
            logs = []
            if "csv" in formats:
                logs.append(callbacks.CSVLogger(os.path.join(args.out, "csv", name + ".csv")))
            if "tensorboard" in formats:
                logs.append(callbacks.TensorBoard(
                    log_dir=os.path.join(args.out, "tensorboard", name), write_graph=False))
            history = model.fit(x_train, y_train, epochs=args.epochs,
                                validation_data=(x_val, y_val), verbose=0, callbacks=logs)
            if "history" in formats:
                with open(os.path.join(args.out, "history", name + ".json"), "w") as f:
                    json.dump({k: [float(v) for v in vs] for k, vs in history.history.items()}, f)
            test_loss, test_accuracy = model.evaluate(x_test, y_test, verbose=0, batch_size=1024)
            with open(os.path.join(args.out, "test", name + ".json"), "w") as f:
                json.dump({"test_loss": float(test_loss), "test_accuracy": float(test_accuracy)},
                          f)
            print(f"{name}: val_accuracy {history.history['val_accuracy'][-1]:.4f} "
                  f"test_accuracy {test_accuracy:.4f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Checks l2sweep's updates against real Keras, step by step, from the same weights and batches.

For each case below, build/bin/l2sweep_trace exports one run's first epoch from l2sweep (its
initial weights, the epoch's batch order and the weights after every step); this script loads
the same weights into the seed's Keras model, feeds Keras the same batches with
train_on_batch, and compares the weights after every step:

  adam      plain Adam (no L2)                         keras.optimizers.Adam
  l2        the seed's l2(1e-3) on the first kernel    Dense(kernel_regularizer=l2(1e-3)), Adam
  adamw     decoupled weight decay 0.5 on that kernel  keras.optimizers.AdamW(weight_decay=0.5)
  combined  L2 1e-3 and weight decay 0.5 together      both

each with l2sweep's `--adam keras` (Keras' own update, which must match) and, as the check's
control, `--adam torch` (torch::optim::Adam's, which must not match as closely: epsilon sits
elsewhere).

Then the data order, through fit() over 2 epochs (the l2 case, `--adam keras`), for each
--shuffle mode: l2sweep_trace --epochs 2 exports both epochs' orders; Keras' fit() trains the
same initial weights on the data in those orders (fit(shuffle=False) per epoch, continuing
with initial_epoch), and the weights after each epoch and fit()'s logged loss and accuracy
must match l2sweep's. And which order fit(shuffle=True) itself gives
(scripts/keras_data_order.py, learning rate 0): seeded with keras.utils.set_random_seed it
must replay epoch 1's batches as --shuffle once replays its order, and unseeded it must draw
new ones as --shuffle each-epoch does. Dropout masks come from different generators in the two, so Dropout(0.5) is
checked as a distribution instead: from the same weights and batches, one epoch under
--mask-seeds different mask streams in l2sweep and as many Keras seeds, both scored by
Keras' model.evaluate on the validation set, compared with Welch's t-test.

Needs tensorflow-cpu and keras (.venv-bench/, installed by scripts/bench/run.sh) and a build:
  .venv-bench/bin/python scripts/keras_check.py [--trace build/bin/l2sweep_trace]
      [--engines fused,autograd] [--train-size 2000] [--mask-seeds 8] [--json OUT.json]
Exits 1 when a `--adam keras` case leaves the tolerance or the Dropout distributions differ.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench"))
import numpy as np  # noqa: E402
import keras  # noqa: E402
from keras import layers, models, optimizers, regularizers  # noqa: E402
from keras_seed import seed_splits  # noqa: E402  (the seed's data, as the benchmark reads it)
from welch import welch  # noqa: E402

CASES = {"adam": (0.0, 0.0), "l2": (1e-3, 0.0), "adamw": (0.0, 0.5), "combined": (1e-3, 0.5)}
# A step matches when every weight is within ATOL + RTOL * |w| of Keras' (float32 rounding of
# differently ordered sums, which Adam turns into a step of up to lr where a gradient is ~0):
# checked on the 99.9th percentile of |difference|, and the largest is reported.
ATOL, RTOL = 2e-6, 1e-4


def split(flat, manifest):
    h, d, c = manifest["hidden_units"], manifest["input_features"], manifest["classes"]
    sizes = [h * d, h, c * h, c]
    pieces = np.split(flat, np.cumsum(sizes)[:-1])
    return [pieces[0].reshape(h, d), pieces[1], pieces[2].reshape(c, h), pieces[3]]


def keras_model(l2, dropout, weight_decay, lr, seed=None):
    """The seed's model, with Dropout after the hidden layer when asked, compiled with Keras'
    Adam, or AdamW decaying the first kernel only (l2sweep's --weight-decay)."""
    dense1 = layers.Dense(128, activation="relu",
                          kernel_regularizer=regularizers.l2(l2) if l2 else None)
    dense2 = layers.Dense(10, activation="softmax")
    stack = [layers.Input(shape=(28, 28)), layers.Flatten(), dense1]
    if dropout:
        stack.append(layers.Dropout(dropout, seed=seed))
    model = models.Sequential(stack + [dense2])
    if weight_decay:
        optimizer = optimizers.AdamW(learning_rate=lr, weight_decay=weight_decay)
        optimizer.exclude_from_weight_decay(var_list=[dense1.bias, dense2.kernel, dense2.bias])
    else:
        optimizer = optimizers.Adam(learning_rate=lr)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model, dense1, dense2


def load_weights(dense1, dense2, params):
    w1, b1, w2, b2 = params
    dense1.set_weights([w1.T, b1])
    dense2.set_weights([w2.T, b2])


def keras_params(dense1, dense2):
    return [dense1.kernel.numpy().T, dense1.bias.numpy(), dense2.kernel.numpy().T,
            dense2.bias.numpy()]


def trace(args, folder, l2, dropout, weight_decay, adam, engine, record, mask_seeds=0,
          epochs=1, shuffle="each-epoch"):
    subprocess.run([args.trace, "--out", folder, "--data-dir", args.data_dir, "--train-size",
                    str(args.train_size), "--val-size", str(args.val_size), "--seed",
                    str(args.seed), "--l2", str(l2), "--dropout", str(dropout), "--weight-decay",
                    str(weight_decay), "--adam", adam, "--engine", engine, "--record-steps",
                    str(record), "--mask-seeds", str(mask_seeds), "--epochs", str(epochs),
                    "--shuffle", shuffle],
                   check=True, capture_output=True)
    with open(os.path.join(folder, "manifest.json")) as f:
        manifest = json.load(f)
    read = lambda name, dtype: np.fromfile(os.path.join(folder, name), dtype=dtype)  # noqa: E731
    return manifest, read


def step_by_step(args, data, case, adam, engine, tmp):
    l2, weight_decay = CASES[case]
    x_train, y_train = data[0], data[1]
    folder = os.path.join(tmp, f"{case}-{adam}-{engine}")
    steps = (args.train_size + 31) // 32
    manifest, read = trace(args, folder, l2, 0.0, weight_decay, adam, engine, steps)
    order = read("order.i64", np.int64)
    recorded = read("steps.f32", np.float32).reshape(manifest["recorded_steps"], -1)
    keras.utils.set_random_seed(args.seed)
    model, dense1, dense2 = keras_model(l2, 0.0, weight_decay, manifest["lr"])
    load_weights(dense1, dense2, split(read("initial.f32", np.float32), manifest))
    worst, worst_quantile, failing = 0.0, 0.0, []
    for step in range(manifest["recorded_steps"]):
        rows = order[step * 32:(step + 1) * 32]
        model.train_on_batch(x_train[rows], y_train[rows])
        w, q, bad = weight_differences(split(recorded[step], manifest), dense1, dense2,
                                       f"step {step + 1}")
        worst, worst_quantile = max(worst, w), max(worst_quantile, q)
        failing += bad[:3 - len(failing)]
    return {"case": case, "adam": adam, "engine": engine, "steps": manifest["recorded_steps"],
            "max_abs_difference": worst, "p99.9_excess": worst_quantile,
            "matches": not failing, "first_mismatches": failing}


def weight_differences(ours, dense1, dense2, where):
    """The largest |difference| between l2sweep's weights and Keras', the 99.9th percentile of
    the excess over RTOL * |w|, and the tensors whose percentile leaves ATOL."""
    worst, worst_quantile, failing = 0.0, 0.0, []
    for name, a, b in zip(("W1", "b1", "W2", "b2"), ours, keras_params(dense1, dense2)):
        excess = np.abs(a - b) - RTOL * np.abs(b)
        worst = max(worst, float(np.abs(a - b).max()))
        quantile = float(np.quantile(excess, 0.999))
        worst_quantile = max(worst_quantile, quantile)
        if quantile > ATOL:
            failing.append(f"{where} {name}")
    return worst, worst_quantile, failing


def fit_check(args, data, shuffle, engine, tmp, epochs=2):
    """Keras' fit() over `epochs` epochs in l2sweep's orders under --shuffle `shuffle`: the
    weights after each epoch and fit()'s logged epoch loss and accuracy."""
    l2 = CASES["l2"][0]
    x_train, y_train = data[0], data[1]
    folder = os.path.join(tmp, f"fit-{shuffle}-{engine}")
    manifest, read = trace(args, folder, l2, 0.0, 0.0, "keras", engine, 0, epochs=epochs,
                           shuffle=shuffle)
    n = manifest["train_examples"]
    orders = read("order.i64", np.int64).reshape(epochs, n)
    after = read("epochs.f32", np.float32).reshape(epochs, -1)
    keras.utils.set_random_seed(args.seed)
    model, dense1, dense2 = keras_model(l2, 0.0, 0.0, manifest["lr"])
    load_weights(dense1, dense2, split(read("initial.f32", np.float32), manifest))
    worst, worst_quantile, failing, metrics = 0.0, 0.0, [], []
    for epoch in range(epochs):
        rows = orders[epoch]
        history = model.fit(x_train[rows], y_train[rows], batch_size=manifest["batch_size"],
                            epochs=epoch + 1, initial_epoch=epoch, shuffle=False, verbose=0)
        w, q, bad = weight_differences(split(after[epoch], manifest), dense1, dense2,
                                       f"epoch {epoch + 1}")
        worst, worst_quantile = max(worst, w), max(worst_quantile, q)
        failing += bad
        ours = manifest["epoch_metrics"][epoch]
        theirs = {"loss": history.history["loss"][-1],
                  "accuracy": history.history["accuracy"][-1]}
        metrics.append({"epoch": epoch + 1, "l2sweep": ours, "keras": theirs})
        # fit()'s running mean of float32 batch losses against l2sweep's double sums; an
        # accuracy may differ by an example or two whose top two logits nearly tie.
        if abs(ours["loss"] - theirs["loss"]) > 1e-4 * abs(theirs["loss"]) + 1e-6:
            failing.append(f"epoch {epoch + 1} loss")
        if abs(ours["accuracy"] - theirs["accuracy"]) > 2.5 / n:
            failing.append(f"epoch {epoch + 1} accuracy")
    replays = bool(all((orders[e] == orders[0]).all() for e in range(1, epochs)))
    if replays != (shuffle == "once"):
        failing.append(f"--shuffle {shuffle} {'replayed' if replays else 'reshuffled'}")
    return {"case": f"fit, --shuffle {shuffle}", "engine": engine, "epochs": epochs,
            "replays_one_order": replays, "max_abs_difference": worst,
            "p99.9_excess": worst_quantile, "epoch_metrics": metrics, "matches": not failing,
            "first_mismatches": failing[:3]}


def keras_order_check(args):
    """Which orders Keras' own fit(shuffle=True) draws, seeded and unseeded (learning rate 0,
    scripts/keras_data_order.py): seeded must replay (--shuffle once), unseeded must not
    (--shuffle each-epoch)."""
    from keras_data_order import keras_epochs, summarise
    size = max(32, args.train_size // 32 * 32)
    result = {"case": "fit(shuffle=True) data order", "train_size": size}
    ok = True
    for variant, mode in (("unseeded", "each-epoch"), ("seeded", "once")):
        rows = summarise(keras_epochs(variant, 2, size, args.data_dir)["epochs"])
        replays = all(r["first_differing_batch"] is None for r in rows)
        result[variant] = {"replays_one_order": replays, "l2sweep_peer": f"--shuffle {mode}",
                           "epoch_2_batches_as_epoch_1": rows[0]["same_as_epoch_1"],
                           "batches": rows[0]["batches"]}
        ok = ok and replays == (mode == "once")
    result["consistent"] = ok
    return result


def dropout_check(args, data, engine, tmp):
    rate = 0.5
    x_train, y_train, x_val, y_val = data
    folder = os.path.join(tmp, f"dropout-{engine}")
    manifest, read = trace(args, folder, 0.0, rate, 0.0, "keras", engine, 0, args.mask_seeds)
    order = read("order.i64", np.int64)
    initial = split(read("initial.f32", np.float32), manifest)
    finals = read("mask_finals.f32", np.float32).reshape(args.mask_seeds, -1)
    evaluator, e1, e2 = keras_model(0.0, 0.0, 0.0, manifest["lr"])
    ours = []
    for flat in finals:
        load_weights(e1, e2, split(flat, manifest))
        ours.append(evaluator.evaluate(x_val, y_val, verbose=0, batch_size=1024))
    theirs = []
    for m in range(args.mask_seeds):
        keras.utils.set_random_seed(100 + m)
        model, d1, d2 = keras_model(0.0, rate, 0.0, manifest["lr"], seed=100 + m)
        load_weights(d1, d2, initial)
        for step in range((len(order) + 31) // 32):
            rows = order[step * 32:(step + 1) * 32]
            model.train_on_batch(x_train[rows], y_train[rows])
        theirs.append(model.evaluate(x_val, y_val, verbose=0, batch_size=1024))
    result = {"case": "dropout 0.5", "engine": engine, "mask_streams": args.mask_seeds}
    consistent = True
    for index, metric in enumerate(("val_loss", "val_accuracy")):
        a = [r[index] for r in theirs]
        b = [r[index] for r in ours]
        t, df, p = welch(a, b)
        result[metric] = {"keras": [float(np.mean(a)), float(np.std(a, ddof=1))],
                          "l2sweep": [float(np.mean(b)), float(np.std(b, ddof=1))], "t": t,
                          "p": p}
        consistent = consistent and p > 0.01
    result["consistent"] = consistent
    return result


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trace", default=os.path.join(root, "build", "bin", "l2sweep_trace"))
    parser.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--train-size", type=int, default=2000)
    parser.add_argument("--val-size", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--engines", default="fused,autograd")
    parser.add_argument("--mask-seeds", type=int, default=8)
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    if not os.access(args.trace, os.X_OK):
        print(f"error: {args.trace}: no l2sweep_trace; build first (cmake --build build)")
        return 2
    data = seed_splits(args.data_dir, args.val_size, args.train_size)
    data = (data[0].astype(np.float32), data[1], data[2].astype(np.float32), data[3])
    results, ok = [], True
    with tempfile.TemporaryDirectory(prefix="l2sweep-keras-check-") as tmp:
        for engine in args.engines.split(","):
            for case in CASES:
                for adam in ("keras", "torch"):
                    r = step_by_step(args, data, case, adam, engine, tmp)
                    results.append(r)
                    verdict = ("matches" if r["matches"] else "differs") + \
                        ("" if adam == "keras" else " (control: torch's update)")
                    print(f"{engine:8} {case:8} --adam {adam:5}: {r['steps']} steps, largest "
                          f"|difference| {r['max_abs_difference']:.2e}, 99.9th percentile "
                          f"beyond rtol {r['p99.9_excess']:.2e}: {verdict}", flush=True)
                    if adam == "keras" and not r["matches"]:
                        ok = False
            r = dropout_check(args, data, engine, tmp)
            results.append(r)
            for metric in ("val_loss", "val_accuracy"):
                m = r[metric]
                print(f"{engine:8} dropout 0.5 {metric}: Keras {m['keras'][0]:.4f} ± "
                      f"{m['keras'][1]:.4f}, l2sweep {m['l2sweep'][0]:.4f} ± {m['l2sweep'][1]:.4f}"
                      f" over {args.mask_seeds} mask streams each, Welch p = {m['p']:.3f}",
                      flush=True)
            ok = ok and r["consistent"]
            for shuffle in ("each-epoch", "once"):
                r = fit_check(args, data, shuffle, engine, tmp)
                results.append(r)
                m = r["epoch_metrics"][-1]
                print(f"{engine:8} fit() 2 epochs, --shuffle {shuffle:10}: "
                      f"{'one order replayed' if r['replays_one_order'] else 'reshuffled'}, "
                      f"largest |difference| {r['max_abs_difference']:.2e}, 99.9th percentile "
                      f"beyond rtol {r['p99.9_excess']:.2e}; epoch 2 loss Keras "
                      f"{m['keras']['loss']:.6f} l2sweep {m['l2sweep']['loss']:.6f}, accuracy "
                      f"{m['keras']['accuracy']:.4f} / {m['l2sweep']['accuracy']:.4f}: "
                      f"{'matches' if r['matches'] else 'differs ' + str(r['first_mismatches'])}",
                      flush=True)
                ok = ok and r["matches"]
        r = keras_order_check(args)
        results.append(r)
        for variant in ("unseeded", "seeded"):
            v = r[variant]
            print(f"Keras fit(shuffle=True) {variant:8}: epoch 2 has "
                  f"{v['epoch_2_batches_as_epoch_1']}/{v['batches']} of epoch 1's batches "
                  f"({'one order replayed' if v['replays_one_order'] else 'reshuffled'}), as "
                  f"l2sweep {v['l2sweep_peer']}", flush=True)
        ok = ok and r["consistent"]
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"tolerance": {"atol": ATOL, "rtol": RTOL}, "train_size": args.train_size,
                       "keras": keras.__version__, "results": results}, f, indent=2)
    print("PASSED" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

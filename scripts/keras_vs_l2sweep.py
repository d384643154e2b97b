"""Tests an l2sweep sweep against Keras runs on all five final metrics, per strength.

Reads Keras runs as scripts/keras_runs.py writes them (OUT/csv/*.csv or OUT/history/*.json
for the last epoch's accuracy, loss, val_accuracy and val_loss, OUT/test/*.json for the test
accuracy, OUT/keras_runs.json for how they were seeded) and an l2sweep output folder
(summary.json's runs), and for every strength both have, compares the five final metrics
with Welch's t-test (runs of two programs start from different weights: groups, never
pairs). A metric is consistent at p >= --alpha (default 0.01).

It also checks that the data orders match: Keras runs seeded with --seeding global replay one
batch order (l2sweep's --shuffle once); unseeded ones reshuffle (--shuffle each-epoch). A
mismatch is reported and makes the exit status 1, as does any inconsistent metric.

  python3 scripts/keras_vs_l2sweep.py --keras KERAS_DIR --sweep SWEEP_DIR [--markdown OUT.md]
      [--json OUT.json] [--alpha 0.01]
"""
import argparse
import csv
import glob
import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench"))
import numpy as np  # noqa: E402
from welch import welch  # noqa: E402

METRICS = ("accuracy", "loss", "val_accuracy", "val_loss", "test_accuracy")
NAME = re.compile(r"l2-(?P<l2>[^_]+)_seed-(?P<seed>\d+)\.(csv|json)$")


def keras_runs(folder, epochs, problems):
    """{l2: [{metric: final value}]} from a keras_runs.py folder's runs that trained all
    `epochs` epochs (the others are named in `problems`)."""
    runs = {}
    sources = sorted(glob.glob(os.path.join(folder, "csv", "*.csv")))
    from_history = not sources
    if from_history:
        sources = sorted(glob.glob(os.path.join(folder, "history", "*.json")))
    for path in sources:
        match = NAME.search(os.path.basename(path))
        if not match:
            continue
        if from_history:
            with open(path) as f:
                history = json.load(f)
            trained = len(history.get("loss", []))
            final = {k: v[-1] for k, v in history.items() if v}
        else:
            with open(path) as f:
                table = list(csv.DictReader(f))
            trained = len(table)
            final = {k: float(v) for k, v in table[-1].items()} if table else {}
        if trained != epochs:
            problems.append(f"{path}: {trained} epochs, expected {epochs}; left out")
            continue
        test = os.path.join(folder, "test", os.path.basename(path).rsplit(".", 1)[0] + ".json")
        if os.path.exists(test):
            with open(test) as f:
                final["test_accuracy"] = json.load(f)["test_accuracy"]
        runs.setdefault(float(match["l2"]), []).append(final)
    return runs


def sweep_runs(folder):
    """{l2: [{metric: final value}]} from an l2sweep folder's completed runs (no Dropout or
    weight decay), and its summary."""
    with open(os.path.join(folder, "summary.json")) as f:
        summary = json.load(f)
    runs = {}
    for run in summary["runs"]:
        if run.get("status") != "completed" or run.get("dropout", 0) or run.get("weight_decay", 0):
            continue
        runs.setdefault(float(run["l2"]), []).append({m: run.get(m) for m in METRICS})
    return runs, summary


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keras", required=True, help="a scripts/keras_runs.py output folder")
    parser.add_argument("--sweep", required=True, help="an l2sweep output folder")
    parser.add_argument("--alpha", type=float, default=0.01)
    parser.add_argument("--markdown", help="write the table here")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()

    with open(os.path.join(args.keras, "keras_runs.json")) as f:
        made = json.load(f)
    problems = []
    theirs = keras_runs(args.keras, made["epochs"], problems)
    ours, summary = sweep_runs(args.sweep)
    keras_order = "once" if made["seeding"] == "global" else "each-epoch"
    sweep_order = summary["config"].get("shuffle", "each-epoch")
    if keras_order != sweep_order:
        problems.append(f"data orders differ: Keras seeding {made['seeding']} is --shuffle "
                        f"{keras_order}, the sweep ran --shuffle {sweep_order}")
    # The same experiment on both sides, besides the data order.
    config = summary["config"]
    for key, theirs_value, ours_value in (
            ("epochs", made["epochs"], config.get("epochs")),
            ("batch_size", made["batch_size"], config.get("batch_size")),
            ("val_size", made["val_examples"], summary["dataset"].get("val_examples")),
            ("train_size", made["train_examples"], summary["dataset"].get("train_examples")),
            ("lr", 0.001, config.get("lr"))):
        if theirs_value != ours_value:
            problems.append(f"{key} differs: Keras {theirs_value}, the sweep {ours_value}")
    for l2 in sorted(set(theirs) ^ set(ours)):
        problems.append(f"l2 {l2:g} is on one side only "
                        f"({'Keras' if l2 in theirs else 'the sweep'})")
    rows = []
    for l2 in sorted(set(theirs) & set(ours)):
        for metric in METRICS:
            a = [r[metric] for r in theirs[l2] if r.get(metric) is not None]
            b = [r[metric] for r in ours[l2] if r.get(metric) is not None]
            if len(a) < 2 or len(b) < 2:
                problems.append(f"l2 {l2:g} {metric}: fewer than 2 runs on a side")
                continue
            t, df, p = welch(a, b)
            rows.append({"l2": l2, "metric": metric, "keras": [float(np.mean(a)),
                                                               float(np.std(a, ddof=1)), len(a)],
                         "l2sweep": [float(np.mean(b)), float(np.std(b, ddof=1)), len(b)],
                         "difference": float(np.mean(b) - np.mean(a)), "t": t, "df": df, "p": p,
                         "consistent": p >= args.alpha})
    if not rows:
        problems.append("no strength was compared")
    seeding = ("seeded, keras.utils.set_random_seed" if made["seeding"] == "global"
               else "unseeded, as the seed script")
    lines = [f"Keras ({seeding}; Keras {made['keras']}, TensorFlow {made['tensorflow']}, "
             f"{args.keras}) against l2sweep (--shuffle {sweep_order}, --adam "
             f"{summary['config'].get('adam', 'torch')}, {args.sweep}); final epoch, Welch's "
             f"test, consistent at p >= {args.alpha}:", "",
             "| l2 | metric | Keras | l2sweep | difference | Welch's test | verdict |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        k, o = r["keras"], r["l2sweep"]
        lines.append(f"| {r['l2']:g} | {r['metric']} | {k[0]:.4f} ± {k[1]:.4f} (n={k[2]}) | "
                     f"{o[0]:.4f} ± {o[1]:.4f} (n={o[2]}) | {r['difference']:+.4f} | t = "
                     f"{r['t']:+.2f}, df {r['df']:.1f}, p = {r['p']:.3f} | "
                     f"{'consistent' if r['consistent'] else 'differs'} |")
    failing = [r for r in rows if not r["consistent"]]
    lines += ["", f"{len(rows) - len(failing)} of {len(rows)} consistent" +
              (": differs at " + ", ".join(f"l2 {r['l2']:g} {r['metric']} (p = {r['p']:.3f})"
                                           for r in failing) if failing else "")]
    lines += problems
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text + "\n")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"keras": made, "sweep": args.sweep, "shuffle": sweep_order, "alpha":
                       args.alpha, "rows": rows, "problems": problems}, f, indent=2)
    return 1 if failing or problems else 0


if __name__ == "__main__":
    sys.exit(main())

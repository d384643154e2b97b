#!/usr/bin/env python3
"""End-to-end checks of the built l2sweep binary, run as a user would run it.

usage: python3 -m pytest tests/e2e/test_cli.py [-k NAME] [--l2sweep BIN] [--data-dir DIR]
       python3 tests/e2e/test_cli.py PATH/TO/l2sweep PATH/TO/fashion-mnist-mini [-k NAME]

Checks the outputs of a small sweep (metrics.csv, summary.json and their identities),
determinism across two runs, and the exit code and one-line message of bad options, bad
data files, an unusable output folder and a diverged run. Standard library only (pytest
optional, see l2sweep_e2e.py).
"""
import csv
import gzip
import os
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time

import l2sweep_e2e as e2e
from l2sweep_e2e import fixture

REQUIRED_COLUMNS = ("l2,dropout,weight_decay,seed,epoch,loss,accuracy,val_loss,val_accuracy,"
                    "data_loss,val_data_loss,penalty,w1_norm,w1_small,w1_zero,dead_units,"
                    "epoch_seconds").split(",")


def small(data_dir):
    return ["--data-dir", data_dir, "--val-size", "200", "--train-size", "600", "--epochs", "3",
            "--device", "cpu"]


def read_metrics(out):
    """Header and rows; rows of runs trained side by side (--jobs) interleave in the file, so
    they are returned sorted by run and epoch."""
    header, rows = e2e.read_metrics(out)
    rows = [{k: float(v) for k, v in row.items()} for row in rows]
    return header, sorted(rows, key=lambda r: (r["l2"], r["dropout"], r["weight_decay"],
                                               r["seed"], r["epoch"]))


def check_error(l2sweep, check, tmp, args, code, needle, label):
    out = os.path.join(tmp, "error-out")
    result = e2e.run(l2sweep, args + ["--out", out] if "--out" not in args else args)
    lines = result.stderr.strip().splitlines()
    check(result.returncode == code, f"{label}: exit {result.returncode}, expected {code}; {result.stderr}")
    check(len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0],
          f"{label}: stderr {result.stderr!r} should be one 'error: ...{needle}...' line")
    check("Traceback" not in result.stderr and "terminate" not in result.stderr, f"{label}: crash")
    if code in (2, 3):
        check(not os.path.exists(out), f"{label}: created {out}")


def test_regularisers(l2sweep, data_dir, tmp_path, check):
    """--l2 x --dropout x --weight-decay: every combination per seed, each run named by all of
    its settings in every output, the report's comparison of the kinds, and a resume after
    Ctrl-C that gives the uninterrupted numbers bit for bit."""
    tmp, SMALL = str(tmp_path), small(data_dir)
    out = os.path.join(tmp, "regularisers")
    grid = ["--l2", "0,0.01", "--dropout", "0,0.5", "--weight-decay", "0,1", "--seeds", "2",
            "--epochs", "2"] + SMALL[:-4] + ["--device", "cpu"]
    result = e2e.run(l2sweep, grid + ["--out", out])
    check(result.returncode == 0, f"regulariser grid failed: {result.stderr}")
    header, rows = read_metrics(out)
    settings = {(r["l2"], r["dropout"], r["weight_decay"]) for r in rows}
    check(len(settings) == 8 and len(rows) == 8 * 2 * 2,
          f"expected 8 settings x 2 seeds x 2 epochs, got {len(settings)} settings, {len(rows)} rows")
    summary = e2e.read_summary(out)
    names = [r["name"] for r in summary["runs"]]
    check(len(set(names)) == 16, f"run names not unique: {names}")
    check("l2-0.01_dropout-0.5_wd-1_seed-1" in names and "l2-0_seed-0" in names,
          f"run names: {names}")
    for name in names:
        check(os.path.isdir(os.path.join(out, "tensorboard", name, "train")),
              f"no TensorBoard run {name}")
        check(os.path.exists(os.path.join(out, "checkpoints", name + ".pt")),
              f"no checkpoint {name}.pt")
    check(len(summary["strengths"]) == 8 and
          {(s["l2"], s["dropout"], s["weight_decay"]) for s in summary["strengths"]} == settings,
          "summary.json strengths should be the 8 settings")
    check(summary["config"]["dropout"] == [0, 0.5] and summary["config"]["weight_decay"] == [0, 1],
          f"config: {summary['config']}")
    for r in rows:
        check(0 <= r["w1_small"] <= 1 and 0 <= r["dead_units"] <= 1 and 0 <= r["w1_zero"] <= 1,
              f"weight statistics out of range: {r}")
    decayed = [r for r in rows if r["weight_decay"] == 1 and r["l2"] == 0 and r["dropout"] == 0]
    plain = [r for r in rows if r["weight_decay"] == 0 and r["l2"] == 0 and r["dropout"] == 0]
    check(all(d["w1_norm"] < p["w1_norm"] for d, p in zip(decayed, plain)),
          "weight decay should shrink W1 below the control's")
    report = e2e.read_text(os.path.join(out, "report.md"))
    for needle in ("## L2, Dropout and weight decay", "| Dropout | L2 = 0, dropout = 0.5 |",
                   "| decoupled weight decay | L2 = 0, weight decay = 1 |",
                   "**L2 against Dropout:**", "**L2 in the loss against decoupled weight decay",
                   "\"Sparse, efficient weight patterns\"?"):
        check(needle in report, f"report.md lacks {needle!r}")

    # A --resume with another --dropout list or --adam is refused naming the option, and
    # leaves every file byte for byte as it was (the lock's holder record aside).
    before = e2e.snapshot(out, skip_prefix=".l2sweep")
    for changed, option in ((["--dropout", "0,0.2"], "--dropout"), (["--adam", "keras"], "--adam")):
        args = [a for a in grid]
        if changed[0] in args:
            args[args.index(changed[0]) + 1] = changed[1]
        else:
            args += changed
        refused = e2e.run(l2sweep, args + ["--out", out, "--resume"])
        check(refused.returncode == 2 and option in refused.stderr,
              f"--resume with another {option}: exit {refused.returncode} {refused.stderr}")
    check(e2e.snapshot(out, skip_prefix=".l2sweep") == before,
          "a refused --resume changed the sweep's files")

    # Interrupted after the first epoch, then resumed: the same numbers.
    cut = os.path.join(tmp, "regularisers-cut")
    process = subprocess.Popen([l2sweep] + grid + ["--out", cut, "--jobs", "1"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        if e2e.metrics_line_count(cut) > 3:
            process.send_signal(signal.SIGINT)
            break
        time.sleep(0.05)
    process.communicate(timeout=120)
    resumed = e2e.run(l2sweep, grid + ["--out", cut, "--resume"])
    check(resumed.returncode == 0, f"resume of the grid failed: {resumed.stderr}")
    _, again = read_metrics(cut)
    strip = lambda table: [{k: v for k, v in r.items() if k != "epoch_seconds"} for r in table]  # noqa: E731
    key = lambda r: (r["l2"], r["dropout"], r["weight_decay"], r["seed"], r["epoch"])  # noqa: E731
    check(sorted(strip(again), key=key) == sorted(strip(rows), key=key),
          "an interrupted and resumed grid should give the uninterrupted numbers")


def tuning_answer(out):
    """The parts of an --l2 auto summary that must not depend on interruptions or timing."""
    tuning = e2e.read_summary(out)["tuning"]
    return ([(c["l2"], c["round"], c["score"]["per_seed"]) for c in tuning["candidates"]],
            tuning["best"], tuning["one_se"], tuning["interval"], tuning["final"])


def test_tuning(l2sweep, data_dir, tmp_path, check):
    """--l2 auto as a user runs it: the answer and its files, no test score before the final
    runs, and a Ctrl-C'd search resumed with the printed command giving the same answer."""
    tmp = str(tmp_path)
    args = small(data_dir) + ["--l2", "auto:1e-5:0.1", "--train-size", "400", "--epochs", "3"]
    out = os.path.join(tmp, "tune")
    result = e2e.run(l2sweep, args + ["--out", out])
    check(result.returncode == 0, f"--l2 auto: exit {result.returncode} {result.stderr}")
    check("--l2 auto: best" in result.stdout, "--l2 auto: no answer on the console")
    best, one_se, interval = tuning_answer(out)[1:4]
    check(1e-5 <= best["l2"] <= 0.1 and best["l2"] <= one_se["l2"], f"best {best} 1se {one_se}")
    check(interval[0] <= best["l2"] <= interval[1], f"interval {interval} around {best}")
    round_1 = e2e.read_summary(os.path.join(out, "round-1"))
    check(all(r["test_accuracy"] is None for r in round_1["runs"]),
          "a search round scored the test set")
    final = e2e.read_summary(os.path.join(out, "final"))
    check(all(r["test_accuracy"] is not None for r in final["runs"]),
          "the final runs have no test score")
    check(os.path.exists(os.path.join(out, "report.md")), "no report.md")
    again = e2e.run(l2sweep, args + ["--out", out])
    check(again.returncode == 4 and "add --resume" in again.stderr, f"rerun: {again.stderr}")

    cut = os.path.join(tmp, "tune-cut")
    process = subprocess.Popen([l2sweep] + args + ["--out", cut], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    # Ctrl-C once the search has begun: its folder exists only after l2sweep's signal handler
    # is in place (before that, a loaded machine may still be starting the process).
    deadline = time.time() + 60
    while time.time() < deadline and process.poll() is None and not os.path.isdir(cut):
        time.sleep(0.02)
    time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    if process.returncode == 130:
        line = [l for l in err.splitlines() if l.startswith("to continue: ")]
        check(len(line) == 1 and "--resume" in line[0], f"no resume command: {err!r}")
        resumed = subprocess.run(shlex.split(line[0][len("to continue: "):]),
                                 capture_output=True, text=True, timeout=300)
        check(resumed.returncode == 0, f"resumed search: {resumed.stderr}")
    else:
        check(process.returncode == 0, f"interrupted search: exit {process.returncode} {err}")
    check(tuning_answer(cut) == tuning_answer(out),
          "an interrupted and resumed search should give the uninterrupted answer")


def test_compare(l2sweep, data_dir, tmp_path, check):
    """`l2sweep compare`: a sweep against itself run with other --jobs says identical; against
    its own TensorBoard logs (float32) and real Keras files it pairs by strength; bad sources
    and a used folder are refused with one line and nothing written."""
    tmp, SMALL, keras = str(tmp_path), small(data_dir), e2e.KERAS_FIXTURES
    sweeps = []
    for jobs in ("1", "2"):
        out = os.path.join(tmp, f"compare-jobs{jobs}")
        result = e2e.run(l2sweep, SMALL + ["--l2", "0.001,0.01", "--seeds", "2", "--jobs", jobs,
                                           "--out", out])
        check(result.returncode == 0, f"compare sweep --jobs {jobs}: {result.stderr}")
        sweeps.append(out)
    out = os.path.join(tmp, "cmp-identical")
    result = e2e.run(l2sweep, ["compare", sweeps[0], sweeps[1], "--out", out])
    check(result.returncode == 0, f"compare identical: exit {result.returncode} {result.stderr}")
    verdicts = e2e.read_json(os.path.join(out, "compare.json"))["verdicts"]
    check([v["verdict"] for v in verdicts] == ["identical", "identical"],
          f"--jobs 1 against --jobs 2 should be identical: {verdicts}")
    check(result.stdout.count(" identical ") == 2, f"console: {result.stdout}")
    check("2 identical, 0 consistent, 0 differ" in e2e.read_text(os.path.join(out, "compare.md")),
          "compare.md headline")

    out = os.path.join(tmp, "cmp-formats")
    tb = os.path.join(sweeps[0], "tensorboard", "l2-{l2}_seed-{seed}")
    # The sweep's own logs state its setup; the Keras fixtures' setup differs (another size),
    # so their tests are forced: this case is about reading the formats.
    result = e2e.run(l2sweep, [
        "compare", sweeps[0], "--source", "own-tensorboard",
        "--setup", "train_size=600,val_size=200,adam=torch", tb,
        "--source", "keras-csv", os.path.join(keras, "csv", "l2-{l2}_seed-{seed}.csv"),
        "--source", "keras-json", os.path.join(keras, "history", "l2-{l2}_seed-{seed}.json"),
        "--source", "keras-tb", os.path.join(keras, "tensorboard", "l2-{l2}_seed-{seed}"),
        "--ignore", "train_size,val_size,adam", "--out", out])
    check(result.returncode == 0, f"compare formats: exit {result.returncode} {result.stderr}")
    verdicts = e2e.read_json(os.path.join(out, "compare.json"))["verdicts"]
    check(len(verdicts) == 8, f"4 sources x 2 strengths expected, got {len(verdicts)}")
    own = [v for v in verdicts if v["source"] == "own-tensorboard"]
    check(all(v["verdict"] == "consistent" and abs(v["difference"]) < 1e-6 and not v["conditions"]
              for v in own),
          f"the sweep's own float32 TensorBoard logs should be consistent with it: {own}")
    forced = [v for v in verdicts if v["source"] == "keras-csv"]
    check(all(any(c.startswith("forced: train_size ") for c in v["conditions"]) for v in forced),
          f"forced verdicts should say so: {forced}")
    by_source = {}
    for v in verdicts:
        by_source.setdefault(v["source"], []).append(v["difference"])
    check(by_source["keras-csv"] == by_source["keras-json"] == by_source["keras-tb"],
          f"Keras' three formats should give the same numbers: {by_source}")

    bad = os.path.join(tmp, "bad.csv")
    with open(bad, "w") as f:
        f.write("step,value\n0,1\n")
    check_error(l2sweep, check, tmp, ["compare", sweeps[0], "--label", "l2=0.001", bad], 3,
                "bad.csv: header 'step,value' lacks the CSVLogger columns", "compare bad csv")
    check_error(l2sweep, check, tmp, ["compare", sweeps[0], "--label", "l2=0.5",
                                      os.path.join(keras, "csv", "l2-0.001_seed-0.csv")],
                2, "shares no setting", "compare unpaired")
    check_error(l2sweep, check, tmp, ["compare", sweeps[0]], 2, "expected two or more sources",
                "compare one source")

    # Setups that differ, as a new user meets them. Another training size and fewer epochs:
    # not comparable, naming the setting and both values; forced, tested at the last epoch both
    # trained, and each verdict line says so.
    other = os.path.join(tmp, "compare-small")
    result = e2e.run(l2sweep, ["--data-dir", data_dir, "--val-size", "200", "--train-size", "300",
                               "--epochs", "2", "--device", "cpu", "--l2", "0.001,0.01",
                               "--seeds", "2", "--out", other])
    check(result.returncode == 0, f"small sweep for compare: {result.stderr}")
    result = e2e.run(l2sweep, ["compare", sweeps[0], other, "--out", os.path.join(tmp, "cmp-setups")])
    lines = [l for l in result.stdout.splitlines() if "not comparable" in l]
    check(result.returncode == 0 and len(lines) == 2 and all(
        "train_size 300 (compare-small) vs 600 (compare-jobs1)" in l for l in lines),
          f"different train sizes should be not comparable: {result.stdout}")
    check("! train_size" in result.stdout and "~ epochs" in result.stdout,
          f"the setups table should mark what differs: {result.stdout}")
    result = e2e.run(l2sweep, ["compare", sweeps[0], other, "--ignore", "train_size",
                               "--out", os.path.join(tmp, "cmp-forced")])
    lines = [l for l in result.stdout.splitlines() if l.strip().startswith("l2=")]
    check(len(lines) == 2 and all("at epoch 2, the last both trained" in l and "forced: train_size" in l
                                  for l in lines), f"forced verdict lines: {lines}")
    # Keras logs that state nothing: the seed experiment's setup is assumed and printed.
    result = e2e.run(l2sweep, ["compare", sweeps[0], "--source", "keras",
                               os.path.join(keras, "csv", "l2-{l2}_seed-{seed}.csv"),
                               "--out", os.path.join(tmp, "cmp-assumed")])
    check("assumed for 'keras'" in result.stdout and "train_size 50000" in result.stdout
          and "not comparable" in result.stdout, f"Keras assumptions: {result.stdout}")
    check_error(l2sweep, check, tmp, ["compare", sweeps[0], sweeps[1], "--out", out], 4,
                "not empty", "compare into a used folder")


@fixture
def small_sweep(l2sweep, data_dir, tmp_path_factory):
    """The small sweep test_small_sweep checks and test_determinism runs again: its folder
    and the finished process."""
    out = os.path.join(str(tmp_path_factory.mktemp("small")), "sweep")
    return out, e2e.run(l2sweep, small(data_dir) + ["--l2", "0,0.001,0.01", "--out", out])


def test_small_sweep(small_sweep, check):
    out, result = small_sweep
    check(result.returncode == 0, f"small sweep exit {result.returncode}: {result.stderr}")
    check("Recommendation: " in result.stdout and re.search(r"\bl2 +seed\b", result.stdout),
          "console table or recommendation missing")
    header, rows = read_metrics(out)
    check(header[:len(REQUIRED_COLUMNS)] == REQUIRED_COLUMNS, f"metrics.csv header {header}")
    check(len(rows) == 9, f"expected 9 rows, got {len(rows)}")
    for row in rows:
        tag = f"l2={row['l2']} epoch={row['epoch']}"
        check(abs(row["val_loss"] - row["val_data_loss"] - row["penalty"]) < 1e-6,
              f"{tag}: val_loss != val_data_loss + penalty")
        check(abs(row["penalty"] - row["l2"] * row["w1_norm"] ** 2) <= 1e-5 * (1 + row["penalty"]),
              f"{tag}: penalty != l2 * w1_norm^2")
        # loss - data_loss is the batch-averaged penalty: l2 * w1_norm^2 up to batch averaging.
        gap = row["loss"] - row["data_loss"]
        if row["l2"] == 0:
            check(gap == 0, f"{tag}: unregularised loss != data_loss")
        else:
            check(0.5 * row["penalty"] < gap < 5 * row["penalty"],
                  f"{tag}: loss - data_loss = {gap} far from penalty {row['penalty']}")
        for name in ("accuracy", "val_accuracy"):
            check(0 <= row[name] <= 1, f"{tag}: {name} out of [0, 1]")
        check(row["epoch_seconds"] > 0, f"{tag}: epoch_seconds")
    check([r["epoch"] for r in rows[:3]] == [1, 2, 3], "epochs are not 1..3")
    final = {r["l2"]: r for r in rows if r["epoch"] == 3}
    check(final[0.0]["w1_norm"] > final[0.001]["w1_norm"] > final[0.01]["w1_norm"],
          "stronger L2 did not give a smaller w1_norm")

    summary = e2e.read_summary(out)
    check(summary["finished"] is True, "summary not finished")
    check(summary["device"] == "cpu", "device")
    check(summary["config"]["l2"] == [0, 0.001, 0.01], "config l2")
    check(summary["config"]["train_size"] == 600, "config train_size")
    check(summary["config"]["cuda_graphs"] is True, "config cuda_graphs")
    check(summary["config"]["shuffle"] == "each-epoch", "config shuffle")
    check(summary["experiment"]["shuffle"].startswith("reshuffled every epoch"),
          "the experiment says how the data was ordered")
    check(summary["sweep_seconds"] > 0, "sweep_seconds of a finished sweep")
    check(summary["experiment"]["optimizer"]["name"].startswith("Adam, fused CPU step"),
          "optimizer names the fused step that --engine auto runs on the CPU")
    check(summary["experiment"]["optimizer"]["epsilon"] == 1e-7, "adam epsilon")
    check(summary["dataset"]["num_classes"] == 10, "num_classes")
    check(len(summary["runs"]) == 3, "three runs")
    for run_summary in summary["runs"]:
        l2 = run_summary["l2"]
        history = [r for r in rows if r["l2"] == l2]
        last = history[-1]
        check(run_summary["status"] == "completed", f"l2={l2} status")
        check(run_summary["epochs_completed"] == 3, f"l2={l2} epochs_completed")
        for name in ("loss", "accuracy", "val_loss", "val_accuracy", "data_loss", "val_data_loss",
                     "penalty", "w1_norm"):
            check(run_summary[name] == last[name], f"l2={l2} summary {name} != last csv row")
        best = max(history, key=lambda r: r["val_accuracy"])
        check(run_summary["best_val_accuracy"] == best["val_accuracy"], f"l2={l2} best")
        check(run_summary["best_val_accuracy_epoch"] == best["epoch"], f"l2={l2} best epoch")
        check(0 < run_summary["test_accuracy"] <= 1, f"l2={l2} test_accuracy")
        check(abs(run_summary["test_loss"] - run_summary["test_data_loss"] - last["penalty"]) < 1e-6,
              f"l2={l2} test_loss != test_data_loss + penalty")
        check(run_summary["train_seconds"] > 0, f"l2={l2} train_seconds")


def test_determinism(l2sweep, data_dir, tmp_path, check, small_sweep):
    first_out, _ = small_sweep
    _, first_rows = read_metrics(first_out)
    first_summary = e2e.read_summary(first_out)
    out = os.path.join(str(tmp_path), "again")
    result = e2e.run(l2sweep, small(data_dir) + ["--l2", "0,0.001,0.01", "--out", out])
    check(result.returncode == 0, "second sweep failed")
    _, rows = read_metrics(out)
    strip = lambda r: {k: v for k, v in r.items() if k != "epoch_seconds"}  # noqa: E731
    check([strip(r) for r in rows] == [strip(r) for r in first_rows], "metrics differ between runs")
    summary = e2e.read_summary(out)
    for a, b in zip(summary["runs"], first_summary["runs"]):
        check(a["test_accuracy"] == b["test_accuracy"] and a["test_loss"] == b["test_loss"],
              "test metrics differ between runs")


def test_seeds_and_report(l2sweep, data_dir, tmp_path, check):
    tmp = str(tmp_path)
    out = os.path.join(tmp, "seeds")
    result = e2e.run(l2sweep, small(data_dir) + ["--l2", "0,0.01", "--seeds", "2", "--seed", "3",
                                                 "--out", out])
    check(result.returncode == 0, f"seeded sweep exit {result.returncode}: {result.stderr}")
    check("across seeds (mean ± std)" in result.stdout, "console lacks the per-strength table")
    _, rows = read_metrics(out)
    check(sorted({(r["l2"], r["seed"]) for r in rows}) == [(0, 3), (0, 4), (0.01, 3), (0.01, 4)],
          "runs are not every strength x seeds 3..4")
    summary = e2e.read_summary(out)
    check(summary["config"]["seeds"] == 2, "config seeds")
    strengths = {s["l2"]: s for s in summary["strengths"]}
    for l2, strength in strengths.items():
        finals = [r for r in rows if r["l2"] == l2 and r["epoch"] == 3]
        tests = [run_summary["test_accuracy"] for run_summary in summary["runs"] if run_summary["l2"] == l2]
        for name, values in (("val_accuracy", [r["val_accuracy"] for r in finals]),
                             ("w1_norm", [r["w1_norm"] for r in finals]),
                             ("train_minus_val_accuracy", [r["accuracy"] - r["val_accuracy"] for r in finals]),
                             ("test_accuracy", tests)):
            check(abs(strength[name]["mean"] - statistics.fmean(values)) < 1e-12, f"l2={l2} {name} mean")
            check(abs(strength[name]["std"] - statistics.stdev(values)) < 1e-12, f"l2={l2} {name} std")
            check(strength[name]["n"] == 2, f"l2={l2} {name} n")
    report = e2e.read_text(os.path.join(out, "report.md"))
    best = max(strengths.values(), key=lambda s: s["val_accuracy"]["mean"])
    check(f"**Best mean validation accuracy:** L2 = {best['l2']:g} " in report,
          "report.md names another best strength than summary.json")
    check("0 (control)" in report and "Against the unregularised control" in report,
          "report.md does not treat l2 = 0 as the control")
    for l2, seed in ((0, 3), (0.01, 4)):
        name = f"l2-{l2:g}_seed-{seed}"
        with open(os.path.join(out, "tensorboard", name + ".csv"), newline="") as f:
            keras = list(csv.reader(f))
        check(keras[0] == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"], "Keras CSV header")
        check([row[0] for row in keras[1:]] == ["0", "1", "2"], "Keras CSV epochs are not 0-based")
        for sub in ("train", "validation"):
            folder = os.path.join(out, "tensorboard", name, sub)
            check(any(n.startswith("events.out.tfevents.") for n in os.listdir(folder)),
                  f"no event file in {folder}")


def test_bad_options(l2sweep, data_dir, tmp_path, check):
    SMALL = small(data_dir)
    for args, needle in [
        (["--epochs", "x"], "--epochs"), (["--epochs", "-1"], "--epochs"),
        (["--batch-size", "0"], "--batch-size"), (["--lr", "abc"], "--lr"),
        (["--lr=-0.5"], "--lr"), (["--l2", "1e-3,foo"], "--l2"), (["--l2", "-1"], "--l2"),
        (["--seed", "1.5"], "--seed"), (["--val-size", "0"], "--val-size"),
        (["--train-size", "ten"], "--train-size"), (["--device", "gpu"], "--device"),
        (["--nonsense"], "nonsense"), (["--val-size", "1200"] + SMALL[:2], "--val-size"),
        (["--train-size", "5000"] + SMALL[:4], "--train-size"),
        # An unknown engine is found when the plan is made (the registry), still before anything
        # is created; --json belongs to --list-metrics.
        (["--engine", "fast"] + SMALL, "--engine 'fast': expected auto, fused, tensor or autograd"),
        (["--json"], "--json: expected --list-metrics"),
        # Mistakes a new user makes: a near-miss name, a missing value, a list with a space.
        (["--epoch", "3"] + SMALL, "--epoch: no such option; did you mean --epochs?"),
        (["--seeds", "--epochs", "3"] + SMALL, "--seeds: expected a value (N) after it, got --epochs"),
        (SMALL + ["--l2", "0.001,", "0.01"], "a list takes no spaces; expected one word such as --l2 0.001,0.01"),
    ]:
        check_error(l2sweep, check, str(tmp_path), args, 2, needle, f"bad option {args}")


def test_bad_data(l2sweep, data_dir, tmp_path, check):
    tmp = str(tmp_path)
    broken = os.path.join(tmp, "broken")
    shutil.copytree(data_dir, broken)
    target = os.path.join(broken, "train-labels-idx1-ubyte.gz")
    with gzip.open(target, "rb") as f:
        labels = bytearray(f.read())
    labels[8 + 5] = 77
    with gzip.open(target, "wb") as f:
        f.write(bytes(labels))
    base = ["--data-dir", broken, "--val-size", "200"]
    check_error(l2sweep, check, tmp, base, 3, "train-labels-idx1-ubyte.gz: label 77 at index 5",
                "label out of range")
    image = os.path.join(broken, "t10k-images-idx3-ubyte.gz")
    with open(image, "rb") as f:
        data = f.read()
    with open(image, "wb") as f:
        f.write(data[: len(data) // 3])
    shutil.copy(os.path.join(data_dir, "train-labels-idx1-ubyte.gz"), target)
    check_error(l2sweep, check, tmp, base, 3, "t10k-images-idx3-ubyte.gz", "truncated gzip")
    os.remove(image)
    check_error(l2sweep, check, tmp, base, 3, "t10k-images-idx3-ubyte: file not found",
                "missing file")
    check_error(l2sweep, check, tmp, ["--data-dir", os.path.join(tmp, "nowhere")], 3,
                "folder not found", "missing data folder")
    # The folder above the files: the message names the subfolder that has them.
    parent = os.path.join(tmp, "datasets")
    shutil.copytree(data_dir, os.path.join(parent, "fashion-mnist"))
    check_error(l2sweep, check, tmp, ["--data-dir", parent, "--val-size", "200"], 3,
                f"the IDX files are in its subfolder {parent}/fashion-mnist; expected --data-dir "
                f"{parent}/fashion-mnist", "parent of the data folder")


def test_console(l2sweep, data_dir, tmp_path, check):
    """Piped, the console is plain lines of at most 100 columns, runs numbered as they start,
    closing with what to do next; --quiet prints nothing and writes the same files."""
    out = os.path.join(str(tmp_path), "plain")
    result = e2e.run(l2sweep, small(data_dir) + ["--l2", "0,0.001,0.01", "--seeds", "2",
                                                 "--out", out])
    check(result.returncode == 0, f"exit {result.returncode}: {result.stderr}")
    lines = result.stdout.splitlines()
    wide = [line for line in lines if len(line) > 100 and out not in line]
    check(not wide, f"lines over 100 columns (besides those naming the folder): {wide}")
    started = [int(m.group(1)) for m in re.finditer(r"^\[(\d+)/6\] \S+ seed=\d: started",
                                                     result.stdout, re.M)]
    check(started == list(range(1, 7)), f"runs not numbered in the order they start: {started}")
    epochs = re.findall(r"^\[\d/6\] epoch \d/3  loss ", result.stdout, re.M)
    check(len(epochs) == 18, f"{len(epochs)} epoch lines, expected 18")
    check("\033" not in result.stdout and "\r" not in result.stdout,
          "terminal control codes in piped output")
    tail = result.stdout[result.stdout.rindex("results in"):]
    check(f"plot_curves.py {out}" in tail and f"compare {out} --source keras" in tail,
          f"the closing lines do not say how to see the curves and compare: {tail!r}")
    quiet_out = os.path.join(str(tmp_path), "quiet")
    quiet = e2e.run(l2sweep, small(data_dir) + ["--l2", "0,0.001,0.01", "--seeds", "2",
                                                "--out", quiet_out, "--quiet"],
                    env=dict(os.environ, L2SWEEP_PLOTTED_BY="scripts/run.sh"))
    check(quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == "",
          f"--quiet printed {quiet.stdout!r} {quiet.stderr!r}")
    def numbers(folder):
        return [{k: v for k, v in row.items() if k != "epoch_seconds"}
                for row in read_metrics(folder)[1]]
    check(numbers(quiet_out) == numbers(out), "--quiet changed metrics.csv")
    plotted = e2e.run(l2sweep, small(data_dir) + ["--out", os.path.join(str(tmp_path), "p")],
                      env=dict(os.environ, L2SWEEP_PLOTTED_BY="scripts/run.sh"))
    check("scripts/run.sh draws" in plotted.stdout and "plot_curves.py" not in plotted.stdout,
          "with L2SWEEP_PLOTTED_BY the closing lines should name the script that plots")


def test_help(l2sweep, check):
    """One usage block naming every value, within 80 columns; the subcommands' help too."""
    for args in (["--help"], ["merge", "--help"], ["compare", "--help"]):
        result = e2e.run(l2sweep, args)
        check(result.returncode == 0 and result.stderr == "", f"{args}: exit {result.returncode}")
        check(result.stdout.count("usage: ") == 1 and "Usage:" not in result.stdout,
              f"{args}: expected one usage block")
        check("Exit codes:" in result.stdout, f"{args}: no exit codes")
        wide = [line for line in result.stdout.splitlines() if len(line) > 80]
        check(not wide, f"{args}: lines over 80 columns: {wide}")
    check(" arg " not in e2e.run(l2sweep, ["--help"]).stdout, "a value shown as 'arg'")


def test_output_errors(l2sweep, data_dir, tmp_path, check):
    tmp, SMALL = str(tmp_path), small(data_dir)
    occupied = os.path.join(tmp, "occupied")
    os.makedirs(occupied)
    with open(os.path.join(occupied, "keep.txt"), "w") as f:
        f.write("precious")
    check_error(l2sweep, check, tmp, SMALL + ["--out", occupied], 4, "not empty; expected a new or empty folder",
                "non-empty --out")
    check(e2e.read_text(os.path.join(occupied, "keep.txt")) == "precious",
          "non-empty --out was modified")
    check_error(l2sweep, check, tmp, SMALL + ["--out", os.path.join(occupied, "keep.txt", "sub")],
                4, "cannot create folder", "uncreatable --out")


def test_divergence(l2sweep, data_dir, tmp_path, check):
    out = os.path.join(str(tmp_path), "diverged")
    result = e2e.run(l2sweep, small(data_dir) + ["--l2", "1e38,0.001", "--out", out])
    check(result.returncode == 5, f"diverged sweep exit {result.returncode}, expected 5")
    runs = e2e.read_summary(out)["runs"]
    check(runs[0]["status"] == "diverged" and runs[0]["diverged_at_epoch"] == 1,
          "diverged run not marked")
    check(runs[1]["status"] == "completed" and runs[1]["epochs_completed"] == 3,
          "run after a diverged one did not complete")
    check("DIVERGED" in result.stdout and "diverged" in result.stdout, "console does not say diverged")


def test_closed_pipe(l2sweep, data_dir, tmp_path, check):
    """`l2sweep ... | head -1`: the reader goes away after the first line; the sweep must still
    finish its files and exit 0 (SIGPIPE ignored, console writes that fail ignored)."""
    out = os.path.join(str(tmp_path), "piped")
    process = subprocess.Popen([l2sweep] + small(data_dir) + ["--l2", "0,0.001,0.01", "--seeds", "4",
                                                              "--out", out],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.readline()
    process.stdout.close()  # like head -1 exiting
    _, stderr = process.communicate(timeout=300)
    check(process.returncode == 0, f"sweep into a closed pipe: exit {process.returncode}: {stderr}")
    summary = e2e.read_summary(out)
    check(summary["finished"] and len(summary["runs"]) == 12,
          "sweep into a closed pipe did not finish its files")


if __name__ == "__main__":
    sys.exit(e2e.main(globals()))

"""--l2 auto against Optuna (TPE sampler, median pruner) on the same objective and budget.

In one invocation:
  1. `l2sweep --l2 auto` with the given settings, timed; its summary.json gives the budget:
     the epochs its search trained.
  2. Optuna's TPESampler with a MedianPruner, each trial one l2sweep run of one strength
     (log-uniform in the same range, seed 0), reporting each epoch's validation accuracy as
     it is written so the pruner can stop it; trials run two at a time (the cores l2sweep
     used) until the same number of epochs has been trained.
  3. Both chosen strengths (and --l2 auto's 1se) retrained together on fresh seeds, so each is
     judged on runs the search never saw: final validation accuracy, mean ± std.
Prints the chosen strengths, their fresh-seed scores, the wall times and epochs.

Needs optuna (scripts/bench/run.sh's .venv-bench: `.venv-bench/bin/pip install optuna`).
usage: .venv-bench/bin/python scripts/bench/tune_bench.py [--train-size N] [--epochs 15]
       [--fresh-seeds 3] [--binary build/bin/l2sweep] [l2sweep options...]
"""
import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import optuna


def run_auto(binary, common, out):
    start = time.perf_counter()
    subprocess.run([binary, "--l2", "auto", "--out", out] + common, check=True,
                   stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    with open(os.path.join(out, "summary.json")) as f:
        tuning = json.load(f)["tuning"]
    return tuning, seconds


class Budget:
    """Epochs trained by the trials so far, shared by the two worker threads."""

    def __init__(self, epochs):
        self.limit, self.used, self.lock = epochs, 0, threading.Lock()

    def add(self, epochs):
        with self.lock:
            self.used += epochs

    def left(self):
        with self.lock:
            return self.limit - self.used


def objective_factory(binary, common, low, high, work, budget, metric):
    def objective(trial):
        l2 = trial.suggest_float("l2", low, high, log=True)
        out = os.path.join(work, f"trial-{trial.number}")
        process = subprocess.Popen([binary, "--l2", repr(l2), "--seeds", "1", "--jobs", "1",
                                    "--out", out] + common,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        path = os.path.join(out, "metrics.csv")
        seen, value = 0, None
        try:
            while True:
                finished = process.poll() is not None
                rows = []
                if os.path.exists(path):
                    with open(path, newline="") as f:
                        rows = [r for r in csv.DictReader(f) if r.get("epoch_seconds")]
                for row in rows[seen:]:
                    seen += 1
                    budget.add(1)
                    value = float(row[metric])
                    trial.report(value, seen)
                    if trial.should_prune():
                        raise optuna.TrialPruned()
                if finished:
                    break
                time.sleep(0.05)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        if value is None:
            raise RuntimeError(f"trial {trial.number}: l2sweep wrote no epoch ({out})")
        return value

    return objective


def fresh_scores(binary, common, strengths, seed, seeds, work):
    out = os.path.join(work, "fresh")
    unique = sorted(set(strengths))
    subprocess.run([binary, "--l2", ",".join(repr(s) for s in unique), "--seed", str(seed),
                    "--seeds", str(seeds), "--out", out] + common, check=True,
                   stdout=subprocess.DEVNULL)
    with open(os.path.join(out, "summary.json")) as f:
        summary = json.load(f)
    scores = {}
    for run in summary["runs"]:
        scores.setdefault(run["l2"], []).append(run["val_accuracy"])
    return scores


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", default="build/bin/l2sweep")
    parser.add_argument("--fresh-seeds", type=int, default=3)
    parser.add_argument("--fresh-seed", type=int, default=100)
    args, common = parser.parse_known_args()

    work = tempfile.mkdtemp(prefix="l2sweep-tune-bench-")
    tuning, auto_seconds = run_auto(args.binary, common, os.path.join(work, "auto"))
    low, high = tuning["range"]
    budget = Budget(tuning["cost"]["epochs"])
    search_seconds = tuning["cost"]["seconds"]
    print(f"--l2 auto: best {tuning['best']['l2']:.4g}, 1se {tuning['one_se']['l2']:.4g}, "
          f"interval {tuning['interval'][0]:.4g} to {tuning['interval'][1]:.4g}; search "
          f"{tuning['cost']['epochs']} epochs in {search_seconds:.1f} s "
          f"({len(tuning['rounds'])} rounds, {len(tuning['candidates'])} strengths x "
          f"{tuning['seeds']} seeds); {auto_seconds:.1f} s with its final test-scored runs",
          flush=True)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    maximise = tuning["metric"] == "val_accuracy"
    study = optuna.create_study(direction="maximize" if maximise else "minimize",
                                sampler=optuna.samplers.TPESampler(seed=0),
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=5,
                                                                   n_warmup_steps=3))
    objective = objective_factory(args.binary, common, low, high, work, budget, tuning["metric"])
    start = time.perf_counter()
    while budget.left() > 0:
        study.optimize(objective, n_trials=2, n_jobs=2)
    optuna_seconds = time.perf_counter() - start
    trials = study.trials
    pruned = sum(t.state == optuna.trial.TrialState.PRUNED for t in trials)
    best_optuna = study.best_params["l2"]
    print(f"optuna TPE + median pruner: best {best_optuna:.4g} ({tuning['metric']} "
          f"{study.best_value:.4f} on its one seed), {budget.used} epochs in "
          f"{optuna_seconds:.1f} s ({len(trials)} trials, {pruned} pruned)", flush=True)

    chosen = {"--l2 auto best": tuning["best"]["l2"], "--l2 auto 1se": tuning["one_se"]["l2"],
              "optuna best": best_optuna}
    scores = fresh_scores(args.binary, common, list(chosen.values()), args.fresh_seed,
                          args.fresh_seeds, work)
    print(f"\nfinal validation accuracy on fresh seeds {args.fresh_seed}.."
          f"{args.fresh_seed + args.fresh_seeds - 1} (mean ± std):")
    for name, l2 in chosen.items():
        values = scores[min(scores, key=lambda k: abs(k - l2))]
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        print(f"  {name:<16} l2 {l2:<10.4g} {statistics.fmean(values):.4f} ± {spread:.4f}")
    print(f"\nsearch wall time for about the same epochs ({tuning['cost']['epochs']} and "
          f"{budget.used}): --l2 auto {search_seconds:.1f} s, optuna {optuna_seconds:.1f} s "
          f"(optuna / auto = {optuna_seconds / search_seconds:.2f}x); work folder {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

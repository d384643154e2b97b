#!/usr/bin/env python3
"""Breaks a small sweep on purpose and checks that nothing is lost.

usage: python3 -m pytest tests/e2e/test_resume.py [-k NAME] [--l2sweep BIN] [--data-dir DIR]
       python3 tests/e2e/test_resume.py PATH/TO/l2sweep PATH/TO/fashion-mnist-mini [-k NAME]

- kill -9 at random moments (several times, seeded), then --resume: the final metrics.csv
  rows and summary.json runs equal those of an uninterrupted sweep;
- SIGINT: exit 130, a printed command that resumes, and that command finishing the sweep
  identically;
- --resume with another option: exit 2 naming the option; without --resume a non-empty
  folder is refused;
- a damaged checkpoint: exit 3 naming the file;
- a full disk (a file-size limit): exit 4 with a one-line message, and summary.json not
  claiming a finished sweep.
The cases after test_kill_9_and_resume work on the folder it leaves (the `killed` fixture),
in the order below. Standard library only (pytest optional, see l2sweep_e2e.py).
"""
import csv
import os
import random
import re
import resource
import shlex
import signal
import subprocess
import sys
import time

import l2sweep_e2e as e2e
from l2sweep_e2e import fixture

TIMING = {"epoch_seconds", "train_seconds"}


def sweep(data_dir):
    return ["--data-dir", data_dir, "--val-size", "200", "--epochs", "5", "--l2", "0,0.001,0.01",
            "--seeds", "2", "--batch-size", "8", "--device", "cpu"]


def rows(out):
    return e2e.metrics_rows(out, leave_out=TIMING)


def runs(out):
    return e2e.summary_runs(out, leave_out=TIMING)


def same_as_reference(check, out, reference, label):
    check(rows(out) == rows(reference), f"{label}: metrics.csv differs from the uninterrupted sweep")
    summary, got = runs(out)
    check(summary["finished"] is True, f"{label}: summary.json not finished")
    check(got == runs(reference)[1], f"{label}: summary.json runs differ from the uninterrupted sweep")
    for name in ("l2-0.001_seed-1.csv",):
        check(e2e.read_text(os.path.join(out, "tensorboard", name)) ==
              e2e.read_text(os.path.join(reference, "tensorboard", name)),
              f"{label}: Keras CSV {name} differs")


@fixture
def reference(l2sweep, data_dir, tmp_path_factory):
    """An uninterrupted sweep, the numbers every broken one must end with."""
    return e2e.reference_sweep(l2sweep, sweep(data_dir), tmp_path_factory)


@fixture
def killed(l2sweep, data_dir, reference, tmp_path_factory):
    """kill -9 at seeded random moments, each time resuming what the last kill left: the
    folder, the kills that landed mid-sweep and the last resume's exit code."""
    SWEEP, chance = sweep(data_dir), random.Random(20261126)
    total = len(rows(reference))
    killed = os.path.join(str(tmp_path_factory.mktemp("killed")), "killed")
    kills = 0
    process = subprocess.Popen([l2sweep] + SWEEP + ["--out", killed],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for attempt in range(4):
        e2e.wait_for_rows(killed, chance.randint(1, total - 1), limit=30)
        time.sleep(chance.uniform(0, 0.05))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait()
        process = subprocess.Popen([l2sweep] + SWEEP + ["--out", killed, "--resume"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return killed, kills, process.wait()


def test_kill_9_and_resume(killed, reference, check):
    killed, kills, last_exit = killed
    check(last_exit == 0, "the last resume failed")
    check(kills >= 2, f"only {kills} kills landed mid-sweep")
    same_as_reference(check, killed, reference, f"after {kills} kill -9")


def test_rebuild_lost_outputs(l2sweep, data_dir, killed, reference, check):
    # Outputs are rebuilt from the checkpoints: even a metrics.csv cut to its header
    # (or lost) comes back whole on --resume.
    killed = killed[0]
    with open(os.path.join(killed, "metrics.csv")) as f:
        header = f.readline()
    with open(os.path.join(killed, "metrics.csv"), "w") as f:
        f.write(header)
    os.remove(os.path.join(killed, "tensorboard", "l2-0.001_seed-1.csv"))
    result = e2e.run(l2sweep, sweep(data_dir) + ["--out", killed, "--resume"])
    check(result.returncode == 0, f"resume of a finished sweep failed: {result.stderr}")
    same_as_reference(check, killed, reference, "after rebuilding lost outputs")


def test_noop_resume_changes_nothing(l2sweep, data_dir, killed, check):
    # A resume of a finished sweep whose outputs are whole trains nothing and changes no
    # file, byte for byte (nor the lock files, nor any timestamp inside summary.json).
    killed = killed[0]
    before = e2e.snapshot(killed)
    result = e2e.run(l2sweep, sweep(data_dir) + ["--out", killed, "--resume"])
    check(result.returncode == 0, f"no-op resume exit {result.returncode}: {result.stderr}")
    check("are complete: nothing to train" in result.stdout
          and "no file changed" in result.stdout and "Recommendation: " in result.stdout,
          f"no-op resume console: {result.stdout[:300]!r}")
    after = e2e.snapshot(killed)
    check(after == before, "a resume of a finished sweep changed files: " +
          ", ".join(e2e.changed_files(before, after)))


def test_sigint_and_printed_resume(l2sweep, data_dir, reference, tmp_path, check):
    # SIGINT: stop at a batch, say how to resume, resume identically.
    total = len(rows(reference))
    stopped = os.path.join(str(tmp_path), "stopped")
    process = subprocess.Popen([l2sweep] + sweep(data_dir) + ["--out", stopped],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    e2e.wait_for_rows(stopped, 3)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    check(process.returncode == 130, f"SIGINT exit {process.returncode}, expected 130")
    lines = [l for l in err.splitlines() if l.startswith("to continue: ")]
    check(len(lines) == 1 and "--resume" in lines[0], f"no resume command in {err!r}")
    summary, _ = runs(stopped)
    check(summary["finished"] is False, "an interrupted sweep claims to be finished")
    restored_rows = len(rows(stopped))
    first_seconds = summary["sweep_seconds"]
    check(isinstance(first_seconds, float) and first_seconds > 0,
          f"an interrupted sweep records no training time: {first_seconds!r}")
    if lines:
        resumed = subprocess.run(shlex.split(lines[0][len("to continue: "):]),
                                 capture_output=True, text=True, timeout=300)
        check(resumed.returncode == 0, f"printed resume command failed: {resumed.stderr}")
        same_as_reference(check, stopped, reference, "after SIGINT")
        # It said what it resumes, and printed no restored epoch as if it trained it: one
        # epoch line for each epoch that was not in the checkpoints.
        check(re.search(r"^resuming l2=\S+ seed \d+ at epoch \d+/5 \(\d+ restored\)$",
                        resumed.stdout, re.M) is not None or "runs complete" in resumed.stdout,
              f"resume does not say what it resumes: {resumed.stdout[:400]!r}")
        epoch_lines = re.findall(r"^\[ *\d+/\d+] epoch \d+/5 ", resumed.stdout, re.M)
        check(len(epoch_lines) == total - restored_rows,
              f"{len(epoch_lines)} epoch lines printed by the resume; {total - restored_rows} "
              f"epochs were left to train ({restored_rows} restored)")
        # summary.json keeps the first start, lists both processes, sums their seconds.
        after, _ = runs(stopped)
        check(after["started_at"] == summary["started_at"],
              f"started_at {summary['started_at']} became {after['started_at']}")
        check(len(after["command_lines"]) == 2 and after["command_lines"][1].endswith("--resume")
              and after["command_line"] == after["command_lines"][0],
              f"command lines: {after['command_lines']!r}")
        check(after["sweep_seconds"] > first_seconds,
              f"sweep_seconds {after['sweep_seconds']} is not the sum over processes "
              f"(the first trained {first_seconds})")


def test_changed_options_refused(l2sweep, data_dir, killed, check):
    # Options that differ from the folder's sweep are refused, naming the option.
    SWEEP, killed = sweep(data_dir), killed[0]
    result = e2e.run(l2sweep, SWEEP[:-6] + ["--seeds", "3", "--batch-size", "8", "--device", "cpu",
                                            "--out", killed, "--resume"])
    check(result.returncode == 2 and "--seeds differs" in result.stderr,
          f"changed --seeds on resume: exit {result.returncode}, {result.stderr!r}")
    result = e2e.run(l2sweep, SWEEP + ["--out", killed])
    check(result.returncode == 4 and "not empty" in result.stderr,
          "a finished folder was reused without --resume")


def test_damaged_checkpoint(l2sweep, data_dir, killed, check):
    # A damaged checkpoint is named, not loaded.
    killed = killed[0]
    damaged = os.path.join(killed, "checkpoints", "l2-0.01_seed-0.pt")
    with open(damaged, "r+b") as f:
        f.seek(200)
        f.write(b"\x00" * 4000)
    result = e2e.run(l2sweep, sweep(data_dir) + ["--out", killed, "--resume"])
    check(result.returncode == 3 and "l2-0.01_seed-0.pt: damaged checkpoint" in result.stderr
          and len(result.stderr.strip().splitlines()) == 1,
          f"damaged checkpoint: exit {result.returncode}, {result.stderr!r}")


def test_full_disk(l2sweep, data_dir, tmp_path, check):
    # A full disk, simulated with a file-size limit below one checkpoint.
    full = os.path.join(str(tmp_path), "full")
    limit = lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000))  # noqa: E731
    result = e2e.run(l2sweep, sweep(data_dir) + ["--out", full], preexec_fn=limit)
    err = result.stderr.strip().splitlines()
    check(result.returncode == 4, f"full disk: exit {result.returncode}, expected 4")
    check(len(err) == 1 and err[0].startswith("error: ") and "File too large" in err[0],
          f"full disk message: {result.stderr!r}")
    summary, _ = runs(full)
    check(summary["finished"] is False, "summary.json claims a finished sweep after a failed write")
    with open(os.path.join(full, "metrics.csv"), newline="") as f:
        written = [(float(r["l2"]), int(r["seed"])) for r in csv.DictReader(f)]
    for r in summary["runs"]:
        # A run beside the failing one may be listed as interrupted, with exactly the
        # epochs whose rows (written after their checkpoint) are on disk.
        check(r["status"] != "completed", f"run l2={r['l2']} claims completion")
        check(r["epochs_completed"] == written.count((r["l2"], r["seed"])),
              f"run l2={r['l2']} seed={r['seed']} claims {r['epochs_completed']} epochs")


@fixture
def single(l2sweep, data_dir, tmp_path_factory):
    """The sweep run by one process with --jobs 1, which shards merged must equal."""
    out = os.path.join(str(tmp_path_factory.mktemp("single")), "single")
    e2e.require(e2e.run(l2sweep, sweep(data_dir) + ["--out", out, "--jobs", "1"]).returncode == 0,
                "single-machine sweep")
    return out


def test_shards_merged(l2sweep, data_dir, single, tmp_path, check):
    # Shards run by hand, in another order, then merged: the same files as one machine.
    SWEEP = sweep(data_dir)
    sharded = os.path.join(str(tmp_path), "sharded")
    partial = e2e.run(l2sweep, SWEEP + ["--out", sharded, "--shard", "1/3"])
    check(partial.returncode == 0, f"shard 1/3 failed: {partial.stderr}")
    merged = e2e.run(l2sweep, ["merge", sharded])
    check(merged.returncode == 6 and "missing: l2-0_seed-0" in merged.stdout,
          f"merge of one shard of three: exit {merged.returncode}, expected 6 and a missing list")
    for index in (2, 0):
        result = e2e.run(l2sweep, SWEEP + ["--out", sharded, "--shard", f"{index}/3"])
        check(result.returncode == 0, f"shard {index}/3 failed: {result.stderr}")
    merged = e2e.run(l2sweep, ["merge", sharded])
    check(merged.returncode == 0, f"merge exit {merged.returncode}: {merged.stderr}")
    with open(os.path.join(sharded, "metrics.csv")) as a, open(os.path.join(single, "metrics.csv")) as b:
        strip = lambda f: [",".join(line.split(",")[:11]) for line in f]  # noqa: E731
        check(strip(a) == strip(b), "merged metrics.csv differs from the single-machine sweep")
    check(runs(sharded)[1] == runs(single)[1], "merged summary.json runs differ")
    check(e2e.read_text(os.path.join(sharded, "report.md")) ==
          e2e.read_text(os.path.join(single, "report.md")), "merged report.md differs")
    result = e2e.run(l2sweep, SWEEP[:-6] + ["--seeds", "5", "--batch-size", "8", "--device", "cpu",
                                            "--out", sharded, "--shard", "0/3"])
    check(result.returncode == 2 and "--seeds differs" in result.stderr,
          "a shard with other options joined the sweep")
    result = e2e.run(l2sweep, SWEEP + ["--shuffle", "once", "--out", sharded, "--shard", "0/3"])
    check(result.returncode == 2 and "--shuffle differs" in result.stderr,
          f"a --shuffle once shard joined a reshuffled sweep: {result.stderr}")


def test_shuffle_once(l2sweep, data_dir, reference, single, tmp_path, check):
    # --shuffle once: shards merged, and a sweep killed and resumed, equal one process.
    tmp, total = str(tmp_path), len(rows(reference))
    once = sweep(data_dir) + ["--shuffle", "once"]
    single_once = os.path.join(tmp, "single-once")
    check(e2e.run(l2sweep, once + ["--out", single_once, "--jobs", "1"]).returncode == 0,
          "--shuffle once")
    check(runs(single_once)[1] != runs(single)[1], "--shuffle once changed no number")
    sharded_once = os.path.join(tmp, "sharded-once")
    for index in (1, 0):
        result = e2e.run(l2sweep, once + ["--out", sharded_once, "--shard", f"{index}/2"])
        check(result.returncode == 0, f"--shuffle once shard {index}/2: {result.stderr}")
    check(e2e.run(l2sweep, ["merge", sharded_once]).returncode == 0,
          "merge of --shuffle once shards")
    check(runs(sharded_once)[1] == runs(single_once)[1],
          "merged --shuffle once shards differ from one process")
    killed_once = os.path.join(tmp, "killed-once")
    process = subprocess.Popen([l2sweep] + once + ["--out", killed_once],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    e2e.wait_for_rows(killed_once, total // 2, limit=30)
    process.send_signal(signal.SIGKILL)
    process.wait()
    check(e2e.run(l2sweep, once + ["--out", killed_once, "--resume"]).returncode == 0,
          "resume of a killed --shuffle once sweep")
    same_as_reference(check, killed_once, single_once, "--shuffle once after kill -9")


if __name__ == "__main__":
    sys.exit(e2e.main(globals()))

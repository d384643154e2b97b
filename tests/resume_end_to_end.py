#!/usr/bin/env python3
"""Breaks a small sweep on purpose and checks that nothing is lost.

usage: resume_end_to_end.py PATH/TO/l2sweep PATH/TO/fashion-mnist-mini

- kill -9 at random moments (several times, seeded), then --resume: the final metrics.csv
  rows and summary.json runs equal those of an uninterrupted sweep;
- SIGINT: exit 130, a printed command that resumes, and that command finishing the sweep
  identically;
- --resume with another option: exit 2 naming the option; without --resume a non-empty
  folder is refused;
- a damaged checkpoint: exit 3 naming the file;
- a full disk (a file-size limit): exit 4 with a one-line message, and summary.json not
  claiming a finished sweep.
Standard library only.
"""
import csv
import json
import os
import random
import re
import resource
import shlex
import signal
import subprocess
import sys
import tempfile
import time

BINARY, FIXTURE = sys.argv[1], sys.argv[2]
SWEEP = ["--data-dir", FIXTURE, "--val-size", "200", "--epochs", "5", "--l2", "0,0.001,0.01",
         "--seeds", "2", "--batch-size", "8", "--device", "cpu"]
TIMING = {"epoch_seconds", "train_seconds"}
failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
        print("FAIL:", message)


def run(args, **kwargs):
    return subprocess.run([BINARY] + args, capture_output=True, text=True, timeout=300, **kwargs)


def rows(out):
    with open(os.path.join(out, "metrics.csv"), newline="") as f:
        return sorted(tuple((k, v) for k, v in row.items() if k not in TIMING)
                      for row in csv.DictReader(f))


def runs(out):
    with open(os.path.join(out, "summary.json")) as f:
        summary = json.load(f)
    return summary, [{k: v for k, v in r.items() if k not in TIMING} for r in summary["runs"]]


def same_as_reference(out, reference, label):
    check(rows(out) == rows(reference), f"{label}: metrics.csv differs from the uninterrupted sweep")
    summary, got = runs(out)
    check(summary["finished"] is True, f"{label}: summary.json not finished")
    check(got == runs(reference)[1], f"{label}: summary.json runs differ from the uninterrupted sweep")
    for name in ("l2-0.001_seed-1.csv",):
        with open(os.path.join(out, "tensorboard", name)) as a, \
                open(os.path.join(reference, "tensorboard", name)) as b:
            check(a.read() == b.read(), f"{label}: Keras CSV {name} differs")


def hashes(folder):
    """Every file under `folder` (lock files included) by its relative path: its bytes."""
    found = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, folder)] = f.read()
    return found


def wait_for_rows(out, count, limit=60):
    path = os.path.join(out, "metrics.csv")
    deadline = time.time() + limit
    while time.time() < deadline:
        if os.path.exists(path):
            with open(path) as f:
                if sum(1 for _ in f) - 1 >= count:
                    return True
        time.sleep(0.01)
    return False


def main():
    random.seed(20261126)
    with tempfile.TemporaryDirectory(prefix="l2sweep-resume-") as tmp:
        reference = os.path.join(tmp, "reference")
        result = run(SWEEP + ["--out", reference])
        check(result.returncode == 0, f"reference sweep failed: {result.stderr}")
        total = len(rows(reference))

        # kill -9 at random moments, each time resuming what the last kill left.
        killed = os.path.join(tmp, "killed")
        kills = 0
        process = subprocess.Popen([BINARY] + SWEEP + ["--out", killed],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for attempt in range(4):
            wait_for_rows(killed, random.randint(1, total - 1), limit=30)
            time.sleep(random.uniform(0, 0.05))
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                kills += 1
            process.wait()
            process = subprocess.Popen([BINARY] + SWEEP + ["--out", killed, "--resume"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        check(process.wait() == 0, "the last resume failed")
        check(kills >= 2, f"only {kills} kills landed mid-sweep")
        same_as_reference(killed, reference, f"after {kills} kill -9")

        # Outputs are rebuilt from the checkpoints: even a metrics.csv cut to its header
        # (or lost) comes back whole on --resume.
        with open(os.path.join(killed, "metrics.csv")) as f:
            header = f.readline()
        with open(os.path.join(killed, "metrics.csv"), "w") as f:
            f.write(header)
        os.remove(os.path.join(killed, "tensorboard", "l2-0.001_seed-1.csv"))
        result = run(SWEEP + ["--out", killed, "--resume"])
        check(result.returncode == 0, f"resume of a finished sweep failed: {result.stderr}")
        same_as_reference(killed, reference, "after rebuilding lost outputs")

        # A resume of a finished sweep whose outputs are whole trains nothing and changes no
        # file, byte for byte (nor the lock files, nor any timestamp inside summary.json).
        before = hashes(killed)
        result = run(SWEEP + ["--out", killed, "--resume"])
        check(result.returncode == 0, f"no-op resume exit {result.returncode}: {result.stderr}")
        check("are complete: nothing to train" in result.stdout
              and "no file changed" in result.stdout and "Recommendation: " in result.stdout,
              f"no-op resume console: {result.stdout[:300]!r}")
        check(hashes(killed) == before, "a resume of a finished sweep changed files: " +
              ", ".join(sorted(k for k in set(before) | set(hashes(killed))
                               if before.get(k) != hashes(killed).get(k))))

        # SIGINT: stop at a batch, say how to resume, resume identically.
        stopped = os.path.join(tmp, "stopped")
        process = subprocess.Popen([BINARY] + SWEEP + ["--out", stopped], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        wait_for_rows(stopped, 3)
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
            same_as_reference(stopped, reference, "after SIGINT")
            # It said what it resumes, and printed no restored epoch as if it trained it: one
            # epoch line for each epoch that was not in the checkpoints.
            check(re.search(r"^resuming l2=\S+ seed \d+ at epoch \d+/5 \(\d+ restored\)$",
                            resumed.stdout, re.M) is not None or "runs complete" in resumed.stdout,
                  f"resume does not say what it resumes: {resumed.stdout[:400]!r}")
            epoch_lines = re.findall(r"^\s+l2=\S+ seed=\d+ epoch \d+/5 ", resumed.stdout, re.M)
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

        # Options that differ from the folder's sweep are refused, naming the option.
        result = run(SWEEP[:-6] + ["--seeds", "3", "--batch-size", "8", "--device", "cpu",
                                   "--out", killed, "--resume"])
        check(result.returncode == 2 and "--seeds differs" in result.stderr,
              f"changed --seeds on resume: exit {result.returncode}, {result.stderr!r}")
        result = run(SWEEP + ["--out", killed])
        check(result.returncode == 4 and "not empty" in result.stderr,
              "a finished folder was reused without --resume")

        # A damaged checkpoint is named, not loaded.
        damaged = os.path.join(killed, "checkpoints", "l2-0.01_seed-0.pt")
        with open(damaged, "r+b") as f:
            f.seek(200)
            f.write(b"\x00" * 4000)
        result = run(SWEEP + ["--out", killed, "--resume"])
        check(result.returncode == 3 and "l2-0.01_seed-0.pt: damaged checkpoint" in result.stderr
              and len(result.stderr.strip().splitlines()) == 1,
              f"damaged checkpoint: exit {result.returncode}, {result.stderr!r}")

        # A full disk, simulated with a file-size limit below one checkpoint.
        full = os.path.join(tmp, "full")
        limit = lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000))
        result = run(SWEEP + ["--out", full], preexec_fn=limit)
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

        # Shards run by hand, in another order, then merged: the same files as one machine.
        sharded = os.path.join(tmp, "sharded")
        partial = run(SWEEP + ["--out", sharded, "--shard", "1/3"])
        check(partial.returncode == 0, f"shard 1/3 failed: {partial.stderr}")
        merged = run(["merge", sharded])
        check(merged.returncode == 6 and "missing: l2-0_seed-0" in merged.stdout,
              f"merge of one shard of three: exit {merged.returncode}, expected 6 and a missing list")
        for index in (2, 0):
            result = run(SWEEP + ["--out", sharded, "--shard", f"{index}/3"])
            check(result.returncode == 0, f"shard {index}/3 failed: {result.stderr}")
        merged = run(["merge", sharded])
        check(merged.returncode == 0, f"merge exit {merged.returncode}: {merged.stderr}")
        single = os.path.join(tmp, "single")
        check(run(SWEEP + ["--out", single, "--jobs", "1"]).returncode == 0, "single-machine sweep")
        with open(os.path.join(sharded, "metrics.csv")) as a, open(os.path.join(single, "metrics.csv")) as b:
            strip = lambda f: [",".join(line.split(",")[:11]) for line in f]
            check(strip(a) == strip(b), "merged metrics.csv differs from the single-machine sweep")
        check(runs(sharded)[1] == runs(single)[1], "merged summary.json runs differ")
        with open(os.path.join(sharded, "report.md")) as a, open(os.path.join(single, "report.md")) as b:
            check(a.read() == b.read(), "merged report.md differs")
        result = run(SWEEP[:-6] + ["--seeds", "5", "--batch-size", "8", "--device", "cpu", "--out", sharded,
                                   "--shard", "0/3"])
        check(result.returncode == 2 and "--seeds differs" in result.stderr,
              "a shard with other options joined the sweep")
        result = run(SWEEP + ["--shuffle", "once", "--out", sharded, "--shard", "0/3"])
        check(result.returncode == 2 and "--shuffle differs" in result.stderr,
              f"a --shuffle once shard joined a reshuffled sweep: {result.stderr}")

        # --shuffle once: shards merged, and a sweep killed and resumed, equal one process.
        once = SWEEP + ["--shuffle", "once"]
        single_once = os.path.join(tmp, "single-once")
        check(run(once + ["--out", single_once, "--jobs", "1"]).returncode == 0, "--shuffle once")
        check(runs(single_once)[1] != runs(single)[1], "--shuffle once changed no number")
        sharded_once = os.path.join(tmp, "sharded-once")
        for index in (1, 0):
            result = run(once + ["--out", sharded_once, "--shard", f"{index}/2"])
            check(result.returncode == 0, f"--shuffle once shard {index}/2: {result.stderr}")
        check(run(["merge", sharded_once]).returncode == 0, "merge of --shuffle once shards")
        check(runs(sharded_once)[1] == runs(single_once)[1],
              "merged --shuffle once shards differ from one process")
        killed_once = os.path.join(tmp, "killed-once")
        process = subprocess.Popen([BINARY] + once + ["--out", killed_once],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_rows(killed_once, total // 2, limit=30)
        process.send_signal(signal.SIGKILL)
        process.wait()
        check(run(once + ["--out", killed_once, "--resume"]).returncode == 0,
              "resume of a killed --shuffle once sweep")
        same_as_reference(killed_once, single_once, "--shuffle once after kill -9")

    print(f"{'FAILED' if failures else 'passed'}: {len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Nothing lost, tried the hostile way: kills and full disks at exact writes (strace's syscall
injection), two processes on one folder, tampered checkpoints and sweep.cfg, refusals that must
not change a byte, requeues, and data too large for the machine.

usage: python3 -m pytest tests/e2e/test_fault_injection.py [-k NAME] [--l2sweep BIN]
                        [--data-dir DIR]
       python3 tests/e2e/test_fault_injection.py L2SWEEP_BINARY FIXTURE_DIR [-k NAME]

The cases that need strace skip without it; test_close_errors_event_files skips without the
LD_PRELOAD library of tests/support/failing_close.cpp ($L2SWEEP_FAILING_CLOSE_LIBRARY, which
CTest sets, else the one built beside the binary). Standard library only (pytest optional,
see l2sweep_e2e.py).
"""
import gzip
import os
import shutil
import signal
import struct
import subprocess
import sys
import time

import l2sweep_e2e as e2e
from l2sweep_e2e import expect_error, fixture, snapshot

TIMING = {"epoch_seconds", "train_seconds", "engine"}


def sweep(data_dir):
    return ["--data-dir", data_dir, "--val-size", "200", "--epochs", "3", "--l2", "0,0.001",
            "--seeds", "2", "--batch-size", "16", "--device", "cpu"]


def under_strace(l2sweep, args, inject, trace):
    """`args` under strace, which applies `inject` (strace's -e inject=) to the traced calls."""
    command = ["strace", "-f", "-qq", "-o", "/dev/null", "-e", f"trace={trace}",
               "-e", f"inject={trace}:{inject}", l2sweep] + args
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def under_strace_path(l2sweep, args, path):
    """`args` under strace, every close() of `path` failing with EIO (the file is not closed)."""
    command = ["strace", "-f", "-qq", "-o", "/dev/null", "-P", path, "-e", "trace=close",
               "-e", "inject=close:error=EIO", l2sweep] + args
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def results(out):
    """metrics.csv rows and summary.json runs, timings left out, in a fixed order."""
    rows = e2e.metrics_rows(out, leave_out=TIMING)
    summary, runs = e2e.summary_runs(out, leave_out=TIMING)
    return rows, runs, summary


def same_results(check, out, reference, label):
    rows, runs, summary = results(out)
    ref_rows, ref_runs, _ = results(reference)
    check(rows == ref_rows, f"{label}: metrics.csv differs from the uninterrupted sweep")
    check(runs == ref_runs, f"{label}: summary.json runs differ from the uninterrupted sweep")
    check(summary["finished"], f"{label}: summary.json is not marked finished")


def resume_until_done(l2sweep, check, out, label, args):
    result = e2e.run(l2sweep, args + ["--out", out, "--resume"])
    check(result.returncode == 0, f"{label}: --resume exit {result.returncode}: "
                                  f"{result.stderr.strip()}")
    return result.returncode == 0


def flip_middle(path):
    with open(path, "r+b") as f:
        size = os.path.getsize(path)
        f.seek(size // 2)
        chunk = bytearray(f.read(64))
        for i in range(len(chunk)):
            chunk[i] ^= 0x5A
        f.seek(size // 2)
        f.write(chunk)


@fixture
def reference(l2sweep, data_dir, tmp_path_factory):
    """An uninterrupted sweep, the numbers every broken one must end with."""
    return e2e.reference_sweep(l2sweep, sweep(data_dir), tmp_path_factory)


def test_kills_and_full_disks(l2sweep, data_dir, reference, tmp_path, check):
    e2e.require_strace()
    tmp, SWEEP = str(tmp_path), sweep(data_dir)
    # Killed at the Nth rename (every atomic write ends with one) or the Nth write (appends),
    # then resumed: the same numbers as an uninterrupted sweep.
    for trace, n in [("rename", 1), ("rename", 2), ("rename", 5), ("rename", 9), ("rename", 14),
                     ("write", 3), ("write", 40), ("write", 120)]:
        out = os.path.join(tmp, f"killed-{trace}-{n}")
        killed = under_strace(l2sweep, SWEEP + ["--out", out], f"signal=SIGKILL:when={n}", trace)
        check(killed.returncode in (-9, 137, 0), f"kill at {trace} {n}: exit {killed.returncode}")
        if resume_until_done(l2sweep, check, out, f"kill at {trace} {n}", SWEEP):
            same_results(check, out, reference, f"kill at {trace} {n}")
            check(not [p for p in snapshot(out) if ".tmp." in p],
                  f"kill at {trace} {n}: a temporary file was left after the resume")
    # A full disk at the Nth write (strace counts per thread: one job, so N is the process's
    # Nth write; --quiet: the console makes no write call, so every one counted is a file's):
    # exit 4 naming the file, nothing claimed that was not written, and a resume finishes the
    # sweep.
    for n in (2, 3, 5, 60):
        out = os.path.join(tmp, f"full-{n}")
        full = under_strace(l2sweep, SWEEP + ["--out", out, "--jobs", "1", "--quiet"],
                            f"error=ENOSPC:when={n}", "write")
        expect_error(check, full, 4, f"disk full at write {n}", "No space left on device")
        if os.path.exists(os.path.join(out, "summary.json")):
            _, runs, _ = results(out)
            check(all(r["status"] != "completed" or r["epochs_completed"] == 3 for r in runs),
                  f"disk full at write {n}: a run claims more than was written")
        if resume_until_done(l2sweep, check, out, f"disk full at write {n}", SWEEP):
            same_results(check, out, reference, f"disk full at write {n}")


def test_resumed_row_order(l2sweep, data_dir, tmp_path, check):
    e2e.require_strace()
    tmp, SWEEP = str(tmp_path), sweep(data_dir)

    # Killed where a cohort's members stand at different epochs, then resumed with --jobs 1:
    # metrics.csv line for line as a --jobs 1 sweep never interrupted writes it.
    def ordered(out):
        return e2e.metrics_rows(out, leave_out=TIMING, ordered=True)
    jobs1 = SWEEP + ["--jobs", "1"]
    reference = os.path.join(tmp, "order-reference")
    check(e2e.run(l2sweep, jobs1 + ["--out", reference]).returncode == 0,
          "--jobs 1 reference sweep")
    for n in (3, 4, 5, 7):
        out = os.path.join(tmp, f"order-killed-{n}")
        under_strace(l2sweep, jobs1 + ["--out", out], f"signal=SIGKILL:when={n}", "rename")
        if resume_until_done(l2sweep, check, out, f"row order after a kill at rename {n}", jobs1):
            check(ordered(out) == ordered(reference),
                  f"kill at rename {n} and --resume --jobs 1: metrics.csv rows in another order")
    # A resume stopped again (SIGINT) before it reached every unit keeps every row it began
    # with: the rows of finished runs it never touched included.
    for n in (1, 3):
        out = os.path.join(tmp, f"order-interrupted-{n}")
        under_strace(l2sweep, SWEEP + ["--jobs", "2", "--out", out], "signal=SIGKILL:when=8",
                     "rename")
        before = set(ordered(out))
        stopped = under_strace(l2sweep, jobs1 + ["--out", out, "--resume"],
                               f"signal=SIGINT:when={n}", "rename")
        after = set(ordered(out))
        check(before <= after, f"a resume interrupted at rename {n} (exit {stopped.returncode}) "
                               f"dropped {len(before - after)} of {len(before)} metrics.csv rows")


def test_compare_folders(l2sweep, reference, tmp_path, check):
    e2e.require_strace()
    tmp = str(tmp_path)
    # `l2sweep compare` writes its folder whole or not at all, one writer at a time.
    copy = os.path.join(tmp, "compare-source")
    shutil.copytree(reference, copy, ignore=shutil.ignore_patterns(".l2sweep*"))
    args = ["compare", reference, copy]
    # Killed at each rename (its files' and the folder's): no partial folder, nothing left
    # beside it once the same command is rerun, and the rerun writes the whole comparison.
    for n in range(1, 7):
        out = os.path.join(tmp, f"compare-killed-{n}")
        killed = under_strace(l2sweep, args + ["--out", out], f"signal=SIGKILL:when={n}", "rename")
        if killed.returncode == 0:
            continue  # fewer renames than n
        listed = os.listdir(out) if os.path.isdir(out) else []
        check(not [f for f in listed if not f.startswith(".l2sweep")],
              f"compare killed at rename {n} left a partial folder: {listed}")
        again = e2e.run(l2sweep, args + ["--out", out])
        check(again.returncode == 0, f"rerun after compare killed at rename {n}: "
                                     f"{again.returncode} {again.stderr.strip()}")
        check(sorted(f for f in os.listdir(out) if not f.startswith(".")) ==
              ["compare.csv", "compare.json", "compare.md", "curves.csv"],
              f"rerun after compare killed at rename {n}: {os.listdir(out)}")
        check(not [f for f in os.listdir(tmp) if f.startswith(".l2sweep-staging.")],
              f"compare killed at rename {n}: its staging folder is still there")
    # Into an existing folder (a mount point, a shared folder): filled in place, compare.md
    # last; a killed one never leaves compare.md, and its rerun clears what it left.
    for n in range(1, 9):
        out = os.path.join(tmp, f"compare-existing-{n}")
        os.mkdir(out)
        killed = under_strace(l2sweep, args + ["--out", out], f"signal=SIGKILL:when={n}", "rename")
        if killed.returncode == 0:
            continue
        check(not os.path.exists(os.path.join(out, "compare.md")),
              f"compare into an existing folder killed at rename {n} left compare.md")
        again = e2e.run(l2sweep, args + ["--out", out])
        check(again.returncode == 0, f"rerun into the existing folder after a kill at rename {n}:"
                                     f" {again.returncode} {again.stderr.strip()}")
        check(sorted(os.listdir(out)) == [".l2sweep.lock", "compare.csv", "compare.json",
                                          "compare.md", "curves.csv"],
              f"rerun into the existing folder after a kill at rename {n}: {os.listdir(out)}")
    # Two comparisons into one folder (the first slowed down at every rename): one writes it
    # whole, the other is refused with exit 4 naming the folder; nothing is mixed.
    for existing in (False, True):
        out = os.path.join(tmp, f"compare-two-{existing}")
        if existing:
            os.mkdir(out)
        slow = subprocess.Popen(["strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=rename",
                                 "-e", "inject=rename:delay_enter=700000", l2sweep] + args +
                                ["--out", out], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        time.sleep(0.5)
        fast = e2e.run(l2sweep, args + ["--metric", "loss", "--out", out])
        slow_out, slow_err = slow.communicate(timeout=120)
        codes = sorted([slow.returncode, fast.returncode])
        check(codes == [0, 4], f"two compares into one folder (existing={existing}): exits "
                               f"{slow.returncode} {slow_err.strip()!r}, {fast.returncode} "
                               f"{fast.stderr.strip()!r}")
        metric = e2e.read_json(os.path.join(out, "compare.json")).get("metric")
        md = e2e.read_text(os.path.join(out, "compare.md"))
        check(("final loss" in md) == (metric == "loss"),
              f"two compares into one folder (existing={existing}): compare.md and "
              f"compare.json come from different comparisons")


def test_clear_messages(l2sweep, data_dir, reference, tmp_path, check):
    # What used to read as something else now says what it is.
    tmp, SWEEP = str(tmp_path), sweep(data_dir)
    out = os.path.join(tmp, "message-out")
    env = dict(os.environ, L2SWEEP_OUT_DIR_FILE=os.path.join(reference, "metrics.csv"))
    before = snapshot(reference)
    result = e2e.run(l2sweep, SWEEP + ["--out", reference, "--resume"], env=env)
    expect_error(check, result, 2, "L2SWEEP_OUT_DIR_FILE inside --out", "L2SWEEP_OUT_DIR_FILE=",
                 "inside --out", "would overwrite a result")
    check(snapshot(reference) == before, "L2SWEEP_OUT_DIR_FILE inside --out changed the sweep")
    env = dict(os.environ, L2SWEEP_OUT_DIR_FILE=os.path.join(tmp, "no-such-folder", "out.txt"))
    result = e2e.run(l2sweep, SWEEP + ["--out", out], env=env)
    expect_error(check, result, 2, "an unwritable L2SWEEP_OUT_DIR_FILE", "cannot be written")
    check(not os.path.exists(out), "an unwritable L2SWEEP_OUT_DIR_FILE ran the sweep first")
    result = e2e.run(l2sweep, SWEEP + ["--out", os.path.join(tmp, "x" * 300)])
    expect_error(check, result, 4, "an over-long --out", "cannot use it as a folder",
                 "File name too long")
    search = os.path.join(tmp, "a-search")
    os.makedirs(search)
    with open(os.path.join(search, "tuning.cfg"), "w") as f:
        f.write("{}")
    expect_error(check, e2e.run(l2sweep, SWEEP + ["--out", search, "--resume"]), 2,
                 "a list --resume on a search", "holds an --l2 auto search", "--l2 auto")
    expect_error(check, e2e.run(l2sweep, ["compare", reference, search]), 3,
                 "compare on a search folder", "an --l2 auto search", os.path.join(search, "final"))


def close_error(l2sweep, check, data_dir, reference, tmp, name, failing):
    # EIO at close (or at the fsync before it) of a file written by appending: exit 4 naming
    # the file, summary.json not calling the sweep finished, and a resume finishing it.
    out = os.path.join(tmp, f"close-{name}")
    result = failing(out)
    expect_error(check, result, 4, f"EIO at close of {name}", name, "Input/output error")
    if os.path.exists(os.path.join(out, "summary.json")):
        _, _, summary = results(out)
        check(not summary["finished"], f"EIO at close of {name}: summary.json says finished")
    if resume_until_done(l2sweep, check, out, f"EIO at close of {name}", sweep(data_dir)):
        same_results(check, out, reference, f"EIO at close of {name}")


def test_close_errors(l2sweep, data_dir, reference, tmp_path, check):
    # strace injects into files it can name: metrics.csv and a Keras CSV.
    e2e.require_strace()
    SWEEP = sweep(data_dir)
    cases = [("metrics.csv", lambda out: under_strace_path(
                 l2sweep, SWEEP + ["--out", out], os.path.join(out, "metrics.csv"))),
             ("l2-0.001_seed-1.csv", lambda out: under_strace_path(
                 l2sweep, SWEEP + ["--out", out],
                 os.path.join(out, "tensorboard", "l2-0.001_seed-1.csv")))]
    for name, failing in cases:
        close_error(l2sweep, check, data_dir, reference, str(tmp_path), name, failing)


def test_close_errors_event_files(l2sweep, data_dir, reference, tmp_path, check):
    # The LD_PRELOAD library injects into event files, whose names are their own.
    library = e2e.failing_close_library(l2sweep)
    SWEEP = sweep(data_dir)
    close_error(l2sweep, check, data_dir, reference, str(tmp_path), "tfevents",
                lambda out: subprocess.run(
                    [l2sweep] + SWEEP + ["--out", out], capture_output=True, text=True,
                    timeout=300,
                    env=dict(os.environ, LD_PRELOAD=library, L2SWEEP_FAIL_CLOSE="tfevents")))


def test_two_writers(l2sweep, data_dir, tmp_path, check):
    tmp, SWEEP = str(tmp_path), sweep(data_dir)
    long_sweep = SWEEP[:-10] + ["--epochs", "40", "--l2", "0,0.001", "--seeds", "2",
                                "--batch-size", "16", "--device", "cpu", "--jobs", "1"]
    out = os.path.join(tmp, "busy")
    first = subprocess.Popen([l2sweep] + long_sweep + ["--out", out], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    lock = os.path.join(out, ".l2sweep.lock")
    started = e2e.wait_for(lambda: os.path.exists(os.path.join(out, "summary.json")))
    check(started, "the first sweep never started")
    before = snapshot(out)
    for label, args in [("a second sweep", long_sweep + ["--out", out]),
                        ("a second --resume", long_sweep + ["--out", out, "--resume"]),
                        ("a merge", ["merge", out])]:
        result = e2e.run(l2sweep, args)
        expect_error(check, result, 4, f"{label} while one trains",
                     f"in use by pid {first.pid} on host")
    check(os.path.getsize(lock) > 0 and f"pid {first.pid}" in e2e.read_text(lock),
          "the lock file does not name its holder")
    first.send_signal(signal.SIGINT)  # stop it early; a resume finishes the job
    first.wait(timeout=120)
    check(first.returncode == 130, f"the first sweep: exit {first.returncode}")
    after = snapshot(out)
    changed = [p for p in before if p in after and before[p] != after[p]
               and not p.startswith(("checkpoints", "tensorboard", "metrics.csv", "summary"))]
    check(not changed, f"refused writers changed {changed}")
    rows, runs, _ = results(out)
    written = {}
    for row in rows:
        key = dict(row)
        written[(float(key["l2"]), int(key["seed"]))] = written.get(
            (float(key["l2"]), int(key["seed"])), 0) + 1
    for r in runs:
        check(written.get((r["l2"], r["seed"]), 0) == r["epochs_completed"],
              f"busy folder: run l2={r['l2']} seed={r['seed']} rows and summary disagree")

    # Two sweeps without --out started together get folders of their own and both finish.
    cwd = os.path.join(tmp, "cwd")
    os.makedirs(cwd)
    quick = SWEEP[:-10] + ["--epochs", "1", "--l2", "0", "--device", "cpu"]
    both = [subprocess.Popen([l2sweep] + quick, cwd=cwd, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE) for _ in range(2)]
    codes = [p.wait(timeout=120) for p in both]
    folders = sorted(os.listdir(os.path.join(cwd, "runs")))
    check(codes == [0, 0] and len(folders) == 2,
          f"two sweeps without --out at once: exits {codes}, folders {folders}")
    for folder in folders:
        check(os.path.exists(os.path.join(cwd, "runs", folder, "report.md")),
              f"{folder}: not finished")


def test_shards(l2sweep, data_dir, tmp_path, check):
    tmp, SWEEP = str(tmp_path), sweep(data_dir)
    # Two shards started at once with different --epochs: one is refused, naming the option.
    out = os.path.join(tmp, "shards")
    base = SWEEP[:-10] + ["--l2", "0,0.001", "--seeds", "2", "--batch-size", "16",
                          "--device", "cpu", "--out", out]
    procs = [subprocess.Popen([l2sweep] + base + ["--epochs", str(3 + i), "--shard", f"{i}/2"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    outcomes = sorted((p.wait(timeout=120), p.stderr.read()) for p in procs)
    check([code for code, _ in outcomes] == [0, 2] and "--epochs differs" in outcomes[1][1],
          f"shards with different --epochs: {outcomes}")
    # A folder that holds something else is never written into by a shard.
    other = os.path.join(tmp, "not-a-sweep")
    os.makedirs(os.path.join(other, "tensorboard"))
    with open(os.path.join(other, "metrics.csv"), "w") as f:
        f.write("mine\n")
    with open(os.path.join(other, "tensorboard", "notes"), "w") as f:
        f.write("mine too\n")
    before = snapshot(other)
    expect_error(check, e2e.run(l2sweep, SWEEP + ["--out", other, "--shard", "0/2"]), 4,
                 "a shard into another folder", "holds no l2sweep sweep")
    env = dict(os.environ, SLURM_ARRAY_TASK_ID="1", SLURM_ARRAY_TASK_COUNT="2")
    expect_error(check, e2e.run(l2sweep, SWEEP + ["--out", other], env=env), 4,
                 "a Slurm task into another folder", "holds no l2sweep sweep")
    check(snapshot(other) == before, "a refused shard changed a folder it does not own")


def test_tampering(l2sweep, data_dir, reference, tmp_path, check):
    tmp, SWEEP = str(tmp_path), sweep(data_dir)

    def copy_of(name):
        folder = os.path.join(tmp, name)
        shutil.copytree(reference, folder)
        return folder

    checkpoint = os.path.join("checkpoints", "l2-0.001_seed-1.pt")
    # Bits flipped inside a checkpoint, its size unchanged.
    flipped = copy_of("flipped")
    flip_middle(os.path.join(flipped, checkpoint))
    before = snapshot(flipped)
    expect_error(check, e2e.run(l2sweep, SWEEP + ["--out", flipped, "--resume"]), 3,
                 "resume with a flipped checkpoint", checkpoint, "damaged checkpoint")
    expect_error(check, e2e.run(l2sweep, ["merge", flipped]), 3, "merge with a flipped checkpoint",
                 checkpoint, "damaged checkpoint")
    check(snapshot(flipped) == before, "a refused resume or merge changed the folder")

    # A checkpoint from a sweep with other settings.
    other = os.path.join(tmp, "other-lr")
    args = [a for a in SWEEP]
    args[args.index("--batch-size") + 1] = "8"
    check(e2e.run(l2sweep, args + ["--out", other, "--lr", "0.01"]).returncode == 0,
          "the other sweep")
    foreign = copy_of("foreign")
    shutil.copy(os.path.join(other, checkpoint), os.path.join(foreign, checkpoint))
    before = snapshot(foreign)
    expect_error(check, e2e.run(l2sweep, SWEEP + ["--out", foreign, "--resume"]), 3,
                 "resume with a foreign checkpoint", checkpoint,
                 "trained with --batch-size 8, this sweep 16")
    expect_error(check, e2e.run(l2sweep, ["merge", foreign]), 3, "merge with a foreign checkpoint",
                 checkpoint, "trained with")
    check(snapshot(foreign) == before, "a refused foreign checkpoint changed the folder")

    # sweep.cfg edited by hand (epochs 3 -> 5), resumed with --epochs 5: never "completed".
    edited = copy_of("edited")
    path = os.path.join(edited, "sweep.cfg")
    text = e2e.read_text(path)
    with open(path, "w") as f:
        f.write(text.replace('"epochs": "3"', '"epochs": "5"'))
    args = [a if a != "3" else "5" for a in SWEEP]
    expect_error(check, e2e.run(l2sweep, args + ["--out", edited, "--resume"]), 3,
                 "resume after editing sweep.cfg", "trained with --epochs 3, this sweep 5")

    # Resumed with another engine: refused before any byte changes.
    engine = copy_of("engine")
    before = snapshot(engine)
    autograd = SWEEP + ["--out", engine, "--resume", "--engine", "autograd"]
    expect_error(check, e2e.run(l2sweep, autograd), 2, "resume with another --engine",
                 "--engine differs")
    text = e2e.read_text(os.path.join(engine, "sweep.cfg"))
    with open(os.path.join(engine, "sweep.cfg"), "w") as f:
        f.write(text.replace('"engine": "auto"', '"engine": "autograd"'))
    before = snapshot(engine)
    expect_error(check, e2e.run(l2sweep, autograd), 3, "resume after editing sweep.cfg's engine",
                 "trained with --engine auto, this sweep autograd")
    check(snapshot(engine) == before, "a refused resume changed the folder")


def test_requeue(l2sweep, data_dir, reference, tmp_path, check):
    tmp, SWEEP = str(tmp_path), sweep(data_dir)
    # --resume where nothing was written yet starts the sweep: a requeued job can rerun as is.
    missing = os.path.join(tmp, "never-started")
    check(e2e.run(l2sweep, SWEEP + ["--out", missing, "--resume"]).returncode == 0,
          "--resume on no folder")
    same_results(check, missing, reference, "--resume on no folder")
    for label, leftover in [("only a temporary file", "sweep.cfg.tmp.node.4242.0"),
                            ("only the lock file", ".l2sweep.lock")]:
        for extra in ([], ["--resume"]):
            out = os.path.join(tmp, f"leftover-{len(extra)}-{leftover}")
            os.makedirs(out)
            open(os.path.join(out, leftover), "w").close()
            result = e2e.run(l2sweep, SWEEP + ["--out", out] + extra)
            check(result.returncode == 0, f"{label} {extra}: exit {result.returncode} "
                                          f"{result.stderr.strip()}")
    # Temporary files of killed writers are removed by the next writer.
    stale = os.path.join(tmp, "stale")
    shutil.copytree(reference, stale)
    for name in ["summary.json.tmp.somehost.99999.1", "checkpoints/l2-0_seed-0.pt.tmp.77.0"]:
        open(os.path.join(stale, name), "w").close()
    check(e2e.run(l2sweep, SWEEP + ["--out", stale, "--resume"]).returncode == 0,
          "resume over stale files")
    check(not [p for p in snapshot(stale) if ".tmp." in p], "stale temporary files were kept")


def test_hostile_data(l2sweep, data_dir, tmp_path, check):
    tmp, SWEEP = str(tmp_path), sweep(data_dir)

    def dataset(name, images, test_images=None):
        folder = os.path.join(tmp, name)
        os.makedirs(folder)
        for file in os.listdir(data_dir):
            shutil.copy(os.path.join(data_dir, file), folder)
        for stem, content in [("train-images-idx3-ubyte", images),
                              ("t10k-images-idx3-ubyte", test_images)]:
            if content is None:
                continue
            for old in (stem, stem + ".gz"):
                if os.path.exists(os.path.join(folder, old)):
                    os.remove(os.path.join(folder, old))
            content(os.path.join(folder, stem))
        return folder

    # A raw file of 1 TB (sparse) whose header is honest: refused at once, nothing created.
    def terabyte(path):
        count = 10 ** 12 // 784
        with open(path, "wb") as f:
            f.write(struct.pack(">IIII", 0x803, count, 28, 28))
            f.truncate(16 + count * 784)

    big = dataset("terabyte", terabyte)
    out = os.path.join(tmp, "out-terabyte")
    start = time.time()
    expect_error(check, e2e.run(l2sweep, SWEEP[2:] + ["--data-dir", big, "--out", out]), 3,
                 "a 1 TB images file", "train-images-idx3-ubyte", "bytes of memory available")
    check(time.time() - start < 20, f"the 1 TB file took {time.time() - start:.0f} s to refuse")
    check(not os.path.exists(out), "the 1 TB refusal created the output folder")

    # 3.9 GB (sparse) under `ulimit -v 3000000`: refused before reading, naming the file,
    # never a bare std::bad_alloc; the labels (a whole byte each) do not fit there either.
    def four_gigabytes(path):
        count = 3_900_000_000 // 784
        with open(path, "wb") as f:
            f.write(struct.pack(">IIII", 0x803, count, 28, 28))
            f.truncate(16 + count * 784)

    limited = dataset("ulimit-v", four_gigabytes)
    out = os.path.join(tmp, "out-ulimit-v")
    command = " ".join(["ulimit -v 3000000;", l2sweep] + SWEEP[2:] +
                       ["--data-dir", limited, "--out", out])
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=300)
    expect_error(check, result, 3, "3.9 GB of images under ulimit -v 3000000",
                 "train-images-idx3-ubyte", "bytes of memory")
    check(not os.path.exists(out), "the ulimit -v refusal created the output folder")

    # A small gzip of huge images: the model would need far more memory than there is.
    def huge_images(count):
        def write(path):
            with gzip.open(path + ".gz", "wb", compresslevel=1) as f:
                f.write(struct.pack(">IIII", 0x803, count, 8192, 8192))
                zeros = bytes(8192 * 8192)
                for _ in range(count):
                    f.write(zeros)
        return write

    def labels(path, count):
        with open(path, "wb") as f:
            f.write(struct.pack(">II", 0x801, count) + bytes(range(count)))

    huge = dataset("huge-images", huge_images(3), huge_images(1))
    for stem, count in [("train-labels-idx1-ubyte", 3), ("t10k-labels-idx1-ubyte", 1)]:
        for old in (stem, stem + ".gz"):
            if os.path.exists(os.path.join(huge, old)):
                os.remove(os.path.join(huge, old))
        labels(os.path.join(huge, stem), count)
    out = os.path.join(tmp, "out-huge")
    result = e2e.run(l2sweep, ["--data-dir", huge, "--val-size", "1", "--l2", "0", "--epochs", "1",
                               "--out", out])
    expect_error(check, result, 3, "8192x8192 images", "images of 8192x8192 pixels", "of memory")
    check(not os.path.exists(out), "the huge-image refusal created the output folder")

    # The data path itself broken: a symlink loop, a name longer than NAME_MAX.
    loop = os.path.join(tmp, "loop")
    os.makedirs(loop)
    os.symlink("train-images-idx3-ubyte", os.path.join(loop, "train-images-idx3-ubyte"))
    expect_error(check, e2e.run(l2sweep, SWEEP[2:] + ["--data-dir", loop,
                                                      "--out", os.path.join(tmp, "o-loop")]),
                 3, "a symlink loop", "train-images-idx3-ubyte")
    long_name = os.path.join(tmp, "x" * 300)
    expect_error(check, e2e.run(l2sweep, SWEEP[2:] + ["--data-dir", long_name,
                                                      "--out", os.path.join(tmp, "o-long")]),
                 3, "a name longer than NAME_MAX", "x" * 300)


def test_odd_values(l2sweep, data_dir, tmp_path, check):
    tmp, SWEEP = str(tmp_path), sweep(data_dir)
    # A data folder whose name holds a newline: sweep.cfg keeps it, merge reads it back.
    odd = os.path.join(tmp, "data\nwith a newline")
    shutil.copytree(data_dir, odd)
    out = os.path.join(tmp, "newline")
    result = e2e.run(l2sweep, SWEEP[2:] + ["--data-dir", odd, "--out", out, "--epochs", "1"])
    check(result.returncode == 0, "a data folder with a newline")
    merged = e2e.run(l2sweep, ["merge", out])
    check(merged.returncode == 0, f"merge of it: {merged.returncode} {merged.stderr.strip()}")
    # A strength so large that Adam's second moment overflows: diverged, not "completed".
    out = os.path.join(tmp, "huge-l2")
    result = e2e.run(l2sweep, SWEEP[2:] + ["--data-dir", data_dir, "--l2", "1e30", "--seeds", "1",
                                           "--epochs", "2", "--out", out])
    check(result.returncode == 5, f"--l2 1e30: exit {result.returncode}")
    _, runs, _ = results(out)
    check(runs[0]["status"] == "diverged", f"--l2 1e30: {runs[0]['status']}")
    check("nan" not in e2e.read_text(os.path.join(out, "report.md")),
          "report.md shows nan for a diverged strength")
    expect_error(check, e2e.run(l2sweep, SWEEP + ["--shard-count", "-3"]), 2, "--shard-count -3",
                 "--shard-count")
    minus_zero = e2e.run(l2sweep, SWEEP[2:] + ["--data-dir", data_dir, "--l2", "-0", "--seeds", "1",
                                               "--epochs", "1",
                                               "--out", os.path.join(tmp, "minus-zero")])
    check(minus_zero.returncode == 0 and "l2=-0" not in minus_zero.stdout
          and "-0.0000" not in minus_zero.stdout, "--l2 -0 printed a negative zero")


if __name__ == "__main__":
    sys.exit(e2e.main(globals()))


def test_a_tight_address_space_is_refused_or_run_never_hung(l2sweep, data_dir, tmp_path, check):
    """`ulimit -v` a little under what a sweep maps at its peak: refused before training or
    run, never a hang (OpenBLAS retries a failed 128 MiB buffer forever on a training thread,
    so the memory check keeps 200 MiB of address space per core out of what the limit leaves).
    Before that check, the sweep below hung at 0.85 and 0.99 of its peak."""
    tmp, SWEEP = str(tmp_path), sweep(data_dir)
    process = subprocess.Popen([l2sweep] + SWEEP + ["--out", os.path.join(tmp, "free")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0
    while process.poll() is None:
        try:
            with open(f"/proc/{process.pid}/status") as f:
                peak = max([peak] + [int(line.split()[1]) for line in f
                                     if line.startswith("VmPeak:")])
        except (FileNotFoundError, ProcessLookupError, ValueError):
            break
        time.sleep(0.02)
    check(process.wait() == 0, "the unlimited sweep")
    if peak == 0:
        e2e.skip("the unlimited sweep ended before its VmPeak could be read")
    for fraction in (0.85, 0.95, 0.99):
        limit = int(peak * fraction)
        out = os.path.join(tmp, f"limited-{fraction}")
        command = f"ulimit -v {limit}; exec " + " ".join([l2sweep] + SWEEP + ["--out", out])
        try:
            result = subprocess.run(["bash", "-c", command], capture_output=True, text=True,
                                    timeout=300)
        except subprocess.TimeoutExpired:
            check(False, f"ulimit -v {limit} ({fraction} of the peak): still running after 300 s")
            continue
        # 0: it fitted; 3: refused, naming the data; 1: out of memory elsewhere; 127: the
        # dynamic loader could not map a library. Never killed by a signal.
        check(result.returncode in (0, 1, 3, 127),
              f"ulimit -v {limit} ({fraction} of the peak): exit {result.returncode}: "
              f"{result.stderr[-300:]}")
        if result.returncode == 3:
            check(not os.path.exists(out),
                  f"the ulimit -v {limit} refusal created the output folder")

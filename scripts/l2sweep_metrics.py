"""The metrics l2sweep writes, as `l2sweep --list-metrics --json` lists them from its own
tables: what scripts and tests read instead of keeping tag and column lists of their own."""
import json
import os
import pathlib
import subprocess

ROOT = pathlib.Path(__file__).resolve().parent.parent


def default_binary():
    """$L2SWEEP_BIN, else the CPU build's binary in this checkout."""
    return os.environ.get("L2SWEEP_BIN") or str(ROOT / "build" / "bin" / "l2sweep")


def metric_listing(binary=None):
    """`l2sweep --list-metrics --json`, parsed."""
    out = subprocess.run([binary or default_binary(), "--list-metrics", "--json"], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def tensorboard_columns(listing):
    """{writer: {tag: metrics.csv column}} for every scalar l2sweep logs to TensorBoard."""
    columns = {}
    for metric in listing["epoch_metrics"]:
        board = metric["tensorboard"]
        if board:
            columns.setdefault(board["writer"], {})[board["tag"]] = metric["name"]
    return columns


def histogram_tags(listing):
    """{writer: tag} of the weight histograms."""
    return {h["writer"]: h["tag"] for h in listing["histograms"]}

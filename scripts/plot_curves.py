#!/usr/bin/python3
"""Plots an l2sweep output folder: OUT/curves.png and OUT/curves.svg.

usage: scripts/plot_curves.py OUT | scripts/plot_curves.py --compare COMPARE_OUT

For the folder of an `--l2 auto` search (summary.json with a "tuning" object), draws
OUT/tuning.png (and .svg) instead: final validation accuracy and cross-entropy against L2 on
a log axis, every candidate of every round (one colour per round) with error bars of one
standard error over seeds, the best and 1se strengths marked and the interval of strengths
indistinguishable from the best shaded.

With --compare, plots the folder `l2sweep compare` wrote: COMPARE_OUT/compare.png (and .svg),
one column per L2 strength and one row per metric (val_accuracy, val_loss, accuracy, loss),
each source's curve overlaid, the line the mean across its seeds and the band mean ± std
where it has several. Reads only curves.csv and compare.json.

Per-epoch panels for loss, val_loss, data_loss against val_data_loss, w1_norm, accuracy,
val_accuracy, and what the regularisers did to the weights (the share of W1 below 1e-3 and of
hidden units dead on the validation set), one line per setting: a colour per L2 strength and
a line style per Dropout rate and weight decay. The line is the mean across seeds and the
shaded band is mean ± standard deviation when there are several seeds. Another panel plots
final validation (and, for L2 alone, test) accuracy against L2 on a log axis, one line per
Dropout rate and weight decay, with l2 = 0 drawn at the left edge. Reads only metrics.csv and
summary.json. Needs Debian's python3-matplotlib, which scripts/setup.sh installs.
"""
import collections
import csv
import json
import math
import os
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the non-interactive backend)


def save(fig, out, name, top, dpi):
    """Lays `fig` out below its title and writes OUT/NAME.png and .svg."""
    fig.tight_layout(rect=(0, 0, 1, top))
    for extension in ("png", "svg"):
        fig.savefig(os.path.join(out, f"{name}.{extension}"), dpi=dpi)
    print(f"wrote {os.path.join(out, name + '.png')} and {name}.svg")
    return 0


def mean_std(values):
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return mean, std


def load(out):
    with open(os.path.join(out, "metrics.csv"), newline="") as f:
        rows = [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]
    with open(os.path.join(out, "summary.json")) as f:
        summary = json.load(f)
    return rows, summary


def setting(row):
    """A run's setting (l2, dropout, weight decay); files from before Dropout have l2 only."""
    return (row["l2"], row.get("dropout", 0.0), row.get("weight_decay", 0.0))


def label(key):
    l2, dropout, decay = key
    text = f"L2 = {l2:g}"
    if dropout:
        text += f", dropout {dropout:g}"
    if decay:
        text += f", wd {decay:g}"
    return text + (" (control)" if key == (0.0, 0.0, 0.0) else "")


def curves(rows, column):
    """{setting: (epochs, means, stds)} of `column` across seeds, over the epochs all seeds
    reached."""
    by_l2 = collections.defaultdict(lambda: collections.defaultdict(list))
    for row in rows:
        if column in row:
            by_l2[setting(row)][int(row["epoch"])].append(row[column])
    result = {}
    for l2, epochs in by_l2.items():
        runs = max(len(v) for v in epochs.values())
        kept = sorted(e for e, v in epochs.items() if len(v) == runs and all(map(math.isfinite, v)))
        stats = [mean_std(epochs[e]) for e in kept]
        result[l2] = (kept, [m for m, _ in stats], [s for _, s in stats])
    return result


STYLES = ["-", "--", ":", "-.", (0, (5, 1, 1, 1)), (0, (1, 3))]


def style_of(key, others):
    """The line style of a setting: one per Dropout rate and weight decay pair."""
    return STYLES[others.index(key[1:]) % len(STYLES)]


def draw(ax, data, colours, style=None, label_suffix=""):
    others = sorted({key[1:] for key in data})
    for key, (epochs, means, stds) in sorted(data.items()):
        ax.plot(epochs, means, style or style_of(key, others), color=colours[key[0]], lw=1.8,
                marker="o" if len(epochs) <= 2 else None,  # one or two epochs: points
                label=label(key) + label_suffix)
        if any(stds):
            low = [m - s for m, s in zip(means, stds)]
            high = [m + s for m, s in zip(means, stds)]
            ax.fill_between(epochs, low, high, color=colours[key[0]], alpha=0.12, lw=0)


def final_accuracy_panel(ax, summary, colours):
    strengths = [s for s in summary.get("strengths", []) if s["completed"] > 0]
    positive = [s["l2"] for s in strengths if s["l2"] > 0]
    control_x = min(positive) / 10 if positive else 1e-5
    others = sorted({(s.get("dropout", 0.0), s.get("weight_decay", 0.0)) for s in strengths})
    keys = (("val_accuracy", "o", "validation"),)
    if others == [(0.0, 0.0)]:
        keys += (("test_accuracy", "s", "test"),)
    for other in others:
        group = [s for s in strengths
                 if (s.get("dropout", 0.0), s.get("weight_decay", 0.0)) == other]
        xs = [s["l2"] if s["l2"] > 0 else control_x for s in group]
        order = sorted(range(len(xs)), key=lambda i: xs[i])
        for key, marker, name in keys:
            means = [group[i][key]["mean"] for i in order]
            stds = [group[i][key]["std"] or 0.0 for i in order]
            what = label((1.0,) + other)[len("L2 = 1"):].lstrip(", ") or "L2 alone"
            ax.errorbar([xs[i] for i in order], means, yerr=stds, fmt=marker,
                        linestyle=STYLES[others.index(other) % len(STYLES)]
                        if name == "validation" else "--",
                        color="0.25", mfc="white" if name == "test" else "0.25", capsize=3,
                        label=f"final {name}" + ("" if len(others) == 1 else f", {what}"))
            for x, m, i in zip([xs[i] for i in order], means, order):
                ax.plot([x], [m], marker, color=colours[group[i]["l2"]], ms=7, zorder=3)
    xs = [s["l2"] if s["l2"] > 0 else control_x for s in strengths]
    ax.set_xscale("log")
    ticks = sorted(set(xs))
    ax.set_xticks(ticks)
    control = any(s["l2"] == 0 and not s.get("dropout") and not s.get("weight_decay")
                  for s in strengths)
    ax.set_xticklabels([("0\n(control)" if control else "0") if x == control_x
                        and 0 in [s["l2"] for s in strengths] else f"{x:g}" for x in ticks])
    ax.minorticks_off()
    ax.set_xlabel("L2 strength (log scale)")
    ax.set_title("final accuracy vs L2")
    ax.legend(fontsize=8, loc="lower left")
    ax.grid(alpha=0.3)


def tuning_main(out, summary):
    """tuning.png: the search's candidates against L2."""
    tuning = summary["tuning"]
    candidates = tuning["candidates"]
    rounds = sorted({c["round"] for c in candidates})
    palette = plt.get_cmap("viridis")
    fig, axes = plt.subplots(1, 2, figsize=(14, 5.2))
    for ax, key, title in ((axes[0], "val_accuracy", "final validation accuracy"),
                           (axes[1], "val_data_loss", "final validation cross-entropy")):
        if "interval" in tuning:
            ax.axvspan(tuning["interval"][0], tuning["interval"][1], color="0.85",
                       label="indistinguishable from the best")
        for r in rounds:
            pts = sorted((c["l2"], c[key]["mean"], c[key]["se"]) for c in candidates
                         if c["round"] == r and c[key]["mean"] is not None)
            if not pts:
                continue
            colour = palette((r - 1) / max(1, len(rounds) - 1) * 0.85)
            ax.errorbar([p[0] for p in pts], [p[1] for p in pts],
                        yerr=[p[2] or 0.0 for p in pts], fmt="o", color=colour, capsize=3,
                        label=f"round {r}")
        for name, marker in (("best", "*"), ("one_se", "D")):
            if name in tuning:
                l2 = tuning[name]["l2"]
                match = [c for c in candidates if c["l2"] == l2][0]
                ax.plot([l2], [match[key]["mean"]], marker, color="crimson", ms=14 if marker == "*" else 9,
                        mfc="none" if marker == "D" else "crimson",
                        label="best" if name == "best" else "1se")
        positive = [c["l2"] for c in candidates if c["l2"] > 0]
        if positive and any(c["l2"] == 0 for c in candidates):
            # l2 = 0, the unregularised control, sits left of the log axis on a linear stretch.
            ax.set_xscale("symlog", linthresh=min(positive))
            low, high = math.floor(math.log10(min(positive))), math.ceil(math.log10(max(positive)))
            ax.set_xticks([0.0] + [10.0 ** k for k in range(low, high + 1)])
            ax.set_xlabel("L2 strength (log scale; 0: no L2)")
        else:
            ax.set_xscale("log")
            ax.set_xlabel("L2 strength (log scale)")
        ax.set_title(title + " (mean ± standard error over seeds)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    metric = "accuracy" if tuning["metric"] == "val_accuracy" else "cross-entropy"
    answer = ""
    if "use" in tuning:
        answer = ("; answer: use l2 = 0 (no L2)" if tuning["use"]["no_l2"]
                  else f"; answer: use l2 = {tuning['use']['l2']:.4g}")
    fig.suptitle(f"--l2 auto: {len(candidates)} strengths in {len(tuning['rounds'])} rounds, "
                 f"{tuning['seeds']} seeds each; optimised: validation {metric}{answer}",
                 fontsize=13)
    return save(fig, out, "tuning", top=0.94, dpi=100)


def compare_main(out):
    """compare.png: the sources overlaid per strength, from curves.csv."""
    try:
        with open(os.path.join(out, "curves.csv"), newline="") as f:
            rows = list(csv.DictReader(f))
        with open(os.path.join(out, "compare.json")) as f:
            info = json.load(f)
    except (OSError, ValueError) as error:
        print(f"error: {out}: cannot read curves.csv and compare.json ({error})", file=sys.stderr)
        return 3
    sources = [s["name"] for s in info["sources"]]
    paired = sorted({v["l2"] for v in info["verdicts"]})
    strengths = paired or sorted({float(r["l2"]) for r in rows})
    verdicts = {(v["l2"], v["source"]): v["verdict"] for v in info["verdicts"]}
    metrics = ["val_accuracy", "val_loss", "accuracy", "loss"]
    palette = plt.get_cmap("tab10")
    colours = {name: palette(i % 10) for i, name in enumerate(sources)}
    fig, axes = plt.subplots(len(metrics), len(strengths), squeeze=False,
                             figsize=(4.6 * len(strengths) + 1, 3.2 * len(metrics)))
    for column, l2 in enumerate(strengths):
        for row, metric in enumerate(metrics):
            ax = axes[row, column]
            for name in sources:
                epochs = collections.defaultdict(list)
                for r in rows:
                    if r["source"] == name and float(r["l2"]) == l2 and r[metric] != "":
                        value = float(r[metric])
                        if math.isfinite(value):
                            epochs[int(r["epoch"])].append(value)
                if not epochs:
                    continue
                runs = max(len(v) for v in epochs.values())
                xs = sorted(e for e, v in epochs.items() if len(v) == runs)
                stats = [mean_std(epochs[e]) for e in xs]
                means = [m for m, _ in stats]
                label = name if name == info["reference"] else \
                    f"{name}: {verdicts.get((l2, name), 'unpaired')}"
                ax.plot(xs, means, color=colours[name], lw=1.8,
                        label=f"{label} ({runs} run{'s' if runs > 1 else ''})")
                if runs > 1:
                    ax.fill_between(xs, [m - s for m, s in stats], [m + s for m, s in stats],
                                    color=colours[name], alpha=0.2, lw=0)
            ax.set_title(f"L2 = {l2:g}: {metric}", fontsize=10)
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
            if row == 0:
                ax.legend(fontsize=8)
    fig.suptitle(f"l2sweep compare: {', '.join(sources[1:])} against {info['reference']} "
                 f"(verdicts on the final {info['metric']}; band: mean ± std across seeds)",
                 fontsize=12)
    return save(fig, out, "compare", top=0.96, dpi=100)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--compare":
        return compare_main(sys.argv[2])
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    out = sys.argv[1]
    try:
        with open(os.path.join(out, "summary.json")) as f:
            if "tuning" in json.load(f):
                with open(os.path.join(out, "summary.json")) as g:
                    return tuning_main(out, json.load(g))
    except (OSError, ValueError):
        pass
    try:
        rows, summary = load(out)
    except (OSError, ValueError, KeyError) as error:
        print(f"error: {out}: cannot read metrics.csv and summary.json ({error})", file=sys.stderr)
        return 3
    if not rows:
        print(f"error: {out}/metrics.csv: no completed epoch to plot", file=sys.stderr)
        return 3
    strengths = sorted({row["l2"] for row in rows})
    palette = plt.get_cmap("viridis")
    colours = {l2: palette(i / max(1, len(strengths) - 1) * 0.9) for i, l2 in enumerate(strengths)}
    seeds = summary["config"].get("seeds", 1)

    fig, axes = plt.subplots(3, 4, figsize=(20, 14))
    panels = [
        (axes[0, 0], "loss", "train loss (with penalty)"),
        (axes[0, 1], "val_loss", "validation loss (with penalty)"),
        (axes[0, 3], "w1_norm", "||W1|| (first-layer kernel norm)"),
        (axes[1, 0], "accuracy", "train accuracy"),
        (axes[1, 1], "val_accuracy", "validation accuracy"),
        (axes[2, 0], "w1_small", "share of W1 with |w| < 1e-3"),
        (axes[2, 1], "dead_units", "share of hidden units dead on the validation set"),
    ]
    for ax, column, title in panels:
        draw(ax, curves(rows, column), colours)
        ax.set_title(title)
    ax = axes[0, 2]
    draw(ax, curves(rows, "data_loss"), colours, "-", " train")
    draw(ax, curves(rows, "val_data_loss"), colours, "--", " val")
    ax.set_title("cross-entropy without penalty: train (solid) vs val (dashed)")
    ax.title.set_fontsize(10)
    for ax in axes.flat:
        ax.set_xlabel(ax.get_xlabel() or "epoch")
        ax.grid(alpha=0.3)
    final_accuracy_panel(axes[1, 2], summary, colours)

    keys = sorted({setting(row) for row in rows})
    others = sorted({key[1:] for key in keys})
    for ax in (axes[1, 3], axes[2, 2], axes[2, 3]):
        ax.axis("off")
    handles = [plt.Line2D([], [], color=colours[key[0]], lw=2.5, linestyle=style_of(key, others),
                          label=label(key)) for key in keys]
    band = "band: mean ± std across seeds" if seeds > 1 else "one seed per setting"
    fig.legend(handles=handles, loc="lower right", bbox_to_anchor=(0.98, 0.03),
               fontsize=11 if len(keys) <= 12 else 9, title=band, frameon=False,
               ncol=1 if len(keys) <= 12 else 2)
    data = summary["dataset"]
    fig.suptitle(f"l2sweep: {data['train_examples']} train / {data['val_examples']} val examples, "
                 f"{summary['config']['epochs']} epochs, {seeds} seed(s) per setting, "
                 f"device {summary['device']}", fontsize=14)
    return save(fig, out, "curves", top=0.97, dpi=100)


if __name__ == "__main__":
    sys.exit(main())

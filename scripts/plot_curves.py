#!/usr/bin/python3
"""Plots an l2sweep output folder: OUT/curves.png and OUT/curves.svg.

One encoding in curves.png and compare.png: the line style says only what a curve was
measured on (solid: the training set, or the weights themselves; dashed: the validation set;
dotted: the test set), the colour says only which setting or source. In curves.png, with
several L2 strengths the colour is the strength (black: l2 = 0) and, where Dropout or weight
decay vary too, the marker is the (dropout, weight decay) pair; with one strength the colour
is the pair. Colours are Okabe and Ito's colour-blind-safe set without its pale yellow
(viridis, dark purple to green, beyond its six). A line is the mean across seeds, its shaded
band mean ± standard deviation where there are several. Epoch axes have integer ticks. One
legend, at the right, explains the line styles, colours and markers.

curves.png: a grid with no empty cells (at most four panels a row, the last panel stretched
over what its row has left), a panel for each of these that metrics.csv has:
  - loss: training and validation loss with the L2 penalty (loss, val_loss), overlaid;
  - accuracy: training and validation accuracy (accuracy, val_accuracy), overlaid: the
    overfitting gap is the distance between a colour's solid and dashed line;
  - cross-entropy without the penalty, training and validation (data_loss, val_data_loss);
  - ||W1||, the first Dense kernel's norm (w1_norm);
  - the share of W1 below 1e-3 in magnitude (w1_small);
  - the share of hidden units dead on the validation set (dead_units, dashed);
  - final accuracy, mean ± std over seeds, from summary.json: training (solid) and validation
    (dashed), and test (dotted, open points) where one line per data set says it all; against
    L2 on a log axis (l2 = 0 a decade left of the smallest strength), a grey line per
    (dropout, weight decay) pair with the points in their strength's colour, or, for a sweep
    of one strength, per (dropout, weight decay) pair.

For the folder of an `--l2 auto` search (summary.json with a "tuning" object), draws
OUT/tuning.png (and .svg) instead: final validation accuracy and cross-entropy against L2 on
a log axis (0 at its left end), every candidate of every round (a colour per round) with error
bars of one standard error over seeds, the best (black star) and 1se (black open diamond)
strengths marked and the interval of strengths indistinguishable from the best shaded.

With --compare, plots the folder `l2sweep compare` wrote, from its curves.csv and
compare.json: COMPARE_OUT/compare.png (and .svg), for each setting (L2 strength, Dropout
rate, weight decay; at most four a row) an accuracy panel titled with each source's verdict
over a loss panel, training solid and validation dashed, a colour per source (the reference
black, drawn wide underneath, so that an identical source shows as its outline). Then adds a
"Curves" section showing compare.png to COMPARE_OUT/compare.md, once however often it runs.

Needs matplotlib (Debian's python3-matplotlib, which scripts/setup.sh installs), imported only
once the folder has been read: --help works without it.

Exit codes: 0 plotted; 2 bad arguments, or a folder without the files named above (one line
naming the file); 3 no matplotlib in this Python (one line saying how to install it).
"""
import argparse
import collections
import csv
import json
import math
import os
import statistics
import sys

EXIT_BAD_INPUT = 2
EXIT_NO_MATPLOTLIB = 3

# Okabe and Ito's colour-blind-safe palette, without its pale yellow (#F0E442) that vanishes on
# white; black is kept apart for the baseline (l2 = 0, no Dropout, the compared reference).
BLACK = "#000000"
OKABE_ITO = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
# The only meaning line styles have: where a curve was measured.
TRAIN, VAL, TEST = "-", "--", ":"
STYLE_LABELS = {TRAIN: "training set (or the weights)", VAL: "validation set", TEST: "test set"}

# Per-epoch panels of curves.png: title and the metrics.csv columns drawn solid and dashed.
EPOCH_PANELS = [
    ("loss (cross-entropy + L2 penalty)", "loss", "val_loss"),
    ("accuracy", "accuracy", "val_accuracy"),
    ("cross-entropy without the penalty", "data_loss", "val_data_loss"),
    ("||W1||, the first Dense kernel's norm", "w1_norm", None),
    ("share of W1 with |w| < 1e-3", "w1_small", None),
    ("share of hidden units dead (validation set)", None, "dead_units"),
]


class InputError(Exception):
    """A folder that cannot be plotted; the message is the one line the user sees."""


# ---------------------------------------------------------------------------------------------
# Reading the folders (no matplotlib needed)


def read_json(path):
    """The parsed JSON file at `path`, or InputError naming it."""
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, ValueError) as error:
        raise InputError(f"{path}: not readable JSON ({error})") from None


def read_csv(path, expected):
    """The rows of the CSV file at `path` as dicts; InputError naming it (or its folder, where
    that is missing) and `expected`, what the folder should have been, when it is missing or
    unreadable."""
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        raise InputError(f"{folder}: no such folder; expected {expected}")
    if not os.path.isfile(path):
        raise InputError(f"{path}: no such file; expected {expected}")
    try:
        with open(path, newline="") as f:
            return list(csv.DictReader(f))
    except (OSError, csv.Error, UnicodeDecodeError) as error:
        raise InputError(f"{path}: not readable CSV ({error})") from None


def number(text):
    """A CSV cell as a float; empty cells (metrics an engine did not record) are NaN."""
    return float(text) if text not in ("", None) else math.nan


def read_sweep(out):
    """(rows, summary) of an l2sweep output folder, rows with float values."""
    path = os.path.join(out, "metrics.csv")
    expected = ("an l2sweep output folder (metrics.csv and summary.json), the folder of an "
                "--l2 auto search (summary.json), or --compare with an `l2sweep compare` folder")
    try:
        rows = [{k: number(v) for k, v in row.items()} for row in read_csv(path, expected)]
    except ValueError as error:
        raise InputError(f"{path}: not a metrics.csv of numbers ({error})") from None
    if not rows:
        raise InputError(f"{path}: no completed epoch to plot")
    return rows, read_json(os.path.join(out, "summary.json"))


def read_compare(out):
    """(rows, info) of an `l2sweep compare` folder: curves.csv's rows and compare.json."""
    rows = read_csv(os.path.join(out, "curves.csv"),
                    "the folder `l2sweep compare` wrote (curves.csv and compare.json)")
    return rows, read_json(os.path.join(out, "compare.json"))


def tuning_summary(out):
    """summary.json of an --l2 auto search folder, or None for any other folder."""
    path = os.path.join(out, "summary.json")
    if not os.path.isfile(path):
        return None
    summary = read_json(path)
    return summary if isinstance(summary, dict) and "tuning" in summary else None


# ---------------------------------------------------------------------------------------------
# Statistics


def mean_std(values):
    """Mean and sample standard deviation (0 for a single value)."""
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return mean, std


def epoch_stats(by_epoch):
    """(epochs, means, stds) over the epochs every run reached with a finite value."""
    runs = max(len(v) for v in by_epoch.values())
    kept = sorted(e for e, v in by_epoch.items() if len(v) == runs and all(map(math.isfinite, v)))
    stats = [mean_std(by_epoch[e]) for e in kept]
    return kept, [m for m, _ in stats], [s for _, s in stats]


def setting(row):
    """A run's setting (l2, dropout, weight decay); files from before Dropout have l2 only."""
    return (row["l2"], row.get("dropout", 0.0), row.get("weight_decay", 0.0))


def has_column(rows, column):
    """Whether any row has a finite value in `column` (older files lack some columns)."""
    return any(math.isfinite(row.get(column, math.nan)) for row in rows)


def curves(rows, column):
    """{setting: (epochs, means, stds)} of `column` across seeds."""
    by_setting = collections.defaultdict(lambda: collections.defaultdict(list))
    for row in rows:
        if math.isfinite(row.get(column, math.nan)):
            by_setting[setting(row)][int(row["epoch"])].append(row[column])
    return {key: epoch_stats(epochs) for key, epochs in by_setting.items()}


# ---------------------------------------------------------------------------------------------
# Labels and the colour/marker encoding


def l2_label(l2):
    """'L2 = 0.001', or 'L2 = 0 (no L2)'."""
    return f"L2 = {l2:g}" + (" (no L2)" if l2 == 0 else "")


def other_label(other, varied):
    """The label of a (dropout, weight decay) pair, naming only the parts that `varied` says
    the sweep varies ('dropout 0.2', 'no dropout, wd 1e-4')."""
    dropout, decay = other
    parts = []
    if varied[0]:
        parts.append(f"dropout {dropout:g}" if dropout else "no dropout")
    if varied[1]:
        parts.append(f"wd {decay:g}" if decay else "no weight decay")
    return ", ".join(parts) or "L2 alone"


def colours_for(values, baseline):
    """{value: colour}: black for `baseline` when present, Okabe-Ito for the rest in order
    (viridis, dark purple to green, short of its pale end, when there are more)."""
    rest = [v for v in values if v != baseline]
    if len(rest) <= len(OKABE_ITO):
        colours = OKABE_ITO[:len(rest)]
    else:
        from matplotlib import colormaps
        colours = [colormaps["viridis"](i / (len(rest) - 1) * 0.7) for i in range(len(rest))]
    mapping = dict(zip(rest, colours))
    if baseline in values:
        mapping[baseline] = BLACK
    return mapping


class Encoding:
    """How a setting (l2, dropout, weight decay) is drawn. With several L2 strengths: a colour
    per strength and, when Dropout or weight decay vary too, a marker per (dropout, weight
    decay) pair; with one strength: a colour per pair. Line styles are not used here: they
    belong to TRAIN, VAL and TEST."""

    def __init__(self, keys):
        self.l2s = sorted({k[0] for k in keys})
        self.others = sorted({k[1:] for k in keys})
        self.varied = tuple(len({o[i] for o in self.others}) > 1 for i in range(2))
        self.by_l2 = len(self.l2s) > 1 or len(self.others) == 1
        if self.by_l2:
            self.colours = colours_for(self.l2s, 0.0)
            self.markers = ({o: MARKERS[i % len(MARKERS)] for i, o in enumerate(self.others)}
                            if len(self.others) > 1 else {})
        else:
            self.colours = colours_for(self.others, (0.0, 0.0))
            self.markers = {}

    def colour(self, key):
        """The setting's colour."""
        return self.colours[key[0] if self.by_l2 else key[1:]]

    def marker(self, key):
        """The setting's marker, or None where markers mean nothing here."""
        return self.markers.get(key[1:])

    def legend_sections(self):
        """[(header, handles)]: the colour legend and, where markers mean something, the
        marker legend."""
        if self.by_l2:
            sections = [("colour: L2 strength",
                         colour_handles((l2_label(l2), self.colours[l2]) for l2 in self.l2s))]
        else:
            sections = [(f"colour ({l2_label(self.l2s[0])})",
                         colour_handles((other_label(o, self.varied), self.colours[o])
                                        for o in self.others))]
        if self.markers:
            sections.append(("marker", marker_handles(
                (other_label(o, self.varied), m) for o, m in self.markers.items())))
        return sections


def style_handles(styles):
    """Legend handles explaining the line styles in `styles`."""
    from matplotlib.lines import Line2D
    return [Line2D([], [], color="0.2", linestyle=s, lw=2.2, label=STYLE_LABELS[s])
            for s in (TRAIN, VAL, TEST) if s in styles]


def colour_handles(pairs):
    """Legend handles: a swatch per (label, colour), so no line style is implied."""
    from matplotlib.patches import Patch
    return [Patch(color=colour, label=label) for label, colour in pairs]


def marker_handles(pairs):
    """Legend handles: a grey marker per (label, marker)."""
    from matplotlib.lines import Line2D
    return [Line2D([], [], color="0.3", marker=marker, linestyle="none", ms=8, label=label)
            for label, marker in pairs]


def figure_legend(fig, sections, title):
    """One legend at the figure's right edge, each (header, handles) section a bold header over
    its handles. Returns it, for save() to make room."""
    from matplotlib.lines import Line2D
    handles, headers = [], set()
    for header, section in sections:
        handles.append(Line2D([], [], linestyle="none", label=header))
        headers.add(header)
        handles.extend(section)
    legend = fig.legend(handles=handles, loc="center right", bbox_to_anchor=(0.995, 0.5),
                        title=title, frameon=False, fontsize=11, title_fontsize=11,
                        handlelength=2.8)
    for text in legend.get_texts():
        if text.get_text() in headers:
            text.set_fontweight("bold")
    return legend


# ---------------------------------------------------------------------------------------------
# Drawing


def integer_epochs(ax):
    """An epoch axis, once its curves are drawn: integer ticks only (3 epochs never get 1.25,
    1.5; a single epoch gets the one tick)."""
    from matplotlib.ticker import MaxNLocator
    low, high = ax.get_xlim()
    if high - low < 1:
        middle = round((low + high) / 2)
        ax.set_xlim(middle - 0.5, middle + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10], min_n_ticks=1))
    ax.set_xlabel("epoch")
    ax.grid(alpha=0.3)


def draw_curve(ax, epochs, means, stds, colour, style, marker=None, lw=1.8):
    """One mean line with its mean ± std band; lone points get a marker so they show."""
    if marker is None and len(epochs) <= 2:
        marker = "o"
    ax.plot(epochs, means, linestyle=style, color=colour, lw=lw, marker=marker, ms=5,
            markevery=max(1, round(len(epochs) / 6)))
    if any(stds):
        ax.fill_between(epochs, [m - s for m, s in zip(means, stds)],
                        [m + s for m, s in zip(means, stds)], color=colour, alpha=0.12, lw=0)


def epoch_panel(ax, rows, panel, encoding):
    """A per-epoch panel: its training (solid) and validation (dashed) columns per setting."""
    title, train, val = panel
    for column, style in ((train, TRAIN), (val, VAL)):
        if column is None:
            continue
        for key, (epochs, means, stds) in sorted(curves(rows, column).items()):
            draw_curve(ax, epochs, means, stds, encoding.colour(key), style,
                       encoding.marker(key))
    ax.set_title(title)
    integer_epochs(ax)


def final_axis(strengths, encoding):
    """Where the final accuracy panel puts a setting: (x of a setting and a dodge, tick
    positions, tick labels, axis label, scale). With several L2 strengths the axis is L2 on a
    log scale, l2 = 0 a decade left of the smallest positive strength and a dodge of 0.03 a
    tenth of a decade; with a single strength one place per (dropout, weight decay) pair."""
    if not encoding.by_l2:
        place = {o: i for i, o in enumerate(encoding.others)}
        labels = [other_label(o, encoding.varied) for o in encoding.others]
        return (lambda s, dodge: place[other_of(s)] + 3 * dodge, list(place.values()), labels,
                f"setting ({l2_label(encoding.l2s[0])})", "linear")
    positive = [l2 for l2 in encoding.l2s if l2 > 0]
    control_x = min(positive) / 10 if positive else 1e-5
    ticks = [l2 if l2 > 0 else control_x for l2 in encoding.l2s]
    labels = [f"{l2:g}" if l2 > 0 else "0\n(no L2)" for l2 in encoding.l2s]
    return (lambda s, dodge: (s["l2"] if s["l2"] > 0 else control_x) * 10 ** dodge, ticks,
            labels, "L2 strength (log scale)", "log")


def other_of(strength):
    """A summary.json strength's (dropout, weight decay); files from before Dropout lack them."""
    return (strength.get("dropout", 0.0), strength.get("weight_decay", 0.0))


def final_accuracy_panel(ax, strengths, encoding):
    """Final training and validation accuracy (and test accuracy where one line per data set
    says it all), mean ± std over seeds, against L2 on a log axis (one grey line per (dropout,
    weight decay) pair), or per setting when the sweep has one L2 strength. Returns the line
    styles used."""
    x_of, ticks, labels, xlabel, scale = final_axis(strengths, encoding)
    if encoding.by_l2:
        groups = [[s for s in strengths if other_of(s) == o] for o in encoding.others]
    else:
        groups = [strengths]
    # Training, validation and test points of one setting sit a little apart.
    metrics = [("accuracy", TRAIN, -0.03), ("val_accuracy", VAL, 0.0)]
    if len(groups) == 1:
        metrics.append(("test_accuracy", TEST, 0.03))
    for group in groups:
        group = sorted(group, key=lambda s: x_of(s, 0.0))
        for metric, style, dodge in metrics:
            points = [s for s in group if s.get(metric, {}).get("mean") is not None]
            xs = [x_of(s, dodge) for s in points]
            means = [s[metric]["mean"] for s in points]
            ax.errorbar(xs, means, yerr=[s[metric]["std"] or 0.0 for s in points],
                        linestyle=style, color="0.45", lw=1.4, capsize=3, zorder=2)
            for s, x, mean in zip(points, xs, means):
                key = (s["l2"],) + other_of(s)
                colour = encoding.colour(key)
                ax.plot([x], [mean], encoding.marker(key) or "o", color=colour,
                        mfc="white" if style == TEST else colour, ms=7, zorder=3)
    ax.set_xscale(scale)
    ax.set_xticks(ticks)
    ax.set_xticklabels(labels)
    ax.minorticks_off()
    if scale == "log":
        ax.set_xlim(min(ticks) / 10 ** 0.3, max(ticks) * 10 ** 0.3)
        ax.set_title("final accuracy vs L2 (mean ± std over seeds)")
    else:
        ax.set_xlim(-0.5, len(ticks) - 0.5)
        ax.set_title("final accuracy per setting (mean ± std over seeds)")
    ax.set_xlabel(xlabel)
    ax.grid(alpha=0.3)
    return {style for _, style, _ in metrics}


def grid_shape(count, max_columns=4):
    """(rows, columns) for `count` panels with at most one row partly filled."""
    rows = math.ceil(count / max_columns)
    return rows, math.ceil(count / rows)


def panel_axes(fig, count, stacked=1):
    """`count` panels filling a grid exactly, each `stacked` axes one above the other, the last
    panel spanning the columns left in its row. Returns each panel's list of axes."""
    rows, columns = grid_shape(count)
    grid = fig.add_gridspec(rows * stacked, columns)
    panels = []
    for i in range(count):
        row, column = divmod(i, columns)
        span = slice(column, columns if i == count - 1 else column + 1)
        panels.append([fig.add_subplot(grid[row * stacked + k, span]) for k in range(stacked)])
    return panels


def save(fig, out, name, legend=None):
    """Lays `fig` out (constrained: each row of panels gets the room its titles need) left of
    the figure's `legend`, and writes OUT/NAME.png and .svg."""
    right = 1.0
    if legend is not None:
        width = legend.get_window_extent(fig.canvas.get_renderer()).width
        right = 0.99 - width / fig.bbox.width
    fig.set_layout_engine("constrained", rect=(0, 0, right, 1), w_pad=0.08, h_pad=0.08)
    for extension in ("png", "svg"):
        fig.savefig(os.path.join(out, f"{name}.{extension}"), dpi=100)
    print(f"wrote {os.path.join(out, name + '.png')} and {name}.svg")


def band_note(seeds):
    """The legend title: what a band is."""
    return "band: mean ± std over seeds" if seeds > 1 else "one seed per setting"


def curves_main(plt, out, rows, summary):
    """curves.png: the per-epoch panels and final accuracy against L2."""
    encoding = Encoding({setting(row) for row in rows})
    panels = [p for p in EPOCH_PANELS if any(has_column(rows, c) for c in p[1:] if c)]
    strengths = [s for s in summary.get("strengths", []) if s.get("completed", 0) > 0]
    count = len(panels) + (1 if strengths else 0)
    grid_rows, grid_columns = grid_shape(count)
    fig = plt.figure(figsize=(4.4 * grid_columns + 3.6, 4.1 * grid_rows + 0.6))
    axes = [panel[0] for panel in panel_axes(fig, count)]
    for ax, panel in zip(axes, panels):
        epoch_panel(ax, rows, panel, encoding)
    styles = {TRAIN, VAL}
    if strengths:
        styles |= final_accuracy_panel(axes[-1], strengths, encoding)
    seeds = summary.get("config", {}).get("seeds", 1)
    sections = [("line style", style_handles(styles))] + encoding.legend_sections()
    legend = figure_legend(fig, sections, band_note(seeds))
    data = summary.get("dataset", {})
    epochs = summary.get("config", {}).get("epochs", "?")
    fig.suptitle(f"l2sweep: {data.get('train_examples', '?')} train / "
                 f"{data.get('val_examples', '?')} val examples, {epochs} "
                 f"epoch{'s' if epochs != 1 else ''}, "
                 f"{seeds} seed{'s' if seeds != 1 else ''} per setting, "
                 f"device {summary.get('device', '?')}", fontsize=14)
    save(fig, out, "curves", legend=legend)


def tuning_main(plt, out, summary):
    """tuning.png: the search's candidates against L2."""
    tuning = summary["tuning"]
    candidates = tuning["candidates"]
    rounds = sorted({c["round"] for c in candidates})
    colours = colours_for(rounds, None)
    fig, axes = plt.subplots(1, 2, figsize=(15, 5.4))
    for ax, key, title in ((axes[0], "val_accuracy", "final validation accuracy"),
                           (axes[1], "val_data_loss", "final validation cross-entropy")):
        if "interval" in tuning:
            ax.axvspan(tuning["interval"][0], tuning["interval"][1], color="0.88",
                       label="indistinguishable from the best")
        for r in rounds:
            pts = sorted((c["l2"], c[key]["mean"], c[key]["se"]) for c in candidates
                         if c["round"] == r and c[key]["mean"] is not None)
            if pts:
                ax.errorbar([p[0] for p in pts], [p[1] for p in pts],
                            yerr=[p[2] or 0.0 for p in pts], fmt="o", color=colours[r],
                            capsize=3, label=f"round {r}")
        for name, marker, text in (("best", "*", "best"), ("one_se", "D", "1se")):
            if name in tuning:
                l2 = tuning[name]["l2"]
                match = [c for c in candidates if c["l2"] == l2][0]
                ax.plot([l2], [match[key]["mean"]], marker, color=BLACK,
                        ms=15 if marker == "*" else 10, mfc=BLACK if marker == "*" else "none",
                        mew=1.8, label=text, zorder=4)
        log_l2_axis(ax, [c["l2"] for c in candidates])
        ax.set_title(title + " (mean ± standard error over seeds)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=9)
    metric = "accuracy" if tuning["metric"] == "val_accuracy" else "cross-entropy"
    answer = ""
    if "use" in tuning:
        answer = ("; answer: use l2 = 0 (no L2)" if tuning["use"]["no_l2"]
                  else f"; answer: use l2 = {tuning['use']['l2']:.4g}")
    count = len(tuning["rounds"])
    fig.suptitle(f"--l2 auto: {len(candidates)} strengths in {count} "
                 f"round{'s' if count != 1 else ''}, {tuning['seeds']} seeds each; optimised: "
                 f"validation {metric}{answer}", fontsize=13)
    save(fig, out, "tuning")


def log_l2_axis(ax, strengths):
    """A log L2 axis; with l2 = 0 among `strengths`, a symlog one that puts 0 at its left."""
    positive = [l2 for l2 in strengths if l2 > 0]
    if positive and 0 in strengths:
        ax.set_xscale("symlog", linthresh=min(positive))
        low, high = math.floor(math.log10(min(positive))), math.ceil(math.log10(max(positive)))
        ax.set_xticks([0.0] + [10.0 ** k for k in range(low, high + 1)])
        ax.set_xlabel("L2 strength (log scale; 0: no L2)")
    else:
        ax.set_xscale("log")
        ax.set_xlabel("L2 strength (log scale)")


def compare_setting(row):
    """A curves.csv row's setting; files from before Dropout have l2 only."""
    return tuple(number(row.get(k) or "0") for k in ("l2", "dropout", "weight_decay"))


def compare_series(rows, metrics):
    """{(source, setting, metric): {epoch: [values of its runs]}} from curves.csv's rows."""
    series = collections.defaultdict(lambda: collections.defaultdict(list))
    for row in rows:
        for metric in metrics:
            value = number(row.get(metric))
            if math.isfinite(value):
                key = (row["source"], compare_setting(row), metric)
                series[key][int(row["epoch"])].append(value)
    return series


def compare_main(plt, out, rows, info):
    """compare.png: per setting, the sources' accuracy and loss overlaid, from curves.csv."""
    sources = [s["name"] for s in info["sources"]]
    reference = info["reference"]
    verdicts = {(v["l2"], v.get("dropout", 0.0), v.get("weight_decay", 0.0), v["source"]):
                v["verdict"] for v in info["verdicts"]}
    settings = sorted({k[:3] for k in verdicts} or {compare_setting(r) for r in rows})
    others_vary = len({key[1:] for key in settings}) > 1
    colours = colours_for(sources, reference)
    metrics = [("accuracy", "accuracy", "val_accuracy"), ("loss", "loss", "val_loss")]
    series = compare_series(rows, [m for _, train, val in metrics for m in (train, val)])
    grid_rows, grid_columns = grid_shape(len(settings))
    fig = plt.figure(figsize=(4.6 * grid_columns + 3.6, 7.4 * grid_rows + 0.9))
    most_runs = 1
    for key, axes in zip(settings, panel_axes(fig, len(settings), stacked=len(metrics))):
        for ax, (title, train, val) in zip(axes, metrics):
            for name in sources:
                for metric, style in ((train, TRAIN), (val, VAL)):
                    by_epoch = series.get((name, key, metric))
                    if by_epoch:
                        most_runs = max(most_runs, max(map(len, by_epoch.values())))
                        # The reference is drawn wide underneath: identical curves show as an
                        # outline of it.
                        draw_curve(ax, *epoch_stats(by_epoch), colours[name], style,
                                   lw=3.0 if name == reference else 1.8)
            ax.set_title(title, fontsize=11)
            integer_epochs(ax)
        heading = l2_label(key[0])
        if key[1:] != (0.0, 0.0) or others_vary:
            heading += ", " + other_label(key[1:], (True, True))
        said = "; ".join(f"{n}: {verdicts.get(key + (n,), 'unpaired')}" for n in sources[1:])
        axes[0].set_title(f"{heading}\n{said}\n{metrics[0][0]}", fontsize=11)
    sources_legend = colour_handles(
        (n + (" (reference)" if n == reference else ""), colours[n]) for n in sources)
    sections = [("line style", style_handles({TRAIN, VAL})), ("colour: source", sources_legend)]
    legend = figure_legend(fig, sections, band_note(most_runs))
    fig.suptitle(f"l2sweep compare: {', '.join(sources[1:])} against {reference} "
                 f"(verdicts on the final {info['metric']})", fontsize=13)
    save(fig, out, "compare", legend=legend)
    add_curves_to_markdown(out)


def add_curves_to_markdown(out):
    """Adds a Curves section showing compare.png to OUT/compare.md, unless it has one; the
    file is replaced whole, as l2sweep writes it."""
    path = os.path.join(out, "compare.md")
    if not os.path.isfile(path):
        return
    with open(path) as f:
        text = f.read()
    if "![curves](compare.png)" in text:
        return
    text = text.rstrip("\n") + (
        "\n\n## Curves\n\n![curves](compare.png)\n\n"
        "`compare.png` (and `compare.svg`, drawn by `scripts/plot_curves.py --compare`): per "
        "setting, each source's accuracy and loss per epoch, training solid and validation "
        "dashed, the line the mean across seeds and the band mean ± std.\n")
    temporary = path + ".plot.tmp"
    with open(temporary, "w") as f:
        f.write(text)
    os.replace(temporary, path)


# ---------------------------------------------------------------------------------------------
# Command line


def parse_args(argv):
    """OUT or --compare COMPARE_OUT (exactly one); argparse exits 2 on anything else."""
    parser = argparse.ArgumentParser(
        prog="plot_curves.py", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", nargs="?", metavar="OUT",
                        help="an l2sweep output folder, or an --l2 auto search's folder")
    parser.add_argument("--compare", metavar="COMPARE_OUT",
                        help="the folder `l2sweep compare` wrote")
    args = parser.parse_args(argv)
    if (args.out is None) == (args.compare is None):
        parser.error("give either OUT or --compare COMPARE_OUT")
    return args


def import_pyplot():
    """matplotlib.pyplot on the non-interactive backend, or exit 3 with one line naming what
    is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        missing = error.name or "matplotlib"
        print(f"error: {sys.executable} cannot import {missing} ({error}); install matplotlib: "
              "apt-get install python3-matplotlib (Debian's /usr/bin/python3), or "
              "pip install matplotlib in a venv", file=sys.stderr)
        sys.exit(EXIT_NO_MATPLOTLIB)
    return plt


def main(argv):
    """Reads the folder the arguments name, then plots it; returns the exit code."""
    args = parse_args(argv)
    try:
        if args.compare is not None:
            job = compare_main, (args.compare,) + read_compare(args.compare)
        elif (summary := tuning_summary(args.out)) is not None:
            job = tuning_main, (args.out, summary)
        else:
            job = curves_main, (args.out,) + read_sweep(args.out)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    plt = import_pyplot()
    plt.rcParams.update({"font.size": 11, "axes.titlesize": 12})
    function, arguments = job
    function(plt, *arguments)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

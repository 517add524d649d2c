"""Figures: one-shot vs architecture PSNR scatter plots (paper Figures 3-8), the transfer heatmap, and
the distribution of every cell's trials beside the paper's max / mean / median.

Matplotlib runs on the Agg backend (files only, no display needed); seaborn draws the points and
regression lines. Correlations come from ``bohb_das.results.correlation``, the same numbers as the
stats table.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from bohb_das.errors import ConfigError  # noqa: E402
from bohb_das.paper import PAPER, Cell  # noqa: E402
from bohb_das.results import TrialRecord, column, correlation, group_statistics  # noqa: E402


#: Below this many trials a bootstrap interval of a correlation says little (at n = 4 it spans
#: about [-1, 1]); the legend warns instead of letting the interval speak.
MIN_TRIALS_FOR_CI = 10


def _frame(records: Sequence[TrialRecord]) -> pd.DataFrame:
    frame = pd.DataFrame({
        "hparams": [r.hparams_name for r in records],
        "formation": [r.formation for r in records],
        "ops": [r.ops for r in records],
        "space": [r.space for r in records],
        "method": [r.method for r in records],
        "profile": [r.profile for r in records],
        "scale": [r.scale for r in records],
        "floor": column(records, "backprojection_psnr"),  # each trial's own, NaN in records that predate it
        "one-shot PSNR (dB)": column(records, "one_shot_psnr"),
        "architecture PSNR (dB)": column(records, "arch_psnr"),
    })
    return frame.dropna(subset=["one-shot PSNR (dB)", "architecture PSNR (dB)"])


def scatter(records: Sequence[TrialRecord], path: str | Path, seed: int = 0) -> Path:
    """Hyperparameter sets down, formations across (axes shared within a formation): every trial with
    a one-shot PSNR as a point (architecture PSNR up, one-shot PSNR across), one colour and
    regression line per operation set, Pearson r and Spearman rho (95% bootstrap CI of r) in the
    legend, y = x dotted and the back-projection PSNR dashed; the caption gives the scale."""
    frame = _frame(records)
    if frame.empty:
        raise ConfigError("no trial with both a one-shot and an architecture PSNR to plot (baselines have no one-shot PSNR)")
    hparams_sets, formations = list(dict.fromkeys(frame["hparams"])), list(dict.fromkeys(frame["formation"]))
    fig, axes = plt.subplots(len(hparams_sets), len(formations), figsize=(5.5 * len(formations), 4.3 * len(hparams_sets) + 0.8),
                             squeeze=False, sharex="col", sharey="col")
    palette = dict(zip(dict.fromkeys(frame["ops"]), sns.color_palette("colorblind")))
    for (row, hparams), (col, formation) in itertools.product(enumerate(hparams_sets), enumerate(formations)):
        ax = axes[row][col]
        panel = frame[(frame["hparams"] == hparams) & (frame["formation"] == formation)]
        if panel.empty:
            ax.set_visible(False)
            continue
        for (ops, space, method), part in panel.groupby(["ops", "space", "method"], sort=False):
            stats = correlation(part["one-shot PSNR (dB)"].tolist(), part["architecture PSNR (dB)"].tolist(), seed=seed)
            name = f"{ops} ops" + (f", {method}" if panel["method"].nunique() > 1 else "") + \
                   (f", {space}" if panel["space"].nunique() > 1 else "")
            interval = (f"[{stats['pearson_low']:.2f}, {stats['pearson_high']:.2f}]" if len(part) >= MIN_TRIALS_FOR_CI
                        else f"(CI not shown: n < {MIN_TRIALS_FOR_CI})")
            legend = f"{name} (n={len(part)}): r={stats['pearson']:.2f} {interval}, ρ={stats['spearman']:.2f}"
            sns.regplot(data=part, x="one-shot PSNR (dB)", y="architecture PSNR (dB)", ax=ax, ci=None, truncate=True,
                        color=palette[ops], label=legend, scatter_kws={"s": 22, "alpha": 0.8},
                        fit_reg=len(part) >= 2 and part["one-shot PSNR (dB)"].nunique() > 1)
        floor = panel["floor"].iloc[0]
        values = panel[["one-shot PSNR (dB)", "architecture PSNR (dB)", "floor"]].to_numpy()
        low, high = np.nanmin(values) - 1, np.nanmax(values) + 1
        ax.plot([low, high], [low, high], ":", color="0.5", linewidth=1, label="y = x")
        if not math.isnan(floor):
            ax.axhline(floor, linestyle="--", color="0.35", linewidth=1, label=f"back-projection {floor:.2f} dB")
            ax.axvline(floor, linestyle="--", color="0.35", linewidth=1)
        ax.set_title(f"{formation}, {hparams}")
        ax.set_xlabel("one-shot PSNR (dB)")
        ax.set_ylabel("architecture PSNR (dB)")
        ax.legend(fontsize=7, loc="best")
    scales = ", ".join(dict.fromkeys(frame["scale"]))
    profiles = ", ".join(dict.fromkeys(frame["profile"]))
    fig.text(0.01, 0.005, f"Each point one trial ({len(frame)} in all); {scales}; profile {profiles}. Lines: least "
             "squares per set; dotted: y = x; dashed: back-projection PSNR (the floor).", fontsize=8, va="bottom")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return _save(fig, path)


def transfer_heatmap(records: Sequence[TrialRecord], path: str | Path, stat: str = "median", method: str = "das") -> Path:
    """Median (or max / mean) architecture PSNR of ``method``: hyperparameter sets down, formation
    (and operation set) across, the paper's Table 3 at a glance."""
    rows = [r for r in group_statistics(records) if r["method"] == method]
    if not rows:
        raise ConfigError(f"no {method} trials to draw a transfer heatmap from")
    several_ops, several_spaces = (len({r[axis] for r in rows}) > 1 for axis in ("ops", "space"))
    frame = pd.DataFrame({
        "hparams": [r["hparams_name"] for r in rows],
        "cell": [r["formation"] + (f"\n{r['ops']} ops" if several_ops else "") + (f", {r['space']}" if several_spaces else "")
                 for r in rows],
        "psnr": [r[f"arch_{stat}"] for r in rows],
    })
    table = frame.pivot(index="hparams", columns="cell", values="psnr")
    table = table.reindex(index=list(dict.fromkeys(frame["hparams"])), columns=list(dict.fromkeys(frame["cell"])))
    fig, ax = plt.subplots(figsize=(1.8 * len(table.columns) + 2.5, 0.6 * len(table) + 1.8))
    sns.heatmap(table, annot=True, fmt=".2f", cmap="viridis", ax=ax, cbar_kws={"label": f"{stat} architecture PSNR (dB)"})
    ax.set_xlabel("formation" + (", operation set" if several_ops else "") + (", space" if several_spaces else ""))
    ax.set_ylabel("hyperparameters")
    counts = sorted({r["trials"] for r in rows})
    trials = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    scales, profiles = (", ".join(dict.fromkeys(r[key] for r in rows)) for key in ("scale", "profile"))
    ax.set_title(f"{method}: {stat} architecture PSNR\n{trials} trials a cell; {scales}; profile {profiles}", fontsize=10)
    return _save(fig, path)


def distributions(records: Sequence[TrialRecord], path: str | Path) -> Path:
    """One panel per formation: every trial's architecture PSNR as a point per cell (a colour per
    profile), and beside each cell the paper publishes its max, mean and median as markers, so that
    a failure tail (points far below, the mean below the median) shows at a glance; the
    back-projection floor dashed."""
    frame = pd.DataFrame({
        "formation": [r.formation for r in records], "profile": [r.profile for r in records],
        "cell": [Cell(r.space, r.ops, r.method, r.hparams_name, r.formation) for r in records],
        "psnr": column(records, "arch_psnr"), "floor": column(records, "backprojection_psnr"),
    }).dropna(subset=["psnr"])
    if frame.empty:
        raise ConfigError("no trial with an architecture PSNR to plot")
    several_spaces = len({c.space for c in frame["cell"]}) > 1
    several_hparams = len({c.hparams for c in frame["cell"]}) > 1
    frame["label"] = [f"{c.ops} ops\n{c.method}" + (f"\n{c.hparams}" if several_hparams else "") + (f"\n{c.space}" if several_spaces else "")
                      for c in frame["cell"]]
    formations = list(dict.fromkeys(frame["formation"]))
    profiles = list(dict.fromkeys(frame["profile"]))
    labels = list(dict.fromkeys(frame["label"]))
    fig, axes = plt.subplots(len(formations), 1, figsize=(max(7.0, 0.9 * len(labels) * (1 + 0.3 * len(profiles))), 4.2 * len(formations) + 0.6),
                             squeeze=False)
    palette = dict(zip(profiles, sns.color_palette("colorblind")))
    width = 0.7 / (len(profiles) + 1)
    for ax, formation in zip(axes[:, 0], formations):
        panel = frame[frame["formation"] == formation]
        rng = np.random.default_rng(0)  # the jitter only: the same picture every time
        for x, label in enumerate(labels):
            cells = panel[panel["label"] == label]
            for j, profile in enumerate(profiles):
                values = cells[cells["profile"] == profile]["psnr"].to_numpy()
                centre = x - 0.35 + width * (j + 0.5)
                ax.scatter(centre + rng.uniform(-0.35, 0.35, len(values)) * width, values, s=9, alpha=0.7,
                           color=palette[profile], label=_once(ax, profile))
            published = next((PAPER[c] for c in cells["cell"] if c in PAPER), None)
            if published is not None:
                centre = x - 0.35 + width * (len(profiles) + 0.5)
                for value, marker, name in ((published.max, "^", "paper max"), (published.mean, "D", "paper mean"),
                                            (published.median, "s", "paper median")):
                    ax.scatter([centre], [value], marker=marker, s=36, edgecolors="black",
                               facecolors="none" if marker == "D" else "black", label=_once(ax, name), zorder=3)
        floor = panel["floor"].iloc[0]
        if not math.isnan(floor):
            ax.axhline(floor, linestyle="--", color="0.35", linewidth=1, label=f"back-projection {floor:.2f} dB")
        ax.set_xticks(range(len(labels)), labels, fontsize=8)
        ax.set_title(formation)
        ax.set_ylabel("architecture PSNR (dB)")
        ax.legend(fontsize=7, loc="lower left", ncol=2)
    counts = frame.groupby(["profile", "label", "formation"]).size()
    trials = f"{counts.min()}" if counts.min() == counts.max() else f"{counts.min()}-{counts.max()}"
    scales = ", ".join(dict.fromkeys(r.scale for r in records))
    fig.text(0.01, 0.005, f"Each point one trial ({trials} a cell; {scales}; profile {', '.join(profiles)}); black: the "
             "paper's max (triangle), mean (diamond) and median (square) over its 75 trials.", fontsize=8, va="bottom")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return _save(fig, path)


def _once(ax: plt.Axes, name: str) -> str | None:
    """``name`` as a legend label the first time it is drawn on ``ax``, else None."""
    return None if name in ax.get_legend_handles_labels()[1] else name


def _save(fig: plt.Figure, path: str | Path) -> Path:
    path = Path(path)
    if not fig.get_layout_engine():
        fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path

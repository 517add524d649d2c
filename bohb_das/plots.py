"""Figures: one-shot vs architecture PSNR scatter plots (paper Figures 3-8) and the transfer heatmap.

Matplotlib runs on the Agg backend (files only, no display needed); seaborn draws the points and
regression lines. Correlations come from ``bohb_das.results.correlation``, the same numbers as the
stats table.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from bohb_das.errors import ConfigError  # noqa: E402
from bohb_das.results import column, correlation, group_statistics  # noqa: E402


def _frame(records: Sequence[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame({
        "hparams": [r["hparams_name"] for r in records],
        "formation": [r["formation"] for r in records],
        "ops": [r["ops"] for r in records],
        "space": [r["space"] for r in records],
        "method": [r["method"] for r in records],
        "one-shot PSNR (dB)": column(records, "one_shot_psnr"),
        "architecture PSNR (dB)": column(records, "arch_psnr"),
    })
    return frame.dropna(subset=["one-shot PSNR (dB)", "architecture PSNR (dB)"])


def scatter(records: Sequence[dict[str, Any]], path: str | Path, seed: int = 0) -> Path:
    """One panel per (hyperparameter set, formation): every trial with a one-shot PSNR as a point
    (architecture PSNR up, one-shot PSNR across), one colour and regression line per operation
    set, Pearson r and Spearman rho (95% bootstrap CI of r) in the legend."""
    frame = _frame(records)
    if frame.empty:
        raise ConfigError("no trial with both a one-shot and an architecture PSNR to plot (baselines have no one-shot PSNR)")
    panels = list(dict.fromkeys(zip(frame["hparams"], frame["formation"])))
    columns = len(dict.fromkeys(frame["formation"]))
    rows = math.ceil(len(panels) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(5 * columns, 4 * rows), squeeze=False)
    palette = dict(zip(dict.fromkeys(frame["ops"]), sns.color_palette("colorblind")))
    for ax, (hparams, formation) in zip(axes.flat, panels):
        panel = frame[(frame["hparams"] == hparams) & (frame["formation"] == formation)]
        for (ops, space, method), part in panel.groupby(["ops", "space", "method"], sort=False):
            stats = correlation(part["one-shot PSNR (dB)"].tolist(), part["architecture PSNR (dB)"].tolist(), seed=seed)
            name = f"{ops} ops" + (f", {method}" if panel["method"].nunique() > 1 else "") + \
                   (f", {space}" if panel["space"].nunique() > 1 else "")
            legend = (f"{name} (n={len(part)}): r={stats['pearson']:.2f} "
                      f"[{stats['pearson_low']:.2f}, {stats['pearson_high']:.2f}], ρ={stats['spearman']:.2f}")
            sns.regplot(data=part, x="one-shot PSNR (dB)", y="architecture PSNR (dB)", ax=ax, ci=None, truncate=True,
                        color=palette[ops], label=legend, scatter_kws={"s": 22, "alpha": 0.8},
                        fit_reg=len(part) >= 2 and part["one-shot PSNR (dB)"].nunique() > 1)
        ax.set_title(f"{formation}, {hparams}")
        ax.legend(fontsize=7, loc="best")
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    return _save(fig, path)


def transfer_heatmap(records: Sequence[dict[str, Any]], path: str | Path, stat: str = "median", method: str = "das") -> Path:
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
    ax.set_xlabel("")
    ax.set_ylabel("hyperparameters")
    ax.set_title(f"{method}: {stat} architecture PSNR")
    return _save(fig, path)


def _save(fig: plt.Figure, path: str | Path) -> Path:
    path = Path(path)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path

"""Samplers compared on one study (``bohb-das compare``): which finds the best configurations, how fast.

Each sampler runs ``repetitions`` times, repetition r in its own run directory ``ROOT/SAMPLER-r`` with
the study's seed plus ``REPETITION_SEED_STEP * r`` (its sampling and its trial seeds both move), so a
comparison runs in parts: a finished run is read as it is, an interrupted one resumed, a missing one
started. A run's anytime curve is its incumbent (hpbandster's rule: the best loss on the largest
budget reached so far), as the PSNR of the study's target, against the epochs trained so far
(budget x seeds per evaluation, failed evaluations included) and against wall time; over the
repetitions the median and the range. The final incumbents go into a table, and everything into one
page (``ROOT/compare.html``).
"""

from __future__ import annotations

import math
import os
import statistics
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bohb_das.bohb.report import evaluations  # noqa: E402
from bohb_das.bohb.rundir import MANIFEST, read_logs, read_manifest, run_finished  # noqa: E402
from bohb_das.bohb.study import Study  # noqa: E402
from bohb_das.errors import ConfigError  # noqa: E402
from bohb_das.pages import figure, page, table  # noqa: E402

REPETITION_SEED_STEP = 1000
GRID_POINTS = 200


def run_dir_of(root: Path, sampler: str, repetition: int) -> Path:
    return root / f"{sampler}-{repetition}"


def run_comparison(root: str | os.PathLike[str], study: Study, samplers: Sequence[str], repetitions: int,
                   launch: Callable[..., Any], on_run: Callable[[Path, str], None] | None = None) -> list[Path]:
    """Runs what is missing of every (sampler, repetition) with ``launch`` (``master.optimize`` with its
    options); ``on_run(run_dir, what)`` hears of each (``read``, ``resumed``, ``started``)."""
    if repetitions < 1:
        raise ConfigError(f"--repetitions must be at least 1, got {repetitions}")
    if not samplers or len(set(samplers)) != len(samplers):
        raise ConfigError(f"--samplers needs distinct names, got {list(samplers)}")
    root = Path(root)
    studies = {s: replace(study, sampler=s) for s in samplers}  # refuses an unknown sampler before any run
    for sampler in samplers:
        studies[sampler].sampling()
    run_dirs = []
    for sampler in samplers:
        for r in range(repetitions):
            run_dir = run_dir_of(root, sampler, r)
            run_dirs.append(run_dir)
            if run_finished(run_dir):
                what = "read"
            elif (run_dir / MANIFEST).is_file():
                what = "resumed"
                launch(run_dir, None, resume=True)
            else:
                what = "started"
                launch(run_dir, replace(studies[sampler], seed=study.seed + REPETITION_SEED_STEP * r))
            if on_run is not None:
                on_run(run_dir, what)
    return run_dirs


def anytime(run_dir: Path) -> pd.DataFrame:
    """One row per finished evaluation in the order they finished: the epochs trained so far, the
    minutes since the run began, and the incumbent's PSNR (NaN before the first success)."""
    manifest = read_manifest(run_dir)
    frame = evaluations(read_logs(run_dir))
    if frame.empty:
        return pd.DataFrame(columns=["epochs", "minutes", "psnr"])
    frame = frame[frame["finished"].notna()].reset_index(drop=True)
    epochs = (frame["budget"] * manifest["repeats"]).cumsum()
    best_budget, best_loss, psnr = -math.inf, math.inf, []
    for budget, loss, failed in zip(frame["budget"], frame["loss"], frame["failed"]):
        if not failed and loss is not None and (budget > best_budget or (budget == best_budget and loss < best_loss)):
            best_budget, best_loss = budget, loss
        psnr.append(-best_loss if math.isfinite(best_loss) else math.nan)
    return pd.DataFrame({"epochs": epochs, "minutes": frame["minutes"], "psnr": psnr})


def _on_grid(curve: pd.DataFrame, axis: str, grid: np.ndarray) -> np.ndarray:
    """The incumbent PSNR at every grid point (the last value at or before it)."""
    index = np.searchsorted(curve[axis].to_numpy(), grid, side="right") - 1
    values = curve["psnr"].to_numpy()
    return np.where(index >= 0, values[np.clip(index, 0, None)], np.nan)


def curves(run_dirs: dict[str, list[Path]], axis: str) -> dict[str, pd.DataFrame]:
    """Per sampler, the median and range of its repetitions' incumbent PSNR over ``axis`` (epochs or
    minutes), on one grid for all samplers."""
    anytimes = {s: [anytime(d) for d in dirs] for s, dirs in run_dirs.items()}
    end = max((c[axis].max() for runs in anytimes.values() for c in runs if not c.empty), default=0.0)
    grid = np.linspace(0, end, GRID_POINTS)
    out = {}
    for sampler, runs in anytimes.items():
        values = np.array([_on_grid(c, axis, grid) for c in runs if not c.empty]).reshape(-1, GRID_POINTS)
        out[sampler] = pd.DataFrame({axis: grid, "median": _nan_stat(np.nanmedian, values),
                                     "low": _nan_stat(np.nanmin, values), "high": _nan_stat(np.nanmax, values)})
    return out


def _nan_stat(stat: Callable[..., np.ndarray], values: np.ndarray) -> np.ndarray:
    """``stat`` over the repetitions, NaN where none has an incumbent yet (without numpy's warning)."""
    present = ~np.isnan(values).all(0) if len(values) else np.zeros(GRID_POINTS, bool)
    out = np.full(GRID_POINTS, np.nan)
    if present.any():
        out[present] = stat(values[:, present], axis=0)
    return out


def final_table(run_dirs: dict[str, list[Path]]) -> list[dict[str, Any]]:
    """Per sampler: the repetitions' final incumbent PSNR (median and range), epochs and minutes."""
    rows = []
    for sampler, dirs in run_dirs.items():
        ends = [c.iloc[-1] for c in (anytime(d) for d in dirs) if not c.empty]
        psnrs = [float(e["psnr"]) for e in ends if math.isfinite(e["psnr"])]
        rows.append({
            "sampler": sampler, "repetitions": len(dirs), "finished": sum(run_finished(d) for d in dirs),
            "incumbent PSNR median": _fmt(statistics.median(psnrs)) if psnrs else "--",
            "range": f"{_fmt(min(psnrs))} .. {_fmt(max(psnrs))}" if psnrs else "--",
            "epochs (median)": _fmt(statistics.median(float(e["epochs"]) for e in ends)) if ends else "--",
            "minutes (median)": _fmt(statistics.median(float(e["minutes"]) for e in ends)) if ends else "--",
        })
    return rows


def _fmt(value: float) -> str:
    return f"{value:.2f}"


def _curve_figure(by_sampler: dict[str, pd.DataFrame], axis: str, label: str) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(8, 4))
    for sampler, curve in by_sampler.items():
        line, = ax.plot(curve[axis], curve["median"], label=sampler)
        ax.fill_between(curve[axis], curve["low"], curve["high"], color=line.get_color(), alpha=0.2)
    ax.set_xlabel(label)
    ax.set_ylabel("incumbent PSNR (dB)")
    ax.legend()
    return fig


def write_comparison(root: str | os.PathLike[str], samplers: Sequence[str], repetitions: int,
                     output: str | os.PathLike[str] | None = None) -> Path:
    """The page of a comparison (default ``ROOT/compare.html``) from whatever of it has run."""
    root = Path(root)
    run_dirs = {s: [d for r in range(repetitions) if (d := run_dir_of(root, s, r)).joinpath(MANIFEST).is_file()]
                for s in samplers}
    if not any(run_dirs.values()):
        raise ConfigError(f"{root} holds no run of {', '.join(samplers)} yet")
    manifest = read_manifest(next(d for dirs in run_dirs.values() for d in dirs))
    what = (f"{manifest['formation']}/{manifest['ops']}/{manifest['space']}, method {manifest['method']}, target "
            f"{manifest['target']}, {manifest['iterations']} iterations on budgets {manifest['min_budget']:g}.."
            f"{manifest['max_budget']:g} (eta {manifest['eta']:g}), width {manifest['width']}, "
            f"{manifest['repeats']} seed(s) per evaluation")
    sections = [
        f"<p>{what}; {repetitions} repetition(s) per sampler, median and range over them.</p>",
        table(final_table(run_dirs)),
        figure("Incumbent against epochs trained", _curve_figure(curves(run_dirs, "epochs"), "epochs", "epochs trained"),
               "Budget x seeds per evaluation, summed over the run's evaluations in the order they finished."),
        figure("Incumbent against wall time", _curve_figure(curves(run_dirs, "minutes"), "minutes", "minutes"),
               "Minutes since each run's first evaluation started (a resumed run's pause included)."),
    ]
    output = Path(output) if output is not None else root / "compare.html"
    output.write_text(page("Samplers compared", sections))
    return output

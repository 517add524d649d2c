"""One self-contained HTML page of a BOHB run (``bohb_das.pages``): figures embedded, opens from disk.

Built from the run directory's own logs (``rundir.read_logs``), so it can be made at any time, also
while the run is going on, and it reports damaged lines as ``query`` does. hpbandster ships plotting
helpers (``hpbandster.visualization``) but they take a ``Result`` object, which cannot represent a
resumed run's attempts, re-queued jobs or seed-robust evaluations, and they open windows; the page
draws from the same numbers as ``bohb-das query``.
"""

from __future__ import annotations

import html
import itertools
import math
import os
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402

from bohb_das.bohb.records import EvaluationInfo  # noqa: E402
from bohb_das.bohb.query import describe_ledger, query  # noqa: E402
from bohb_das.bohb.rundir import LOGS, Logs, read_logs, read_manifest  # noqa: E402
from bohb_das.pages import figure, page, table  # noqa: E402


def evaluations(logs: Logs) -> pd.DataFrame:
    """One row per logged (configuration, budget): times from the run's first start, loss (None
    when crashed), PSNRs, whether BOHB's model picked the configuration, and its hyperparameters."""
    rows = []
    for (config_id, budget), entry in logs.results.items():
        logged = logs.configs.get(config_id)
        evaluation = entry.evaluation
        info = evaluation.info if evaluation is not None else EvaluationInfo()
        trace = (entry.exception or "").strip().splitlines()
        rows.append({
            "config_id": tuple(config_id), "budget": budget,
            "started": entry.timestamps.get("started"), "finished": entry.timestamps.get("finished"),
            "loss": evaluation.loss if evaluation is not None else None,
            "failed": evaluation is None or evaluation.failed,
            "exception": trace[-1] if trace else None,
            "one_shot_psnr": info.one_shot_psnr, "arch_psnr": info.arch_psnr,
            "model_based": bool(logged.info.get("model_based_pick")) if logged else False,
            **{f"hp:{name}": value for name, value in (logged.config if logged else {}).items()},
        })
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    start = frame["started"].min()
    frame["minutes"] = (frame["finished"] - start) / 60
    return frame.sort_values("finished", kind="stable").reset_index(drop=True)


def write_report(run_dir: str | os.PathLike[str], output: str | os.PathLike[str] | None = None) -> Path:
    """Writes the page (default ``RUN_DIR/report.html``) and returns its path."""
    run_dir = Path(run_dir)
    summary = query(run_dir, top=10)
    manifest = read_manifest(run_dir)
    frame = evaluations(read_logs(run_dir))
    master_log = run_dir / LOGS / "master.log"
    log_text = master_log.read_text() if master_log.is_file() else ""
    sections = [_manifest_section(run_dir, summary, manifest)]
    if frame.empty:
        sections.append("<p>No evaluation has finished yet.</p>")
    else:
        ok = frame[~frame["failed"]]
        correlation_figure, pairs = _budget_correlation(ok)
        sections += [
            figure("Incumbent over wall time", _incumbent_over_time(ok),
                   "The best loss so far on each budget (lower is better: loss = -PSNR)."),
            figure("Every evaluation over time", _losses_over_time(ok), "One point per finished evaluation, coloured by budget."),
            figure("Does the cheap budget rank like the expensive one?", correlation_figure,
                   "Spearman rank correlation of the losses of the configurations evaluated on both budgets "
                   "(the paper's one-shot question, asked of BOHB's own budgets)."),
            table(pairs),
            figure("One-shot vs architecture PSNR", _psnr_scatter(ok),
                   "Every evaluation with both targets; dotted: y = x. Below: the Spearman rank correlation of "
                   "the two on the same configurations, per budget (does the supernet rank like the retrained "
                   "architecture?)."),
            table(_target_correlation(ok)),
            figure("Hyperparameters against loss", _marginals(ok),
                   "Each configuration at the largest budget it reached; filled: picked by BOHB's model, hollow: random."),
            "<h2>Top configurations</h2>" + table(_top(summary)),
            "<h2>Failures and re-queued jobs</h2>" + _failures(frame, log_text),
        ]
    path = Path(output) if output is not None else run_dir / "report.html"
    path.write_text(page(f"BOHB run {run_dir.name}", sections))
    return path


def _manifest_section(run_dir: Path, summary: dict[str, Any], manifest: dict[str, Any]) -> str:
    attempts = manifest.get("attempts", [])
    rows = [
        ("study", f"{summary['method']} on {summary['formation']}/{summary['ops']}/{summary['space']}, "
                  f"profile {summary['profile']}, target {summary['target']}, {summary['seeds_per_eval']} seed(s) per evaluation"),
        ("schedule", f"{manifest.get('iterations')} iterations, budgets {summary['budgets']} epochs, eta {manifest.get('eta')}, "
                     f"width {manifest.get('width')}"),
        ("results", f"{summary['n_configs']} configs, {summary['n_results']} results ({summary['n_crashed']} crashed, "
                    f"{summary['n_failed']} failed), {summary['model_based_picks']} model-based picks"),
        ("attempts", describe_ledger(summary) + "\n" + "\n".join(" ".join(a.get("command_line") or []) for a in attempts)),
        ("versions", ", ".join(f"{k} {v}" for k, v in (manifest.get("package_versions") or {}).items())),
    ]
    damaged = "".join(f"<p class='note'>unreadable: {html.escape(line)}</p>" for line in summary["damaged"])
    body = "".join(f"<tr><th>{name}</th><td>{html.escape(value).replace(chr(10), '<br>')}</td></tr>" for name, value in rows)
    return f"<p class='note'>{html.escape(str(run_dir))}</p><table>{body}</table>{damaged}"


def _legend(ax: plt.Axes, size: int) -> None:
    """A legend where something was drawn (a run whose evaluations all failed has no points)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=size)


def _budget_colors(budgets) -> dict[float, Any]:
    ordered = sorted(set(budgets))
    cmap = plt.get_cmap("viridis")
    return {b: cmap(i / max(1, len(ordered) - 1)) for i, b in enumerate(ordered)}


def _incumbent_over_time(ok: pd.DataFrame) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(8, 3.6))
    colors = _budget_colors(ok["budget"])
    for budget, part in ok.groupby("budget"):
        ax.step(part["minutes"], part["loss"].cummin(), where="post", color=colors[budget], label=f"budget {budget:g}")
    ax.set_xlabel("wall time (minutes since the first job started)")
    ax.set_ylabel("best loss so far")
    _legend(ax, 8)
    return fig


def _losses_over_time(ok: pd.DataFrame) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(8, 3.6))
    colors = _budget_colors(ok["budget"])
    for budget, part in ok.groupby("budget"):
        ax.scatter(part["minutes"], part["loss"], s=18, color=colors[budget], label=f"budget {budget:g}")
    ax.set_xlabel("wall time (minutes since the first job started)")
    ax.set_ylabel("loss")
    _legend(ax, 8)
    return fig


def _budget_correlation(ok: pd.DataFrame) -> tuple[plt.Figure, list[dict[str, Any]]]:
    losses = ok.pivot_table(index="config_id", columns="budget", values="loss")
    pairs = list(itertools.combinations(sorted(losses.columns), 2))
    fig, axes = plt.subplots(1, max(1, len(pairs)), figsize=(4 * max(1, len(pairs)), 3.6), squeeze=False)
    rows = []
    for ax, (low, high) in zip(axes.flat, pairs):
        both = losses[[low, high]].dropna()
        rho, text = _spearman(both[low], both[high])
        rows.append({"cheap budget": f"{low:g}", "expensive budget": f"{high:g}", "configurations on both": len(both),
                     "Spearman rho": text})
        ax.scatter(both[low], both[high], s=18)
        ax.set_xlabel(f"loss at budget {low:g}")
        ax.set_ylabel(f"loss at budget {high:g}")
        ax.set_title(f"n = {len(both)}, rho = " + ("n/a" if math.isnan(rho) else f"{rho:.2f}"), fontsize=10)
    if not pairs:
        axes[0][0].text(0.5, 0.5, "one budget only", ha="center", va="center")
        axes[0][0].set_axis_off()
    return fig, rows


def _target_correlation(ok: pd.DataFrame) -> list[dict[str, Any]]:
    """Per budget (then over all), the Spearman rho of one-shot and architecture PSNR of the
    evaluations that have both (none in a ``--no-retrain`` run)."""
    both = ok.dropna(subset=["one_shot_psnr", "arch_psnr"])
    parts = [(f"{budget:g}", part) for budget, part in both.groupby("budget")] + [("all", both)]
    rows = []
    for name, part in parts:
        rows.append({"budget": name, "evaluations with both PSNRs": len(part),
                     "Spearman rho": _spearman(part["one_shot_psnr"], part["arch_psnr"])[1]})
    return rows


def _spearman(x: pd.Series, y: pd.Series) -> tuple[float, str]:
    """Spearman's rho of paired values and its text; NaN below 3 pairs or where one side is constant
    (no ranking to compare)."""
    if len(x) < 3:
        return math.nan, "n/a (fewer than 3)"
    if x.nunique() < 2 or y.nunique() < 2:
        return math.nan, "n/a (a constant value)"
    rho = float(stats.spearmanr(x, y).statistic)
    return rho, f"{rho:.2f}"


def _psnr_scatter(ok: pd.DataFrame) -> plt.Figure:
    both = ok.dropna(subset=["one_shot_psnr", "arch_psnr"])
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    colors = _budget_colors(ok["budget"])
    for budget, part in both.groupby("budget"):
        ax.scatter(part["one_shot_psnr"], part["arch_psnr"], s=18, color=colors[budget], label=f"budget {budget:g}")
    if not both.empty:
        low = min(both["one_shot_psnr"].min(), both["arch_psnr"].min()) - 0.5
        high = max(both["one_shot_psnr"].max(), both["arch_psnr"].max()) + 0.5
        ax.plot([low, high], [low, high], ":", color="0.5", label="y = x")
        _legend(ax, 8)
    else:
        ax.text(0.5, 0.5, "no evaluation with both PSNRs (--no-retrain?)", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("one-shot PSNR (dB)")
    ax.set_ylabel("architecture PSNR (dB)")
    return fig


def _marginals(ok: pd.DataFrame) -> plt.Figure:
    last = ok.sort_values("budget").groupby("config_id").tail(1)
    names = [c for c in ok.columns if c.startswith("hp:")]
    columns = 3
    rows = max(1, math.ceil(len(names) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3 * rows), squeeze=False)
    colors = _budget_colors(ok["budget"])
    for ax, name in zip(axes.flat, names):
        values = last[name]
        numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        x = values if numeric else values.astype(str).map({v: i for i, v in enumerate(sorted(values.dropna().astype(str).unique()))})
        for model_based, part in last.groupby("model_based"):
            ax.scatter(x[part.index], part["loss"], s=20, edgecolors=[colors[b] for b in part["budget"]],
                       facecolors=[colors[b] for b in part["budget"]] if model_based else "none",
                       label="model-based" if model_based else "random")
        if numeric and (values > 0).all() and values.max() / values.min() > 100:
            ax.set_xscale("log")
        if not numeric:
            labels = sorted(values.dropna().astype(str).unique())
            ax.set_xticks(range(len(labels)), labels, fontsize=8)
        ax.set_xlabel(name[3:])
        ax.set_ylabel("loss")
        _legend(ax, 7)
    for ax in axes.flat[len(names):]:
        ax.set_visible(False)
    return fig


def _top(summary: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"config": tuple(e["config_id"]), "loss per budget": e["losses"], "one-shot PSNR": e["one_shot_psnr"],
             "architecture PSNR": e["arch_psnr"], "model-based": e["model_based_pick"],
             "genotype": " > ".join("+".join(op) if isinstance(op, list) else str(op)
                                    for op in (e["genotype"] or {}).get("ops", []))} for e in summary["top"]]


def _failures(frame: pd.DataFrame, log_text: str) -> str:
    failed = frame[frame["failed"]]
    rows = [{"config": row.config_id, "budget": f"{row.budget:g}",
             "what": row.exception or ("diverged (failed loss)" if row.loss is not None else "crashed")}
            for row in failed.itertuples()]
    requeued = log_text.count("submitting it again")
    superseded = log_text.count("superseded result")
    return (f"<p>{len(failed)} failed or crashed evaluation(s); {requeued} job(s) re-queued after their worker was "
            f"lost; {superseded} late result(s) superseded (logs/master.log).</p>" + table(rows))

"""Self-contained HTML pages (figures embedded as PNG, no network): a study's trials here, a BOHB
run's in ``bohb_das.bohb.report``; both are built from the same helpers.

Each page counts the figures the browser decoded into ``data-figures-rendered`` on <body>, so that a
headless browser (tests/test_report.py) can tell a rendered page from a broken one.
"""

from __future__ import annotations

import base64
import html
import io
import os
import tempfile
from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from bohb_das.errors import ConfigError  # noqa: E402
from bohb_das.plots import scatter, transfer_heatmap  # noqa: E402
from bohb_das.results import TrialRecord, column, group_statistics  # noqa: E402

RENDER_CHECK = """<script>
window.addEventListener("load", () => {
  const figures = Array.from(document.querySelectorAll("img.figure"));
  document.body.dataset.figuresRendered = figures.filter(i => i.complete && i.naturalWidth > 0).length;
  document.body.dataset.figures = figures.length;
});
</script>"""

STYLE = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
         "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;text-align:left}"
         "img.figure{max-width:100%}.note{color:#555;font-size:13px}")


def page(title: str, sections: Sequence[str]) -> str:
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{STYLE}</style>"
            f"</head><body><h1>{html.escape(title)}</h1>{''.join(sections)}{RENDER_CHECK}</body></html>")


def figure(title: str, fig: plt.Figure, note: str) -> str:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return image(title, buffer.getvalue(), note)


def image(title: str, png: bytes, note: str) -> str:
    data = base64.b64encode(png).decode()
    return (f"<h2>{html.escape(title)}</h2><p class='note'>{html.escape(note)}</p>"
            f"<img class='figure' alt='{html.escape(title)}' src='data:image/png;base64,{data}'>")


def table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p class='note'>(none)</p>"
    return pd.DataFrame(rows).astype(str).to_html(index=False, border=0)


def write_study_report(records: Sequence[TrialRecord], output: str | os.PathLike[str]) -> Path:
    """A study's trials: per-cell statistics, the distribution of both PSNRs in every cell (not only
    max / mean / median), the one-shot vs architecture scatter and the transfer heatmap."""
    if not records:
        raise ConfigError("no trials to report")
    rows = group_statistics(records)
    scales = ", ".join(dict.fromkeys(r["scale"] for r in rows))
    profiles = ", ".join(dict.fromkeys(r["profile"] for r in rows))
    sections = [f"<p class='note'>{len(records)} trials in {len(rows)} cells; {html.escape(scales)}; profile "
                f"{html.escape(profiles)}</p>", table([_statistics_row(r) for r in rows])]
    for target, label in (("arch_psnr", "architecture PSNR"), ("one_shot_psnr", "one-shot PSNR")):
        if any(pd.notna(column(records, target))):
            sections.append(figure(f"Distribution of the {label} in every cell", _distribution(records, target, label),
                                   "One point per trial; boxes: quartiles and median; a failed trial has no point."))
    with tempfile.TemporaryDirectory() as folder:
        for title, draw, note in (
            ("One-shot vs architecture PSNR", scatter, "Paper Figures 3-8."),
            ("Transfer: median architecture PSNR", transfer_heatmap, "Paper Tables 3-4 at a glance (DAS trials)."),
        ):
            try:
                path = draw(records, Path(folder) / "figure.png")
            except ConfigError as exc:  # e.g. no DAS trials for the heatmap: say so instead of a figure
                sections.append(f"<h2>{html.escape(title)}</h2><p class='note'>{html.escape(str(exc))}</p>")
                continue
            sections.append(image(title, path.read_bytes(), note))
    path = Path(output)
    path.write_text(page("bohb-das study report", sections))
    return path


def _statistics_row(row: dict[str, Any]) -> dict[str, Any]:
    fmt = lambda value: "n/a" if pd.isna(value) else f"{value:.2f}"
    return {"method": row["method"], "hyperparameters": row["hparams_name"], "formation": row["formation"],
            "ops": row["ops"], "space": row["space"], "trials": row["trials"], "failed": row["failed"],
            "arch max / mean / median": " / ".join(fmt(row[f"arch_{s}"]) for s in ("max", "mean", "median")),
            "one-shot max / mean / median": " / ".join(fmt(row[f"one_shot_{s}"]) for s in ("max", "mean", "median"))}


def _distribution(records: Sequence[TrialRecord], target: str, label: str) -> plt.Figure:
    frame = pd.DataFrame({
        "cell": [f"{r.method} · {r.hparams_name}\n{r.formation} · {r.ops} ops · {r.space}" for r in records],
        label: column(records, target),
    }).dropna()
    cells = list(dict.fromkeys(frame["cell"]))
    fig, ax = plt.subplots(figsize=(8, 0.55 * len(cells) + 1.5))
    sns.boxplot(data=frame, x=label, y="cell", order=cells, ax=ax, color="0.9", fliersize=0)
    sns.stripplot(data=frame, x=label, y="cell", order=cells, ax=ax, size=4, color="C0", alpha=0.8)
    ax.set_xlabel(f"{label} (dB)")
    ax.set_ylabel("cell")
    return fig

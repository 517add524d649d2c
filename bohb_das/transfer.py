"""Hyperparameter sets against a baseline set in the same cells: the statistics behind the paper's
section 5.3 (does a BOHB set make the search stable, raise its maximum, transfer to the other
formation, beat H1?), with intervals, so that each statement reads holds / contradicted / undecided
at the trials there are rather than from a point estimate.

A cell is (method, space, formation, ops, profile, scale). In each, every set's PSNRs are set beside
the baseline's: the differences of median, mean and maximum with percentile bootstrap intervals (the
two samples resampled independently; a maximum's bootstrap is coarse, its interval only says whether
the difference is clear), and the share of failed searches (a failed trial, or one below the failure
threshold: the back-projection floor unless another is given) with its Clopper-Pearson interval.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd

from bohb_das.errors import ConfigError
from bohb_das.fidelity import CellTrials, bootstrap_interval, failure_interval
from bohb_das.results import TrialRecord
from bohb_das.targets import Target

#: The differences reported, as (name, statistic over the last axis).
GAPS = (("median", np.median), ("mean", np.mean), ("max", np.max))

_CELL_AXES = ("method", "space", "formation", "ops", "profile", "scale")


def _gap(statistic):
    return lambda a, b, axis=-1: statistic(a, axis=axis) - statistic(b, axis=axis)


def _interval_text(value: float, low: float, high: float) -> str:
    if math.isnan(value):
        return "--"
    return f"{value:+.2f}" + ("" if math.isnan(low) else f" [{low:+.2f}, {high:+.2f}]")


def _failure_text(trials: CellTrials) -> str:
    failed, n = trials.failures(), len(trials.values)
    low, high = failure_interval(failed, n)
    return f"{failed}/{n} [{low:.0%}, {high:.0%}]"


def transfer_table(records: Sequence[TrialRecord], baseline: str, target: Target | str = Target.ARCH,
                 failure_below: float | None = None, seed: int = 0) -> pd.DataFrame:
    """Rows: (the cell axes that vary, hparams), baseline first in each cell; columns: trials, median,
    mean and max of the target PSNR, the failed searches, then each difference to the baseline with
    its 95 % interval (text, ``--`` for the baseline itself and where a cell lacks the baseline)."""
    target = Target.parse(target)
    if not any(r.hparams_name == baseline for r in records):
        names = ", ".join(dict.fromkeys(r.hparams_name for r in records))
        raise ConfigError(f"--against {baseline}: no trials of that hyperparameter set among these ({names})")
    cells: dict[tuple, dict[str, CellTrials]] = {}
    grouped: dict[tuple, dict[str, list[TrialRecord]]] = {}
    for r in records:
        grouped.setdefault(tuple(getattr(r, a) for a in _CELL_AXES), {}).setdefault(r.hparams_name, []).append(r)
    for cell, sets in grouped.items():
        cells[cell] = {name: CellTrials(tuple(getattr(t, target.key) if t.status == "ok" else math.nan for t in trials),
                                        trials[0].backprojection_psnr if failure_below is None else failure_below)
                       for name, trials in sets.items()}
    axes = [i for i, a in enumerate(_CELL_AXES) if len({cell[i] for cell in cells}) > 1 or a in ("formation", "ops")]
    index, rows = [], []
    for cell, sets in cells.items():
        base = sets.get(baseline)
        for name in sorted(sets, key=lambda n: n != baseline):  # stable: the other sets keep their order
            trials = sets[name]
            row: dict[str, object] = {"trials": len(trials.values)}
            row.update({stat: trials.stat(stat) for stat, _ in GAPS})
            row["failed"] = _failure_text(trials)
            for stat, statistic in GAPS:
                if base is None or name == baseline:
                    row[f"{stat} vs {baseline}"] = "--"
                    continue
                low, high = bootstrap_interval((trials.finite, base.finite), _gap(statistic), seed)
                row[f"{stat} vs {baseline}"] = _interval_text(trials.stat(stat) - base.stat(stat), low, high)
            index.append((*(cell[i] for i in axes), name))
            rows.append(row)
    names = [_CELL_AXES[i] for i in axes] + ["hparams"]
    return pd.DataFrame(rows, index=pd.MultiIndex.from_tuples(index, names=names))

"""Every value of one axis against a reference value in otherwise equal cells: the statistics behind
the paper's comparative statements (section 5.3: does a BOHB set make the search stable, raise its
maximum, beat H1? Table 2: does the cell space hamper DAS, does DAS beat random architectures?), with
intervals, so that each reads holds / contradicted / undecided at the trials there are rather than
from a point estimate.

The axis is one of a trial's labels (hyperparameter set, method, operation set, space, formation,
profile); a cell is a value of every other label. In each, every value's PSNRs are set beside the
reference's: the differences of median, mean and maximum with percentile bootstrap intervals (the two
samples resampled independently; a maximum's bootstrap is coarse, its interval only says whether the
difference is clear), and the share of failed searches (a failed trial, or one below the failure
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

#: The axes a comparison can run along: name -> the trial record's field; a row's labels in this order.
AXES = {"profile": "profile", "scale": "scale", "method": "method", "space": "space", "formation": "formation",
        "ops": "ops", "hparams": "hparams_name"}

#: The differences reported, as (name, statistic over the last axis).
GAPS = (("median", np.median), ("mean", np.mean), ("max", np.max))

#: Cell axes always shown (those of the paper's tables); the others where they vary.
_SHOWN = ("formation", "ops")


def parse_against(text: str) -> tuple[str, str]:
    """``AXIS=VALUE`` or a bare hyperparameter set's name -> (axis, value)."""
    axis, _, value = text.rpartition("=") if "=" in text else ("hparams", "", text)
    if axis not in AXES:
        raise ConfigError(f"--against {text}: unknown axis {axis!r} (one of {', '.join(AXES)})")
    if not value:
        raise ConfigError(f"--against {text}: no value after '='")
    return axis, value


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


def differences_table(records: Sequence[TrialRecord], axis: str, reference: str, target: Target | str = Target.ARCH,
                      failure_below: float | None = None, seed: int = 0) -> pd.DataFrame:
    """Rows: (the cell axes shown, the compared axis), the reference first in each cell; columns:
    trials, median, mean and max of the target PSNR, the failed searches, then each difference to
    the reference with its 95 % interval (text; ``--`` for the reference itself and where a cell
    lacks it)."""
    target = Target.parse(target)
    field = AXES[axis]
    if not any(getattr(r, field) == reference for r in records):
        values = ", ".join(dict.fromkeys(getattr(r, field) for r in records))
        raise ConfigError(f"--against {axis}={reference}: no trials with that {axis} among these ({values})")
    others = [a for a in AXES if a != axis]
    grouped: dict[tuple, dict[str, list[TrialRecord]]] = {}
    for r in records:
        grouped.setdefault(tuple(getattr(r, AXES[a]) for a in others), {}).setdefault(getattr(r, field), []).append(r)
    cells = {cell: {value: CellTrials(tuple(getattr(t, target.key) if t.status == "ok" else math.nan for t in trials),
                                      trials[0].backprojection_psnr if failure_below is None else failure_below)
                    for value, trials in values.items()}
             for cell, values in grouped.items()}
    shown = [i for i, a in enumerate(others) if a in _SHOWN or len({cell[i] for cell in cells}) > 1]
    index, rows = [], []
    for cell, values in cells.items():
        base = values.get(reference)
        for value in sorted(values, key=lambda v: v != reference):  # stable: the others keep their order
            trials = values[value]
            row: dict[str, object] = {"trials": len(trials.values)}
            row.update({stat: trials.stat(stat) for stat, _ in GAPS})
            row["failed"] = _failure_text(trials)
            for stat, statistic in GAPS:
                if base is None or value == reference:
                    row[f"{stat} vs {reference}"] = "--"
                    continue
                low, high = bootstrap_interval((trials.finite, base.finite), _gap(statistic), seed)
                row[f"{stat} vs {reference}"] = _interval_text(trials.stat(stat) - base.stat(stat), low, high)
            index.append((*(cell[i] for i in shown), value))
            rows.append(row)
    names = [others[i] for i in shown] + [axis]
    return pd.DataFrame(rows, index=pd.MultiIndex.from_tuples(index, names=names))

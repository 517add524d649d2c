"""How close a reproduction comes to the paper: our cells beside its published numbers, the error per
profile, and which of its findings hold, with the statistics to say so at the trials we have.

Used to calibrate a profile on Table 1 and to validate it, untouched, on Tables 2-4. The paper
publishes max, mean and median of the architecture validation PSNR per cell; the error is taken over
all three. Its findings are the orderings of medians it states on Table 1 and four statements on the
spread (a failure tail of DAS with all operations on blur, none with good operations, random
architectures with all operations below the back-projection floor). Each finding is marked holds /
contradicted / undecided from a seeded percentile bootstrap interval; the share of failed searches
(below the floor) per cell carries a Clopper-Pearson interval.
"""

from __future__ import annotations

import itertools
import math
import statistics
from dataclasses import dataclass, replace
from typing import Callable, NamedTuple, Sequence

import numpy as np
import pandas as pd

from bohb_das.errors import ConfigError
from bohb_das.paper import PAPER, TABLE1_ORDERINGS, Cell
from bohb_das.profiles import Profile, profile_of_record
from bohb_das.results import BOOTSTRAP_RESAMPLES, CONFIDENCE, TrialRecord

#: The column of the paper's own numbers (not "paper": that is a profile's name).
PUBLISHED = "published"

#: A pair of the paper's cells (same formation) counts as one of its orderings when their medians
#: differ by at least this many dB; smaller gaps are within the spread of 75 trials.
CLEAR_GAP_DB = 1.0

#: A failure tail: the mean this far below the median (dB), or this share of searches below the floor.
TAIL_GAP_DB = 1.5
TAIL_SHARE = 0.10
#: No tail: the mean within this distance of the median (dB).
NO_TAIL_DB = 1.0


@dataclass(frozen=True)
class CellTrials:
    """The architecture PSNRs of one cell's trials (NaN: a failed trial) and the back-projection floor."""

    values: tuple[float, ...]
    floor: float

    @property
    def finite(self) -> np.ndarray:
        return np.array([v for v in self.values if math.isfinite(v)], dtype=float)

    def stat(self, name: str) -> float:
        finite = self.finite
        if not len(finite):
            return math.nan
        return float({"max": np.max, "mean": np.mean, "median": np.median}[name](finite))

    def failures(self) -> int:
        """Trials that failed or scored below the back-projection floor."""
        return sum(not (math.isfinite(v) and v >= self.floor) for v in self.values)


#: column (a profile, or profile and scale) -> cell -> its trials.
Columns = dict[str, dict[Cell, CellTrials]]


def columns(records: Sequence[TrialRecord]) -> Columns:
    """The trials of every cell the paper publishes, per profile; with trials of several scales each
    (profile, scale) is a column of its own."""
    several = len({r.scale for r in records}) > 1
    groups: dict[str, dict[Cell, list[TrialRecord]]] = {}
    for r in records:
        cell = Cell(r.space, r.ops, r.method, r.hparams_name, r.formation)
        if cell in PAPER:
            column = f"{r.profile} ({r.scale})" if several else r.profile
            groups.setdefault(column, {}).setdefault(cell, []).append(r)
    return {column: {cell: CellTrials(tuple(t.arch_psnr for t in trials), trials[0].backprojection_psnr)
                     for cell, trials in cells.items()}
            for column, cells in groups.items()}


def inherit(records: Sequence[TrialRecord], base: str, searches: Callable[[str], bool],
            harmful: Callable[[str], bool]) -> tuple[list[TrialRecord], list[str]]:
    """Records plus, for every other profile, the ``base`` profile's trials of the cells (same scale)
    that profile has none of and whose trials its differences from ``base`` cannot change
    (``Profile.reaches``; ``searches(method)``, ``harmful(ops)`` describe a cell). Returns them and a
    line per profile naming the cells filled in."""
    profiles: dict[str, Profile] = {}
    for r in records:
        profiles.setdefault(r.profile, profile_of_record(r.spec))
    if base not in profiles:
        raise ConfigError(f"--base {base}: no trials of profile {base!r} among these")
    key = lambda r: (r.space, r.ops, r.method, r.hparams_name, r.formation, r.scale)  # noqa: E731
    have = {(r.profile, key(r)) for r in records}
    added, notes = [], []
    for name, profile in profiles.items():
        if name == base:
            continue
        filled = set()
        for r in records:
            if (r.profile == base and (name, key(r)) not in have
                    and not profiles[base].reaches(profile, searches(r.method), harmful(r.ops))):
                added.append(replace(r, profile=name))
                filled.add(f"{r.method}/{r.ops}/{r.formation}")
        if filled:
            notes.append(f"{name}: {', '.join(sorted(filled))}")
    return [*records, *added], notes


def bootstrap_interval(samples: Sequence[np.ndarray], statistic: Callable[..., np.ndarray], seed: int) -> tuple[float, float]:
    """A percentile bootstrap interval (scipy.stats.bootstrap, samples resampled independently); NaN
    below 3 values in a sample."""
    from scipy import stats

    if any(len(s) < 3 for s in samples):
        return math.nan, math.nan
    ci = stats.bootstrap(tuple(samples), statistic, vectorized=True, paired=False, n_resamples=BOOTSTRAP_RESAMPLES,
                         confidence_level=CONFIDENCE, method="percentile",
                         random_state=np.random.default_rng(seed)).confidence_interval
    return float(ci.low), float(ci.high)


def _median_gap(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.median(a, axis=axis) - np.median(b, axis=axis)


def _tail(a: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(a, axis=axis) - np.median(a, axis=axis)


def failure_interval(failed: int, n: int) -> tuple[float, float]:
    """The 95 % Clopper-Pearson interval of a share of ``failed`` in ``n`` (scipy.stats.binomtest)."""
    from scipy import stats

    if n == 0:
        return math.nan, math.nan
    ci = stats.binomtest(failed, n).proportion_ci(confidence_level=CONFIDENCE, method="exact")
    return float(ci.low), float(ci.high)


class Verdict(NamedTuple):
    """A finding under one column: the value (dB) it is judged on, whether that point estimate holds,
    and holds / contradicted / undecided from its interval."""

    value: float
    held: bool
    status: str

    def text(self) -> str:
        return "--" if math.isnan(self.value) else f"{self.value:.2f} {self.status}"


#: The verdict where a column lacks a finding's cells.
MISSING = Verdict(math.nan, False, "--")

#: ``judge(a column's cells, seed)``: a finding's verdict under one column.
Judge = Callable[[dict[Cell, CellTrials], int], Verdict]


def _status(low: float, high: float, holds: Callable[[float], bool]) -> str:
    """Holds where the whole interval is on the holding side, contradicted where none of it is
    (judged on a fine grid of the interval, so a band such as |v| <= 1 is judged right too)."""
    if math.isnan(low):
        return "undecided"
    inside = [holds(float(v)) for v in np.linspace(low, high, 201)]
    return "holds" if all(inside) else "contradicted" if not any(inside) else "undecided"


class Finding(NamedTuple):
    """A statement of the paper on Table 1: ``judge(cells, seed)`` gives its verdict under one
    column's cells, ``published`` its value in the paper."""

    name: str
    published: float
    judge: Judge


def _of_cell(cell: Cell, rule: Callable[[CellTrials, int], Verdict]) -> Judge:
    """A finding on one cell: ``rule(its trials, seed)``, MISSING where the column lacks the cell."""
    return lambda cells, seed: rule(cells[cell], seed) if cell in cells else MISSING


def _ordering(higher: Cell, lower: Cell) -> Judge:
    def judge(cells: dict[Cell, CellTrials], seed: int) -> Verdict:
        if higher not in cells or lower not in cells:
            return MISSING
        a, b = cells[higher], cells[lower]
        gap = a.stat("median") - b.stat("median")
        return Verdict(gap, gap > 0, _status(*bootstrap_interval((a.finite, b.finite), _median_gap, seed), lambda v: v > 0))

    return judge


def _failure_tail(trials: CellTrials, seed: int) -> Verdict:
    """Mean at least TAIL_GAP_DB below the median, or at least TAIL_SHARE of the searches failed."""
    failed, n = trials.failures(), len(trials.values)
    gap = trials.stat("mean") - trials.stat("median")
    by_gap = _status(*bootstrap_interval((trials.finite,), _tail, seed), lambda v: v <= -TAIL_GAP_DB)
    by_share = _status(*failure_interval(failed, n), lambda v: v >= TAIL_SHARE)
    status = ("holds" if "holds" in (by_gap, by_share) else
              "contradicted" if by_gap == by_share == "contradicted" else "undecided")
    return Verdict(gap, gap <= -TAIL_GAP_DB or failed / n >= TAIL_SHARE, status)


def _no_tail(trials: CellTrials, seed: int) -> Verdict:
    """The mean within NO_TAIL_DB of the median."""
    gap = trials.stat("mean") - trials.stat("median")
    return Verdict(gap, abs(gap) <= NO_TAIL_DB, _status(*bootstrap_interval((trials.finite,), _tail, seed),
                                                        lambda v: abs(v) <= NO_TAIL_DB))


def _below_floor(trials: CellTrials, seed: int) -> Verdict:
    """The median below the back-projection floor."""
    gap = trials.stat("median") - trials.floor
    low, high = bootstrap_interval((trials.finite,), lambda a, axis=-1: np.median(a, axis=axis), seed)
    return Verdict(gap, gap < 0, _status(low - trials.floor, high - trials.floor, lambda v: v < 0))


def _table1_findings() -> list[Finding]:
    out = [Finding(o.finding, PAPER[o.higher].median - PAPER[o.lower].median, _ordering(o.higher, o.lower))
           for o in TABLE1_ORDERINGS]
    cell = lambda ops, method, formation: Cell("sequential", ops, method, "H1", formation)  # noqa: E731
    tail = cell("all", "das", "blur")
    out.append(Finding(f"blur: DAS all ops has a failure tail (mean - median <= -{TAIL_GAP_DB:g} dB or "
                       f">= {TAIL_SHARE:.0%} below the floor)", PAPER[tail].mean - PAPER[tail].median, _of_cell(tail, _failure_tail)))
    for formation in ("blur", "downsampling"):
        good = cell("good", "das", formation)
        out.append(Finding(f"{formation}: DAS good ops has no tail (|mean - median| <= {NO_TAIL_DB:g} dB)",
                           PAPER[good].mean - PAPER[good].median, _of_cell(good, _no_tail)))
    random_all = cell("all", "random", "blur")
    out.append(Finding("blur: random all ops below the back-projection floor (median - floor)", math.nan,
                       _of_cell(random_all, _below_floor)))
    return out


#: The paper's Table 1 findings: its 16 stated orderings of medians (section 5.2), then the spread.
TABLE1_FINDINGS = _table1_findings()


def _cell_rows(ours: Columns) -> tuple[list[Cell], pd.MultiIndex]:
    """The published cells some column has, in the paper's order, and their table index."""
    cells = [c for c in PAPER if any(c in cells for cells in ours.values())]
    index = pd.MultiIndex.from_tuples([(c.space, c.ops, c.method, c.hparams, c.formation) for c in cells],
                                      names=["space", "ops", "method", "hparams", "formation"])
    return cells, index


def versus_table(ours: Columns, stat: str = "median") -> pd.DataFrame:
    """One row per cell the paper publishes (in its order): the published ``stat`` (max, mean or
    median), then each column's."""
    cells, index = _cell_rows(ours)
    data = [[getattr(PAPER[c], stat)] + [ours[p][c].stat(stat) if c in ours[p] else math.nan for p in ours] for c in cells]
    return pd.DataFrame(data, index=index, columns=[PUBLISHED, *ours])


def failure_table(ours: Columns) -> pd.DataFrame:
    """Per cell and column: trials that failed or fell below the back-projection floor, of all, with
    the 95 % interval of the share."""
    cells, index = _cell_rows(ours)

    def text(trials: CellTrials | None) -> str:
        if trials is None:
            return "--"
        low, high = failure_interval(trials.failures(), len(trials.values))
        return f"{trials.failures()}/{len(trials.values)} ({100 * low:.0f}-{100 * high:.0f} %)"

    data = [[text(ours[p].get(c)) for p in ours] for c in cells]
    return pd.DataFrame(data, index=index, columns=list(ours))


def _clear_pairs(cells: Sequence[Cell]) -> list[tuple[Cell, Cell]]:
    """(higher, lower) pairs of the paper's cells of one formation whose medians differ clearly."""
    pairs = []
    for a, b in itertools.combinations(cells, 2):
        if a.formation != b.formation:
            continue
        gap = PAPER[a].median - PAPER[b].median
        if abs(gap) >= CLEAR_GAP_DB:
            pairs.append((a, b) if gap > 0 else (b, a))
    return pairs


def verdicts(ours: Columns, seed: int = 0) -> dict[str, list[Verdict]]:
    """column -> the verdict of every Table 1 finding (``TABLE1_FINDINGS`` order); computed once for
    the summary and the findings table (each runs a bootstrap)."""
    return {column: [f.judge(cells, seed) for f in TABLE1_FINDINGS] for column, cells in ours.items()}


def summary_table(ours: Columns, judged: dict[str, list[Verdict]]) -> pd.DataFrame:
    """Per column: cells compared, the mean absolute error over the published max, mean and median
    (48 numbers for Table 1) and of each alone (dB), the mean signed error of medians (ours - paper),
    the Table 1 findings held (point estimates; of those with both cells) and how many of them hold /
    are contradicted by their intervals, and the share of the paper's clear pairwise orderings
    (>= CLEAR_GAP_DB) that ours keep."""
    rows = []
    for column, cells in ours.items():
        finite = {c: t for c, t in cells.items() if math.isfinite(t.stat("median"))}
        errors = {stat: [t.stat(stat) - getattr(PAPER[c], stat) for c, t in finite.items()] for stat in ("max", "mean", "median")}
        every = [abs(e) for values in errors.values() for e in values]
        mae = lambda values: statistics.fmean(abs(e) for e in values) if values else math.nan  # noqa: E731
        judged_here = [v for v in judged[column] if v.status != "--"]
        pairs = _clear_pairs(list(finite))
        kept = sum(finite[hi].stat("median") > finite[lo].stat("median") for hi, lo in pairs)
        rows.append({
            "profile": column,
            "cells": len(finite),
            "MAE (max, mean, median)": statistics.fmean(every) if every else math.nan,
            "MAE max": mae(errors["max"]),
            "MAE mean": mae(errors["mean"]),
            "MAE median": mae(errors["median"]),
            "bias median": statistics.fmean(errors["median"]) if errors["median"] else math.nan,
            "findings held": f"{sum(v.held for v in judged_here)}/{len(judged_here)}" if judged_here else "--",
            "holds / contradicted (interval)": (f"{sum(v.status == 'holds' for v in judged_here)} / "
                                                f"{sum(v.status == 'contradicted' for v in judged_here)}"),
            "orderings kept": f"{kept}/{len(pairs)}" if pairs else "--",
        })
    return pd.DataFrame(rows).set_index("profile")


def findings_table(ours: Columns, judged: dict[str, list[Verdict]]) -> pd.DataFrame:
    """The paper's Table 1 findings: the published value (dB), then each column's with its verdict
    (an ordering's median gap: negative does not hold; the spread findings as their names say)."""
    data, index = [], []
    for i, finding in enumerate(TABLE1_FINDINGS):
        row = [judged[column][i] for column in ours]
        if all(v.status == "--" for v in row):
            continue
        index.append(finding.name)
        data.append(["--" if math.isnan(finding.published) else f"{finding.published:.2f}"] + [v.text() for v in row])
    return pd.DataFrame(data, index=pd.Index(index, name="finding (dB)"), columns=[PUBLISHED, *ours])

"""How close a reproduction comes to the paper: our cells beside its published numbers, the error per
profile, and which of its findings hold.

Used to calibrate a profile on Table 1 and to validate it, untouched, on Tables 2-4. Every figure
compares medians of the architecture validation PSNR over the trials of a cell (the paper reports
max / mean / median; the median is the most stable of the three at a few trials).
"""

from __future__ import annotations

import itertools
import math
import statistics
from typing import Sequence

import pandas as pd

from bohb_das.paper import PAPER, TABLE1_ORDERINGS, Cell
from bohb_das.results import TrialRecord, group_statistics

#: The column of the paper's own numbers (not "paper": that is the default profile's name).
PUBLISHED = "published"

#: A pair of the paper's cells (same formation) counts as one of its orderings when their medians
#: differ by at least this many dB; smaller gaps are within the spread of 75 trials.
CLEAR_GAP_DB = 1.0


#: profile -> cell -> (median, mean) of the architecture PSNR.
Medians = dict[str, dict[Cell, tuple[float, float]]]


def medians(records: Sequence[TrialRecord]) -> Medians:
    """profile -> cell -> (median, mean) of the architecture PSNR, for the cells the paper has; with
    trials of several scales, each (profile, scale) is a column of its own. Computed once and handed
    to the three tables below (grouping runs the bootstrap of every group)."""
    rows = group_statistics(records)
    several = len({row["scale"] for row in rows}) > 1
    out: Medians = {}
    for row in rows:
        cell = Cell(row["space"], row["ops"], row["method"], row["hparams_name"], row["formation"])
        if cell in PAPER:
            column = f"{row['profile']} ({row['scale']})" if several else row["profile"]
            out.setdefault(column, {})[cell] = (row["arch_median"], row["arch_mean"])
    return out


def versus_table(ours: Medians) -> pd.DataFrame:
    """One row per cell the paper publishes (in its order): the published median, then each profile's."""
    cells = [c for c in PAPER if any(c in cells for cells in ours.values())]
    data = [[PAPER[c].median] + [ours[p].get(c, (math.nan,))[0] for p in ours] for c in cells]
    index = pd.MultiIndex.from_tuples([(c.space, c.ops, c.method, c.hparams, c.formation) for c in cells],
                                      names=["space", "ops", "method", "hparams", "formation"])
    return pd.DataFrame(data, index=index, columns=[PUBLISHED, *ours])


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


def summary_table(ours: Medians) -> pd.DataFrame:
    """Per profile: cells compared, mean absolute error of medians and of means (dB), mean signed
    error of medians (ours - paper), the stated Table 1 findings that hold, and the share of the
    paper's clear pairwise orderings (>= CLEAR_GAP_DB) that ours keep."""
    rows = []
    for profile, cells in ours.items():
        finite = {c: v for c, v in cells.items() if math.isfinite(v[0])}
        errors = [v[0] - PAPER[c].median for c, v in finite.items()]
        mean_errors = [abs(v[1] - PAPER[c].mean) for c, v in finite.items() if math.isfinite(v[1])]
        findings = [o for o in TABLE1_ORDERINGS if o.higher in finite and o.lower in finite]
        held = sum(finite[o.higher][0] > finite[o.lower][0] for o in findings)
        pairs = _clear_pairs(list(finite))
        kept = sum(finite[hi][0] > finite[lo][0] for hi, lo in pairs)
        rows.append({
            "profile": profile,
            "cells": len(finite),
            "MAE median": statistics.fmean(abs(e) for e in errors) if errors else math.nan,
            "MAE mean": statistics.fmean(mean_errors) if mean_errors else math.nan,
            "bias median": statistics.fmean(errors) if errors else math.nan,
            "findings held": f"{held}/{len(findings)}" if findings else "--",
            "orderings kept": f"{kept}/{len(pairs)}" if pairs else "--",
        })
    return pd.DataFrame(rows).set_index("profile")


def findings_table(ours: Medians) -> pd.DataFrame:
    """The paper's stated Table 1 findings: the published median gap (dB), then each profile's gap; a
    negative gap is a finding that does not hold."""
    data, index = [], []
    for o in TABLE1_ORDERINGS:
        gaps = [ours[p][o.higher][0] - ours[p][o.lower][0] if o.higher in ours[p] and o.lower in ours[p] else math.nan
                for p in ours]
        if all(math.isnan(g) for g in gaps):
            continue
        index.append(o.finding)
        data.append([PAPER[o.higher].median - PAPER[o.lower].median] + gaps)
    return pd.DataFrame(data, index=pd.Index(index, name="finding (median gap, dB)"), columns=[PUBLISHED, *ours])

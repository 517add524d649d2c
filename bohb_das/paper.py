"""The paper's published numbers (Tables 1-4: architecture validation PSNR, max / mean / median),
and its stated findings on Table 1 as orderings of cell medians.

These are the targets of the calibration (Table 1 only) and the reference of the untuned
validation (Tables 2-4). A cell is (space, ops, method, hyperparameter set, formation); Table 3's
H1 rows repeat Table 1's DAS rows and Table 4's H1 rows Table 2's, as in the paper.
"""

from __future__ import annotations

from typing import NamedTuple


class Cell(NamedTuple):
    space: str
    ops: str
    method: str
    hparams: str
    formation: str


class Stats(NamedTuple):
    max: float
    mean: float
    median: float


def _rows(space: str, rows: dict[tuple[str, str, str], tuple[float, ...]]) -> dict[Cell, Stats]:
    """(ops, method, hparams) -> blur max/mean/median then downsampling (or blur only) max/mean/median."""
    out = {}
    for (ops, method, hparams), values in rows.items():
        for i, formation in enumerate(("blur", "downsampling")[: len(values) // 3]):
            out[Cell(space, ops, method, hparams, formation)] = Stats(*values[3 * i : 3 * i + 3])
    return out


TABLE1 = _rows("sequential", {
    ("good", "gd_only", "H1"): (17.45, 16.36, 16.49, 14.35, 13.24, 13.55),
    ("good", "nets_only", "H1"): (21.63, 19.45, 20.71, 16.92, 13.13, 14.05),
    ("good", "das", "H1"): (23.46, 21.56, 21.60, 18.03, 16.36, 16.66),
    ("good", "random", "H1"): (24.04, 22.00, 22.16, 18.10, 16.74, 16.78),
    ("good", "random_search", "H1"): (24.04, 22.85, 22.75, 18.10, 17.62, 17.56),
    ("all", "das", "H1"): (22.86, 15.64, 18.57, 18.01, 15.39, 16.12),
    ("all", "random", "H1"): (20.86, 9.45, 8.10, 13.78, 5.08, 4.31),
    ("all", "random_search", "H1"): (20.86, 12.39, 12.34, 13.78, 9.61, 9.77),
})

TABLE2 = _rows("cell", {
    ("good", "gd_only", "H1"): (13.19, 12.41, 12.38, 11.30, 8.89, 9.59),
    ("good", "nets_only", "H1"): (16.35, 14.83, 15.82, 13.63, 13.07, 13.06),
    ("good", "das", "H1"): (15.34, 13.08, 12.51, 13.22, 10.22, 10.43),
    ("good", "random", "H1"): (16.20, 11.29, 11.88, 13.15, 6.26, 5.72),
    ("all", "das", "H1"): (16.15, 13.56, 13.73, 13.31, 9.47, 8.61),
    ("all", "random", "H1"): (16.05, 9.56, 8.17, 13.39, 4.37, 3.21),
})

_TABLE3_ROWS = {  # (hparams) -> good blur, all blur, good downsampling, all downsampling
    "H1": ((23.46, 21.56, 21.60), (22.86, 15.64, 18.57), (18.03, 16.36, 16.66), (18.01, 15.39, 16.12)),
    "H2": ((23.46, 21.43, 21.63), (23.10, 16.77, 19.88), (18.20, 16.57, 16.78), (17.82, 15.93, 16.21)),
    "bohb-one-shot-blur": ((22.83, 20.86, 20.75), (22.47, 15.57, 18.04), (18.42, 16.83, 16.95), (17.73, 14.36, 14.57)),
    "bohb-one-shot-ds": ((22.33, 20.65, 20.96), (22.41, 14.43, 14.41), (17.51, 15.33, 15.84), (18.12, 12.36, 13.65)),
    "bohb-blur": ((23.57, 22.05, 22.38), (22.94, 12.76, 8.21), (18.26, 14.63, 15.93), (17.91, 15.04, 15.44)),
}
TABLE3 = {
    Cell("sequential", ops, "das", hparams, formation): Stats(*values[i])
    for hparams, values in _TABLE3_ROWS.items()
    for i, (formation, ops) in enumerate((("blur", "good"), ("blur", "all"), ("downsampling", "good"), ("downsampling", "all")))
}

_TABLE4_ROWS = {  # (hparams) -> good blur, all blur
    "H1": ((15.34, 13.08, 12.51), (16.15, 13.56, 13.73)),
    "H2": ((15.38, 13.17, 12.52), (16.28, 14.11, 15.58)),
    "bohb-one-shot-blur": ((16.38, 13.25, 12.76), (16.71, 11.73, 11.80)),
    "bohb-one-shot-ds": ((14.93, 12.73, 12.44), (15.86, 12.37, 11.72)),
    "bohb-blur": ((16.50, 13.83, 13.06), (16.82, 14.07, 14.44)),
    "bohb-non-seq-one-shot-blur": ((16.50, 8.84, 8.09), (16.82, 13.96, 15.50)),
    "bohb-non-seq-blur": ((16.74, 9.73, 8.11), (17.03, 13.45, 15.42)),
}
TABLE4 = {
    Cell("cell", ops, "das", hparams, "blur"): Stats(*values[i])
    for hparams, values in _TABLE4_ROWS.items()
    for i, ops in enumerate(("good", "all"))
}

#: Every published cell (duplicates across tables carry equal numbers).
PAPER: dict[Cell, Stats] = {**TABLE1, **TABLE2, **TABLE3, **TABLE4}


class Ordering(NamedTuple):
    """A finding of the paper: the median of ``higher`` exceeds the median of ``lower``."""

    finding: str
    higher: Cell
    lower: Cell


def _table1_orderings() -> list[Ordering]:
    out = []
    for f in ("blur", "downsampling"):
        c = lambda ops, method: Cell("sequential", ops, method, "H1", f)  # noqa: E731
        out += [
            Ordering(f"{f}: DAS > random (all ops)", c("all", "das"), c("all", "random")),
            Ordering(f"{f}: DAS > random search (all ops)", c("all", "das"), c("all", "random_search")),
            Ordering(f"{f}: nets-only > GD-only", c("good", "nets_only"), c("good", "gd_only")),
            Ordering(f"{f}: DAS > nets-only (good ops)", c("good", "das"), c("good", "nets_only")),
            Ordering(f"{f}: random search > DAS (good ops)", c("good", "random_search"), c("good", "das")),
            Ordering(f"{f}: DAS good ops > DAS all ops", c("good", "das"), c("all", "das")),
            Ordering(f"{f}: random good ops > random all ops", c("good", "random"), c("all", "random")),
        ]
    for ops in ("good", "all"):
        out.append(Ordering(f"blur > downsampling (DAS, {ops} ops)", Cell("sequential", ops, "das", "H1", "blur"),
                            Cell("sequential", ops, "das", "H1", "downsampling")))
    return out


#: The findings the paper states on Table 1 (section 5.2), as orderings of medians.
TABLE1_ORDERINGS = _table1_orderings()

"""The paper's tables: running (or loading) a grid of trials and laying their statistics out.

Layout ``paper``: one row per (profile, scale, space, ops, method, hyperparameter set) -- the axes that vary are
shown -- and max / mean / median of a PSNR per formation, plus the mean seconds per trial. With one
hyperparameter set and several methods that is Table 1/2; with one method and several
hyperparameter sets it is the transfer table, Table 3/4. Layout ``compare`` (the methods beyond the
paper): one row per method, and max / mean / median of a PSNR plus the one-shot vs architecture
Pearson r per (formation, operation set). Layout ``stats``: one row per group with every statistic
of ``bohb_das.results.group_statistics`` (correlations, failures, random-search steps).

A method may be given as ``METHOD:RELAXATION`` (e.g. ``das:gumbel``): that method with the
hyperparameter set's relaxation replaced; tables show it under that name.
"""

from __future__ import annotations

import functools
import json
import math
import statistics
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping, Sequence

import pandas as pd
import torch
from tabulate import tabulate

from bohb_das.cache import TrialCache
from bohb_das.errors import ConfigError, is_integer, require_choice, require_integer
from bohb_das.experiment import Experiment
from bohb_das.hparams import HParams
from bohb_das.methods import matched_k
from bohb_das.operations import OP_SETS
from bohb_das.problems import get_problem
from bohb_das.profiles import Profile, load_profile, profile_of_record
from bohb_das.results import TrialRecord, group_key, group_statistics, label
from bohb_das.search_spaces import SPACES, Genotype
from bohb_das.targets import Target
from bohb_das.training import Progress, architecture_size
from bohb_das.trial import METHODS, TrialSpec

FORMATS = ("markdown", "csv", "latex")
STATS = ("max", "mean", "median")


@dataclass(frozen=True)
class Grid:
    """The trials of a table: every combination of the axes, ``trials`` seeds from ``seed`` each.
    ``k``: random_search's architectures per trial, or ``"auto"``: matched to the measured time of
    DAS vs one random architecture in the same cell of the grid (paper 5.2). ``profiles``: the
    experiment profiles (default: the default profile). ``definition``: the run definition's fields
    that are no axis here (the width, ...); its axis fields are ignored."""

    hparams: Sequence[tuple[str, HParams]]
    formations: Sequence[str]
    ops: Sequence[str]
    spaces: Sequence[str]
    methods: Sequence[str]
    trials: int
    epochs: int
    definition: Experiment = field(default_factory=Experiment)
    seed: int = 0
    k: int | str | None = None
    profiles: Sequence[Profile] = field(default_factory=lambda: [load_profile()])

    def __post_init__(self) -> None:
        require_integer("trials", self.trials)
        names = [p.name for p in self.profiles]
        if not names or len(set(names)) != len(names):
            raise ConfigError(f"a grid needs one or more profiles with distinct names, got {names}")
        if self.k is not None and self.k != "auto" and not is_integer(self.k, 1):
            raise ConfigError(f"k must be a positive integer or 'auto', got {self.k!r}")
        for variant in self.methods:
            method, relaxation = split_variant(variant)
            METHODS[method]  # validates the name
            if relaxation is not None:
                HParams(relaxation=relaxation)  # validates the name
        for profile in self.profiles:  # validates every axis before anything runs
            for formation in self.formations:
                for ops in self.ops:
                    for space in self.spaces:
                        self.spec("das", HParams(), formation, ops, space, profile)

    @property
    def seeds(self) -> list[int]:
        return list(range(self.seed, self.seed + self.trials))

    def spec(self, variant: str, hparams: HParams, formation: str, ops: str, space: str, profile: Profile,
             k: int | None = None) -> TrialSpec:
        method, relaxation = split_variant(variant)
        if relaxation is not None:
            hparams = replace(hparams, relaxation=relaxation)
        return TrialSpec(**{**self.definition.definition(), "formation": formation, "ops": ops, "space": space,
                            "method": method, "profile": profile},
                         epochs=self.epochs, hparams=hparams, k=k if method == "random_search" else None)

    def cells(self) -> list[tuple[str, HParams, str, str, str, Profile]]:
        return [(name, hp, formation, ops, space, profile) for profile in self.profiles for name, hp in self.hparams
                for formation in self.formations for ops in self.ops for space in self.spaces]

    def cell_grids(self) -> list["Grid"]:
        """One grid per cell, all methods of the cell in it (random search's ``k="auto"`` needs its
        cell's DAS and random trials)."""
        return [replace(self, hparams=[(name, hp)], formations=[formation], ops=[ops], spaces=[space],
                        profiles=[profile])
                for name, hp, formation, ops, space, profile in self.cells()]

    def epochs_to_run(self, batch: int = 0) -> int:
        """Progress units of the whole grid, its cells' trials run ``batch`` at a time (0: all at
        once); an upper bound: cached trials take none."""
        methods = set(self.methods) | ({"das", "random"} if self.k == "auto" and "random_search" in self.methods else set())
        batches = -(-self.trials // batch) if batch else 1
        return len(self.cells()) * batches * self.epochs * sum(METHODS[split_variant(m)[0]].passes for m in methods)


def split_variant(variant: str) -> tuple[str, str | None]:
    """``"das:gumbel"`` -> ("das", "gumbel"); ``"das"`` -> ("das", None)."""
    method, _, relaxation = variant.partition(":")
    return method, relaxation or None


def collect(
    grid: Grid,
    cache: TrialCache,
    device: str = "cpu",
    dtype: torch.dtype = torch.float32,
    batch: int = 0,
    progress: Progress | None = None,
    on_batch: Callable[[int], None] | None = None,
    processes: int = 1,
) -> list[TrialRecord]:
    """The labelled records of every trial of the grid, from the cache or by running them; with
    ``processes`` > 1 the missing trials are first run by that many processes (``bohb_das.parallel``)."""
    require_integer("processes", processes, lowest=1)
    if processes > 1:
        from bohb_das.parallel import fill_cache

        fill_cache(collect, grid.cell_grids(), cache, device, dtype, batch, progress, processes)
    records = []
    for name, hp, formation, ops, space, profile in grid.cells():
        def run(method: str, k: int | None = None) -> list[TrialRecord]:
            spec = grid.spec(method, hp, formation, ops, space, profile, k)
            return [label(r, name) for r in cache.run(spec, grid.seeds, device, dtype, batch, progress, on_batch)]

        for method in grid.methods:
            k = grid.k if isinstance(grid.k, int) else None
            if method == "random_search" and grid.k == "auto":
                seconds = [sum(r.seconds for r in run(m)) / grid.trials for m in ("das", "random")]
                k = matched_k(*seconds)
            records += run(method, k)
    return records


def paper_table(records: Sequence[TrialRecord], target: Target | str = Target.ARCH, seed: int = 0) -> pd.DataFrame:
    """Rows: (space, ops, method, hparams) -- only the axes that vary, method always; columns:
    (formation, max / mean / median) of the target PSNR, then the mean seconds per trial."""
    return _layout(records, target, ("formation",), STATS, seed)


def comparison_table(records: Sequence[TrialRecord], target: Target | str = Target.ARCH, seed: int = 0) -> pd.DataFrame:
    """Rows: methods (and the other axes that vary); columns: ("formation ops", max / mean / median
    of the target PSNR and the one-shot vs architecture Pearson r), then the mean seconds per trial."""
    return _layout(records, target, ("formation", "ops"), STATS + ("r",), seed)


def _layout(records: Sequence[TrialRecord], target: Target | str, column_axes: tuple[str, ...], stats: tuple[str, ...],
            seed: int) -> pd.DataFrame:
    target = Target.parse(target)
    rows = group_statistics(records, seed)
    axes = [axis for axis in ("profile", "scale", "space", "ops", "method", "hparams_name")
            if axis not in column_axes and (axis == "method" or len({r[axis] for r in rows}) > 1)]
    groups = list(dict.fromkeys(" ".join(r[a] for a in column_axes) for r in rows))
    table: dict[tuple, dict[tuple[str, str], float]] = {}
    seconds: dict[tuple, list[float]] = {}
    for row in rows:
        index = tuple(row[axis] for axis in axes)
        cells = table.setdefault(index, {})
        group = " ".join(row[a] for a in column_axes)
        for stat in stats:
            cells[(group, stat)] = row["pearson"] if stat == "r" else row[f"{target.stem}_{stat}"]
        seconds.setdefault(index, []).append(row["seconds"])
    columns = pd.MultiIndex.from_tuples([(g, s) for g in groups for s in stats] + [("", "sec")])
    data = [[cells.get(c, math.nan) for c in columns[:-1]] + [sum(seconds[i]) / len(seconds[i])] for i, cells in table.items()]
    names = [{"hparams_name": "hparams"}.get(a, a) for a in axes]
    if len(axes) == 1:
        index = pd.Index([key[0] for key in table], name=names[0])
    else:
        index = pd.MultiIndex.from_tuples(list(table), names=names)
    return pd.DataFrame(data, index=index, columns=columns)


def stats_table(records: Sequence[TrialRecord], seed: int = 0) -> pd.DataFrame:
    """Every statistic, one row per group, and ``parameters``: the median size of the architectures
    found (``training.architecture_size``; NaN for a group without genotypes)."""
    table = pd.DataFrame(group_statistics(records, seed)).rename(columns={"hparams_name": "hparams"})
    sizes: dict[tuple, list[float]] = {}
    for record in records:
        sizes.setdefault(group_key(record), []).append(found_size(record))
    table["parameters"] = [statistics.median(v) if (v := [x for x in group if math.isfinite(x)]) else math.nan
                           for group in sizes.values()]
    return table


def hparams_table(sets: Mapping[str, HParams], about: Mapping[str, Mapping[str, Any]] | None = None) -> pd.DataFrame:
    """Hyperparameter sets side by side as the paper's Tables 6-8 print them, so that a BOHB run's
    incumbent reads beside the paper's: one row per hyperparameter (Table 7's, then every setting
    a set changes), one column per set; ``about`` adds rows under them (an incumbent's target,
    budget and loss). Values are text, numbers to 6 significant digits: a learning rate printed
    to two decimals would read 0.00."""
    about = about or {}
    own = {name: hp.to_dict() for name, hp in sets.items()}
    values = {name: {**own[name], **about.get(name, {})} for name in sets}
    rows = list(dict.fromkeys([key for v in own.values() for key in v] + [key for v in about.values() for key in v]))
    return pd.DataFrame({name: [_text(values[name].get(row)) for row in rows] for name in sets},
                        index=pd.Index(rows, name="hyperparameter"), dtype=object)


def _text(value: Any) -> str:
    if value is None:
        return "--"
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:.6g}" if isinstance(value, float) else str(value)


@functools.lru_cache(maxsize=None)
def _size(space: str, ops: str, width: int, formation: str, profile: str, genotype: str) -> int:
    problem = get_problem(formation, Profile.from_mapping(json.loads(profile)))
    return architecture_size(SPACES[space], OP_SETS[ops], Genotype.from_json(json.loads(genotype)), problem, width)


def found_size(record: TrialRecord) -> float:
    """The parameter entries of the architecture a trial found (NaN without one)."""
    if record.genotype is None:
        return math.nan
    spec = record.spec
    return float(_size(spec["space"], spec["ops"], spec["width"], spec["formation"],
                       json.dumps(profile_of_record(spec).to_dict(), sort_keys=True), json.dumps(record.genotype)))


def render(table: pd.DataFrame, fmt: str = "markdown", digits: int = 2) -> str:
    """Markdown (GitHub pipes, by tabulate), CSV or LaTeX (booktabs) text of a table; a missing value
    is ``--`` in Markdown and LaTeX."""
    require_choice("format", fmt, FORMATS)
    if fmt == "csv":
        return table.to_csv(float_format=f"%.{digits + 2}f")
    if fmt == "latex":
        return table.to_latex(float_format=f"%.{digits}f", na_rep="--", multicolumn_format="c")
    flat = table.reset_index() if table.index.names != [None] else table
    header = [" ".join(str(part) for part in col if part) if isinstance(col, tuple) else str(col) for col in flat.columns]
    numeric = [flat[c].dtype.kind == "f" for c in flat.columns]  # the rest stays text: "1e-3" is a name
    rows = [[None if isinstance(v, float) and math.isnan(v) else v for v in values] for values in flat.itertuples(index=False)]
    return tabulate(rows, headers=header, tablefmt="pipe", floatfmt=f".{digits}f", missingval="--",
                    disable_numparse=[i for i, number in enumerate(numeric) if not number],
                    colalign=["right" if number else "left" for number in numeric]) + "\n"

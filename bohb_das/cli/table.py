"""``bohb-das table``: the paper's statistics and transfer tables, from cached, loaded or new trials."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bohb_das.cli.common import NAMES_EPILOG, PROFILE_HELP, TARGET_NAMES, add_run_arguments, write_output
from bohb_das.targets import Target

if TYPE_CHECKING:
    from bohb_das.results import TrialRecord


def add_grid_arguments(parser: argparse.ArgumentParser) -> None:
    """The trials behind a table or plot: a grid to run (through the cache) or JSON-lines files."""
    parser.epilog = NAMES_EPILOG
    group = parser.add_argument_group("trials (run through the cache unless --from is given)")
    group.add_argument("--from", dest="sources", nargs="+", type=Path, metavar="FILE",
                       help="read trial records from these JSON-lines files (bohb-das trial --output/--json) instead")
    group.add_argument("--hparams", nargs="+", default=["H1"], metavar="H",
                       help="hyperparameter sets: preset names, YAML files or BOHB run directories (their incumbent) "
                       "(default: H1)")
    group.add_argument("--profile", nargs="+", metavar="NAME|FILE",
                       help=PROFILE_HELP.replace("experiment profile", "experiment profiles (a table axis)"))
    group.add_argument("--formations", nargs="+", default=["blur", "downsampling"], help="(default: blur downsampling)")
    group.add_argument("--ops", nargs="+", default=["good", "all"], help="operation sets (default: good all)")
    group.add_argument("--space", nargs="+", default=["sequential"], help="search spaces (default: sequential)")
    group.add_argument("--methods", nargs="+", default=["das"],
                       help="das, das_single, gd_only, nets_only, random, random_search, darts2, zarts_rs, zarts_mgs, "
                       "zarts_gld, sparse_supernet, das_one_phase or a plugin's; METHOD:RELAXATION (e.g. das:gumbel) replaces the relaxation (default: das)")
    group.add_argument("--trials", type=int, default=75, help="trials (seeds) per cell (default: 75, the paper's)")
    group.add_argument("--epochs", type=int, default=50, help="search epochs; retraining uses as many (default: 50)")
    group.add_argument("--width", type=int, default=32, help="channels C of the small conv nets (default: 32)")
    group.add_argument("--k", default="5", help="random_search: architectures per trial, or 'auto' to match the "
                       "measured time of one DAS run (default: 5, the paper's)")
    group.add_argument("--batch", type=int, default=0, help="trials per batched model; 0 = all of a cell at once")
    group.add_argument("--cache", type=Path, help="trial cache directory (default: $XDG_CACHE_HOME/bohb-das, "
                       "i.e. ~/.cache/bohb-das)")
    group.add_argument("--save-trials", type=Path, metavar="FILE",
                       help="also write the trial records behind the output as JSON lines (for --from)")
    group.add_argument("--quiet", action="store_true", help="no progress bar")
    group.add_argument("--processes", type=int, default=1,
                       help="processes that run the missing trials, a cell each at a time, one thread each "
                       "(default: 1; a machine's cores, e.g. 2, finish a table about that many times sooner)")
    add_run_arguments(parser)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "table",
        help="statistics and transfer tables (paper Tables 1-4) as Markdown, CSV or LaTeX",
        description="Runs (or reuses from the cache, or reads with --from) the trials of every combination of "
        "hyperparameter set, formation, operation set, space and method, and prints max / mean / median PSNR "
        "per formation: methods as rows is Table 1/2, hyperparameter sets as rows the transfer Table 3/4. "
        "--layout stats adds correlations (Pearson, Spearman, bootstrap CI), failures, seconds and the "
        "random-search steps needed to beat the DAS median.",
    )
    add_grid_arguments(parser)
    parser.add_argument("--layout", choices=("paper", "compare", "stats", "fidelity", "differences"), default="paper",
                        help="paper: formations as columns; compare: (formation, ops) as columns with the one-shot vs "
                        "architecture Pearson r (method comparison); stats: every statistic; fidelity: each cell the "
                        "paper publishes beside its numbers, per profile, with the error and which of the paper's "
                        "findings hold (calibration and validation); differences: every value of one axis against "
                        "--against in otherwise equal cells, with bootstrap intervals (default: paper)")
    parser.add_argument("--against", metavar="[AXIS=]VALUE",
                        help="differences: what the others are compared with, e.g. H1 (a hyperparameter set), "
                        "space=sequential, method=random, ops=good (default: the first of --hparams, or of the "
                        "--from trials)")
    parser.add_argument("--failure-below", type=float, metavar="DB",
                        help="differences: a search below this PSNR counts as failed (default: the back-projection floor)")
    parser.add_argument("--base", metavar="PROFILE",
                        help="fidelity: a profile whose trials stand in for another profile's missing cells where "
                        "that profile's readings cannot change them (a screened reading runs only the cells it enters)")
    parser.add_argument("--target", choices=TARGET_NAMES, default="arch",
                        help="the PSNR of the paper layout (default: arch, the architecture PSNR)")
    parser.add_argument("--format", choices=("markdown", "csv", "latex"), default="markdown", help="(default: markdown)")
    parser.add_argument("--output", type=Path, help="write the table to this file instead of stdout")
    parser.set_defaults(handler=run)


def resolve_hparams(text: str) -> tuple[str, Any]:
    """(label, HParams) of a preset name, a YAML file or a BOHB run directory's incumbent."""
    from bohb_das.errors import ConfigError
    from bohb_das.hparams import HParams, load_preset

    path = Path(text)
    if path.is_dir():
        from bohb_das.bohb.query import query  # hpbandster stays out of the science modules

        incumbent = query(path, top=0)["incumbent"]
        if incumbent is None or incumbent["config"] is None:
            raise ConfigError(f"{path}: no incumbent yet (no finished result on the largest budget)")
        return path.resolve().name, HParams.from_mapping(incumbent["hparams"])
    return (path.stem if path.suffix in (".yaml", ".yml") else text), load_preset(text)


def records_from_args(args: argparse.Namespace) -> list["TrialRecord"]:
    """The labelled trial records the arguments name: read from --from files, else run or cached;
    written to ``--save-trials`` too."""
    from bohb_das.results import dumps, load_trials

    records = load_trials(args.sources) if args.sources else _grid_records(args)
    if args.save_trials:
        args.save_trials.parent.mkdir(parents=True, exist_ok=True)
        args.save_trials.write_text("".join(dumps(record.to_json()) + "\n" for record in records))
    return records


def _grid_records(args: argparse.Namespace) -> list["TrialRecord"]:
    from tqdm import tqdm

    from bohb_das.cache import TrialCache
    from bohb_das.errors import ConfigError
    from bohb_das.experiment import Experiment
    from bohb_das.profiles import load_profile
    from bohb_das.tables import Grid, collect
    from bohb_das.trial import resolve_device

    if args.k != "auto" and not args.k.isdigit():
        raise ConfigError(f"--k must be a positive integer or 'auto', got {args.k!r}")
    grid = Grid(
        hparams=[resolve_hparams(h) for h in args.hparams], formations=args.formations, ops=args.ops,
        spaces=args.space, methods=args.methods, trials=args.trials, epochs=args.epochs, definition=Experiment(width=args.width),
        seed=args.seed, k=args.k if args.k == "auto" else int(args.k),
        profiles=[load_profile(name) for name in args.profile or [None]],
    )
    if args.batch < 0:
        raise ConfigError("--batch must be >= 0")
    device = str(resolve_device(args.device))
    bar = tqdm(total=grid.epochs_to_run(args.batch), unit="epoch", disable=args.quiet, file=sys.stderr, desc="trials")
    records = collect(grid, TrialCache(args.cache), device, batch=args.batch,
                      progress=lambda phase, done, total: bar.update(1), processes=args.processes)
    bar.close()
    return records


def caption(records: list["TrialRecord"], what: str) -> str:
    """What the numbers are, trials per cell, budget, profiles, and the back-projection floors."""
    from collections import Counter

    from bohb_das.results import group_key

    floors = {(r.profile, r.formation): r.backprojection_psnr for r in records}
    profiles = list(dict.fromkeys(r.profile for r in records))
    budget = ", ".join(dict.fromkeys(r.scale for r in records))
    trials = "/".join(str(n) for n in sorted(set(Counter(group_key(r) for r in records).values())))
    floor = "; ".join(
        (f"{p}: " if len(profiles) > 1 else "")
        + ", ".join(f"{f} {v:.2f} dB" for (q, f), v in sorted(floors.items()) if q == p and math.isfinite(v))
        for p in profiles)
    return (f"{what} over {trials} trials per cell ({budget}; profile {', '.join(profiles)}); "
            f"back-projection floor: {floor}")


def run(args: argparse.Namespace) -> int:
    from bohb_das.tables import comparison_table, paper_table, render, stats_table

    records = records_from_args(args)
    if args.layout == "fidelity":
        return _write(args, fidelity_report(records, args.format, args.base, args.seed), records)
    if args.layout == "differences":
        return _write(args, differences_report(records, args), records)
    if args.layout == "stats":
        table = stats_table(records, seed=args.seed)
    else:
        layout = paper_table if args.layout == "paper" else comparison_table
        table = layout(records, args.target, seed=args.seed)
    text = render(table, args.format)
    if args.format == "markdown":
        what = ("statistics (PSNR in dB, correlation of one-shot vs architecture PSNR with 95% bootstrap CI)"
                if args.layout == "stats" else f"{Target(args.target).label} validation PSNR (dB)"
                + ("; r: Pearson correlation of one-shot and architecture PSNR" if args.layout == "compare" else ""))
        text += f"\n{caption(records, what)}\n"
    return _write(args, text, records)


def fidelity_report(records: list["TrialRecord"], fmt: str, base: str | None = None, seed: int = 0) -> str:
    """The fidelity layout: per profile the error over the published max / mean / median and the
    findings with their verdicts, the failure shares, then the cells beside the paper's; with
    ``base``, a profile's missing cells that its readings cannot enter are the base profile's trials."""
    from bohb_das.errors import ConfigError
    from bohb_das.fidelity import columns, failure_table, findings_table, inherit, summary_table, verdicts, versus_table
    from bohb_das.methods import METHODS
    from bohb_das.operations import OP_SETS, OPERATIONS
    from bohb_das.tables import render

    notes: list[str] = []
    if base is not None:
        records, notes = inherit(records, base, lambda method: METHODS[method.split(":")[0]].one_shot,
                                 lambda ops: any(OPERATIONS[o].harmful for o in OP_SETS[ops]))
    ours = columns(records)
    if not ours:
        raise ConfigError("none of these trials falls in a cell that the paper publishes (Tables 1-4)")
    judged = verdicts(ours, seed)
    parts = [("Per profile: error against the paper's published max, mean and median, findings held", summary_table(ours, judged))]
    findings = findings_table(ours, judged)
    if not findings.empty:
        parts.append(("The paper's Table 1 findings: the value each is judged on (dB) and its verdict from a 95% "
                      "bootstrap interval", findings))
    parts.append(("Failed searches per cell: trials that failed or scored below the back-projection floor, with "
                  "the 95% Clopper-Pearson interval of the share", failure_table(ours)))
    for stat in ("median", "mean", "max"):
        parts.append((f"{stat.capitalize()} architecture validation PSNR (dB) per cell: published in the paper, "
                      f"then each profile's", versus_table(ours, stat)))
    if fmt != "markdown":
        return "\n".join(render(table, fmt) for _, table in parts)
    text = "\n".join(f"**{title}**\n\n{render(table, fmt)}" for title, table in parts)
    text += f"\n{caption(records, 'architecture validation PSNR (dB)')}\n"
    if notes:
        text += (f"\nCells filled in with the trials of {base} (the profile's readings cannot change them): "
                 + "; ".join(notes) + "\n")
    return text


def differences_report(records: list["TrialRecord"], args: argparse.Namespace) -> str:
    from bohb_das.differences import differences_table, parse_against
    from bohb_das.errors import ConfigError
    from bohb_das.results import BOOTSTRAP_RESAMPLES
    from bohb_das.tables import render

    if not records:
        raise ConfigError("--layout differences: no trials")
    if args.against:
        axis, reference = parse_against(args.against)
    else:
        axis, reference = "hparams", resolve_hparams(args.hparams[0])[0] if not args.sources else records[0].hparams_name
    text = render(differences_table(records, axis, reference, args.target, args.failure_below, args.seed), args.format)
    if args.format == "markdown":
        failed = (f"below {args.failure_below:g} dB" if args.failure_below is not None
                  else "below the back-projection floor")
        text += "\n" + caption(records, (
            f"{Target(args.target).label} validation PSNR (dB) per {axis} and its difference to {reference} in "
            f"otherwise equal cells, with 95% percentile bootstrap intervals ({BOOTSTRAP_RESAMPLES} resamples, "
            f"samples drawn independently; a maximum's interval is coarse),")) + (
            f"; failed: trials that failed or scored {failed}, with the 95% Clopper-Pearson interval of the share\n")
    return text


def _write(args: argparse.Namespace, text: str, records: list["TrialRecord"]) -> int:
    write_output(args.output, text)
    failed = sum(r.status != "ok" for r in records)
    if failed:
        print(f"bohb-das: note: {failed} of {len(records)} trials failed (counted in --layout stats)", file=sys.stderr)
    return 0

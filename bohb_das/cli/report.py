"""``bohb-das report``: one self-contained HTML page of a BOHB run, or of a study's trials."""

from __future__ import annotations

import argparse
from pathlib import Path

from bohb_das.cli.table import add_grid_arguments, records_from_args


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report", help="an HTML page of a BOHB run or of a study's trials (figures embedded)",
        description="With RUN_DIR: one self-contained HTML file of a BOHB run (no network; open it from disk; "
        "also while the run goes on): incumbent and every loss over wall time, rank correlation of losses "
        "between budgets, one-shot vs architecture PSNR, hyperparameters against loss, the top configurations, "
        "the manifest, failures and re-queued jobs. Without it: a page of the trials chosen as for "
        "`bohb-das table` (cached, new, or --from files): per-cell statistics and distributions, the scatter "
        "plot and the transfer heatmap.",
    )
    parser.add_argument("run_dir", type=Path, nargs="?", help="a run directory of optimize or master")
    parser.add_argument("--output", type=Path,
                        help="HTML file (default: RUN_DIR/report.html, or ./study-report.html without RUN_DIR)")
    add_grid_arguments(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from bohb_das.errors import ConfigError

    if args.output is not None and not args.output.parent.is_dir():
        raise ConfigError(f"--output: directory {args.output.parent} does not exist")
    if args.run_dir is not None:
        from bohb_das.bohb.report import write_report

        print(write_report(args.run_dir, args.output))
    else:
        from bohb_das.pages import write_study_report

        print(write_study_report(records_from_args(args), args.output or Path("study-report.html")))
    return 0

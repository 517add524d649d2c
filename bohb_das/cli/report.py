"""``bohb-das report RUN_DIR``: one self-contained HTML page of a BOHB run."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report", help="an HTML page of a BOHB run (figures embedded; also while it runs)",
        description="Writes one self-contained HTML file (no network; open it from disk): incumbent and every "
        "loss over wall time, rank correlation of losses between budgets, one-shot vs architecture PSNR, "
        "hyperparameters against loss, the top configurations, the manifest, failures and re-queued jobs.",
    )
    parser.add_argument("run_dir", type=Path, help="a run directory of optimize or master")
    parser.add_argument("--output", type=Path, help="HTML file (default: RUN_DIR/report.html)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from bohb_das.bohb.report import write_report
    from bohb_das.errors import ConfigError

    if args.output is not None and not args.output.parent.is_dir():
        raise ConfigError(f"--output: directory {args.output.parent} does not exist")
    print(write_report(args.run_dir, args.output))
    return 0

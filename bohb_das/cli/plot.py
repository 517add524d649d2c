"""``bohb-das plot scatter|transfer|cells``: the paper's figures as PNG, from cached, loaded or new trials."""

from __future__ import annotations

import argparse
from pathlib import Path

from bohb_das.cli.table import add_grid_arguments, records_from_args


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "plot",
        help="one-shot vs architecture PSNR scatter plots and the transfer heatmap (PNG)",
        description="The trials are chosen as for `bohb-das table` (run through the cache, or --from files).",
    )
    kinds = parser.add_subparsers(dest="kind", required=True, metavar="KIND")
    scatter = kinds.add_parser(
        "scatter", help="architecture PSNR (y) vs one-shot PSNR (x) per hyperparameter set and formation",
        description="One panel per hyperparameter set and formation, one colour and regression line per "
        "operation set, Pearson r (95% bootstrap CI) and Spearman rho in the legend (paper Figures 3-8).",
    )
    transfer = kinds.add_parser(
        "transfer", help="heatmap of median architecture PSNR, hyperparameter set x formation",
        description="The transfer table (paper Table 3/4) as a heatmap of one method's architecture PSNR.",
    )
    cells = kinds.add_parser(
        "cells", help="every cell's trials as points beside the paper's max / mean / median",
        description="One panel per formation: each trial's architecture PSNR as a point per cell, a colour per "
        "profile, the paper's published max, mean and median marked beside, the back-projection floor dashed.",
    )
    for sub, default in ((scatter, "scatter.png"), (transfer, "transfer.png"), (cells, "cells.png")):
        add_grid_arguments(sub)
        sub.add_argument("--output", type=Path, default=Path(default), help=f"PNG file (default: {default})")
        sub.set_defaults(handler=run)
    transfer.add_argument("--stat", choices=("median", "mean", "max"), default="median", help="(default: median)")
    transfer.add_argument("--method", default="das", help="the method whose PSNR is shown (default: das)")


def run(args: argparse.Namespace) -> int:
    from bohb_das.errors import ConfigError
    from bohb_das.plots import distributions, scatter, transfer_heatmap

    if not args.output.parent.is_dir():
        raise ConfigError(f"--output: directory {args.output.parent} does not exist")
    records = records_from_args(args)
    if args.kind == "scatter":
        path = scatter(records, args.output, seed=args.seed)
    elif args.kind == "cells":
        path = distributions(records, args.output)
    else:
        path = transfer_heatmap(records, args.output, stat=args.stat, method=args.method)
    print(path)
    return 0

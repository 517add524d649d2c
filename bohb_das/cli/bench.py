"""``bohb-das bench``: batched-trial throughput against one by one, as a table and a file."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from bohb_das.cli.common import add_profile_argument

def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="measure trial-steps per second, batched vs one by one, and a paper-scale trial's time",
        description="Measures, in one run, search and retraining throughput for T batched trials against "
        "the same trials run one by one, and extrapolates one paper-scale trial (50 + 50 epochs).",
    )
    parser.add_argument("--trials", type=int, nargs="+", default=[1, 8, 32], help="batch sizes T (default: 1 8 32)")
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per measurement (default: 2)")
    parser.add_argument("--width", type=int, default=32, help="channels C (default: 32, the paper's)")
    parser.add_argument("--space", default="sequential", help="search space (default: sequential)")
    parser.add_argument("--ops", default="all", help="operation set (default: all)")
    parser.add_argument("--paper-batch", type=int, default=8, help="batch for the paper-scale figure (default: 8)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default: auto)")
    add_profile_argument(parser)
    parser.add_argument("--output", type=Path, help="Markdown report (default: results/bench-<device>.md); "
                        "a .json twin is written beside it")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from bohb_das.bench import run_bench
    from bohb_das.errors import ConfigError
    from bohb_das.operations import get_op_set
    from bohb_das.profiles import load_profile
    from bohb_das.search_spaces import get_space
    from bohb_das.trial import resolve_device

    get_space(args.space), get_op_set(args.ops)
    if min(args.trials) < 1 or args.epochs < 1 or args.width < 1 or args.paper_batch < 1:
        raise ConfigError("--trials, --epochs, --width and --paper-batch must be positive")
    device = resolve_device(args.device)
    report = run_bench(args.trials, device, args.width, args.epochs, args.space, args.ops, args.paper_batch,
                       progress=lambda what: print(f"measuring {what} ...", file=sys.stderr, flush=True),
                       profile=load_profile(args.profile))
    text = format_report(report, args)
    print(text)
    output = args.output or Path("results") / f"bench-{device.type}.md"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text + "\n")
    output.with_suffix(".json").write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    print(f"\nwritten to {output} and {output.with_suffix('.json')}", file=sys.stderr)
    return 0


def format_report(report, args: argparse.Namespace) -> str:
    lines = [
        f"# bohb-das bench ({time.strftime('%Y-%m-%d %H:%M')})",
        "",
        f"device: {report.device}; threads: {report.threads}; fused CPU kernel: {report.fused_kernel}; "
        f"torch {report.torch_version}; profile {report.profile}; {args.space} space, ops {args.ops}, "
        f"width C={report.width}, "
        f"batch 128, {args.epochs} timed epochs per row",
        "",
        "| phase | T | batched trial-steps/s | one-by-one trial-steps/s | speed-up |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in report.rows:
        lines.append(f"| {row.phase} | {row.trials} | {row.batched_steps_per_s:.1f} | "
                     f"{row.single_steps_per_s:.1f} | {row.speedup:.2f}x |")
    lines += [
        "",
        f"One paper-scale trial (50 search + 50 retraining epochs, C={report.width}), amortized in a batch of "
        f"{report.paper_batch}: {report.paper_trial_seconds:.1f} s (extrapolated from the measured step and "
        "evaluation times).",
    ]
    return "\n".join(lines)

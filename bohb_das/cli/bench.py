"""``bohb-das bench``: batched-trial throughput against one by one, as a table and a file."""

from __future__ import annotations

import argparse
import json
import os
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
    parser.add_argument("--trials", type=int, nargs="+", default=[1, 8, 32, 75],
                        help="batch sizes T (default: 1 8 32 75)")
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per measurement (default: 2)")
    parser.add_argument("--width", type=int, default=32, help="channels C (default: 32, the paper's)")
    parser.add_argument("--space", default="sequential", help="search space (default: sequential)")
    parser.add_argument("--ops", default="all", help="operation set (default: all)")
    parser.add_argument("--paper-batch", type=int, default=8, help="batch for the paper-scale figure (default: 8)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default: auto)")
    parser.add_argument("--workers", type=int, default=2,
                        help="worker processes of the BOHB figures, one thread each (default: 2, this machine's cores)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads of this process (default: 1, as every worker runs; the figures are per core)")
    parser.add_argument("--slots", type=int, default=8,
                        help="slots per worker in the configurations-per-minute comparison; 0 skips it (default: 8)")
    add_profile_argument(parser)
    parser.add_argument("--output", type=Path, help="Markdown report (default: ./bench-<device>.md); "
                        "a .json twin is written beside it")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from bohb_das.bench import run_bench
    from bohb_das.errors import ConfigError
    from bohb_das.operations import OP_SETS
    from bohb_das.profiles import load_profile
    from bohb_das.search_spaces import SPACES
    from bohb_das.trial import resolve_device

    SPACES[args.space], OP_SETS[args.ops]
    if min(args.trials) < 1 or args.epochs < 1 or args.width < 1 or args.paper_batch < 1 or args.workers < 1:
        raise ConfigError("--trials, --epochs, --width, --paper-batch and --workers must be positive")
    if args.slots < 0:
        raise ConfigError(f"--slots must be >= 0, got {args.slots}")
    if args.threads < 1:
        raise ConfigError(f"--threads must be at least 1, got {args.threads}")
    import torch

    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    output = args.output or Path(f"bench-{device.type}.md")
    if not output.parent.is_dir():
        raise ConfigError(f"--output: directory {output.parent} does not exist")
    profile = load_profile(args.profile)
    say = lambda what: print(f"measuring {what} ...", file=sys.stderr, flush=True)
    report = run_bench(args.trials, device, args.width, args.epochs, args.space, args.ops, args.paper_batch,
                       progress=say, profile=profile, processes=args.workers)
    slots = None
    if args.slots:
        from bohb_das.bohb.throughput import compare_slots

        say(f"a BOHB bracket with {args.workers} workers x 1 slot, then x {args.slots} slots")
        slots = compare_slots(args.slots, args.workers, args.width, str(device), profile)
        report.load = (report.load[0], os.getloadavg()[0])  # the load until the end of the whole run
    figures = report.to_dict() | ({"slots": slots.to_dict()} if slots is not None else {})
    text = bench_markdown(report, args, slots)
    print(text)
    output.write_text(text + "\n")
    output.with_suffix(".json").write_text(json.dumps(figures, indent=2) + "\n")
    print(f"\nwritten to {output} and {output.with_suffix('.json')}", file=sys.stderr)
    return 0


def bench_markdown(report, args: argparse.Namespace, slots) -> str:
    import pandas as pd

    from bohb_das.bench import PAPER_BOHB, hyperband_rungs
    from bohb_das.bohb.throughput import SCHEDULE
    from bohb_das.tables import render

    load = report.load
    paper_bohb_epochs = sum(n * epochs for n, epochs in hyperband_rungs(**PAPER_BOHB))
    lines = [
        f"# bohb-das bench ({time.strftime('%Y-%m-%d %H:%M')})",
        "",
        f"device: {report.device}; threads: {report.threads}; fused CPU kernel: {report.fused_kernel}; "
        f"torch {report.torch_version}; profile {report.profile}; {args.space} space, ops {args.ops}, "
        f"width C={report.width}, "
        f"batch 128, {args.epochs} timed epoch{'s' if args.epochs != 1 else ''} per row; 1-minute load average {load[0]:.2f} before, "
        f"{load[1]:.2f} after" + (" (LOADED MACHINE: the ratios are not results)" if max(load) > 1.5 else ""),
        "",
        render(pd.DataFrame([(row.phase, row.trials, row.batched_steps_per_s, row.single_steps_per_s, f"{row.speedup:.2f}x")
                             for row in report.rows],
                            columns=["phase", "T", "batched trial-steps/s", "one-by-one trial-steps/s", "speed-up"]),
               digits=1),
        f"One paper-scale trial (50 search + 50 retraining epochs, C={report.width}), amortized in a batch of "
        f"{report.paper_batch}: {report.paper_trial_seconds:.1f} s (extrapolated from the measured step and "
        "evaluation times); in a batch of T: "
        + ", ".join(f"T={t} {s:.1f} s" for t, s in sorted(report.trial_seconds.items())) + ".",
        "",
        f"Estimated, one thread per process: the paper's Table 1 (75 trials a cell; per seed 4 searches and 32 "
        f"retrainings) at T={max(report.trial_seconds)} in one process: {report.table1_hours:.1f} h; a 128-iteration "
        f"paper-scale BOHB run (budgets 50/9..50, eta 3: {paper_bohb_epochs:,} search epochs and as many retraining epochs) on "
        f"{report.processes} processes, rungs one after another: {report.bohb_hours['one job per worker']:.1f} h "
        f"with one job per worker, {report.bohb_hours['rungs batched']:.1f} h with each rung's configurations "
        "trained together; with the one-shot target and --no-retrain (search epochs only) "
        f"{report.bohb_hours['one job per worker, no retraining']:.1f} h and "
        f"{report.bohb_hours['rungs batched, no retraining']:.1f} h (upper bounds: hpbandster overlaps iterations).",
    ]
    if slots is not None:
        bracket = hyperband_rungs(**SCHEDULE)
        lines += [
            "",
            f"A BOHB bracket (budgets {', '.join(f'{e:g}' for _, e in bracket)} epochs: "
            f"{' + '.join(str(n) for n, _ in bracket)} configurations, width {slots.width}) on "
            f"{slots.single.workers} worker processes: {slots.single.configs_per_minute:.1f} configurations/min "
            f"with one job per worker ({slots.single.seconds:.0f} s), {slots.slotted.configs_per_minute:.1f} with "
            f"--slots {slots.slotted.slots} ({slots.slotted.seconds:.0f} s): {slots.ratio:.2f}x.",
        ]
    return "\n".join(lines)
